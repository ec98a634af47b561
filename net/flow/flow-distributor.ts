// FlowDistributor: a bounded table from IPv4 flow keys (both directions to one flow) to AsyncFlows, per shard.
// The first packet creates the flow; flows idle out per timeout class; a full table, a full queue or too many
// new flows waiting drop the packet and count it, and memory never grows past what the capacity allows.
//
// Both directions must reach the same shard: the runtime's software steering (ports with fewer RX queues than
// shards) uses net/steer.ts flowHash, which is symmetric; MetaFlow re-steers with the same hash, so flows stay
// put even when hardware RSS delivered a packet elsewhere. A NIC doing RSS itself must be given a symmetric
// Toeplitz key (e.g. 0x6d5a repeated) for the packets to arrive on the right queue in the first place.
import { Verdict } from '../app';
import { Packet } from '../packet';
import type { OffloadAttachOptions, OffloadOutPort, OffloadRxPort } from '../../native';
import { seqLe } from '../wire/tcp';
import { AsyncFlow, FlowAction, FlowEvent, FlowHandler, FlowOwner, Track, USER_EVENT_FIRST_BIT, USER_EVENT_LAST_BIT } from './async-flow';
import { FlowTable, hugeTableMemory, type TableMemory } from './flow-table';
import { FlowOffload, type OffloadAction } from './offload';
import { PacketInfo, ParseStatus } from './packet-info';
import { srcIsLow } from './tuple';

/** Where the distributor sends, drops and holds packets. The Shard fits it. */
export interface PacketSink {
  /** keeps a packet past the current onPacket call; the result is what must later be sent or dropped */
  hold(pkt: Packet): Packet;
  send(pkt: Packet, portIndex: number): void;
  drop(pkt: Packet): void;
}

/** onMiss's answer asking for a new flow (any other value is a Verdict for the packet). */
export const CREATE_FLOW = -3 as Verdict;

/**
 * Idle-timeout classes, named after Open vSwitch's CT_TM_* (lib/conntrack-private.h). The built-in
 * preprocessors move flows between them as OVS's userspace conntrack does; an app may set classes itself.
 */
export const TimeoutClass = {
  TcpFirstPacket: 0,
  TcpOpening: 1,
  TcpEstablished: 2,
  TcpClosing: 3,
  TcpFinWait: 4,
  TcpClosed: 5,
  OtherFirst: 6,
  OtherMultiple: 7,
  OtherBidir: 8,
  IcmpFirst: 9,
  IcmpReply: 10,
} as const;
export const TIMEOUT_CLASS_NAMES = Object.keys(TimeoutClass) as (keyof typeof TimeoutClass)[];
export type FlowTimeouts = Record<keyof typeof TimeoutClass, number>;

/**
 * OVS userspace conntrack default timeouts in ms: lib/conntrack-tp.c `ct_dpif_netdev_tp_def` (seconds) and
 * the older CT_TIMEOUTS table of lib/conntrack-private.h (milliseconds) agree: TCP first packet / opening 30 s,
 * established 24 h, closing 15 min, fin-wait 45 s, closed 30 s; UDP and other first / multiple 60 s,
 * bidirectional 30 s; ICMP first 60 s, reply 30 s.
 */
export const OVS_DEFAULT_TIMEOUTS: Readonly<FlowTimeouts> = Object.freeze({
  TcpFirstPacket: 30_000,
  TcpOpening: 30_000,
  TcpEstablished: 86_400_000,
  TcpClosing: 900_000,
  TcpFinWait: 45_000,
  TcpClosed: 30_000,
  OtherFirst: 60_000,
  OtherMultiple: 60_000,
  OtherBidir: 30_000,
  IcmpFirst: 60_000,
  IcmpReply: 30_000,
});

export interface FlowDistributorOptions<S> {
  /** flows at most (each may hold two keys) */
  capacity: number;
  /** makes the state object of a flow slot (called once per slot; slots are reused) */
  createState: () => S;
  sink: PacketSink;
  /** default handler of new flows (onNewFlow may set another) */
  handler?: FlowHandler<S>;
  /** called when a flow is created, before its first packet is handled; false refuses it (packet dropped) */
  onNewFlow?: (flow: AsyncFlow<S>, pkt: Packet, info: PacketInfo, inPort: number) => boolean;
  /** a packet without a flow: CREATE_FLOW, or a verdict for the packet (e.g. DROP for unsolicited traffic) */
  onMiss?: (pkt: Packet, info: PacketInfo, inPort: number) => Verdict;
  /** told about each handler error (after it is counted), e.g. to log it */
  onError?: (err: unknown, flow: AsyncFlow<S> | null) => void;
  /** called once when a flow leaves the table (why: 'closed' | 'expired') */
  onRemove?: (flow: AsyncFlow<S>, why: 'closed' | 'expired') => void;
  /** out port for a Forward by in port (default: 0 <-> 1) */
  defaultOut?: number[];
  /** run the built-in TCP/UDP/ICMP trackers (events Open/Fin/Rst/Close, timeout classes); default true */
  preprocess?: boolean;
  /** idle timeouts per class in ms (default OVS_DEFAULT_TIMEOUTS) */
  timeouts?: Partial<FlowTimeouts>;
  /** packets waiting behind a pending handler, per flow (default 64) and in total (default 8192) */
  maxQueuedPerFlow?: number;
  maxQueued?: number;
  /** new flows whose first packet's handler is still pending (default 1024) */
  maxPendingNew?: number;
  /** flows expired per expire() call at most (default 1024), so a burst of expiries cannot stall the loop */
  expireBudget?: number;
  /** a second parser for packets looked up again after their flow closed (same options as the MetaFlow's) */
  reparse?: PacketInfo;
  /** memory for the flow table's slots (default hugeTableMemory: huge pages for tables of 1 MiB and more) */
  tableMemory?: TableMemory;
}

