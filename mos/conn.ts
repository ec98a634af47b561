// A monitored TCP connection: both endpoints' emulated state (TCP state, sequence and window views), one
// receive stream per endpoint, the last segment's analysis, and the user's typed per-flow context.
import type { AsyncFlow, PacketInfo } from '../net/flow';
import type { Packet } from '../net/packet';
import { internetChecksum, ipv4PseudoHeaderSum } from '../net/wire/checksum';
import { TcpState, type Side, type MosEvent } from './events';
import { Overlap, StreamBuffer, type BufferPool, type WriteResult } from './stream';

/** One endpoint's view: what it sent (its outgoing stream) and what it advertised. */
export class Endpoint {
  state: TcpState = TcpState.Closed;
  /** its SYN was seen: `isn` is its initial sequence number */
  synSeen = false;
  isn = 0;
  /** the sequence number of stream offset 0 is known (from its SYN, or picked up mid-stream) */
  baseKnown = false;
  /** sequence number of stream offset 0 (isn + 1) */
  base = 0;
  /** highest stream offset sent so far (end of its data, FIN excluded) */
  sent = 0;
  /** highest offset of its stream acknowledged by the peer; -1 before its SYN is acknowledged */
  una = -1;
  finSent = false;
  /** stream offset of its FIN */
  finOff = 0;
  /** it processed the peer's FIN (the bytes before it arrived in order) */
  finRcvd = false;
  /** window it advertised, scaled (bytes); -1 unknown */
  win = -1;
  /** window scale shift from its SYN; -1 without the option */
  wscale = -1;
  sackPermitted = false;
  mss = -1;
  /** segments it sent carrying SACK blocks */
  sackSegments = 0;
  // ---- statistics ----
  packets = 0;
  /** payload bytes it sent, retransmissions included */
  payloadBytes = 0;
  /** segments it retransmitted and their payload bytes */
  rexmits = 0;
  rexmitBytes = 0;
  /** segments beyond the receiver's advertised window */
  outOfWindow = 0;

  reset(state: TcpState): void {
    this.state = state;
    this.synSeen = this.baseKnown = this.finSent = this.finRcvd = this.sackPermitted = false;
    this.isn = this.base = this.sent = this.finOff = 0;
    this.una = -1;
    this.win = this.wscale = this.mss = -1;
    this.sackSegments = this.packets = this.payloadBytes = this.rexmits = this.rexmitBytes = this.outOfWindow = 0;
  }

  /** The stream offset of sequence number `seq`, unwrapped near the highest offset sent (wraparound safe). */
  offsetOf(seq: number): number {
    const ref = this.sent;
    const refSeq = (this.base + ref) >>> 0;
    return ref + ((seq - refSeq) | 0);
  }

  /** The sequence number of stream offset `o`. */
  seqOf(o: number): number {
    return (this.base + o) >>> 0;
  }
}

/** What the monitor learnt from the last packet (valid across a handler's awaits; replaced by the next). */
export class Segment {
  /** the endpoint that sent it */
  side: Side = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  /** its first payload byte's stream offset, and the payload length */
  offset = 0;
  length = 0;
  /** absolute index of the payload in the packet's bytes */
  payloadAt = 0;
  /** it carries sequence space already sent (data, SYN or FIN): what raises REXMIT */
  rexmit = false;
  /** a keep-alive (one byte or none just below what was sent): not a retransmission */
  keepalive = false;
  /** payload bytes beyond anything sent before */
  beyond = 0;
  /** payload bytes the receiver had already acknowledged (retransmitted after the ACK) */
  acked = 0;
  /** the segment ends beyond the receiver's advertised window */
  outOfWindow = false;
  /** from the stream write: new bytes, bytes over stored ones, differing ones, incomparable, refused */
  fresh = 0;
  overlap = 0;
  conflict = 0;
  unchecked = 0;
  refused = 0;
  /** SACK blocks it carried */
  sackBlocks = 0;
}

/** Why ERROR was raised. */
export interface MosError {
  side: Side;
  kind: 'overrun' | 'refused' | 'noBuffer';
  bytes: number;
}

export type ConnVerdict = 0 | 1;
export const ConnVerdict = { Forward: 0 as ConnVerdict, Drop: 1 as ConnVerdict };

