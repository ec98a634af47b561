// midstat: per-flow TCP statistics from the mOS-style monitor — both endpoints' states, bytes per side
// (unique and with retransmissions), retransmissions, duration; a live table (stderr) and JSON lines per
// finished flow. Inline (forwards) or passive (a mirror port).
import { z } from 'zod';
import type { Config } from '../../index';
import type { AppModule, ShardApp } from '../../index';
import type { ShardContext } from '../../index';
import { formatIp } from '../../net/flow';
import { Events, JsonLines, Monitor, TCP_STATE_NAMES, monitorApp, monitorOptions, parseAppSettings, type Conn, type MonitorSettings, appSchema } from '../../mos';

const extra = {
  /** JSON lines, one per finished flow (default: none) */
  json: z.string().optional(),
  /** print the live table of active flows to stderr every this many ms (0: never) */
  tableIntervalMs: z.number().int().min(0).default(0),
  tableRows: z.number().int().min(1).max(10000).default(20),
};
type Settings = MonitorSettings & { json?: string; tableIntervalMs: number; tableRows: number };

interface FlowStat { endedBy: string }

/** One flow as midstat reports it. */
export function flowRecord(c: Conn<FlowStat>, endedBy: string): Record<string, unknown> {
  const [cl, sv] = c.ep;
  return {
    client: `${formatIp(c.cAddr)}:${c.cPort}`,
    server: `${formatIp(c.sAddr)}:${c.sPort}`,
    state: { client: TCP_STATE_NAMES[cl.state], server: TCP_STATE_NAMES[sv.state] },
    // unique bytes: the highest stream offset each sent; payload bytes count retransmissions too
    bytes: { client: cl.sent, server: sv.sent },
    payloadBytes: { client: cl.payloadBytes, server: sv.payloadBytes },
    packets: { client: cl.packets, server: sv.packets },
    rexmits: { client: cl.rexmits, server: sv.rexmits },
    midstream: c.midstream,
    durationMs: Math.round(c.duration * 1000) / 1000,
    endedBy,
  };
}

const app: AppModule<Settings> = {
  name: 'midstat',
  description: 'mOS-style monitor app: per-flow state, bytes per side, retransmissions, duration (JSON lines, live table)',
  settingsSchema: appSchema(extra),
  settings(config: Config): Settings {
    return parseAppSettings('midstat', config, extra);
  },
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const mon = new Monitor<FlowStat>(monitorOptions(ctx, s, () => ({ endedBy: '' })));
    const out = s.json !== undefined ? new JsonLines(s.json) : null;
    let ended = 0, timedOut = 0, rexmits = 0, uniqueBytes = 0, payloadBytes = 0;
    mon.on(Events.REXMIT, () => { rexmits++; });
    mon.on(Events.TIMEOUT, (c) => { c.ctx.endedBy = 'timeout'; timedOut++; });
    mon.on(Events.CONN_END, (c) => {
      ended++;
      uniqueBytes += c.ep[0].sent + c.ep[1].sent;
      payloadBytes += c.ep[0].payloadBytes + c.ep[1].payloadBytes;
      const by = c.ctx.endedBy !== '' ? c.ctx.endedBy : (c.seg.flags & 4) !== 0 ? 'rst' : 'fin';
      if (out !== null) out.write(flowRecord(c, by));
    });
    mon.on(Events.CONN_START, (c) => { c.ctx.endedBy = ''; });
    let nextTable = s.tableIntervalMs > 0 ? ctx.now() + s.tableIntervalMs : Infinity;
    const table = (): void => {
      const rows: string[] = [];
      let n = 0;
      for (const f of mon.dist.liveFlows()) {
        if (n++ >= s.tableRows) break;
        const c = f.state, r = flowRecord(c, '') as { client: string; server: string; state: { client: string; server: string }; bytes: { client: number; server: number }; rexmits: { client: number; server: number }; durationMs: number };
        rows.push(`${r.client.padEnd(21)} ${r.server.padEnd(21)} ${r.state.client.padEnd(11)} ${r.state.server.padEnd(11)} ${String(r.bytes.client).padStart(10)} ${String(r.bytes.server).padStart(10)} ${String(r.rexmits.client + r.rexmits.server).padStart(6)} ${r.durationMs.toFixed(0).padStart(8)}`);
      }
      process.stderr.write(`midstat shard ${ctx.id}: ${mon.dist.active} active, ${ended} ended\n${'client'.padEnd(21)} ${'server'.padEnd(21)} ${'c.state'.padEnd(11)} ${'s.state'.padEnd(11)} ${'c.bytes'.padStart(10)} ${'s.bytes'.padStart(10)} ${'rexmit'.padStart(6)} ${'ms'.padStart(8)}\n${rows.join('\n')}\n`);
    };
    return monitorApp(ctx, mon, s, {
      counters: () => ({ 'midstat.ended': ended, 'midstat.timedOut': timedOut, 'midstat.rexmits': rexmits, 'midstat.uniqueBytes': uniqueBytes, 'midstat.payloadBytes': payloadBytes, 'midstat.records': out?.written ?? 0 }),
      afterBurst: (now) => {
        if (now >= nextTable) {
          nextTable = now + s.tableIntervalMs;
          table();
        }
      },
      pollAt: () => nextTable,
      stop: () => {
        // flows still open at stop are reported too (ended by 'stop')
        if (out !== null) {
          for (const f of mon.dist.liveFlows()) out.write(flowRecord(f.state, 'stop'));
          out.close();
        }
      },
    });
  },
};
export default app;