/** A port the native executor may take packets from, with the checks MetaFlow would make there. */
export interface NativeOffloadRx {
  /** port index (position in config.ports) */
  portIndex: number;
  verifyIp: boolean;
  verifyL4: boolean;
  /** the port's MAC (48-bit number) that unicast frames must carry as destination, or -1: no check */
  mac: number;
}

/** The distributor's memory the native executor reads and writes (see native/src/offload.h). */
export interface NativeOffloadTables {
  table: Uint32Array; mask: number; entries: Int32Array; capacity: number; counts: Float64Array; ctl: Int32Array;
}

/**
 * The native offload executor as a shard offers it (`ctx.nativeOffload`): opaque to apps, driven by the
 * FlowDistributor only (attachNative / detachNative). The shard maps port indexes to its devices, queues and
 * counters, and leaves out ports it cannot serve natively (a TCP/IP stack, no RX queue on this shard).
 */
export interface NativeOffloadHost {
  /** Starts executing the tables' native entries in this shard's RX path; false when no port qualifies. */
  attach(tables: NativeOffloadTables, rx: NativeOffloadRx[]): boolean;
  /** Stops that (idempotent). */
  detach(): void;
}

export const DISTRIBUTOR_COUNTERS = [
  'flowsCreated', 'flowsClosed', 'flowsExpired', 'flowsRefused', 'tableFull', 'newFlowQueueFull', 'flowQueueFull',
  'queueFull', 'handlerErrors', 'relatedNoFlow', 'asyncCalls', 'queued', 'redispatched', 'badAction', 'reparseDrops',
] as const;
export type DistributorCounter = (typeof DISTRIBUTOR_COUNTERS)[number];

/** A user event: a bit and the filter that raises it. */
interface UserEvent<S> {
  bit: number;
  filter: (pkt: Packet, info: PacketInfo, flow: AsyncFlow<S>) => boolean;
}

export class FlowDistributor<S = unknown> implements FlowOwner<S> {
  readonly capacity: number;
  readonly table: FlowTable;
  readonly timeouts: Float64Array;
  /** per class: how stale a flow's LRU position may get before a packet relinks it (min(timeout/8, 250 ms)) */
  readonly granularity: Float64Array;
  readonly counters: Record<DistributorCounter, number>;
  /** offloaded flow directions (AsyncFlow.offload): entries, per-tag packet counts */
  readonly offloads: FlowOffload;
  /** flows in the table, plus closed ones whose handler is still pending */
  active = 0;
  /** packets held by the distributor (pending handlers and queues) */
  held = 0;
  pendingNew = 0;
  /** the time used for lastSeen/expiry (ms); set by tick() or the caller */
  // The flow clock starts at construction, not 0: flows created before the first tick would otherwise look
  // idle since time 0 and expire at the first expiry pass once the process has run longer than a timeout.
  now = performance.now();

  private readonly flows: AsyncFlow<S>[] = [];
  private readonly free: Int32Array;
  private freeTop = 0;
  private readonly lruPrev: Int32Array;
  private readonly lruNext: Int32Array;
  private readonly lruHead: Int32Array;
  private readonly lruTail: Int32Array;
  private readonly sink: PacketSink;
  private readonly createState: () => S;
  private readonly onNewFlow: ((flow: AsyncFlow<S>, pkt: Packet, info: PacketInfo, inPort: number) => boolean) | null;
  private readonly onMiss: ((pkt: Packet, info: PacketInfo, inPort: number) => Verdict) | null;
  private readonly onRemove: ((flow: AsyncFlow<S>, why: 'closed' | 'expired') => void) | null;
  private readonly defaultHandler: FlowHandler<S> | null;
  private readonly onError: ((err: unknown, flow: AsyncFlow<S> | null) => void) | null;
  private readonly defaultOut: Int16Array;
  private readonly preprocess: boolean;
  private readonly maxQueuedPerFlow: number;
  private readonly maxQueued: number;
  private readonly maxPendingNew: number;
  private readonly expireBudget: number;
  private readonly reparse: PacketInfo;
  private queuedTotal = 0;
  /** the host the native executor was attached through, until detachNative */
  private nativeHost: NativeOffloadHost | null = null;
  /** the native executor runs this distributor's entries (attachNative) */
  private nativeAttached = false;
  private readonly foldAcc = new Float64Array(2);
  /** packets the native executor handled, as folded so far */
  private nativePackets = 0;
  private readonly userEvents: UserEvent<S>[] = [];
  private userMask = 0;

