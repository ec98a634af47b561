// Test app: holds every packet from port 0 in a handler that never finishes (as a NAT waiting for a neighbour
// or a flow waiting for a backend would), so a stop always finds packets held.
import type { AppModule, ShardApp } from '../../../reactor/app';
import type { ShardContext } from '../../../reactor/context';

const app: AppModule<Record<string, never>> = {
  name: 'holder',
  settings: () => ({}),
  createShard(ctx: ShardContext): ShardApp {
    let held = 0;
    return {
      onPacket(p) {
        held++;
        return ctx.defer(p, () => new Promise<number>(() => undefined));
      },
      counters: () => ({ held }),
    };
  },
};
export default app;
