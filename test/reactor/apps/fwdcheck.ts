// Test app: every packet a shard receives from its device queue goes to the next shard (forward or
// unsafeForward, by setting); packets arriving from another shard have their sequence number (UDP
// payload, first 4 bytes) recorded, then are dropped (free on cpu) or sent. `throwEvery` makes the
// handler throw on some packets. At stop each shard writes what it saw to `<outDir>/shard<id>.json`.
import * as fs from 'fs';
import * as path from 'path';
import { Verdict, type AppModule, type Config, type Packet, type RxBatch, type ShardApp, type ShardContext } from '../../../index';
import { NO_QUEUE } from '../../../native';

interface Settings { mode: 'forward' | 'unsafe'; outDir: string; throwEvery: number; sendOut: boolean; record: boolean; burst: boolean }

const app: AppModule<Settings> = {
  name: 'fwdcheck',
  settings(c: Config): Settings {
    const a = c.app as Partial<Settings>;
    return { mode: a.mode ?? 'forward', outDir: String(a.outDir), throwEvery: a.throwEvery ?? 0, sendOut: a.sendOut ?? false, record: a.record ?? true, burst: a.burst ?? false };
  },
  createShard(shard: ShardContext, s: Settings): ShardApp {
    const seen: number[] = [];
    let fromDevice = 0, thrown = 0;
    const next = (shard.id + 1) % shard.count;
    // Arrivals from other shards name their DPDK port; drops are counted by port index.
    const indexOfPort = new Map(shard.qps.map((qp, i) => [qp.port, i]));
    if (s.burst) {
      // Whole batches cross (forwardBatch / unsafeForwardBatch); arrivals are recorded, then dropped, so
      // forwarded buffers take the free-on-cpu path home.
      return {
        onPacket: () => Verdict.DROP,
        onBurst(batch: RxBatch): void {
          fromDevice += batch.count;
          if (s.mode === 'forward') shard.forwardBatch(batch, next);
          else shard.unsafeForwardBatch(batch, next);
        },
        onForwarded(batch: RxBatch): void {
          for (let i = 0; i < batch.count; i++) {
            const v = batch.view(i), off = batch.offset(i);
            if (s.record) seen.push(batch.length(i) >= 46 ? v.getUint32(off + 42) : -1);
            shard.dropSlot(batch.slot(i), indexOfPort.get(batch.port(i)) ?? 0);
          }
          batch.count = 0;
        },
        stop(): void {
          fs.writeFileSync(path.join(s.outDir, `shard${shard.id}.json`), JSON.stringify({ id: shard.id, fromDevice, thrown, seen }));
        },
      };
    }
    return {
      onPacket(p: Packet, portIndex: number): Verdict {
        const seq = p.length >= 46 ? p.view.getUint32(p.offset + 42) : -1;
        if (s.throwEvery > 0 && seq % s.throwEvery === 0 && p.queue !== NO_QUEUE) {
          thrown++;
          throw new Error(`boom ${seq}`);
        }
        if (p.queue !== NO_QUEUE) {
          fromDevice++;
          if (s.mode === 'forward') shard.forward(p, next);
          else shard.unsafeForward(p, next);
          return Verdict.STOLEN;
        }
        if (s.record) seen.push(seq);
        return s.sendOut ? Verdict.port(portIndex) : Verdict.DROP;
      },
      stop(): void {
        fs.writeFileSync(path.join(s.outDir, `shard${shard.id}.json`), JSON.stringify({ id: shard.id, fromDevice, thrown, seen }));
      },
    };
  },
};
export default app;