  constructor(opts: FlowDistributorOptions<S>) {
    const cap = opts.capacity;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`flow capacity must be a positive integer, got ${cap}`);
    this.capacity = cap;
    this.table = new FlowTable(cap * 2, opts.tableMemory ?? hugeTableMemory);
    this.offloads = new FlowOffload(cap, opts.tableMemory ?? hugeTableMemory);
    this.free = new Int32Array(cap);
    this.lruPrev = new Int32Array(cap).fill(-1);
    this.lruNext = new Int32Array(cap).fill(-1);
    const t = { ...OVS_DEFAULT_TIMEOUTS, ...(opts.timeouts ?? {}) };
    this.timeouts = Float64Array.from(TIMEOUT_CLASS_NAMES.map((k) => t[k]));
    this.granularity = this.timeouts.map((x) => Math.min(x / 8, 250));
    this.lruHead = new Int32Array(this.timeouts.length).fill(-1);
    this.lruTail = new Int32Array(this.timeouts.length).fill(-1);
    this.sink = opts.sink;
    this.createState = opts.createState;
    this.onNewFlow = opts.onNewFlow ?? null;
    this.onMiss = opts.onMiss ?? null;
    this.onRemove = opts.onRemove ?? null;
    this.defaultHandler = opts.handler ?? null;
    this.onError = opts.onError ?? null;
    this.defaultOut = Int16Array.from(opts.defaultOut ?? [1, 0]);
    this.preprocess = opts.preprocess ?? true;
    this.maxQueuedPerFlow = opts.maxQueuedPerFlow ?? 64;
    this.maxQueued = opts.maxQueued ?? 8192;
    this.maxPendingNew = opts.maxPendingNew ?? 1024;
    this.expireBudget = opts.expireBudget ?? 1024;
    this.reparse = opts.reparse ?? new PacketInfo();
    const c = {} as Record<DistributorCounter, number>;
    for (const k of DISTRIBUTOR_COUNTERS) c[k] = 0;
    this.counters = c;
  }

  /**
   * A user-defined event: `filter` runs for each packet of a flow that watches the returned bit (and only
   * then), after the built-in events are known. Returns the event bit.
   */
  registerEvent(filter: (pkt: Packet, info: PacketInfo, flow: AsyncFlow<S>) => boolean): number {
    const bit = USER_EVENT_FIRST_BIT + this.userEvents.length;
    if (bit > USER_EVENT_LAST_BIT) throw new RangeError('too many user events');
    this.userEvents.push({ bit: 1 << bit, filter });
    this.userMask |= 1 << bit;
    return 1 << bit;
  }

  /** The flow for a tuple (either direction), or null. */
  lookup(proto: number, src: number, dst: number, sport: number, dport: number): AsyncFlow<S> | null {
    const v = this.table.get(proto, src, dst, sport, dport);
    return v < 0 ? null : this.flows[v >> 1];
  }

  /** Whether a tuple is taken by some flow (in either direction). */
  has(proto: number, src: number, dst: number, sport: number, dport: number): boolean {
    return this.table.find(proto, src, dst, sport, dport) >= 0;
  }

  /** Every live flow (slow: for dumps and tests). */
  *liveFlows(): IterableIterator<AsyncFlow<S>> {
    for (const f of this.flows) {
      if (!f.alive) continue;
      this.foldNative(f);
      yield f;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The packet path

  /**
   * Hands a parsed packet to its flow (creating it if allowed) and returns the verdict for onPacket: a port,
   * DROP, or STOLEN when the packet was held (queued behind a pending handler, or its handler is pending).
   * `held`: the packet is already a held handle (re-dispatch); the caller applies the verdict.
   */
  process(pkt: Packet, inPort: number, info: PacketInfo, held = false): Verdict {
    const v = this.table.get(info.kProto, info.kSrc, info.kDst, info.kSport, info.kDport);
    let flow: AsyncFlow<S>;
    let dir: 0 | 1;
    let ev: number = FlowEvent.Packet;
    if (v < 0) {
      if (info.related) {
        this.counters.relatedNoFlow++;
        return Verdict.DROP;
      }
      if (this.onMiss !== null) {
        const m = this.onMiss(pkt, info, inPort);
        if (m !== CREATE_FLOW) return m;
      }
      const f = this.create(pkt, info, inPort);
      if (f === null) return Verdict.DROP;
      flow = f;
      dir = 0;
      ev |= FlowEvent.New;
    } else {
      flow = this.flows[v >> 1];
      const low = srcIsLow(info.kSrc, info.kDst, info.kSport, info.kDport) ? 1 : 0;
      dir = low === ((flow.lowBits >> (v & 1)) & 1) ? 0 : 1;
      if (info.related) {
        // The quoted datagram went one way; the error about it travels the other.
        dir = dir === 0 ? 1 : 0;
        ev |= FlowEvent.Related;
      }
    }
    if (!info.related) {
      if (dir === 0) { flow.packets0++; flow.bytes0 += pkt.length; } else { flow.packets1++; flow.bytes1 += pkt.length; }
      if (this.preprocess) ev |= this.track(flow, dir, info, (ev & FlowEvent.New) !== 0);
      const now = this.now;
      flow.lastSeen = now;
      // Relink in the LRU list only every so often (see touch): most packets cost one field write.
      const tc = flow.tclass;
      if (tc >= 0 && now - flow.linkTime >= this.granularity[tc]) this.touch(flow);
    }
    if (this.userMask !== 0 && ((flow.watch0 | flow.watch1) & this.userMask) !== 0) {
      const ue = this.userEvents;
      for (let i = 0; i < ue.length; i++) if (ue[i].filter(pkt, info, flow)) ev |= ue[i].bit;
    }
    if (flow.busy || flow.qLen > 0) return this.enqueue(flow, pkt, inPort, dir, ev, held);
    // An offloaded direction: a plain packet gets the installed action, no handler call (-1: it cannot).
    if (ev === FlowEvent.Packet && ((flow.offloads >> dir) & 1) !== 0) {
      const out = this.offloads.apply(flow.index, dir, info);
      if (out >= 0) return Verdict.port(out);
    }
    return this.run(flow, pkt, inPort, dir, ev, held, info);
  }

  private create(pkt: Packet, info: PacketInfo, inPort: number): AsyncFlow<S> | null {
    if (this.pendingNew >= this.maxPendingNew) {
      this.counters.newFlowQueueFull++;
      return null;
    }
    const flow = this.alloc();
    if (flow === null) {
      this.counters.tableFull++;
      return null;
    }
    flow.alive = true;
    flow.proto = info.kProto;
    flow.createdAt = this.now;
    flow.lastSeen = this.now;
    flow.handler = this.defaultHandler;
    if (!this.addKey(flow, info.kProto, info.kSrc, info.kDst, info.kSport, info.kDport, 0)) {
      // Only a full table gets here (the key was just looked up and absent).
      this.counters.tableFull++;
      this.release(flow);
      return null;
    }
    this.setTimeoutClass(flow, initialClass(info.kProto));
    if (this.onNewFlow !== null) {
      let ok = false;
      try {
        ok = this.onNewFlow(flow, pkt, info, inPort);
      } catch (e) {
        this.counters.handlerErrors++;
        this.reportError(e, flow);
      }
      if (!ok) {
        this.counters.flowsRefused++;
        this.release(flow);
        return null;
      }
    }
    this.counters.flowsCreated++;
    return flow;
  }

  /** Calls the handler for one packet (no other packet of the flow is pending). */
  private run(flow: AsyncFlow<S>, pkt: Packet, inPort: number, dir: 0 | 1, ev: number, held: boolean, info: PacketInfo): Verdict {
    const out = inPort >= 0 && inPort < this.defaultOut.length ? this.defaultOut[inPort] : -1;
    const handler = flow.handler;
    if (handler === null || (ev & (dir === 0 ? flow.watch0 : flow.watch1)) === 0) {
      flow.outPort = out;
      return this.finish(flow, flow.defaultAction);
    }
    const cur = held ? pkt : pkt.copyTo(flow.cur);
    flow.packet = cur;
    flow.info = info;
    flow.events = ev;
    flow.direction = dir;
    flow.inPort = inPort;
    flow.outPort = out;
    flow.flyweight = held ? null : pkt;
    flow.curHandle = held ? pkt : null;
    flow.taken = false;
    flow.inCall = true;
    let r: FlowAction | Promise<FlowAction>;
    try {
      r = handler(flow);
    } catch (e) {
      r = -1 as FlowAction;
      this.reportError(e, flow);
    }
    flow.inCall = false;
    flow.flyweight = null;
    flow.info = null;
    if (typeof r === 'number') {
      flow.packet = null;
      flow.curHandle = null;
      let v: Verdict;
      if (r < 0) {
        this.counters.handlerErrors++;
        v = flow.taken ? Verdict.STOLEN : Verdict.DROP;
      } else if (r === FlowAction.Stolen && !flow.taken) {
        // Answered Stolen without taking the packet: dropping it beats leaking it.
        this.counters.badAction++;
        v = Verdict.DROP;
      } else {
        if (!held) {
          pkt.offset = cur.offset;
          pkt.length = cur.length;
        }
        v = this.finish(flow, r);
        // A packet the handler took is its own to send or drop, whatever it answered.
        if (flow.taken) v = Verdict.STOLEN;
      }
      if (!flow.alive && !flow.busy && flow.qLen === 0) this.release(flow);
      return v;
    }
    // Pending: hold the packet (unless the handler took it) and wait. Offloaded directions end: the flow's
    // later packets must queue behind this one, which the native executor could not know.
    this.clearOffload(flow);
    if (!held && !flow.taken) flow.curHandle = this.sink.hold(pkt);
    if (flow.curHandle !== null) this.held++;
    flow.busy = true;
    if ((ev & FlowEvent.New) !== 0) {
      flow.newPending = true;
      this.pendingNew++;
    }
    this.counters.asyncCalls++;
    const gen = flow.gen;
    r.then((a) => this.settle(flow, gen, a), (e: unknown) => {
      this.reportError(e, flow);
      this.settle(flow, gen, -1);
    });
    return Verdict.STOLEN;
  }

  /** A pending handler answered (action -1: it failed). */
  private settle(flow: AsyncFlow<S>, gen: number, action: number): void {
    if (flow.gen !== gen || !flow.busy) return;
    flow.busy = false;
    if (flow.newPending) {
      flow.newPending = false;
      this.pendingNew--;
    }
    const h = flow.curHandle;
    flow.curHandle = null;
    const cur = flow.packet;
    flow.packet = null;
    if (h !== null) {
      this.held--;
      // The handler saw (and may have trimmed or grown) its own copy: carry offset/length over.
      if (cur !== null && cur !== h) {
        h.offset = cur.offset;
        h.length = cur.length;
      }
      let v: Verdict;
      if (action < 0) {
        this.counters.handlerErrors++;
        v = Verdict.DROP;
      } else if (action === FlowAction.Stolen) {
        this.counters.badAction++;
        v = Verdict.DROP;
      } else v = this.finish(flow, action as FlowAction);
      this.apply(v, h);
    } else if (action < 0) this.counters.handlerErrors++;
    else if (action === FlowAction.CloseDrop || action === FlowAction.CloseForward) this.closeFlow(flow, 'closed');
    this.drain(flow);
  }

  /** Runs queued packets while the handler answers synchronously; recycles a closed flow once idle. */
  private drain(flow: AsyncFlow<S>): void {
    while (!flow.busy && flow.qLen > 0) {
      const i = flow.qHead;
      const h = flow.qPkts[i]!;
      flow.qPkts[i] = null;
      const port = flow.qPort[i], dir = flow.qDir[i] as 0 | 1, ev = flow.qEv[i];
      flow.qHead = (i + 1) % flow.qPkts.length;
      flow.qLen--;
      this.queuedTotal--;
      this.held--;
      if (!flow.alive) {
        this.redispatch(h, port);
        continue;
      }
      // The handler reads headers through flow.info: parse the held packet again (its burst's info is gone).
      const info = this.reparse;
      if (info.parse(h) !== ParseStatus.Ok) {
        // The handler may have rewritten it into something unparsable; it cannot be handled as the flow's.
        this.counters.reparseDrops++;
        this.sink.drop(h);
        continue;
      }
      const v = this.run(flow, h, port, dir, ev, true, info);
      if (v !== Verdict.STOLEN) this.apply(v, h);
    }
    if (!flow.alive && !flow.busy && flow.qLen === 0) this.release(flow);
  }

  /** A held packet whose flow closed under it: looked up again (it may start a new flow). */
  private redispatch(h: Packet, port: number): void {
    this.counters.redispatched++;
    const info = this.reparse;
    if (info.parse(h) !== ParseStatus.Ok) {
      this.counters.reparseDrops++;
      this.sink.drop(h);
      return;
    }
    const v = this.process(h, port, info, true);
    if (v !== Verdict.STOLEN) this.apply(v, h);
  }

  private apply(v: Verdict, h: Packet): void {
    if (v >= 0) this.sink.send(h, v);
    else if (v !== Verdict.STOLEN) this.sink.drop(h);
  }

  private reportError(e: unknown, flow: AsyncFlow<S> | null): void {
    if (this.onError === null) return;
    try {
      this.onError(e, flow);
    } catch {
      // an error reporter that throws must not break the packet path
    }
  }

  /** Turns an action into a verdict; closes the flow for Close*. */
  private finish(flow: AsyncFlow<S>, a: FlowAction): Verdict {
    switch (a) {
      case FlowAction.Forward:
        return flow.outPort >= 0 ? Verdict.port(flow.outPort) : Verdict.DROP;
      case FlowAction.Drop:
        return Verdict.DROP;
      case FlowAction.CloseForward: {
        const out = flow.outPort;
        this.closeFlow(flow, 'closed');
        return out >= 0 ? Verdict.port(out) : Verdict.DROP;
      }
      case FlowAction.CloseDrop:
        this.closeFlow(flow, 'closed');
        return Verdict.DROP;
      case FlowAction.Stolen:
        return Verdict.STOLEN;
      default:
        this.counters.badAction++;
        return Verdict.DROP;
    }
  }

  private enqueue(flow: AsyncFlow<S>, pkt: Packet, inPort: number, dir: 0 | 1, ev: number, held: boolean): Verdict {
    if (flow.qLen >= this.maxQueuedPerFlow) {
      this.counters.flowQueueFull++;
      return Verdict.DROP;
    }
    if (this.queuedTotal >= this.maxQueued) {
      this.counters.queueFull++;
      return Verdict.DROP;
    }
    if (flow.qPkts.length === 0) {
      // Per flow-object, once: the queue arrays are reused by every flow that lives in this slot.
      const n = this.maxQueuedPerFlow;
      flow.qPkts = new Array<Packet | null>(n).fill(null);
      flow.qPort = new Int16Array(n);
      flow.qDir = new Uint8Array(n);
      flow.qEv = new Int32Array(n);
    }
    const h = held ? pkt : this.sink.hold(pkt);
    const i = (flow.qHead + flow.qLen) % flow.qPkts.length;
    flow.qPkts[i] = h;
    flow.qPort[i] = inPort;
    flow.qDir[i] = dir;
    flow.qEv[i] = ev;
    flow.qLen++;
    this.queuedTotal++;
    this.held++;
    this.counters.queued++;
    return Verdict.STOLEN;
  }

  // ---------------------------------------------------------------------------------------------
  // FlowOwner

  take(flow: AsyncFlow<S>): Packet | null {
    if (flow.curHandle !== null) {
      const h = flow.curHandle;
      flow.curHandle = null;
      flow.taken = true;
      if (flow.busy) this.held--;
      return h;
    }
    if (flow.flyweight !== null) {
      const h = this.sink.hold(flow.flyweight);
      flow.flyweight = null;
      flow.taken = true;
      // The handler may have changed the copy it saw.
      const cur = flow.packet;
      if (cur !== null) {
        h.offset = cur.offset;
        h.length = cur.length;
      }
      return h;
    }
    return null;
  }

  offload(flow: AsyncFlow<S>, action: OffloadAction): boolean {
    const info = flow.info;
    if (!flow.alive || !flow.inCall || info === null || flow.packet === null) return false;
    const dir = flow.direction;
    // The native executor skips the preprocessors and user events: only where neither would see anything.
    if (!this.offloads.set(flow.index, dir, info, action, !this.preprocess && this.userMask === 0)) return false;
    flow.offloads |= 1 << dir;
    return true;
  }

  clearOffload(flow: AsyncFlow<S>): void {
    if (flow.offloads === 0) return;
    this.foldNative(flow);
    this.offloads.clear(flow.index, 0);
    this.offloads.clear(flow.index, 1);
    flow.offloads = 0;
  }

  /** Every offloaded direction of every flow stops applying (e.g. a neighbor's MAC changed). */
  invalidateOffloads(): void {
    this.offloads.invalidateAll();
  }

  /** Sets the flow clock (ms), here and for the native executor. */
  setNow(now: number): void {
    this.now = now;
    this.offloads.setClock(Math.floor(now));
  }

  /**
   * Adds what the native executor did for the flow since the last fold to its statistics and last-seen time.
   * Done when the flow closes, is about to expire, is dumped (liveFlows) and at each snapshot.
   */
  foldNative(flow: AsyncFlow<S>): void {
    if (!this.nativeAttached || flow.offloads === 0) return;
    for (let d = 0; d < 2; d++) {
      const acc = this.foldAcc;
      acc[0] = acc[1] = 0;
      const last = this.offloads.drainNative(flow.index, d as 0 | 1, acc);
      if (last < 0) continue;
      if (d === 0) { flow.packets0 += acc[0]; flow.bytes0 += acc[1]; } else { flow.packets1 += acc[0]; flow.bytes1 += acc[1]; }
      this.nativePackets += acc[0];
      if (last > flow.lastSeen) flow.lastSeen = last;
    }
  }

  /**
   * Lets the native RX path execute this distributor's offloaded entries (see native/src/offload.h) through the
   * shard's host (`ctx.nativeOffload`): `rx` lists the ports whose packets it may take, with the checks MetaFlow
   * would make there. Returns false when the host takes none of them. The distributor detaches it again
   * (detachNative), which flowPipeline does at stop: apps never drive the executor themselves.
   */
  attachNative(host: NativeOffloadHost | null, rx: NativeOffloadRx[]): boolean {
    if (host === null || rx.length === 0) return false;
    const { table, mask } = this.table.nativeView();
    const ok = host.attach({
      table, mask, entries: this.offloads.entries(), capacity: this.capacity, counts: this.offloads.counts, ctl: this.offloads.ctl,
    }, rx);
    if (!ok) return false;
    this.nativeHost = host;
    this.nativeAttached = true;
    this.offloads.setClock(Math.floor(this.now));
    return true;
  }

  /**
   * Stops the native executor (at stop, before held packets are dropped). What it counted stays in the entries,
   * so dumps and snapshots taken afterwards still fold it in.
   */
  detachNative(): void {
    const h = this.nativeHost;
    if (h === null) return;
    this.nativeHost = null;
    h.detach();
  }

  addKey(flow: AsyncFlow<S>, proto: number, src: number, dst: number, sport: number, dport: number, direction: 0 | 1): boolean {
    if (flow.nkeys >= 2) return false;
    const slot = flow.nkeys;
    // A second key equal (canonically) to the first adds nothing: the same entry already finds the flow.
    if (slot === 1) {
      const k = flow.keys;
      const same = k[0] === proto && ((k[1] === src && k[2] === dst && k[3] === sport && k[4] === dport) || (k[1] === dst && k[2] === src && k[3] === dport && k[4] === sport));
      if (same) return true;
    }
    if (!this.table.insert(proto, src, dst, sport, dport, flow.index * 2 + slot)) return false;
    const k = flow.keys, b = slot * 5;
    k[b] = proto; k[b + 1] = src >>> 0; k[b + 2] = dst >>> 0; k[b + 3] = sport; k[b + 4] = dport;
    const low = srcIsLow(src, dst, sport, dport);
    const bit = 1 << slot;
    if (direction === 0 ? low : !low) flow.lowBits |= bit;
    else flow.lowBits &= ~bit;
    flow.nkeys++;
    return true;
  }

  setTimeoutClass(flow: AsyncFlow<S>, cls: number): void {
    if (!flow.alive || cls === flow.tclass) return;
    if (cls < 0 || cls >= this.timeouts.length) throw new RangeError(`no timeout class ${cls}`);
    this.lruUnlink(flow);
    flow.tclass = cls;
    this.lruAppend(flow);
  }

  close(flow: AsyncFlow<S>): void {
    if (!flow.alive) return;
    this.closeFlow(flow, 'closed');
    // Inside a handler call or while one is pending, the flow object is released when that ends.
    if (flow.inCall || flow.busy) return;
    if (flow.qLen === 0) this.release(flow);
    else this.drain(flow);
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  private alloc(): AsyncFlow<S> | null {
    let f: AsyncFlow<S>;
    if (this.freeTop > 0) f = this.flows[this.free[--this.freeTop]];
    else if (this.flows.length < this.capacity) {
      f = new AsyncFlow<S>(this.flows.length, this, this.createState(), () => new Packet());
      this.flows.push(f);
    } else return null;
    f.pooled = false;
    this.active++;
    return f;
  }

  /** Removes keys and LRU links; the object stays until pending work is done. */
  private closeFlow(flow: AsyncFlow<S>, why: 'closed' | 'expired', endLoop = true): void {
    if (!flow.alive) return;
    this.unlinkFlow(flow);
    flow.alive = false;
    if (why === 'closed') this.counters.flowsClosed++;
    else this.counters.flowsExpired++;
    // An async loop waiting for events ends here, except on expiry: it gets the Timeout event first.
    if (endLoop) flow.endLoop();
    if (this.onRemove !== null) {
      try {
        this.onRemove(flow, why);
      } catch (e) {
        this.counters.handlerErrors++;
        this.reportError(e, flow);
      }
    }
  }

  private unlinkFlow(flow: AsyncFlow<S>): void {
    this.clearOffload(flow);
    const k = flow.keys;
    for (let s = 0; s < flow.nkeys; s++) {
      const b = s * 5;
      this.table.remove(k[b], k[b + 1], k[b + 2], k[b + 3], k[b + 4]);
    }
    flow.nkeys = 0;
    this.lruUnlink(flow);
    flow.tclass = -1;
  }

  /** Returns a closed, idle flow object to the pool. */
  private release(flow: AsyncFlow<S>): void {
    if (flow.pooled) return;
    if (flow.tclass >= 0 || flow.nkeys > 0) this.unlinkFlow(flow);
    flow.recycle();
    flow.pooled = true;
    this.active--;
    this.free[this.freeTop++] = flow.index;
  }

  /** Sets the clock and expires idle flows; returns how many expired. Call it once per loop pass. */
  tick(now: number): number {
    this.setNow(now);
    return this.expire(now);
  }

  /** Expires flows idle past their class's timeout (at most expireBudget per call). */
  expire(now: number): number {
    let budget = this.expireBudget;
    let n = 0;
    const heads = this.lruHead, timeouts = this.timeouts;
    for (let c = 0; c < heads.length && budget > 0; c++) {
      const to = timeouts[c];
      while (budget > 0 && heads[c] >= 0) {
        const f = this.flows[heads[c]];
        if (f.lastSeen + to > now) break;
        budget--;
        if (this.nativeAttached && f.offloads !== 0) {
          // Packets the native executor took count as activity: fold them in and look again.
          this.foldNative(f);
          if (f.lastSeen + to > now) {
            this.touch(f);
            continue;
          }
        }
        if (f.busy || f.qLen > 0) {
          // Work in progress is activity: look again a timeout later.
          f.lastSeen = now;
          this.now = now;
          this.touch(f);
          continue;
        }
        n++;
        this.timeoutFlow(f);
      }
    }
    return n;
  }

  private timeoutFlow(f: AsyncFlow<S>): void {
    const h = f.handler;
    const wants = h !== null && ((f.watch0 | f.watch1) & FlowEvent.Timeout) !== 0;
    this.closeFlow(f, 'expired', !wants);
    if (!wants) {
      this.release(f);
      return;
    }
    f.packet = null;
    f.events = FlowEvent.Timeout;
    f.direction = 0;
    f.inPort = -1;
    f.outPort = -1;
    let r: FlowAction | Promise<FlowAction>;
    f.info = null;
    try {
      r = h!(f);
    } catch (e) {
      this.counters.handlerErrors++;
      this.reportError(e, f);
      this.release(f);
      return;
    }
    if (typeof r === 'number') {
      this.release(f);
      return;
    }
    f.busy = true;
    const gen = f.gen;
    r.then((a) => this.settle(f, gen, a), (e: unknown) => {
      this.reportError(e, f);
      this.settle(f, gen, -1);
    });
  }

  /** When the next flow may expire (ms, same clock as now); Infinity if none. */
  nextExpiry(): number {
    let t = Infinity;
    const heads = this.lruHead;
    for (let c = 0; c < heads.length; c++) {
      if (heads[c] < 0) continue;
      const e = this.flows[heads[c]].lastSeen + this.timeouts[c];
      if (e < t) t = e;
    }
    return t;
  }

  /** Drops every held packet and forgets every flow (at stop). Returns packets dropped. */
  dropAll(): number {
    let n = 0;
    for (const f of this.flows) {
      if (f.pooled) continue;
      if (f.curHandle !== null) {
        this.sink.drop(f.curHandle);
        f.curHandle = null;
        n++;
      }
      while (f.qLen > 0) {
        const i = f.qHead;
        const h = f.qPkts[i];
        f.qPkts[i] = null;
        f.qHead = (i + 1) % f.qPkts.length;
        f.qLen--;
        if (h) {
          this.sink.drop(h);
          n++;
        }
      }
      if (f.alive) this.closeFlow(f, 'closed');
      if (f.newPending) this.pendingNew--;
      // Recycling bumps the generation: handlers still pending find their flow gone when they answer.
      this.release(f);
    }
    this.held = 0;
    this.queuedTotal = 0;
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // LRU lists per timeout class, ordered by link time (when a flow was last appended). A packet relinks its
  // flow only when the link is older than the class's granularity g, so a flow's lastSeen is always less
  // than g after its link time. Expiry looks at list heads only and stops at the first one still alive: any
  // flow behind it was linked later, so it expires at most g before the head does — a flow expires at most g
  // late, for a list operation per flow per g instead of per packet (each costs three random memory reads).

  private touch(f: AsyncFlow<S>): void {
    const c = f.tclass;
    if (this.lruTail[c] === f.index) {
      f.linkTime = this.now;
      return;
    }
    this.lruUnlink(f);
    f.tclass = c;
    this.lruAppend(f);
  }

  private lruAppend(f: AsyncFlow<S>): void {
    f.linkTime = this.now;
    const c = f.tclass, i = f.index, tail = this.lruTail[c];
    this.lruPrev[i] = tail;
    this.lruNext[i] = -1;
    if (tail >= 0) this.lruNext[tail] = i;
    else this.lruHead[c] = i;
    this.lruTail[c] = i;
  }

  private lruUnlink(f: AsyncFlow<S>): void {
    const c = f.tclass;
    if (c < 0) return;
    const i = f.index, p = this.lruPrev[i], n = this.lruNext[i];
    if (p >= 0) this.lruNext[p] = n;
    else if (this.lruHead[c] === i) this.lruHead[c] = n;
    if (n >= 0) this.lruPrev[n] = p;
    else if (this.lruTail[c] === i) this.lruTail[c] = p;
    this.lruPrev[i] = this.lruNext[i] = -1;
  }

  // ---------------------------------------------------------------------------------------------
  // Built-in preprocessors: enough TCP tracking to raise open and close, first/reply for the rest.

  private track(f: AsyncFlow<S>, dir: 0 | 1, info: PacketInfo, isNew: boolean): number {
    const proto = info.kProto;
    let ev = 0;
    let t = f.track;
    if (proto === 6) {
      const fl = info.tcpFlags;
      const SYN = 2, ACK = 16, FIN = 1, RST = 4;
      if (isNew && (fl & SYN) === 0) t |= Track.Midstream;
      if (fl & RST) {
        if ((t & Track.Closed) === 0) ev |= FlowEvent.Rst | FlowEvent.Close;
        t |= Track.Closed;
      } else {
        if (fl & SYN) t |= dir === 0 ? Track.Syn0 : Track.Syn1;
        if (dir === 1) t |= Track.Reply;
        if ((t & Track.Open) === 0 && (fl & ACK) !== 0 && (fl & SYN) === 0) {
          const handshake = (t & (Track.Syn0 | Track.Syn1)) === (Track.Syn0 | Track.Syn1);
          const picked = (t & Track.Midstream) !== 0 && (t & Track.Reply) !== 0;
          if (handshake || picked) {
            t |= Track.Open;
            ev |= FlowEvent.Open;
          }
        }
        const v = info.view, l4 = info.l4;
        if (fl & FIN) {
          const bit = dir === 0 ? Track.Fin0 : Track.Fin1;
          if ((t & bit) === 0) {
            t |= bit;
            ev |= FlowEvent.Fin;
            // The FIN occupies the sequence number after the data.
            const finSeq = (v.getUint32(l4 + 4) + info.l4PayloadLength + ((fl & SYN) ? 1 : 0)) >>> 0;
            if (dir === 0) f.finSeq0 = finSeq;
            else f.finSeq1 = finSeq;
          }
        }
        if (fl & ACK) {
          // An ACK beyond the other side's FIN acknowledges it.
          const otherFin = dir === 0 ? Track.Fin1 : Track.Fin0;
          const otherAcked = dir === 0 ? Track.FinAcked1 : Track.FinAcked0;
          if ((t & otherFin) !== 0 && (t & otherAcked) === 0 && seqLe(((dir === 0 ? f.finSeq1 : f.finSeq0) + 1) >>> 0, v.getUint32(l4 + 8))) t |= otherAcked;
        }
        if ((t & (Track.FinAcked0 | Track.FinAcked1)) === (Track.FinAcked0 | Track.FinAcked1) && (t & Track.Closed) === 0) {
          t |= Track.Closed;
          ev |= FlowEvent.Close;
        }
      }
      f.track = t;
      const cls = (t & Track.Closed) !== 0 ? TimeoutClass.TcpClosed
        : (t & Track.Fin0) !== 0 && (t & Track.Fin1) !== 0 ? TimeoutClass.TcpFinWait
        : (t & (Track.Fin0 | Track.Fin1)) !== 0 ? TimeoutClass.TcpClosing
        : (t & Track.Open) !== 0 ? TimeoutClass.TcpEstablished
        : isNew ? TimeoutClass.TcpFirstPacket : TimeoutClass.TcpOpening;
      this.setTimeoutClass(f, cls);
      return ev;
    }
    // UDP, ICMP and the rest: first packet, more in the same direction, then a reply.
    const icmp = proto === 1;
    if (dir === 1 && (t & Track.Reply) === 0) {
      t |= Track.Reply;
      ev |= FlowEvent.Open;
    } else if (!isNew) t |= Track.Multiple;
    f.track = t;
    const cls = icmp
      ? ((t & Track.Reply) !== 0 ? TimeoutClass.IcmpReply : TimeoutClass.IcmpFirst)
      : (t & Track.Reply) !== 0 ? TimeoutClass.OtherBidir : (t & Track.Multiple) !== 0 ? TimeoutClass.OtherMultiple : TimeoutClass.OtherFirst;
    this.setTimeoutClass(f, cls);
    return ev;
  }

  /** Counters and gauges, for an app's counters(). */
  snapshot(prefix = 'flow.'): Record<string, number> {
    if (this.nativeAttached) for (const f of this.flows) if (f.offloads !== 0) this.foldNative(f);
    const r: Record<string, number> = {};
    for (const k of DISTRIBUTOR_COUNTERS) r[prefix + k] = this.counters[k];
    r[prefix + 'active'] = this.active;
    r[prefix + 'held'] = this.held;
    r[prefix + 'pendingNew'] = this.pendingNew;
    r[prefix + 'tableHugePages'] = this.table.hugeMemory ? 1 : 0;
    r[prefix + 'offloaded'] = this.offloads.total();
    r[prefix + 'offloadedNative'] = this.nativePackets;
    r[prefix + 'offloadNative'] = this.nativeAttached ? 1 : 0;
    r[prefix + 'offloadsInstalled'] = this.offloads.installed;
    r[prefix + 'offloadFallbacks'] = this.offloads.fallbacks;
    return r;
  }
}

function initialClass(proto: number): number {
  return proto === 6 ? TimeoutClass.TcpFirstPacket : proto === 1 ? TimeoutClass.IcmpFirst : TimeoutClass.OtherFirst;
}

