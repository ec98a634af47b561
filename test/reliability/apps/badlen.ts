// Test app: forwards port 0 -> 1, but every 5th packet is sent with a bad length (0, or past the buffer end):
// an app bug the runtime must survive (the packet dropped and counted, the rest of the burst sent).
import { Verdict, type AppModule, type ShardApp } from '../../../index';
import type { ShardContext } from '../../../index';

const app: AppModule<Record<string, never>> = {
  name: 'badlen',
  settings: () => ({}),
  createShard(_ctx: ShardContext): ShardApp {
    let n = 0;
    return {
      onPacket(p, portIndex) {
        if (portIndex !== 0) return Verdict.port(0);
        n++;
        if (n % 10 === 0) p.length = 0;
        else if (n % 10 === 5) p.length = p.bufLen + 1;
        return Verdict.port(1);
      },
    };
  },
};
export default app;
