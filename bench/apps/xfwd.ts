// Benchmark app for `bench forward`: a packet received from a device is forwarded to the next shard, which
// sends it on port 1; with one shard it is sent on port 1 directly (the reference).
import type { AppModule, ShardApp } from '../../reactor/app';
import { Verdict } from '../../reactor/app';
import type { Shard } from '../../reactor/shard';
import type { Packet, RxBatch } from '../../net/packet';
import type { DpdkQueuePair } from '../../net/qp';
import { NO_QUEUE } from '../../native';

const app: AppModule<{ unsafe: boolean; burst: boolean }> = {
  name: 'xfwd',
  settings: (c) => ({ unsafe: (c.app as { unsafe?: boolean }).unsafe === true, burst: (c.app as { burst?: boolean }).burst === true }),
  createShard(shard: Shard, s): ShardApp {
    const next = (shard.id + 1) % shard.count;
    const single = shard.count === 1;
    if (s.burst) {
      // Burst mode: whole batches cross shards and go out without per-packet JS.
      return {
        onPacket: () => Verdict.DROP,
        onBurst(batch: RxBatch, _pi: number, qps: DpdkQueuePair[]): void {
          if (single) qps[1].sendBatch(batch);
          else if (s.unsafe) shard.unsafeForwardBatch(batch, next);
          else shard.forwardBatch(batch, next);
        },
        onForwarded(batch: RxBatch, qps: DpdkQueuePair[]): void {
          qps[1].sendBatch(batch);
        },
      };
    }
    return {
      onPacket(p: Packet): number {
        if (single || p.queue === NO_QUEUE) return 1;
        if (s.unsafe) shard.unsafeForward(p, next);
        else shard.forward(p, next);
        return Verdict.STOLEN;
      },
    };
  },
};
export default app;
