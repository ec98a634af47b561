// AsyncFlow: one flow (both directions) of the flow layer. Its packets and events reach the user's handler
// one at a time, in arrival order, even when the handler awaits; the handler answers forward / drop /
// close-and-forward / close-and-drop. Usable as a handler or as an async loop (`for await (const ev of flow)`).
import type { Packet } from '../packet';
import type { PacketInfo } from './packet-info';
import type { OffloadAction } from './offload';

/** What the handler answers for the current event. */
export const FlowAction = {
  /** send the packet on `flow.outPort` */
  Forward: 0,
  Drop: 1,
  /** forward this packet, then remove the flow (later packets start a new one) */
  CloseForward: 2,
  CloseDrop: 3,
  /** the handler disposed of the packet itself (it took it with `flow.take()`) */
  Stolen: 4,
} as const;
export type FlowAction = (typeof FlowAction)[keyof typeof FlowAction];

/** Event bits; one packet can raise several (New | Packet | ...). Bits from USER_EVENT_FIRST_BIT are user-defined. */
export const FlowEvent = {
  /** every packet of the flow */
  Packet: 1 << 0,
  /** the first packet: the flow was just created */
  New: 1 << 1,
  /** TCP: handshake completed (or both directions seen when picked up mid-stream); UDP/ICMP/other: first reply */
  Open: 1 << 2,
  /** TCP: a FIN, first one in this direction */
  Fin: 1 << 3,
  /** TCP: a reset */
  Rst: 1 << 4,
  /** TCP: both FINs acknowledged, or a reset: the connection is over (the flow stays until it expires or is closed) */
  Close: 1 << 5,
  /** the flow idled out; no packet; the answer is ignored and the flow is removed afterwards */
  Timeout: 1 << 6,
  /** an ICMP error quoting a packet of this flow */
  Related: 1 << 7,
} as const;
export const USER_EVENT_FIRST_BIT = 8;
/** Bits 8..29: user events (kept below 2^30 so masks stay small integers). */
export const USER_EVENT_LAST_BIT = 29;
export const ALL_EVENTS = (1 << (USER_EVENT_LAST_BIT + 1)) - 1;

export type FlowHandler<S> = (flow: AsyncFlow<S>) => FlowAction | Promise<FlowAction>;

/** What a flow needs from the distributor that owns it (kept as an interface: no import cycle). */
export interface FlowOwner<S> {
  setTimeoutClass(flow: AsyncFlow<S>, cls: number): void;
  close(flow: AsyncFlow<S>): void;
  addKey(flow: AsyncFlow<S>, proto: number, src: number, dst: number, sport: number, dport: number, direction: 0 | 1): boolean;
  take(flow: AsyncFlow<S>): Packet | null;
  offload(flow: AsyncFlow<S>, action: OffloadAction): boolean;
  clearOffload(flow: AsyncFlow<S>): void;
}

/** Tracker bits kept by the distributor's built-in TCP/UDP/ICMP preprocessors. */
export const Track = {
  Syn0: 1, Syn1: 2, Open: 4, Fin0: 8, Fin1: 16, FinAcked0: 32, FinAcked1: 64, Closed: 128,
  Midstream: 256, Reply: 512, Multiple: 1024,
} as const;

interface IterResult { value: number; done: boolean }

export class AsyncFlow<S = unknown> {
  /** bumped each time the object is recycled for another flow: compare to detect a stale reference */
  gen = 0;
  // Fields the packet path touches come first (V8 lays fields out in this order): a packet's lookup, stats,
  // LRU check and handler call then read one or two cache lines of the flow object instead of five.
  /** false once the flow left the table (closed or expired) */
  alive = false;
  /** a handler call is pending */
  busy = false;
  /** packets queued behind a pending handler (ring head and length) */
  qHead = 0;
  qLen = 0;
  /**
   * Per key slot s, bit s: a packet whose source is the canonical-low endpoint travels in direction 0. A
   * number on the flow, not an array: the lookup reads it without touching another object.
   */
  lowBits = 3;
  /** bit d: direction d is offloaded (see offload()) */
  offloads = 0;
  /** ms of the distributor's clock; packets and bytes per direction */
  lastSeen = 0;
  packets0 = 0;
  packets1 = 0;
  bytes0 = 0;
  bytes1 = 0;
  /** timeout class (index into the distributor's timeouts); -1 when not linked */
  tclass = -1;
  /** when the flow was last (re)linked in its class's LRU list */
  linkTime = 0;
  handler: FlowHandler<S> | null = null;
  /** events the handler sees, per direction; packets raising none of them get `defaultAction` without a call */
  watch0 = ALL_EVENTS;
  watch1 = ALL_EVENTS;

