// The mOS-style monitor: on the flow layer's FlowDistributor, every TCP flow gets both endpoints emulated
// (state machine, sequence/ack/window views, receive streams) and raises mOS's events; handlers (sync or
// async, kept in per-flow order by AsyncFlow) and user-defined events (filters over a base event, chained).
import { Verdict } from '../net/app';
import {
  CREATE_FLOW, FlowAction, FlowDistributor, FlowEvent, TimeoutClass, type AsyncFlow, type FlowTimeouts, type PacketInfo,
  type PacketSink,
} from '../net/flow';
import type { Packet } from '../net/packet';
import { Conn, ConnVerdict, fixTcpChecksum, type Endpoint } from './conn';
import { internetChecksum } from '../net/wire/checksum';
import { BUILTIN_EVENT_COUNT, Events, MosEvent, TcpState, sideMask, type Side, type SideName } from './events';
import { compileFilter, type PacketPredicate } from './filter';
import { Overlap, RingPool } from './stream';

export type MosHandler<C> = (conn: Conn<C>, side: Side, ev: MosEvent) => void | Promise<void>;
/** A user event's filter: raised (on the same side) when it returns true. Synchronous, like mOS's. */
export type MosFilter<C> = (conn: Conn<C>, side: Side) => boolean;

export interface MonitorOptions<C> {
  /** where held, sent and dropped packets go (the ShardContext fits) */
  sink: PacketSink;
  /** the per-flow context: made once per flow slot, then `resetContext` at each new flow */
  createContext: () => C;
  resetContext?: (ctx: C, conn: Conn<C>) => void;
  /** 'inline' forwards (or drops) packets; 'passive' (a mirror port) never forwards. Default inline. */
  mode?: 'inline' | 'passive';
  /** flows at most (default 65536) */
  maxFlows?: number;
  /** receive buffer per side in bytes (0: no bytes kept, sequence tracking only). Default 65536. */
  bufferBytes?: number;
  /** all receive buffers together (default 64 MiB); beyond it a side gets no buffer (ERROR, counted) */
  maxBufferBytes?: number;
  /** out-of-order ranges kept per side (default 16) */
  maxFragments?: number;
  overlap?: 'first' | 'last';
  /** a flow may start with any packet, not only a SYN (default false: such packets are ORPHANs) */
  midstream?: boolean;
  /** which flows to monitor, decided on their first packet: a predicate or a BPF-like expression */
  filter?: PacketPredicate | string;
  /** what packets of flows the filter leaves out, orphans and non-TCP packets get in inline mode (default forward) */
  unmonitored?: 'forward' | 'drop';
  /** out port by in port for forwarding (default [1, 0]) */
  defaultOut?: number[];
  /** idle timeouts per class (ms), as the flow layer's */
  timeouts?: Partial<FlowTimeouts>;
  /** packets held per flow while its handlers are pending (default 64), and for all flows (default 8192) */
  maxHeldPerFlow?: number;
  maxHeld?: number;
  /** told about handler errors */
  onError?: (err: unknown) => void;
  /** a new held packet of `length` bytes (ShardContext.allocPacket): needed by inject() */
  alloc?: (length: number) => Packet | null;
}

export const MONITOR_COUNTERS = [
  'packets', 'flows', 'orphans', 'filteredOut', 'nonTcp', 'rexmits', 'synRexmits', 'synNewIsn', 'synFin',
  'rstAccepted', 'rstOutOfWindow', 'outOfWindow', 'overrunBytes', 'refusedBytes', 'noBuffer', 'connEnds', 'timeouts',
  'handlerCalls', 'asyncHandlers', 'injected',
] as const;
export type MonitorCounter = (typeof MONITOR_COUNTERS)[number];

interface Sub<C> { fn: MosHandler<C>; mask: number }
interface UserEvent<C> { ev: MosEvent; filter: MosFilter<C> }

const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04;

