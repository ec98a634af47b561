// Test app: shard `crashShard` throws from afterBurst (outside any packet handler) after `afterMs`.
import type { AppModule, ShardApp } from '../../../reactor/app';
import type { Shard } from '../../../reactor/shard';

const app: AppModule<{ crashShard: number; afterMs: number }> = {
  name: 'crash',
  settings: (c) => ({ crashShard: Number((c.app as { crashShard?: number }).crashShard ?? 0), afterMs: Number((c.app as { afterMs?: number }).afterMs ?? 300) }),
  createShard(shard: Shard, s): ShardApp {
    const t0 = performance.now();
    return {
      onPacket: () => 1,
      afterBurst(): void {
        if (shard.id === s.crashShard && performance.now() - t0 > s.afterMs) throw new Error('deliberate crash in afterBurst');
      },
    };
  },
};
export default app;