  // ---- the current event (stable while the handler runs, across its awaits) ----
  /** the packet of the current event; null for Timeout. Valid until the handler's answer is applied. */
  packet: Packet | null = null;
  /**
   * The parsed headers of the current packet. Valid during the synchronous part of the handler only (the
   * parser moves on to other packets at the first await): read what you need before awaiting.
   */
  info: PacketInfo | null = null;
  /** FlowEvent bits of the current event */
  events = 0;
  /** 0: the way the first packet went (initiator to responder); 1: the reverse */
  direction: 0 | 1 = 0;
  /** port index the packet came in on */
  inPort = -1;
  /** port index a Forward sends on; preset to the distributor's default for `inPort`, the handler may change it */
  outPort = -1;
  /** the flow-owned packet object the handler sees for a packet taken from a burst */
  readonly cur: Packet;
  /** the held packet behind the current event while the handler is pending */
  curHandle: Packet | null = null;
  /** the burst flyweight during a synchronous call (for take()) */
  flyweight: Packet | null = null;
  /** the handler took the current packet (take()) */
  taken = false;
  /** a synchronous handler call is running */
  inCall = false;
  /** what packets the handler does not watch get (set up by the user, usually in onNewFlow) */
  defaultAction: FlowAction = FlowAction.Forward;


  // ---- statistics and tracking ----
  proto = 0;
  createdAt = 0;
  /** Track bits of the built-in preprocessors */
  track = 0;
  finSeq0 = 0;
  finSeq1 = 0;

  // ---- distributor bookkeeping (read-only for users) ----
  /** keys: [proto, src, dst, sport, dport] x 2, oriented as direction 0 for slot 0 and as given for slot 1 */
  readonly keys = new Float64Array(10);
  nkeys = 0;
  /** true while the first packet's handler is pending (counts against maxPendingNew) */
  newPending = false;
  /** the object sits in the distributor's free pool */
  pooled = true;
  // bounded FIFO of held packets waiting for the handler
  qPkts: (Packet | null)[] = [];
  qPort: Int16Array = new Int16Array(0);
  qDir: Uint8Array = new Uint8Array(0);
  qEv: Int32Array = new Int32Array(0);

  // ---- async loop support ----
  private waiter: ((r: IterResult) => void) | null = null;
  private buffered = -1;
  private answerFn: ((a: FlowAction) => void) | null = null;
  private answerValue: FlowAction = FlowAction.Forward;
  private loopEnded = false;

  constructor(
    readonly index: number,
    private readonly owner: FlowOwner<S>,
    /** user state, made once per flow object by the distributor's `createState` and reused */
    public state: S,
    packetFactory: () => Packet,
  ) {
    this.cur = packetFactory();
  }

  /** Which events the handler sees: both directions, or one. */
  watchEvents(mask: number, direction?: 0 | 1): void {
    if (direction === undefined || direction === 0) this.watch0 = mask;
    if (direction === undefined || direction === 1) this.watch1 = mask;
  }

  /** Moves the flow to another idle-timeout class (index into the distributor's timeouts). */
  setTimeoutClass(cls: number): void {
    this.owner.setTimeoutClass(this, cls);
  }

  /** Removes the flow now (queued packets are looked up again). Prefer answering CloseForward/CloseDrop. */
  close(): void {
    this.owner.close(this);
  }

  /**
   * Another key for this flow (e.g. the translated tuple a NAT's replies carry): packets with this tuple
   * in the given orientation travel in `direction`. False if the table is full or the key is taken.
   */
  addKey(proto: number, src: number, dst: number, sport: number, dport: number, direction: 0 | 1): boolean {
    return this.owner.addKey(this, proto, src, dst, sport, dport, direction);
  }

  /**
   * Takes the current packet out of the flow's hands: the caller must send or drop the returned held packet
   * (e.g. `shard.send(p, port)`) and the handler answers Stolen. Null when there is no packet.
   */
  take(): Packet | null {
    return this.owner.take(this);
  }

