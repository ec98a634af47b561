// ShardContext: the one object an app's createShard receives — everything an NF may use on its shard, and
// nothing of the shard's internals (lcore, io, pools, rings). Apps program against this interface only.
import type { Packet, RxBatch } from '../net/packet';
import type { DpdkQueuePair } from '../net/qp';
import type { Stack } from '../net/stack';
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
  /** Holds the packet, awaits `fn`, applies its verdict (port index, DROP, or STOLEN). Returns STOLEN. */
  defer(pkt: Packet, fn: (h: PacketHandle) => Promise<number>): number;
  send(pkt: Packet, portIndex: number): void;
  drop(pkt: Packet): void;
  /** Hands a packet to another shard; its buffer returns here if that shard drops it. */
  forward(pkt: Packet, shard: number): void;
  /** Like forward without recording the origin: the destination frees it. */
  unsafeForward(pkt: Packet, shard: number): void;
  forwardBatch(batch: RxBatch, shard: number): void;
  unsafeForwardBatch(batch: RxBatch, shard: number): void;
  /**
   * A new packet from this shard's pool with `length` bytes of data (contents undefined), held: it must end
   * in send, forward or drop. Null when the pool is empty (counted by the pool).
   */
  allocPacket(length: number): PacketHandle | null;
  /** A copy of a packet's data in a new held packet, or null when the pool is empty. */
  copyPacket(pkt: Packet): PacketHandle | null;

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
}
