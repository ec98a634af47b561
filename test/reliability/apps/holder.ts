// Test app: holds every packet from port 0 in a handler that never finishes (as a NAT waiting for a neighbour
// or a flow waiting for a backend would), so a stop always finds packets held.
import type { AppModule, ShardApp, Verdict } from '../../../index';
import type { ShardContext } from '../../../index';

const app: AppModule<Record<string, never>> = {
  name: 'holder',
  settings: () => ({}),
  createShard(ctx: ShardContext): ShardApp {
    let held = 0;
    return {
      onPacket(p) {
        held++;
        return ctx.defer(p, () => new Promise<Verdict>(() => undefined));
      },
      counters: () => ({ held }),
    };
  },
};
export default app;