  /**
   * Offloads the current packet's direction: from the next packet on, packets of this flow going this way
   * get `action` (tuple rewrite with checksums, TTL, MACs, a counter tag, a port) without a handler call.
   * The handler still sees packets that raise any event besides Packet (New, Fin, Related, user events…),
   * packets the action cannot take (TTL about to expire, another tuple) and, after clearOffload() or the
   * distributor's invalidateOffloads(), every packet until it offloads again. The action applies to packets
   * as they arrive, as the handler's own work did to this one. Only during a synchronous handler call with a
   * packet; false for ICMP and ICMP errors (not offloaded).
   */
  offload(action: OffloadAction): boolean {
    return this.owner.offload(this, action);
  }

  /** Ends the offload of both directions (the handler sees every packet again). */
  clearOffload(): void {
    this.owner.clearOffload(this);
  }

  // ---- async loop: `for await (const ev of flow)` ----

  /**
   * Runs `body` as the flow's loop instead of a handler. Each iteration gets the event bits (flow.packet,
   * flow.direction… describe it); the packet's fate is `answer(...)` if called, else Forward when the loop
   * asks for the next event. The loop ends after a Timeout or when the flow is closed. Promises per packet:
   * convenient, slower than a handler.
   */
  runLoop(body: (flow: AsyncFlow<S>) => Promise<void>, onError?: (e: unknown) => void): void {
    this.loopEnded = false;
    this.buffered = -1;
    this.handler = loopHandler as FlowHandler<S>;
    body(this).then(() => this.loopFinished(), (e: unknown) => {
      this.loopFinished();
      if (onError) onError(e);
    });
  }

  /** The answer for the current event of the loop (takes effect at once). */
  answer(action: FlowAction): void {
    this.answerValue = action;
    this.release();
  }

  [Symbol.asyncIterator](): AsyncIterator<number> {
    return {
      next: (): Promise<IteratorResult<number>> => {
        this.release();
        if (this.buffered >= 0) {
          const v = this.buffered;
          this.buffered = -1;
          return Promise.resolve({ value: v, done: false });
        }
        if (this.loopEnded || !this.alive) return Promise.resolve({ value: 0, done: true });
        return new Promise<IterResult>((resolve) => {
          this.waiter = resolve;
        });
      },
      return: (): Promise<IteratorResult<number>> => {
        this.loopFinished();
        return Promise.resolve({ value: 0, done: true });
      },
    };
  }

  /** @internal the handler used by runLoop: hands the event to the loop and waits for its answer */
  deliverToLoop(): Promise<FlowAction> {
    if (this.loopEnded) return Promise.resolve(this.defaultAction);
    return new Promise<FlowAction>((resolve) => {
      this.answerFn = resolve;
      this.answerValue = this.packet === null ? FlowAction.Drop : this.defaultAction;
      const w = this.waiter;
      if (w) {
        this.waiter = null;
        w({ value: this.events, done: false });
      } else this.buffered = this.events;
    });
  }

  private release(): void {
    const f = this.answerFn;
    if (f) {
      this.answerFn = null;
      f(this.answerValue);
    }
  }

  private loopFinished(): void {
    this.loopEnded = true;
    this.handler = null;
    this.release();
    this.endLoop();
  }

  /** @internal the flow is gone: a waiting loop ends. */
  endLoop(): void {
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w({ value: 0, done: true });
    }
  }

  /** @internal reset for reuse by another flow (state is the user's to reset in onNewFlow). */
  recycle(): void {
    this.gen++;
    this.alive = false;
    this.packet = null;
    this.events = 0;
    this.handler = null;
    this.watch0 = this.watch1 = ALL_EVENTS;
    this.defaultAction = FlowAction.Forward;
    this.packets0 = this.packets1 = this.bytes0 = this.bytes1 = 0;
    this.track = 0;
    this.offloads = 0;
    this.tclass = -1;
    this.nkeys = 0;
    this.busy = false;
    this.newPending = false;
    this.curHandle = null;
    this.flyweight = null;
    this.taken = false;
    this.inCall = false;
    this.qHead = this.qLen = 0;
    this.waiter = null;
    this.buffered = -1;
    this.answerFn = null;
    this.loopEnded = false;
  }
}

function loopHandler<S>(flow: AsyncFlow<S>): Promise<FlowAction> {
  return flow.deliverToLoop();
}
