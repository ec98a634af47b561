// Test app: a stalled downstream. Holds every packet from port 0 (mbufs and all) until told to let go — the
// control command `release` (netstar ctl <instance> release) — then sends them all to port 1 and forwards
// everything after at once. With a pool smaller than the traffic, the pool runs dry while it holds: the
// device must count what it could not receive (rx_nombuf) and traffic must flow again once the packets
// come back.
import { Verdict, type AppModule, type ShardApp, type ShardContext } from '../../../index';

/** One word shared by the main thread (the control command) and every shard: 1 once released. */
interface PinchSettings { flag: Int32Array }

const app: AppModule<PinchSettings> = {
  name: 'pinch',
  settings: () => ({ flag: new Int32Array(new SharedArrayBuffer(4)) }),
  control: {
    release(s) {
      Atomics.store(s.flag, 0, 1);
      return { released: true };
    },
  },
  createShard(ctx: ShardContext, s: PinchSettings): ShardApp {
    let released = false;
    let held = 0, freed = 0, passed = 0;
    const waiting: (() => void)[] = [];
    return {
      onPacket(p, portIndex) {
        if (portIndex !== 0) return Verdict.DROP;
        if (released) {
          passed++;
          return Verdict.port(1);
        }
        held++;
        return ctx.defer(p, () => new Promise<Verdict>((resolve) => waiting.push(() => {
          freed++;
          resolve(Verdict.port(1));
        })));
      },
      // Every loop pass: one atomic load until the release.
      afterBurst() {
        if (released || Atomics.load(s.flag, 0) === 0) return;
        released = true;
        for (const w of waiting.splice(0)) w();
      },
      // held: packets taken into the hold; freed: of those, sent on after the release; passed: forwarded at
      // once after the release; waiting: held now.
      counters: () => ({ held, freed, passed, waiting: waiting.length, released: released ? 1 : 0 }),
    };
  },
};
export default app;