export class Monitor<C = unknown> {
  readonly dist: FlowDistributor<Conn<C>>;
  readonly counters: Record<MonitorCounter, number>;
  readonly pool: RingPool;
  readonly mode: 'inline' | 'passive';
  private readonly subs: Sub<C>[][] = [];
  private readonly children: UserEvent<C>[][] = [];
  /** per event id: it or an event derived from it has handlers (else its filters need not run) */
  private wanted: boolean[] = [];
  private nextEventId = BUILTIN_EVENT_COUNT;
  private readonly bufferBytes: number;
  private readonly policy: Overlap;
  private readonly midstream: boolean;
  private readonly filter: PacketPredicate | null;
  private readonly unmonitoredVerdict: ConnVerdict;
  private readonly defaultOut: number[];
  private readonly onError: ((err: unknown) => void) | null;
  private readonly orphanConn: Conn<C>;
  private readonly resetContext: ((ctx: C, conn: Conn<C>) => void) | null;
  private readonly alloc: ((length: number) => Packet | null) | null;
  private readonly sink: PacketSink;
  /** the packet action in this mode: what a Forward verdict becomes */
  private readonly forwardAction: FlowAction;
  /** TCP packets without a flow that cannot start one (orphans) get this verdict if set (after ORPHAN handlers) */
  onOrphan: ((pkt: Packet, info: PacketInfo, inPort: number) => Verdict) | null = null;
  /** non-TCP packets (UDP, ICMP…) are handed here if set; its return is the verdict */
  onOther: ((pkt: Packet, info: PacketInfo, inPort: number) => Verdict) | null = null;

