// Test app: every packet a shard receives from its device queue goes to the next shard (forward or
// unsafeForward, by setting); packets arriving from another shard have their sequence number (UDP
// payload, first 4 bytes) recorded, then are dropped (free on cpu) or sent. `throwEvery` makes the
// handler throw on some packets. At stop each shard writes what it saw to `<outDir>/shard<id>.json`.
import * as fs from 'fs';
import * as path from 'path';
import type { AppModule, ShardApp } from '../../../reactor/app';
import { Verdict } from '../../../reactor/app';
import type { Config } from '../../../reactor/config';
import type { Shard } from '../../../reactor/shard';
import type { Packet } from '../../../net/packet';
import { NO_QUEUE } from '../../../native';

interface Settings { mode: 'forward' | 'unsafe'; outDir: string; throwEvery: number; sendOut: boolean; record: boolean }

const app: AppModule<Settings> = {
  name: 'fwdcheck',
  settings(c: Config): Settings {
    const a = c.app as Partial<Settings>;
    return { mode: a.mode ?? 'forward', outDir: String(a.outDir), throwEvery: a.throwEvery ?? 0, sendOut: a.sendOut ?? false, record: a.record ?? true };
  },
  createShard(shard: Shard, s: Settings): ShardApp {
    const seen: number[] = [];
    let fromDevice = 0, thrown = 0;
    const next = (shard.id + 1) % shard.count;
    return {
      onPacket(p: Packet, portIndex: number): number {
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
        return s.sendOut ? portIndex : Verdict.DROP;
      },
      stop(): void {
        fs.writeFileSync(path.join(s.outDir, `shard${shard.id}.json`), JSON.stringify({ id: shard.id, fromDevice, thrown, seen }));
      },
    };
  },
};
export default app;
