// Where stateless-nf keeps its per-flow state: one small interface with two backends — MICA over our
// datagram client (the default), and Redis (or Redis Cluster) through ioredis on the shard's kernel sockets.
import type { ShardContext } from '../../index';
import { MicaClient, type MicaClientOptions } from '../../mica';

export interface StateStore {
  get(key: string): Promise<Uint8Array | null>;
  set(key: string, value: Uint8Array): Promise<void>;
  /** Stores only if absent (atomic at the store): true when this call stored it. */
  add(key: string, value: Uint8Array): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  /** packets that may be MICA responses for this store (MICA only) */
  onPacket?(pkt: Parameters<MicaClient['onPacket']>[0], portIndex: number): 'drop' | 'stolen' | null;
  flush?(): void;
  pollAt?(): number;
  counters(): Record<string, number>;
  close(): void;
}

export class MicaStateStore implements StateStore {
  readonly client: MicaClient;
  constructor(ctx: ShardContext, o: MicaClientOptions) {
    this.client = new MicaClient(ctx, o);
  }
  get(key: string): Promise<Uint8Array | null> { return this.client.get(key); }
  set(key: string, value: Uint8Array): Promise<void> { return this.client.set(key, value); }
  add(key: string, value: Uint8Array): Promise<boolean> { return this.client.add(key, value); }
  delete(key: string): Promise<boolean> { return this.client.delete(key); }
  onPacket(pkt: Parameters<MicaClient['onPacket']>[0], portIndex: number): 'drop' | 'stolen' | null { return this.client.onPacket(pkt, portIndex); }
  flush(): void { this.client.flush(); }
  pollAt(): number { return this.client.pollAt(); }
  counters(): Record<string, number> {
    const c = this.client.counters(), out: Record<string, number> = {};
    for (const [k, v] of Object.entries(c)) out[`mica_${k}`] = v;
    return out;
  }
  close(): void { this.client.close(); }
}

export interface RedisOptions {
  nodes: { host: string; port: number }[];
  /** the nodes form a Redis Cluster (keys spread by hash slot) */
  cluster: boolean;
  /** per command (ms) */
  timeoutMs: number;
}

/** Minimal surface of ioredis used here (its Redis and Cluster classes share it). */
interface RedisLike {
  getBuffer(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer, ...args: string[]): Promise<string | null>;
  del(key: string): Promise<number>;
  disconnect(): void;
}

/**
 * Redis behind the same interface. Kernel sockets from the shard (ioredis on Node's net), not our TCP
 * stack: Redis speaks TCP on an ordinary host network, the store link carries no data-plane traffic, and
 * ioredis brings pipelining, reconnection and cluster slot routing that the NF would otherwise re-implement.
 */
export class RedisStateStore implements StateStore {
  private readonly r: RedisLike;
  private n = { redisOps: 0, redisErrors: 0 };
  constructor(o: RedisOptions) {
    // ioredis is loaded here only, so MICA deployments never need it
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const IORedis = require('ioredis') as typeof import('ioredis');
    const common = { commandTimeout: o.timeoutMs, maxRetriesPerRequest: 3, enableOfflineQueue: true, lazyConnect: false };
    this.r = (o.cluster
      ? new IORedis.Cluster(o.nodes, { redisOptions: common })
      : new IORedis.Redis({ host: o.nodes[0].host, port: o.nodes[0].port, ...common })) as unknown as RedisLike;
  }
  private track<T>(p: Promise<T>): Promise<T> {
    this.n.redisOps++;
    return p.catch((e: unknown) => { this.n.redisErrors++; throw e; });
  }
  async get(key: string): Promise<Uint8Array | null> { return this.track(this.r.getBuffer(key)); }
  async set(key: string, value: Uint8Array): Promise<void> { await this.track(this.r.set(key, Buffer.from(value))); }
  async add(key: string, value: Uint8Array): Promise<boolean> { return (await this.track(this.r.set(key, Buffer.from(value), 'NX'))) === 'OK'; }
  async delete(key: string): Promise<boolean> { return (await this.track(this.r.del(key))) > 0; }
  counters(): Record<string, number> { return { ...this.n }; }
  close(): void { this.r.disconnect(); }
}