/** The per-flow object handlers receive. `C` is the user's context type. */
export class Conn<C = unknown> {
  readonly ep: [Endpoint, Endpoint] = [new Endpoint(), new Endpoint()];
  /** rcv[s]: the bytes endpoint s receives (what its peer sent) */
  readonly rcv: [StreamBuffer, StreamBuffer];
  readonly seg = new Segment();
  readonly prevState: [TcpState, TcpState] = [TcpState.Closed, TcpState.Closed];
  /** the flow (for packet access); null while the slot is free */
  flow: AsyncFlow<Conn<C>> | null = null;
  /** bumped per flow using this slot: compare to detect a stale reference after an await */
  gen = 0;
  /** bit s: side s is monitored (events and stream) */
  monitored = 3;
  /** CONN_END was raised */
  ended = false;
  /** the flow left the table and its buffers went back to the pool */
  finished = false;
  midstream = false;
  startedAt = 0;
  lastAt = 0;
  /** client address and port, server address and port (numbers, host order) */
  cAddr = 0;
  cPort = 0;
  sAddr = 0;
  sPort = 0;
  lastError: MosError = { side: 0, kind: 'overrun', bytes: 0 };
  /** the verdict for the current packet (inline mode) */
  verdict: ConnVerdict = ConnVerdict.Forward;
  /** what later packets get once neither side is monitored */
  flowVerdict: ConnVerdict = ConnVerdict.Forward;
  /** events raised by the current packet and their sides (worked through in order, across awaits) */
  readonly evQ: MosEvent[] = [];
  readonly sideQ: number[] = [];
  /** hook for the monitor's use: stream scratch, waiters */
  readonly wr: WriteResult = { fresh: 0, overlap: 0, conflict: 0, unchecked: 0, refused: 0 };
  private readonly waiters: [(() => void) | null, (() => void) | null] = [null, null];
  /** the Ethernet addresses (dst, src) of the last frame each side sent, and the port it came in on */
  readonly macs = new Uint8Array(24);
  readonly inPort: [number, number] = [-1, -1];
  /** the monitor is passive: nothing is ever forwarded */
  passive = false;
  /** bit s: a stream(s) reader is attached (the monitor holds the flow until it took new bytes) */
  readers = 0;
  private drainWaiter: (() => void) | null = null;

  constructor(public ctx: C, maxFrags: number) {
    this.rcv = [new StreamBuffer(maxFrags), new StreamBuffer(maxFrags)];
  }

  /** @internal */
  reset(flow: AsyncFlow<Conn<C>>, now: number, size: number, policy: Overlap, pool: BufferPool): void {
    this.gen++;
    this.flow = flow;
    this.ep[0].reset(TcpState.Closed);
    this.ep[1].reset(TcpState.Listen);
    this.prevState[0] = TcpState.Closed;
    this.prevState[1] = TcpState.Listen;
    this.rcv[0].reset(0, size, policy, pool);
    this.rcv[1].reset(0, size, policy, pool);
    this.monitored = 3;
    this.ended = false;
    this.finished = false;
    this.midstream = false;
    this.startedAt = this.lastAt = now;
    this.verdict = this.flowVerdict = ConnVerdict.Forward;
    this.evQ.length = 0;
    this.sideQ.length = 0;
    this.waiters[0] = this.waiters[1] = null;
    this.readers = 0;
    this.drainWaiter = null;
    this.macs.fill(0);
    this.inPort[0] = this.inPort[1] = -1;
  }

  /** @internal a stream reader has bytes it has not taken yet (the packet waits for it) */
  readerBehind(): boolean {
    return ((this.readers & 1) !== 0 && this.rcv[0].readable > 0) || ((this.readers & 2) !== 0 && this.rcv[1].readable > 0);
  }

  /** @internal resolves when readers took their bytes (or left) */
  waitReaders(): Promise<void> {
    return new Promise<void>((res) => {
      this.drainWaiter = res;
    });
  }

  private drained(): void {
    const w = this.drainWaiter;
    if (w !== null) {
      this.drainWaiter = null;
      w();
    }
  }

  /** @internal the flow is over: buffers back to the pool, stream readers woken. */
  finish(): void {
    this.finished = true;
    this.rcv[0].release();
    this.rcv[1].release();
    this.wake(0);
    this.wake(1);
    this.drained();
  }

  /** @internal */
  wake(side: Side): void {
    const w = this.waiters[side];
    if (w !== null) {
      this.waiters[side] = null;
      w();
    }
  }

  state(side: Side): TcpState {
    return this.ep[side].state;
  }

  /**
   * Reads and consumes the in-order bytes of `side`'s receive stream (up to `max`). A view of the ring when
   * contiguous (valid until the next packet of this flow), else a copy. Bytes lost to an overrun since the
   * last call are reported by `takeLost(side)` (mOS's negative peek).
   */
  peek(side: Side, max = Infinity): Uint8Array {
    return this.rcv[side].consume(max);
  }

  /**
   * Reads `length` bytes at absolute stream offset `offset` of `side`'s receive stream without consuming
   * them; in-order or inside one out-of-order fragment. Null when any of them is missing (never seen,
   * consumed, or lost).
   */
  ppeek(side: Side, offset: number, length: number): Uint8Array | null {
    return this.rcv[side].read(offset, length);
  }

