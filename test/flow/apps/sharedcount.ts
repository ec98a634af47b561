// Test app: every packet's flow handler awaits a call to a SharedService owned by shard 0 (from shard 0
// itself or across shards through a cross-shard task), then forwards the packet. The service's method awaits inside,
// so overlapping calls would show; at stop each shard writes what it saw to `<outDir>/shard<id>.json`.
import * as fs from 'fs';
import * as path from 'path';
import { flow, type AppModule, type Config, type ShardApp, type ShardContext } from '../../../index';

const { FlowAction, FlowDistributor, MetaFlow, SharedService, flowPipeline } = flow;
type AsyncFlow<S> = flow.AsyncFlow<S>;

interface Settings { outDir: string }

/** Owned by shard 0: calls must run one at a time. */
export class Tally {
  total = 0;
  active = 0;
  maxActive = 0;
  byShard: number[] = [0, 0, 0, 0];
  async add(from: number): Promise<number> {
    this.active++;
    if (this.active > this.maxActive) this.maxActive = this.active;
    const before = this.total;
    await new Promise((r) => setTimeout(r, 0));
    this.total = before + 1;
    this.byShard[from]++;
    this.active--;
    return this.total;
  }
  snapshot(): { total: number; maxActive: number; byShard: number[] } {
    return { total: this.total, maxActive: this.maxActive, byShard: this.byShard };
  }
}

const app: AppModule<Settings> = {
  name: 'sharedcount',
  settings(c: Config): Settings {
    return { outDir: String((c.app as { outDir?: string }).outDir) };
  },
  createShard(shard: ShardContext, s: Settings): ShardApp {
    const svc = new SharedService<Tally>(shard, 'tally', 0, () => new Tally());
    let answered = 0, failed = 0;
    const dist = new FlowDistributor<null>({
      capacity: 4096,
      createState: () => null,
      sink: shard,
      defaultOut: [1, 1],
      handler: async (_f: AsyncFlow<null>) => {
        try {
          await svc.call('add', shard.id);
          answered++;
          return FlowAction.Forward;
        } catch {
          failed++;
          return FlowAction.Drop;
        }
      },
    });
    const mf = new MetaFlow({ port: 0, distributor: dist, parse: { verifyIpChecksum: false } });
    return flowPipeline({
      clock: shard.clock,
      metaFlows: [mf, new MetaFlow({ port: 1 })],
      distributor: dist,
      async stop(): Promise<void> {
        const own = svc.isOwner ? svc.local!.snapshot() : null;
        fs.writeFileSync(path.join(s.outDir, `shard${shard.id}.json`), JSON.stringify({ id: shard.id, answered, failed, stats: svc.stats, own }));
        svc.stop();
      },
    });
  },
};
export default app;
