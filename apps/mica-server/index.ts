// mica-server: a MICA key-value server on the reactor. Partitions are owned by shards (EREW), each answers
// on its own UDP port (udpPort + partition), and steering rules bring each port's requests to its owner.
import * as os from 'os';
import { z } from 'zod';
import { NetstarError, Verdict, type AppModule, type Config, type ShardApp, type ShardContext, appSettings } from '../../index';
import { ServerShard, serverSteering, type ServerOptions } from '../../mica';

const schema = z.object({
  /** the port (index in config.ports) with the server's address: its stack answers ARP */
  portIndex: z.number().int().min(0).default(0),
  /** UDP port of partition 0 (partition p: udpPort + p) */
  udpPort: z.number().int().min(1).max(65535).default(9000),
  /** partitions (default: one per shard) */
  partitions: z.number().int().min(1).max(1024).optional(),
  /** store: never loses an item, refuses when full; cache: evicts the oldest */
  mode: z.enum(['store', 'cache']).default('store'),
  /** memory for the server in MiB, split over partitions (log + index) */
  memoryMb: z.number().min(1).max(65536).default(64),
  /** index buckets per partition (power of two; default: one per 512 log bytes) */
  buckets: z.number().int().min(1).refine((n) => (n & (n - 1)) === 0, 'a power of two').optional(),
  /** mica2's acceptance rule: drop frames with a nonzero IP id or any fragment flag (DF too) */
  strict: z.boolean().default(false),
  /** EREW only: partitions are shard memory (a shared-memory CREW is not built) */
  access: z.literal('erew').default('erew'),
}).strict();
type Settings = ServerOptions;

const app: AppModule<Settings> = {
  name: 'mica-server',
  description: 'MICA key-value server: partitions owned by shards (EREW), a UDP port per partition steered to its owner',
  settingsSchema: schema,
  settings: appSettings('mica-server', schema, (s, config): Settings => {
    const port = config.ports[s.portIndex];
    if (!port) throw new NetstarError('ERR_CONFIG', `mica-server: no port ${s.portIndex}`);
    if (!port.stack || port.stack.closedPorts !== 'nf')
      throw new NetstarError('ERR_CONFIG', `mica-server: port ${s.portIndex} needs "stack": {"address": "…/prefix", "closedPorts": "nf"} (the stack answers ARP; the server gets the UDP)`);
    const partitions = s.partitions ?? (config.shards === 'all' ? os.cpus().length : config.shards);
    if (s.udpPort + partitions - 1 > 65535) throw new NetstarError('ERR_CONFIG', `mica-server: udpPort + partitions runs past 65535`);
    const perPart = Math.floor((s.memoryMb * 1048576) / partitions);
    // index: 7 slots x (2 + 8) bytes per bucket; log gets the rest
    const buckets = s.buckets ?? Math.max(1, 1 << Math.floor(Math.log2(Math.max(1, perPart / 640))));
    const logBytes = perPart - buckets * 70;
    if (logBytes < 65536) throw new NetstarError('ERR_CONFIG', `mica-server: ${s.memoryMb} MiB over ${partitions} partitions leaves ${logBytes} log bytes each (need 64 KiB)`);
    return { portIndex: s.portIndex, udpPort: s.udpPort, partitions, mode: s.mode, logBytes, buckets, strict: s.strict };
  }),
  steering: (s: Settings, shards: number) => serverSteering(s, shards),
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const server = new ServerShard(ctx, s);
    return {
      onPacket: (pkt, pi) => server.onPacket(pkt, pi),
      counters: () => server.counters(),
    };
  },
};
export default app;
