// The contract between the runtime and an application (NF). An app validates its settings on the main
// thread and creates one ShardApp per shard; the shard calls onPacket for every received packet.
import type { Config } from './config';
import type { PortInfo } from '../native';
import type { Packet, RxBatch } from '../net/packet';
import type { DpdkQueuePair } from '../net/qp';
import type { ShardContext } from './context';
import type { SteerRule } from '../net/steer';

/** onPacket's answer: a port index (>= 0) to send on, or one of these. */
export const Verdict = {
  /** free the packet (counted as dropped on its input port) */
  DROP: -1,
  /** the app took the packet (held, forwarded, or already sent); the shard does nothing more */
  STOLEN: -2,
  /** send on port `index` (position in config.ports) */
  port: (index: number): number => index,
} as const;

export interface ShardApp {
  /**
   * Called for each packet. `pkt` is a flyweight reused for the next packet: to keep the packet past this
   * call, take it with `ctx.hold(pkt)` and return STOLEN. Throwing drops the packet and counts it.
   */
  onPacket(pkt: Packet, portIndex: number): number;
  /**
   * Optional burst fast path, used instead of onPacket when present: the app must dispose of every packet
   * in the batch (e.g. `qps[out].sendBatch(batch)`). If it throws, packets it did not dispose are dropped.
   */
  onBurst?(batch: RxBatch, portIndex: number, qps: DpdkQueuePair[]): void;
  /**
   * Optional burst hook for packets that arrive from other shards (forward / unsafeForward / steering); the
   * batch may mix ports (`batch.port(i)`). Same contract as onBurst. Without it, onPacket sees them.
   */
  onForwarded?(batch: RxBatch, qps: DpdkQueuePair[]): void;
  /** Called once per poll-loop iteration after the RX bursts (e.g. to flush app state). */
  afterBurst?(): void;
  /** When (performance.now() ms) the app next needs the loop to run even without traffic; Infinity if never. */
  pollAt?(): number;
  /** App counters, reported in the summary and the STATS lines. */
  counters?(): Record<string, number>;
  stop?(): void | Promise<void>;
}

export interface AppModule<S = unknown> {
  readonly name: string;
  /** Main thread, before the EAL starts: validate `config.app`; throw NetstarError('ERR_CONFIG', …). */
  settings(config: Config): S;
  /** Main thread, after ports are up: fill in what depends on the ports (MACs…). Returns what shards get. */
  prepare?(settings: S, ports: PortInfo[]): S;
  /**
   * Main thread, after prepare: steering rules (UDP destination port -> shard). The engine installs each
   * with rte_flow where the port validates it (queue = shard) and in the shards' software table otherwise.
   */
  steering?(settings: S, shards: number): SteerRule[];
  /** Shard thread: the app's per-shard state over the shard's context (its whole surface). */
  createShard(ctx: ShardContext, settings: S): ShardApp | Promise<ShardApp>;
}

/** Apps runnable with `netstar run <name>`: module paths relative to dist/. */
export const APPS: Record<string, string> = {
  l2fwd: 'apps/l2fwd/index',
  linkem: 'apps/linkem/index',
  echo: 'apps/echo/index',
  httpd: 'apps/httpd/index',
  iperf3: 'apps/iperf3/index',
  'ovs-nat': 'apps/ovs-nat/index',
  'load-balancer': 'apps/load-balancer/index',
  'mica-server': 'apps/mica-server/index',
  'mica-client': 'apps/mica-client/index',
  'stateless-nf': 'apps/stateless-nf/index',
};
