// ShardContext: the one object an app's createShard receives — everything an NF may use on its shard, and
// nothing of the shard's internals (lcore, io, pools, rings). Apps program against this interface only.
import type { Packet, RxBatch } from '../net/packet';
import type { DpdkQueuePair } from '../net/qp';
import type { Stack } from '../net/stack';
import type { NativeOffloadHost } from '../net/flow';
import type { Verdict } from '../net/app';
import type { PacketHandle } from './handles';
import type { Clock, Timer } from './timers';
import type { TaskHandle } from './tasks';

/** A configured port as a shard sees it. */
export interface PortView {
  /** position in config.ports: what verdicts and queue pairs use */
  readonly index: number;
  readonly name: string;
  readonly driver: string;
  readonly mac: string;
  readonly mtu: number;
  /** this shard's RX queue on the port, or -1 (packets reach it by software steering) */
  readonly rxQueue: number;
  /** this shard's TX queue, or -1 (sends are handed to the owner shard) */
  readonly txQueue: number;
  /** the port has an address on our TCP/IP stack */
  readonly hasStack: boolean;
}

export interface ShardContext {
  /** this shard (0..count-1) */
  readonly id: number;
  readonly count: number;
  readonly ports: readonly PortView[];
  /** queue pairs by port index: send, forward, unsafeForward */
  readonly qps: readonly DpdkQueuePair[];

  // ---- packets (inside onPacket the packet is a flyweight; keep it past the call with hold) ----
  /** Keeps a packet past the current call (e.g. across an await); it must end in send, forward or drop. */
  hold(pkt: Packet): PacketHandle;
  /** Holds the packet, awaits `fn`, applies its verdict (Verdict.port(i), DROP, or STOLEN). Returns STOLEN. */
  defer(pkt: Packet, fn: (h: PacketHandle) => Promise<Verdict>): Verdict;
  send(pkt: Packet, portIndex: number): void;
  drop(pkt: Packet): void;
  /**
   * Hands a packet to another shard; its buffer returns here if that shard drops it. Give `flowHash` (the
   * flow's steering hash, as `shardOfHash` takes) and, while the ring toward that shard is past
   * `config.ringNewFlowShare`, the packet is shed (dropped, counted `shedNewFlow`) if that shard has not marked
   * the flow known: a new-flow flood cannot starve flows that exist. Without it the packet is never shed.
   */
  forward(pkt: Packet, shard: number, flowHash?: number): void;
  /** Like forward without recording the origin: the destination frees it. */
  unsafeForward(pkt: Packet, shard: number, flowHash?: number): void;
  /**
   * This shard accepted a packet of the flow with this steering hash: for `config.knownFlowTtlMs` the other
   * shards treat the flow as known (never shed as new at a busy ring). MetaFlow marks the flows its
   * distributor accepts; apps that steer by hand call it. A no-op on one shard.
   */
  markFlow(flowHash: number): void;
  /**
   * Declares, when the app is built (before traffic), that it marks the flows it accepts: from then on a busy
   * ring toward this shard sheds packets of flows it has not marked. Without it nothing is shed toward this
   * shard until its first mark — which a shard a flood keeps from running may never get to. MetaFlow
   * declares for its app.
   */
  marksFlows(): void;
  forwardBatch(batch: RxBatch, shard: number): void;
  unsafeForwardBatch(batch: RxBatch, shard: number): void;
  /**
   * A new packet from this shard's pool with `length` bytes of data (contents undefined), held: it must end
   * in send, forward or drop. Null when the pool is empty (counted by the pool).
   */
  allocPacket(length: number): PacketHandle | null;
  /** A copy of a packet's data in a new held packet, or null when the pool is empty. */
  copyPacket(pkt: Packet): PacketHandle | null;

  // ---- raw slots: packets an app keeps outside the handle table, by slot, in its own typed arrays ----
  // For burst paths and packet queues that must not allocate per packet (l2fwd's runts, linkem's departure
  // heap). A raw slot is the app's until it sends it (`qps[i].sendSlot(slot, dataOff, length)`) or drops it
  // here; the leak detector does not see it, the shard's mbuf balance at close does.
  /** Drops packet `slot` (as a descriptor names it), counted as dropped on port `portIndex`. */
  dropSlot(slot: number, portIndex: number): void;
  /**
   * Copies a packet into a new slot of this shard's pool: out[0] = slot, out[1] = data offset from the buffer
   * start, out[2] = length. False when the pool is empty.
   */
  copySlot(pkt: Packet, out: Uint32Array): boolean;
  /** Frees the drops batched so far now (they are otherwise freed after each poll-loop pass). */
  flushDrops(): void;

  // ---- time ----
  /** The loop's low-resolution clock (performance.now() ms, updated every few passes; reading it is free). */
  readonly clock: Clock;
  now(): number;
  setTimeout(fn: () => unknown, ms: number): Timer;
  setInterval(fn: () => unknown, ms: number): Timer;
  sleep(ms: number): Promise<void>;
  cancel(t: Timer): boolean;

  // ---- services ----
  /** The TCP/IP stack of a port that has `stack` in its config, else null. */
  stack(portIndex: number): Stack | null;
  /** The shard that owns a flow hash (the RSS/steering table); ownsHash(h) is shardOfHash(h) === id. */
  shardOfHash(hash: number): number;
  ownsHash(hash: number): boolean;
  /** Runs a task (defined once with defineTask) on a shard; resolves with its result. */
  call<A extends unknown[], R>(task: TaskHandle<A, R>, shard: number, ...args: A): Promise<Awaited<R>>;
  /** Runs a task on every shard; results in shard order. */
  callAll<A extends unknown[], R>(task: TaskHandle<A, R>, ...args: A): Promise<Awaited<R>[]>;
  /** Called when the shard stops, in reverse order of registration. */
  onStop(fn: () => unknown): void;
  /**
   * The native offload executor of this shard, for the flow layer only: pass it to
   * `FlowDistributor.attachNative`, which also detaches it (flowPipeline does at stop). Null where the addon
   * has none.
   */
  readonly nativeOffload: NativeOffloadHost | null;
}
