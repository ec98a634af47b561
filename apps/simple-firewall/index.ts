// simple-firewall: first-packet rules (BPF-like expressions) on the mOS-style monitor. A TCP flow's SYN is
// matched once: deny drops it and every later packet; allow stops monitoring the flow (its packets pass
// without a handler call). Other protocols are matched packet by packet.
import { z } from 'zod';
import { NetstarError } from '../../index';
import { Verdict } from '../../index';
import type { Config } from '../../index';
import type { AppModule, ShardApp } from '../../index';
import type { ShardContext } from '../../index';
import { Events, Monitor, compileFilter, monitorApp, monitorOptions, parseAppSettings, type MonitorSettings, type PacketPredicate, appSchema } from '../../mos';

const ruleSchema = z.object({ match: z.string(), action: z.enum(['allow', 'deny']) }).strict();
const extra = {
  rules: z.array(ruleSchema).default([]),
  default: z.enum(['allow', 'deny']).default('allow'),
};
type Settings = MonitorSettings & { rules: { match: string; action: 'allow' | 'deny' }[]; default: 'allow' | 'deny' };

const app: AppModule<Settings> = {
  name: 'simple-firewall',
  description: 'mOS-style monitor app: first-packet rules; deny drops the flow, allow stops monitoring it',
  settingsSchema: appSchema(extra),
  settings(config: Config): Settings {
    const s = parseAppSettings('simple-firewall', config, extra) as Settings;
    s.rules.forEach((r, i) => {
      try {
        compileFilter(r.match);
      } catch (e) {
        throw new NetstarError('ERR_CONFIG', `simple-firewall: app.rules.${i}.match: ${(e as Error).message}`);
      }
    });
    return s;
  },
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const rules: { pred: PacketPredicate; allow: boolean }[] = s.rules.map((r) => ({ pred: compileFilter(r.match), allow: r.action === 'allow' }));
    const defAllow = s.default === 'allow';
    const hits = new Float64Array(rules.length + 1);
    let allowed = 0, denied = 0, otherAllowed = 0, otherDenied = 0;
    const decide = (info: Parameters<PacketPredicate>[0]): boolean => {
      for (let i = 0; i < rules.length; i++) {
        if (rules[i].pred(info)) {
          hits[i]++;
          return rules[i].allow;
        }
      }
      hits[rules.length]++;
      return defAllow;
    };
    // Every TCP packet that starts a flow is judged (so the monitor needs no first-packet filter of its own).
    const mon = new Monitor<null>({ ...monitorOptions(ctx, s, () => null), filter: undefined });
    mon.on(Events.CONN_START, (c) => {
      if (decide(c.info!)) {
        allowed++;
        c.stopMonitoring(0);
        c.stopMonitoring(1);
      } else {
        denied++;
        c.dropFlow();
      }
    });
    const fwd = s.forward ?? [1, 0];
    // Packets not part of a monitored flow (other protocols, TCP without a flow) are judged one by one.
    mon.onOther = mon.onOrphan = (_pkt, info, inPort) => {
      if (s.mode === 'passive') return Verdict.DROP;
      if (!decide(info)) {
        otherDenied++;
        return Verdict.DROP;
      }
      otherAllowed++;
      const out = fwd[inPort];
      return out === undefined || out < 0 ? Verdict.DROP : Verdict.port(out);
    };
    return monitorApp(ctx, mon, s, {
      counters: () => {
        const r: Record<string, number> = { 'fw.allowed': allowed, 'fw.denied': denied, 'fw.otherAllowed': otherAllowed, 'fw.otherDenied': otherDenied };
        rules.forEach((_, i) => { r[`fw.rule${i}`] = hits[i]; });
        r['fw.default'] = hits[rules.length];
        return r;
      },
    });
  },
};
export default app;
