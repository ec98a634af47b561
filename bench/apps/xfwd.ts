// Benchmark app for `bench forward`: a packet received from a device is forwarded to the next shard, which
// sends it on port 1; with one shard it is sent on port 1 directly (the reference).
import { Verdict, type AppModule, type DpdkQueuePair, type Packet, type RxBatch, type ShardApp, type ShardContext } from '../../index';
import { NO_QUEUE } from '../../native';

const app: AppModule<{ unsafe: boolean; burst: boolean }> = {
  name: 'xfwd',
  settings: (c) => ({ unsafe: (c.app as { unsafe?: boolean }).unsafe === true, burst: (c.app as { burst?: boolean }).burst === true }),
  createShard(shard: ShardContext, s): ShardApp {
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
      onPacket(p: Packet): Verdict {
        if (single || p.queue === NO_QUEUE) return Verdict.port(1);
        if (s.unsafe) shard.unsafeForward(p, next);
        else shard.forward(p, next);
        return Verdict.STOLEN;
      },
    };
  },
};
export default app;
