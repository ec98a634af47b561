// abacus: per-subscriber TCP/UDP accounting that retransmissions cannot fool (NDSS'14, "Gaining Control of
// Cellular Traffic Accounting by Spurious TCP Retransmission"), on the mOS-style monitor. See accounting.ts.
import { z } from 'zod';
import { NetstarError } from '../../index';
import type { Config } from '../../index';
import type { AppModule, ShardApp } from '../../index';
import type { ShardContext } from '../../index';
import { parseCidr } from '../../net/flow';
import { JsonLines, Monitor, monitorApp, monitorOptions, parseAppSettings, type MonitorSettings, appSchema } from '../../mos';
import { Accounting } from './accounting';

const extra = {
  subscribers: z.array(z.string()).min(1),
  chargeRetransmissions: z.boolean().default(false),
  freeRiding: z.enum(['charge', 'flag', 'drop']).default('flag'),
  inflation: z.enum(['flag', 'drop']).default('flag'),
  /** JSON lines: alerts as they happen */
  alerts: z.string().optional(),
  /** JSON lines: the per-subscriber report every reportIntervalMs and at stop */
  report: z.string().optional(),
  reportIntervalMs: z.number().int().min(0).default(0),
};
type Settings = MonitorSettings & z.infer<z.ZodObject<typeof extra>>;

const app: AppModule<Settings> = {
  name: 'abacus',
  description: 'per-subscriber traffic accounting not fooled by TCP retransmission; free-riding and inflation detected',
  settingsSchema: appSchema(extra),
  settings(config: Config): Settings {
    const s = parseAppSettings('abacus', config, extra) as Settings;
    for (const p of s.subscribers) if (parseCidr(p) === null) throw new NetstarError('ERR_CONFIG', `abacus: app.subscribers: bad prefix "${p}"`);
    return s;
  },
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    // FIRST keeps the bytes first seen: what a retransmission is compared against.
    const mon = new Monitor<null>(monitorOptions(ctx, { ...s, overlap: 'first' }, () => null));
    const acc = new Accounting(s);
    const alerts = s.alerts !== undefined ? new JsonLines(s.alerts) : null;
    if (alerts !== null) acc.onAlert = (a) => alerts.write(a);
    acc.attach(mon, s.forward ?? [1, 0], s.mode === 'passive');
    const report = s.report !== undefined ? new JsonLines(s.report) : null;
    const writeReport = (final: boolean): void => {
      if (report !== null) report.write({ shard: ctx.id, final, subscribers: acc.report() });
    };
    let next = s.reportIntervalMs > 0 ? ctx.now() + s.reportIntervalMs : Infinity;
    return monitorApp(ctx, mon, s, {
      counters: () => acc.totals(),
      afterBurst: (now) => {
        if (now >= next) {
          next = now + s.reportIntervalMs;
          writeReport(false);
        }
      },
      pollAt: () => next,
      stop: () => {
        writeReport(true);
        report?.close();
        alerts?.close();
      },
    });
  },
};
export default app;
