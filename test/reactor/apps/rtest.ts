// Test app for the reactor services: tasks across shards, invokeOnAll, errors across shards, timers while
// the shard is busy with traffic, and a Sharded<T> service. Shard 0 runs the checks once traffic flows and
// writes the results to `<outDir>/rtest.json`.
import * as fs from 'fs';
import * as path from 'path';
import { Verdict, defineTask, type AppModule, type ShardApp, type ShardContext, type TaskHandle } from '../../../index';
import { Sharded } from '../../../reactor/sharded';

let current: ShardContext | null = null;
const whoami = defineTask('rtest.whoami', (x: number) => ({ shard: current!.id, doubled: x * 2 }));
const fail = defineTask('rtest.fail', (msg: string): never => { throw new TypeError(`failed on shard ${current!.id}: ${msg}`); });
const slow = defineTask('rtest.slow', async (ms: number) => { await current!.sleep(ms); return current!.id; });
const big = defineTask('rtest.big', (n: number) => new Uint8Array(n).fill(7));
/** A handle whose name no shard registered (as a peer running other code would have): the call must fail. */
const missing: TaskHandle<[], undefined> = { name: 'rtest.nosuchtask', fn: () => undefined };

class Counter {
  n = 0;
  add(k: number): number { this.n += k; return this.n; }
  get(): number { return this.n; }
}

const app: AppModule<{ outDir: string }> = {
  name: 'rtest',
  settings: (c) => ({ outDir: String((c.app as { outDir?: string }).outDir) }),
  async createShard(shard: ShardContext, s): Promise<ShardApp> {
    current = shard;
    const counters = await Sharded.start(shard, 'rtest.counter', () => new Counter());
    let rx = 0;
    let started = false;
    const run = async (): Promise<void> => {
      const r: Record<string, unknown> = {};
      r.whoami = await shard.call(whoami, 1, 21);
      r.self = await shard.call(whoami, 0, 5);
      r.all = await shard.callAll(whoami, 1);
      try {
        await shard.call(fail, 1, 'on purpose');
        r.error = 'none';
      } catch (e) {
        r.error = { name: (e as Error).name, message: (e as Error).message, remoteName: (e as { remoteName?: string }).remoteName };
      }
      try { await shard.call(missing, 1); r.missing = 'none'; } catch (e) { r.missing = (e as Error).message; }
      try { await shard.call(whoami, 9, 1); r.badShard = 'none'; } catch (e) { r.badShard = (e as Error).message; }
      r.slow = await shard.call(slow, 1, 50);
      r.bigLen = (await shard.call(big, 1, 100000)).length;
      try { await shard.call(big, 1, 1 << 20); r.tooBig = 'none'; } catch (e) { r.tooBig = (e as Error).message; }
      // many concurrent calls, answered in any order but each exactly once
      const many = await Promise.all(Array.from({ length: 2000 }, (_, i) => shard.call(whoami, 1, i)));
      r.manyOk = many.every((m, i) => m.doubled === 2 * i);
      await counters.invokeOn(1, 'add', 5);
      await counters.invokeOn(1, 'add', 6);
      counters.local.add(1);
      r.counters = await counters.invokeOnAll('get');
      // Timers while traffic flows: fire order and lateness.
      const fired: { id: number; late: number }[] = [];
      const t0 = performance.now();
      const rxBefore = rx;
      await new Promise<void>((resolve) => {
        for (const [id, ms] of [[3, 30], [1, 10], [2, 20], [4, 40]]) {
          shard.setTimeout(() => {
            fired.push({ id, late: performance.now() - t0 - ms });
            if (fired.length === 4) resolve();
          }, ms);
        }
      });
      r.timerOrder = fired.map((f) => f.id);
      r.timerMaxLateMs = Math.max(...fired.map((f) => f.late));
      r.rxDuringTimers = rx - rxBefore;
      let ticks = 0;
      await new Promise<void>((resolve) => { const iv = shard.setInterval(() => { if (++ticks === 5) { shard.cancel(iv); resolve(); } }, 5); });
      r.intervalTicks = ticks;
      fs.writeFileSync(path.join(s.outDir, 'rtest.json'), JSON.stringify(r));
    };
    return {
      onPacket(): Verdict {
        rx++;
        if (shard.id === 0 && !started && rx > 1000) {
          started = true;
          run().catch((e: unknown) => fs.writeFileSync(path.join(s.outDir, 'rtest.json'), JSON.stringify({ crashed: String((e as Error)?.stack ?? e) })));
        }
        return Verdict.port(1);
      },
    };
  },
};
export default app;