  constructor(o: MonitorOptions<C>) {
    this.mode = o.mode ?? 'inline';
    this.bufferBytes = o.bufferBytes ?? 65536;
    if (!Number.isInteger(this.bufferBytes) || this.bufferBytes < 0) throw new RangeError('bufferBytes must be an integer >= 0');
    this.policy = o.overlap === 'last' ? Overlap.Last : Overlap.First;
    this.midstream = o.midstream ?? false;
    this.filter = o.filter === undefined ? null : typeof o.filter === 'string' ? compileFilter(o.filter) : o.filter;
    this.unmonitoredVerdict = o.unmonitored === 'drop' || this.mode === 'passive' ? ConnVerdict.Drop : ConnVerdict.Forward;
    this.defaultOut = o.defaultOut ?? [1, 0];
    this.onError = o.onError ?? null;
    this.pool = new RingPool(o.maxBufferBytes ?? 64 * 1024 * 1024);
    this.resetContext = o.resetContext ?? null;
    this.alloc = o.alloc ?? null;
    this.sink = o.sink;
    this.forwardAction = this.mode === 'passive' ? FlowAction.Drop : FlowAction.Forward;
    const maxFrags = o.maxFragments ?? 16;
    const c = {} as Record<MonitorCounter, number>;
    for (const k of MONITOR_COUNTERS) c[k] = 0;
    this.counters = c;
    for (let i = 0; i < BUILTIN_EVENT_COUNT; i++) {
      this.subs.push([]);
      this.children.push([]);
      this.wanted.push(false);
    }
    this.orphanConn = new Conn<C>(o.createContext(), 0);
    this.dist = new FlowDistributor<Conn<C>>({
      capacity: o.maxFlows ?? 65536,
      createState: () => new Conn<C>(o.createContext(), maxFrags),
      sink: o.sink,
      handler: (f) => this.onFlow(f),
      onNewFlow: (f, pkt, info) => this.onNewFlow(f, info),
      onMiss: (pkt, info, inPort) => this.onMiss(pkt, info, inPort),
      // An expired flow's buffers stay until its TIMEOUT handlers ran (onFlow releases them).
      onRemove: (f, why) => {
        if (why === 'closed' || f.state.monitored === 0 || f.state.ended) f.state.finish();
      },
      onError: (e) => {
        if (this.onError) this.onError(e);
      },
      defaultOut: this.defaultOut,
      preprocess: false,
      timeouts: o.timeouts,
      maxQueuedPerFlow: o.maxHeldPerFlow,
      maxQueued: o.maxHeld,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Events and handlers

  /** Subscribes `fn` to `ev` on a side (default both). Returns a function that unsubscribes. */
  on(ev: MosEvent, fn: MosHandler<C>, opts: { side?: SideName | 'both' | Side } = {}): () => void {
    this.check(ev);
    const sub = { fn, mask: sideMask(opts.side) };
    this.subs[ev.id].push(sub);
    this.recomputeWanted();
    return () => {
      const l = this.subs[ev.id];
      const i = l.indexOf(sub);
      if (i >= 0) l.splice(i, 1);
      this.recomputeWanted();
    };
  }

  /**
   * A user-defined event: raised on a side when `base` is raised there and `filter` returns true. Its base
   * may be another user event (chains). Unlimited (mOS: 32, from its 64-bit masks).
   */
  defineEvent(base: MosEvent, filter: MosFilter<C>, name = `user${this.nextEventId - BUILTIN_EVENT_COUNT}`): MosEvent {
    this.check(base);
    const ev = new MosEvent(this.nextEventId++, name, base);
    this.subs.push([]);
    this.children.push([]);
    this.wanted.push(false);
    this.children[base.id].push({ ev, filter });
    return ev;
  }

  private check(ev: MosEvent): void {
    if (!(ev instanceof MosEvent) || ev.id >= this.subs.length || (ev.id >= BUILTIN_EVENT_COUNT && this.children[ev.base!.id].every((u) => u.ev !== ev))) {
      throw new RangeError(`event ${ev?.name} does not belong to this monitor`);
    }
  }

  private recomputeWanted(): void {
    const n = this.subs.length;
    const w = new Array<boolean>(n).fill(false);
    // children have larger ids than their bases: one pass from the end settles every chain
    for (let id = n - 1; id >= 0; id--) {
      if (this.subs[id].length > 0) w[id] = true;
      if (w[id]) continue;
      for (const u of this.children[id]) if (w[u.ev.id]) w[id] = true;
    }
    this.wanted = w;
  }

  // ---------------------------------------------------------------------------------------------
  // The packet path

  /** FlowProcessor: MetaFlow hands IPv4 packets here. */
  process(pkt: Packet, inPort: number, info: PacketInfo): Verdict {
    this.counters.packets++;
    if (info.kProto !== 6 || info.related) {
      this.counters.nonTcp++;
      if (this.onOther !== null) return this.onOther(pkt, info, inPort);
      return this.unmonitored(inPort);
    }
    return this.dist.process(pkt, inPort, info);
  }

  private unmonitored(inPort: number): Verdict {
    if (this.unmonitoredVerdict === ConnVerdict.Drop) return Verdict.DROP;
    const out = this.defaultOut[inPort];
    return out === undefined || out < 0 ? Verdict.DROP : Verdict.port(out);
  }

  private onMiss(pkt: Packet, info: PacketInfo, inPort: number): Verdict {
    if (this.filter !== null && !this.filter(info)) {
      this.counters.filteredOut++;
      return this.unmonitored(inPort);
    }
    const fl = info.tcpFlags;
    if ((fl & (SYN | ACK | RST)) === SYN || (this.midstream && (fl & RST) === 0)) return CREATE_FLOW;
    this.counters.orphans++;
    const subs = this.subs[Events.ORPHAN.id];
    if (subs.length > 0) {
      const c = this.orphanConn;
      c.flow = null;
      c.cAddr = info.src >>> 0;
      c.cPort = info.sport;
      c.sAddr = info.dst >>> 0;
      c.sPort = info.dport;
      c.seg.flags = fl;
      c.seg.length = info.l4PayloadLength;
      for (const s of subs) {
        try {
          const r = s.fn(c, 0, Events.ORPHAN);
          if (r instanceof Promise) r.catch((e: unknown) => this.reportError(e));
        } catch (e) {
          this.reportError(e);
        }
      }
    }
    if (this.onOrphan !== null) return this.onOrphan(pkt, info, inPort);
    return this.unmonitored(inPort);
  }

  private onNewFlow(flow: AsyncFlow<Conn<C>>, info: PacketInfo): boolean {
    const c = flow.state;
    c.reset(flow, this.dist.now, this.bufferBytes, this.policy, this.pool);
    c.cAddr = info.src >>> 0;
    c.cPort = info.sport;
    c.sAddr = info.dst >>> 0;
    c.sPort = info.dport;
    c.midstream = (info.tcpFlags & SYN) === 0;
    c.passive = this.mode === 'passive';
    if (this.resetContext !== null) this.resetContext(c.ctx, c);
    flow.defaultAction = this.forwardAction;
    this.counters.flows++;
    return true;
  }

  private reportError(e: unknown): void {
    this.dist.counters.handlerErrors++;
    if (this.onError !== null) this.onError(e);
  }

  private onFlow(flow: AsyncFlow<Conn<C>>): FlowAction | Promise<FlowAction> {
    const c = flow.state;
    c.evQ.length = 0;
    c.sideQ.length = 0;
    if ((flow.events & FlowEvent.Timeout) !== 0) {
      if (c.ended || c.monitored === 0) {
        c.finish();
        return FlowAction.Drop;
      }
      this.counters.timeouts++;
      this.raise(c, Events.TIMEOUT, 0, 3);
      this.raise(c, Events.CONN_END, 0, 3);
      c.ended = true;
      this.expand(c);
      const r = this.dispatch(c, FlowAction.Drop);
      if (typeof r === 'number') {
        c.finish();
        return r;
      }
      return r.then((a) => {
        c.finish();
        return a;
      });
    }
    if (c.monitored === 0) return c.flowVerdict === ConnVerdict.Drop ? FlowAction.Drop : this.forwardAction;
    c.verdict = ConnVerdict.Forward;
    c.lastAt = this.dist.now;
    const info = flow.info!;
    this.emulate(c, flow.direction, info, (flow.events & FlowEvent.New) !== 0);
    if (!c.ended) this.setClass(flow, c);
    this.expand(c);
    const r = this.dispatch(c, FlowAction.Forward);
    return c.readers !== 0 && c.readerBehind() ? this.afterReaders(c, r) : r;
  }

  /** Holds the packet until the flow's stream readers took the bytes it brought. */
  private async afterReaders(c: Conn<C>, r: FlowAction | Promise<FlowAction>): Promise<FlowAction> {
    const a = await r;
    const gen = c.gen;
    while (c.gen === gen && !c.finished && c.readerBehind()) await c.waitReaders();
    return a;
  }

  private setClass(flow: AsyncFlow<Conn<C>>, c: Conn<C>): void {
    const a = c.ep[0].state, b = c.ep[1].state;
    const cls = a === TcpState.Established && b === TcpState.Established ? TimeoutClass.TcpEstablished
      : c.ep[0].finSent || c.ep[1].finSent ? TimeoutClass.TcpClosing
      : TimeoutClass.TcpOpening;
    if (flow.tclass !== cls) flow.setTimeoutClass(cls);
  }

  /** Queues an event occurrence for the current packet (sideBits: which subscriptions it reaches). */
  private raise(c: Conn<C>, ev: MosEvent, side: Side, sideBits: number): void {
    if (!this.wanted[ev.id]) return;
    if (sideBits !== 3 && (c.monitored & sideBits) === 0) return;
    c.evQ.push(ev);
    c.sideQ.push(side | (sideBits << 1));
  }

  /** Runs user filters over the raised events (breadth first: chains raise after their bases). */
  private expand(c: Conn<C>): void {
    for (let i = 0; i < c.evQ.length; i++) {
      const kids = this.children[c.evQ[i].id];
      if (kids.length === 0) continue;
      const s = c.sideQ[i];
      const side = (s & 1) as Side;
      for (let k = 0; k < kids.length; k++) {
        const u = kids[k];
        if (!this.wanted[u.ev.id]) continue;
        let hit = false;
        try {
          hit = u.filter(c, side);
        } catch (e) {
          this.reportError(e);
        }
        if (hit) {
          c.evQ.push(u.ev);
          c.sideQ.push(s);
        }
      }
    }
  }

  /** Calls the handlers of each raised event in order; goes async at the first pending promise. */
  private dispatch(c: Conn<C>, base: FlowAction): FlowAction | Promise<FlowAction> {
    const q = c.evQ;
    for (let i = 0; i < q.length; i++) {
      const subs = this.subs[q[i].id];
      const s = c.sideQ[i];
      const bits = s >> 1, side = (s & 1) as Side;
      for (let k = 0; k < subs.length; k++) {
        const sub = subs[k];
        if ((sub.mask & bits) === 0) continue;
        this.counters.handlerCalls++;
        let r: void | Promise<void>;
        try {
          r = sub.fn(c, side, q[i]);
        } catch (e) {
          this.reportError(e);
          continue;
        }
        if (r instanceof Promise) {
          this.counters.asyncHandlers++;
          return this.dispatchAsync(c, base, r, i, k + 1);
        }
      }
    }
    return this.finishPacket(c, base);
  }

  private async dispatchAsync(c: Conn<C>, base: FlowAction, pending: Promise<void>, i0: number, k0: number): Promise<FlowAction> {
    const gen = c.gen;
    try {
      await pending;
    } catch (e) {
      this.reportError(e);
    }
    const q = c.evQ;
    for (let i = i0; i < q.length; i++) {
      if (c.gen !== gen) return FlowAction.Drop;
      const subs = this.subs[q[i].id];
      const s = c.sideQ[i];
      const bits = s >> 1, side = (s & 1) as Side;
      for (let k = i === i0 ? k0 : 0; k < subs.length; k++) {
        const sub = subs[k];
        if ((sub.mask & bits) === 0) continue;
        this.counters.handlerCalls++;
        try {
          await sub.fn(c, side, q[i]);
        } catch (e) {
          this.reportError(e);
        }
      }
    }
    return this.finishPacket(c, base);
  }

  private finishPacket(c: Conn<C>, base: FlowAction): FlowAction {
    if (base !== FlowAction.Forward) return base;
    const drop = c.verdict === ConnVerdict.Drop || this.mode === 'passive';
    if (c.ended) return drop ? FlowAction.CloseDrop : FlowAction.CloseForward;
    return drop ? FlowAction.Drop : FlowAction.Forward;
  }

  // ---------------------------------------------------------------------------------------------
  // Endpoint emulation

  private setState(c: Conn<C>, side: Side, e: Endpoint, st: TcpState): void {
    if (e.state === st) return;
    c.prevState[side] = e.state;
    e.state = st;
    this.raise(c, Events.STATE_CHANGE, side, 1 << side);
  }

  private emulate(c: Conn<C>, dir: 0 | 1, info: PacketInfo, isNew: boolean): void {
    const S = c.ep[dir], rs = (dir ^ 1) as Side, R = c.ep[rs];
    const buf = c.rcv[rs];
    const v = info.view, l4 = info.l4;
    const fl = info.tcpFlags, seq = v.getUint32(l4 + 4), ack = v.getUint32(l4 + 8), wnd = v.getUint16(l4 + 14);
    const hl = info.tcpHeaderLength, plen = info.l4PayloadLength;
    const seg = c.seg;
    seg.side = dir;
    seg.seq = seq;
    seg.ack = ack;
    seg.flags = fl;
    seg.window = wnd;
    seg.length = plen;
    seg.payloadAt = l4 + hl;
    seg.rexmit = seg.keepalive = seg.outOfWindow = false;
    seg.beyond = seg.acked = seg.fresh = seg.overlap = seg.conflict = seg.unchecked = seg.refused = seg.sackBlocks = 0;
    seg.offset = 0;
    S.packets++;
    S.payloadBytes += plen;
    // where this side's frames come from: what inject() addresses its segments with
    const fl0 = c.flow;
    if (fl0 !== null) c.inPort[dir] = fl0.inPort;
    c.macs.set(info.bytes.subarray(info.start, info.start + 12), dir * 12);
    if (isNew) this.raise(c, Events.CONN_START, 0, 3);
    this.raise(c, Events.PKT_IN, dir, 1 << dir);
    // Options: window scale, SACK permitted and MSS on SYNs; SACK blocks on any segment.
    let wscale = -1, sackOk = false, mss = -1;
    if (hl > 20) {
      let p = l4 + 20;
      const end = l4 + hl;
      while (p < end) {
        const kind = v.getUint8(p);
        if (kind === 0) break;
        if (kind === 1) { p++; continue; }
        if (p + 1 >= end) break;
        const len = v.getUint8(p + 1);
        if (len < 2 || p + len > end) break;
        if (kind === 3 && len === 3) wscale = Math.min(v.getUint8(p + 2), 14);
        else if (kind === 4 && len === 2) sackOk = true;
        else if (kind === 2 && len === 4) mss = v.getUint16(p + 2);
        else if (kind === 5 && len >= 10) seg.sackBlocks = (len - 2) >> 3;
        p += len;
      }
    }
    if (seg.sackBlocks > 0) S.sackSegments++;
    if ((fl & SYN) !== 0 && (fl & FIN) !== 0) {
      // SYN+FIN: no end host accepts it (Linux drops it); never let it move the emulation.
      this.counters.synFin++;
      return;
    }
    if ((fl & RST) !== 0) {
      this.onRst(c, dir, S, R, fl, seq, ack);
      return;
    }
    if ((fl & SYN) !== 0) {
      if (!S.synSeen) {
        S.synSeen = true;
        S.isn = seq;
        S.wscale = wscale;
        S.sackPermitted = sackOk;
        S.mss = mss;
        if (!S.baseKnown || S.sent === 0) {
          S.base = (seq + 1) >>> 0;
          S.baseKnown = true;
          S.sent = 0;
          buf.rebase(0);
        }
        if ((fl & ACK) === 0) {
          this.setState(c, dir, S, TcpState.SynSent);
          if (R.state === TcpState.Listen || R.state === TcpState.Closed) this.setState(c, rs, R, TcpState.SynRcvd);
        } else if (S.state === TcpState.Listen || S.state === TcpState.Closed) this.setState(c, dir, S, TcpState.SynRcvd);
      } else if (seq === S.isn) {
        seg.rexmit = true;
        S.rexmits++;
        this.counters.synRexmits++;
        this.counters.rexmits++;
        this.raise(c, Events.REXMIT, rs, 1 << rs);
      } else {
        // Another ISN on a live flow (port reuse before the flow ended): not this connection's.
        this.counters.synNewIsn++;
        return;
      }
    }
    if (!S.baseKnown) {
      // Picked up mid-stream: this segment's sequence number is the sender's stream offset 0.
      S.base = seq;
      S.baseKnown = true;
      S.sent = 0;
      buf.rebase(0);
      if (c.midstream) {
        this.setState(c, dir, S, TcpState.Established);
        if (!R.baseKnown) this.setState(c, rs, R, TcpState.Established);
      }
    }
    // The window this endpoint advertises (scaled when both SYNs carried the option; never on a SYN).
    S.win = (fl & SYN) === 0 && S.wscale >= 0 && R.wscale >= 0 ? wnd * 2 ** S.wscale : wnd;
    // ---- the receiver acknowledges (this packet's ACK is about R's stream) ----
    if ((fl & ACK) !== 0) {
      if (!R.baseKnown) {
        R.base = ack;
        R.baseKnown = true;
        R.sent = 0;
        c.rcv[dir].rebase(0);
        if (c.midstream) this.setState(c, rs, R, TcpState.Established);
      }
      const a = R.offsetOf(ack);
      if (a > R.una) R.una = a;
      if (R.state === TcpState.SynSent && (fl & SYN) !== 0 && a >= 0) this.setState(c, rs, R, TcpState.Established);
      if (R.state === TcpState.SynRcvd && (fl & SYN) === 0 && a >= 0) this.setState(c, rs, R, TcpState.Established);
      if (R.finSent && a >= R.finOff + 1) {
        if (R.state === TcpState.FinWait1) this.setState(c, rs, R, TcpState.FinWait2);
        else if (R.state === TcpState.Closing) this.setState(c, rs, R, TcpState.TimeWait);
        else if (R.state === TcpState.LastAck) this.setState(c, rs, R, TcpState.Closed);
      }
    }
    // ---- the sender's data and FIN ----
    const o = S.offsetOf((fl & SYN) !== 0 ? (seq + 1) >>> 0 : seq);
    seg.offset = o;
    const fin = (fl & FIN) !== 0;
    if (plen > 0 || fin) {
      const end = o + plen;
      if (plen > 0) {
        if (o < S.sent) {
          if (plen <= 1 && o === S.sent - 1 && !fin) seg.keepalive = true;
          else seg.rexmit = true;
        }
        seg.beyond = Math.max(0, end - S.sent);
        if (S.una >= 0) seg.acked = Math.max(0, Math.min(end, S.una) - o);
        if (R.win >= 0 && S.una >= 0 && end > S.una + R.win) {
          seg.outOfWindow = true;
          S.outOfWindow++;
          this.counters.outOfWindow++;
        }
        if (end > S.sent) S.sent = end;
        const before = buf.next, lostBefore = buf.lost;
        buf.write(o, info.bytes, l4 + hl, plen, c.wr);
        seg.fresh = c.wr.fresh;
        seg.overlap = c.wr.overlap;
        seg.conflict = c.wr.conflict;
        seg.unchecked = c.wr.unchecked;
        seg.refused = c.wr.refused;
        if (buf.next > before) this.raise(c, Events.NEW_DATA, rs, 1 << rs);
        if (buf.lost > lostBefore) {
          this.counters.overrunBytes += buf.lost - lostBefore;
          this.error(c, rs, 'overrun', buf.lost - lostBefore);
        }
        if (c.wr.refused > 0) {
          this.counters.refusedBytes += c.wr.refused;
          this.error(c, rs, 'refused', c.wr.refused);
        }
        if (buf.starved && !buf.starvedReported) {
          // The global budget refused this side a ring: reported once per side.
          buf.starvedReported = true;
          this.counters.noBuffer++;
          this.error(c, rs, 'noBuffer', plen);
        }
      }
      if (fin) {
        if (!S.finSent) {
          S.finSent = true;
          S.finOff = end;
          if (S.state === TcpState.Established || S.state === TcpState.SynRcvd) this.setState(c, dir, S, TcpState.FinWait1);
          else if (S.state === TcpState.CloseWait) this.setState(c, dir, S, TcpState.LastAck);
        } else if (plen === 0 && o <= S.finOff) seg.rexmit = true;
      }
      if (seg.rexmit) {
        S.rexmits++;
        S.rexmitBytes += plen;
        this.counters.rexmits++;
        this.raise(c, Events.REXMIT, rs, 1 << rs);
      }
    }
    // ---- the receiver takes the FIN once every byte before it arrived ----
    if (S.finSent && !R.finRcvd && buf.next >= S.finOff) {
      R.finRcvd = true;
      if (R.state === TcpState.Established || R.state === TcpState.SynRcvd) this.setState(c, rs, R, TcpState.CloseWait);
      else if (R.state === TcpState.FinWait1) this.setState(c, rs, R, TcpState.Closing);
      else if (R.state === TcpState.FinWait2) this.setState(c, rs, R, TcpState.TimeWait);
    }
    if (fin && plen === 0 && (fl & ACK) !== 0 && R.state === TcpState.Closing && R.una >= R.finOff + 1) this.setState(c, rs, R, TcpState.TimeWait);
    if (c.rcv[rs].next > 0 || (fl & ACK) !== 0) this.wakeReaders(c, rs);
    this.checkEnd(c);
  }

  private onRst(c: Conn<C>, dir: 0 | 1, S: Endpoint, R: Endpoint, fl: number, seq: number, ack: number): void {
    const rs = (dir ^ 1) as Side;
    let ok: boolean;
    if (R.state === TcpState.SynSent) ok = (fl & ACK) !== 0 && R.baseKnown && ack === R.base;
    else if (!S.baseKnown) ok = true;
    else {
      // RFC 793: in the receive window. The receiver's next expected byte is where its stream is contiguous.
      const o = S.offsetOf(seq);
      const next = c.rcv[rs].next;
      const win = R.win > 0 ? R.win : 65535;
      ok = o >= next && o <= Math.max(next, S.sent) + win;
    }
    if (!ok) {
      this.counters.rstOutOfWindow++;
      c.seg.outOfWindow = true;
      return;
    }
    this.counters.rstAccepted++;
    this.setState(c, dir, S, TcpState.Closed);
    this.setState(c, rs, R, TcpState.Closed);
    this.checkEnd(c);
  }

  private error(c: Conn<C>, side: Side, kind: 'overrun' | 'refused' | 'noBuffer', bytes: number): void {
    c.lastError = { side, kind, bytes };
    this.raise(c, Events.ERROR, side, 1 << side);
  }

  private wakeReaders(c: Conn<C>, side: Side): void {
    c.wake(side);
  }

  private checkEnd(c: Conn<C>): void {
    if (c.ended) return;
    const a = c.ep[0].state, b = c.ep[1].state;
    const done = (s: TcpState): boolean => s === TcpState.Closed || s === TcpState.TimeWait;
    if (done(a) && done(b)) {
      c.ended = true;
      this.counters.connEnds++;
      this.raise(c, Events.CONN_END, 0, 3);
      c.wake(0);
      c.wake(1);
    }
  }

  /**
   * Injects a TCP segment as if `from` sent it: its next sequence number, acknowledging what it received in
   * order, with `flags` (e.g. RST|ACK to cut a connection) and an optional payload; addressed with the
   * Ethernet addresses of that side's last frame, sent out the way its packets go. The emulation does not
   * count it. Inline mode with `alloc` only; false when it cannot (no packet from that side yet, no buffer).
   */
  inject(c: Conn<C>, from: Side, flags: number, payload: Uint8Array = new Uint8Array(0)): boolean {
    if (this.mode !== 'inline' || this.alloc === null) return false;
    const to = (from ^ 1) as Side;
    const S = c.ep[from], R = c.ep[to];
    const inP = c.inPort[from] >= 0 ? c.inPort[from] : -1;
    const out = inP >= 0 ? this.defaultOut[inP] : c.inPort[to];
    if (out === undefined || out < 0 || !S.baseKnown) return false;
    const len = 54 + payload.length;
    const p = this.alloc(len);
    if (p === null) return false;
    const b = p.bytes, v = p.view, o = p.offset;
    if (c.inPort[from] >= 0) b.set(c.macs.subarray(from * 12, from * 12 + 12), o);
    else {
      // no frame from that side yet: the other side's addresses swapped
      b.set(c.macs.subarray(to * 12 + 6, to * 12 + 12), o);
      b.set(c.macs.subarray(to * 12, to * 12 + 6), o + 6);
    }
    v.setUint16(o + 12, 0x0800);
    const ip = o + 14;
    v.setUint8(ip, 0x45);
    v.setUint8(ip + 1, 0);
    v.setUint16(ip + 2, 40 + payload.length);
    v.setUint32(ip + 4, 0x4000);
    v.setUint8(ip + 8, 64);
    v.setUint8(ip + 9, 6);
    v.setUint16(ip + 10, 0);
    v.setUint32(ip + 12, from === 0 ? c.cAddr : c.sAddr);
    v.setUint32(ip + 16, from === 0 ? c.sAddr : c.cAddr);
    v.setUint16(ip + 10, internetChecksum(b, ip, 20));
    const t = ip + 20;
    v.setUint16(t, from === 0 ? c.cPort : c.sPort);
    v.setUint16(t + 2, from === 0 ? c.sPort : c.cPort);
    v.setUint32(t + 4, S.seqOf(S.sent));
    v.setUint32(t + 8, R.baseKnown ? R.seqOf(c.rcv[from].next) : 0);
    v.setUint8(t + 12, 5 << 4);
    v.setUint8(t + 13, flags | (R.baseKnown ? ACK : 0));
    v.setUint16(t + 14, 0);
    v.setUint32(t + 16, 0);
    b.set(payload, t + 20);
    fixTcpChecksum(p);
    this.counters.injected++;
    this.sink.send(p, out);
    return true;
  }

  /** Counters of the monitor and its flow table, for an app's counters(). */
  snapshot(prefix = 'mos.'): Record<string, number> {
    const r = this.dist.snapshot('flow.');
    for (const k of MONITOR_COUNTERS) r[prefix + k] = this.counters[k];
    r[prefix + 'bufferBytes'] = this.pool.used;
    r[prefix + 'bufferRefused'] = this.pool.refused;
    return r;
  }
}

