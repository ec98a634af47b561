// Test app: shard `crashShard` throws from afterBurst (outside any packet handler) after `afterMs`.
import { Verdict, type AppModule, type ShardApp, type ShardContext } from '../../../index';

const app: AppModule<{ crashShard: number; afterMs: number }> = {
  name: 'crash',
  settings: (c) => ({ crashShard: Number((c.app as { crashShard?: number }).crashShard ?? 0), afterMs: Number((c.app as { afterMs?: number }).afterMs ?? 300) }),
  createShard(shard: ShardContext, s): ShardApp {
    const t0 = performance.now();
    return {
      onPacket: () => Verdict.port(1),
      afterBurst(): void {
        if (shard.id === s.crashShard && performance.now() - t0 > s.afterMs) throw new Error('deliberate crash in afterBurst');
      },
    };
  },
};
export default app;