  /** Bytes of `side`'s stream lost to overruns since the last call (and clears the count). */
  takeLost(side: Side): number {
    return this.rcv[side].takeLost();
  }

  /** The out-of-order fragments waiting in `side`'s stream (offsets). */
  fragments(side: Side): { start: number; end: number }[] {
    return this.rcv[side].fragments();
  }

  /** Where `side`'s in-order stream ends (offset of the next byte expected). */
  streamEnd(side: Side): number {
    return this.rcv[side].next;
  }

  /** Stops monitoring `side`: its stream is freed and its events stop; both sides off = the flow is passed through. */
  stopMonitoring(side: Side): void {
    this.monitored &= ~(1 << side);
    this.rcv[side].stop();
    this.wake(side);
    if (this.monitored === 0 && this.flow !== null) {
      // No handler calls any more for this flow: its packets get flowVerdict directly.
      this.flow.defaultAction = this.flowVerdict === ConnVerdict.Drop || this.passive ? 1 : 0;
      this.flow.watchEvents(0);
    }
  }

  /** Drops the current packet (inline mode). */
  drop(): void {
    this.verdict = ConnVerdict.Drop;
  }

  /** Drops this packet and every later one of the flow, and stops monitoring it (a firewall's deny). */
  dropFlow(): void {
    this.verdict = ConnVerdict.Drop;
    this.flowVerdict = ConnVerdict.Drop;
    this.stopMonitoring(0);
    this.stopMonitoring(1);
  }

  /**
   * The parsed headers of the current packet: valid only in the synchronous part of a handler (the parser
   * moves on at the first await). Null at TIMEOUT.
   */
  get info(): PacketInfo | null {
    return this.flow !== null ? this.flow.info : null;
  }

  /** The packet of the current event (null at TIMEOUT). Valid across the handler's awaits until it returns. */
  get packet(): Packet | null {
    return this.flow !== null ? this.flow.packet : null;
  }

  /** The current packet's TCP payload (a view of the packet). */
  payload(): Uint8Array {
    const p = this.packet;
    if (p === null) return new Uint8Array(0);
    return p.bytes.subarray(this.seg.payloadAt, this.seg.payloadAt + this.seg.length);
  }

  /**
   * Overwrites payload bytes of the current packet at `at` (within the payload) and fixes the TCP checksum.
   * The stream buffer keeps the bytes as they arrived. False when it does not fit.
   */
  rewritePayload(at: number, bytes: Uint8Array): boolean {
    const p = this.packet;
    if (p === null || at < 0 || at + bytes.length > this.seg.length) return false;
    p.bytes.set(bytes, this.seg.payloadAt + at);
    fixTcpChecksum(p);
    return true;
  }

  /**
   * Chunks of `side`'s receive stream as they arrive in order (copies), until the connection ends or the side
   * stops being monitored. While a reader is attached, a packet bringing new bytes waits (held, inline) until
   * the reader took them: the whole ordered payload reaches it, bounded by the flow's held-packet limit. Use
   * this or peek for a side, not both (both consume).
   */
  async *stream(side: Side): AsyncGenerator<Uint8Array> {
    const gen = this.gen, bit = 1 << side;
    this.readers |= bit;
    try {
      for (;;) {
        if (this.gen !== gen) return;
        const b = this.rcv[side];
        if (b.readable > 0) {
          const chunk = b.consume(Infinity).slice();
          if (!this.readerBehind()) this.drained();
          yield chunk;
          continue;
        }
        if (this.ended || this.finished || (this.monitored & bit) === 0) return;
        await new Promise<void>((res) => {
          this.waiters[side] = res;
        });
      }
    } finally {
      if (this.gen === gen) {
        this.readers &= ~bit;
        this.drained();
      }
    }
  }

  /** Duration so far (ms). */
  get duration(): number {
    return this.lastAt - this.startedAt;
  }
}

/** Recomputes the TCP checksum of an IPv4/TCP packet in place (after a payload or header change). */
export function fixTcpChecksum(p: Packet): void {
  const v = p.view, b = p.bytes;
  let l3 = p.offset + 14;
  let et = v.getUint16(p.offset + 12);
  while (et === 0x8100 || et === 0x88a8) {
    et = v.getUint16(l3 + 2);
    l3 += 4;
  }
  const ihl = (v.getUint8(l3) & 15) << 2, tot = v.getUint16(l3 + 2);
  const l4 = l3 + ihl, len = tot - ihl;
  v.setUint16(l4 + 16, 0);
  const ph = ipv4PseudoHeaderSum(v.getUint32(l3 + 12), v.getUint32(l3 + 16), 6, len);
  v.setUint16(l4 + 16, internetChecksum(b, l4, len, ph));
}
