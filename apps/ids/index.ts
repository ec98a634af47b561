// ids: Aho–Corasick over each direction's reassembled TCP stream (the monitor's receive buffers, FIRST
// overlap policy by default), so a pattern split across segments, out-of-order or retransmitted ones is
// found exactly once. Alerts as JSON lines; inline, `action: "drop"` drops the flow from the matching packet on.
import * as fs from 'fs';
import { z } from 'zod';
import { NetstarError } from '../../index';
import type { Config } from '../../index';
import type { AppModule, ShardApp } from '../../index';
import type { ShardContext } from '../../index';
import { formatIp } from '../../net/flow';
import { AhoCorasick, Events, JsonLines, Monitor, monitorApp, monitorOptions, parseAppSettings, parsePattern, type MonitorSettings, appSchema } from '../../mos';

const extra = {
  /** a pattern file: one pattern per line (text with |hex| runs), # comments */
  patternFile: z.string().optional(),
  /** patterns given inline (same syntax) */
  patterns: z.array(z.string()).optional(),
  /** alert JSON lines go here (default stderr) */
  alerts: z.string().optional(),
  action: z.enum(['alert', 'drop']).default('alert'),
};
type Settings = MonitorSettings & { patternFile?: string; patterns?: string[]; alerts?: string; action: 'alert' | 'drop'; patternList: string[] };

interface IdsCtx { state: [number, number]; matches: number }

export function loadPatterns(s: { patternFile?: string; patterns?: string[] }): string[] {
  const list: string[] = [...(s.patterns ?? [])];
  if (s.patternFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(s.patternFile, 'utf8');
    } catch (e) {
      throw new NetstarError('ERR_CONFIG', `ids: app.patternFile: ${(e as Error).message}`);
    }
    for (const line of text.split('\n')) {
      const t = line.replace(/\r$/, '');
      if (t.trim() === '' || t.trimStart().startsWith('#')) continue;
      list.push(t);
    }
  }
  if (list.length === 0) throw new NetstarError('ERR_CONFIG', 'ids: no patterns (app.patternFile or app.patterns)');
  for (const p of list) {
    try {
      parsePattern(p);
    } catch (e) {
      throw new NetstarError('ERR_CONFIG', `ids: ${(e as Error).message}`);
    }
  }
  return list;
}

const app: AppModule<Settings> = {
  name: 'ids',
  description: 'mOS-style monitor app: Aho-Corasick over reassembled TCP streams, alerts as JSON lines or drops',
  settingsSchema: appSchema(extra),
  settings(config: Config): Settings {
    const s = parseAppSettings('ids', config, extra) as Settings;
    s.patternList = loadPatterns(s);
    return s;
  },
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const ac = new AhoCorasick(s.patternList.map(parsePattern));
    const mon = new Monitor<IdsCtx>(monitorOptions(ctx, s, () => ({ state: [0, 0], matches: 0 })));
    const out = new JsonLines(s.alerts);
    let alerts = 0, scanned = 0, lost = 0, dropped = 0;
    mon.on(Events.CONN_START, (c) => {
      c.ctx.state[0] = c.ctx.state[1] = 0;
      c.ctx.matches = 0;
    });
    mon.on(Events.NEW_DATA, (c, side) => {
      const x = c.ctx;
      const gap = c.takeLost(side);
      if (gap > 0) {
        // bytes skipped (overrun): a match cannot span the gap
        lost += gap;
        x.state[side] = 0;
      }
      const at = c.rcv[side].head;
      const data = c.peek(side);
      scanned += data.length;
      let hit = false;
      x.state[side] = ac.scan(x.state[side], data, (pid, end) => {
        alerts++;
        x.matches++;
        hit = true;
        // side is the receiver: the bytes travelled from the other endpoint to it
        const from = side === 1 ? 'client' : 'server';
        out.write({
          alert: 'pattern', pattern: s.patternList[pid], patternId: pid, from,
          client: `${formatIp(c.cAddr)}:${c.cPort}`, server: `${formatIp(c.sAddr)}:${c.sPort}`,
          offset: at + end - ac.lengths[pid],
        });
      });
      if (hit && s.action === 'drop' && s.mode === 'inline') {
        dropped++;
        c.dropFlow();
      }
    });
    return monitorApp(ctx, mon, s, {
      counters: () => ({ 'ids.alerts': alerts, 'ids.scannedBytes': scanned, 'ids.lostBytes': lost, 'ids.flowsDropped': dropped }),
      stop: () => out.close(),
    });
  },
};
export default app;
