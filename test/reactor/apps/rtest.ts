// Test app for the reactor services: tasks across shards, invokeOnAll, errors across shards, timers while
// the shard is busy with traffic, and a Sharded<T> service. Shard 0 runs the checks once traffic flows and
// writes the results to `<outDir>/rtest.json`.
import * as fs from 'fs';
import * as path from 'path';
import type { AppModule, ShardApp } from '../../../reactor/app';
import type { Shard } from '../../../reactor/shard';
import { registerTask } from '../../../reactor/tasks';
import { Sharded } from '../../../reactor/sharded';

let current: Shard | null = null;
registerTask('rtest.whoami', (x: number) => ({ shard: current!.id, doubled: x * 2 }));
registerTask('rtest.fail', (msg: string) => { throw new TypeError(`failed on shard ${current!.id}: ${msg}`); });
registerTask('rtest.slow', async (ms: number) => { await current!.sleep(ms); return current!.id; });
registerTask('rtest.big', (n: number) => new Uint8Array(n).fill(7));

class Counter {
  n = 0;
  add(k: number): number { this.n += k; return this.n; }
  get(): number { return this.n; }
}

const app: AppModule<{ outDir: string }> = {
  name: 'rtest',
  settings: (c) => ({ outDir: String((c.app as { outDir?: string }).outDir) }),
  async createShard(shard: Shard, s): Promise<ShardApp> {
    current = shard;
    const counters = await Sharded.start(shard, 'rtest.counter', () => new Counter());
    let rx = 0;
    let started = false;
    const run = async (): Promise<void> => {
      const r: Record<string, unknown> = {};
      r.whoami = await shard.submitTo(1, 'rtest.whoami', 21);
      r.self = await shard.submitTo(0, 'rtest.whoami', 5);
      r.all = await shard.invokeOnAll('rtest.whoami', 1);
      try {
        await shard.submitTo(1, 'rtest.fail', 'on purpose');
        r.error = 'none';
      } catch (e) {
        r.error = { name: (e as Error).name, message: (e as Error).message, remoteName: (e as { remoteName?: string }).remoteName };
      }
      try { await shard.submitTo(1, 'rtest.nosuchtask'); r.missing = 'none'; } catch (e) { r.missing = (e as Error).message; }
      try { await shard.submitTo(9, 'rtest.whoami', 1); r.badShard = 'none'; } catch (e) { r.badShard = (e as Error).message; }
      r.slow = await shard.submitTo(1, 'rtest.slow', 50);
      r.bigLen = ((await shard.submitTo(1, 'rtest.big', 100000)) as Uint8Array).length;
      try { await shard.submitTo(1, 'rtest.big', 1 << 20); r.tooBig = 'none'; } catch (e) { r.tooBig = (e as Error).message; }
      // many concurrent calls, answered in any order but each exactly once
      const many = await Promise.all(Array.from({ length: 2000 }, (_, i) => shard.submitTo(1, 'rtest.whoami', i)));
      r.manyOk = many.every((m, i) => (m as { doubled: number }).doubled === 2 * i);
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
      onPacket(): number {
        rx++;
        if (shard.id === 0 && !started && rx > 1000) {
          started = true;
          run().catch((e: unknown) => fs.writeFileSync(path.join(s.outDir, 'rtest.json'), JSON.stringify({ crashed: String((e as Error)?.stack ?? e) })));
        }
        return 1;
      },
    };
  },
};
export default app;
