// The TCP connection state machine (RFC 9293) with the extensions a modern peer expects: MSS, window
// scaling and timestamps (RFC 7323), SACK (RFC 2018, recovery after RFC 6675), RTO (RFC 6298), fast
// retransmit and NewReno (RFC 5681, RFC 6582), CUBIC (RFC 9438), RFC 5961 RST/SYN/ACK checks.
// It is driven by the TCP layer: input() per segment, dispatch() when dirty, onTimer() when due.

import { IpProtocol, TcpFlags, TcpOptions, TcpRepr, TcpTimestamps, TcpView, WireError } from '../../wire';
import { ResolvedTcpConfig } from '../config';
import { StackCounters } from '../counters';
import { Interface, L4_OFFSET } from '../iface/interface';
import { Assembler } from '../storage/assembler';
import { RingBuffer } from '../storage/ring-buffer';
import { SocketError } from './errors';
import { CongestionControl, Cubic, NewReno } from './tcp-congestion';
import type { SenderView, TcpSender } from './tcp-sender';

export enum TcpState {
  Closed = 'CLOSED',
  Listen = 'LISTEN',
  SynSent = 'SYN-SENT',
  SynReceived = 'SYN-RECEIVED',
  Established = 'ESTABLISHED',
  FinWait1 = 'FIN-WAIT-1',
  FinWait2 = 'FIN-WAIT-2',
  CloseWait = 'CLOSE-WAIT',
  Closing = 'CLOSING',
  LastAck = 'LAST-ACK',
  TimeWait = 'TIME-WAIT',
}

/** Largest chunk one read() returns. */
const MAX_READ = 65536;
/** RFC 9293 3.7.1: the MSS assumed when the peer sends none. */
const DEFAULT_MSS = 536;
const TCP_HEADER = 20;
const TS_OPTION_LEN = 12;
const DUP_THRESH = 3;

// Sequence arithmetic modulo 2^32. Local copies of the wire helpers: called many times per segment,
// and CommonJS re-exports put a getter in front of every imported call.
/** a - b for sequence numbers, as a signed 32-bit distance. */
function seqSub(a: number, b: number): number {
  return (a - b) | 0;
}
function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
function seqAddN(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** One incoming segment, parsed once by the layer; the object is reused for every segment. */
export class Segment {
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  bytes: Uint8Array = new Uint8Array(0);
  dataOffset = 0;
  dataLength = 0;
  readonly options = new TcpOptions();

  /** Sequence space used: data, plus one each for SYN and FIN. */
  get length(): number {
    return this.dataLength + (this.flags & TcpFlags.SYN ? 1 : 0) + (this.flags & TcpFlags.FIN ? 1 : 0);
  }

  /** Fill from a checked view; `bytes` must be the Uint8Array the view was wrapped over. */
  load(view: TcpView, bytes: Uint8Array): boolean {
    if (view.parseOptions(this.options) !== WireError.Ok) return false;
    this.seq = view.seqNumber;
    this.ack = view.ackNumber;
    this.flags = view.flags;
    this.window = view.window;
    this.bytes = bytes;
    this.dataOffset = view.payloadOffset;
    this.dataLength = view.payloadLength;
    return true;
  }
}

/** What a connection needs from the layer that owns it. */
export interface TcpHost {
  readonly counters: StackCounters;
  readonly iface: Interface;
  /** Something to send: run dispatch() at the next poll. */
  markDirty(c: TcpConnection): void;
  /** A timer moved: make sure onTimer() runs by c.nextTimer(). */
  schedule(c: TcpConnection): void;
  /** SYN-RECEIVED or SYN-SENT became ESTABLISHED. False refuses it (full accept queue): stay put. */
  onEstablished(c: TcpConnection): boolean;
  /** The connection reached CLOSED: forget it. */
  onClosed(c: TcpConnection, previous: TcpState): void;
}

interface ReadWaiter {
  resolve: (data: Uint8Array | null) => void;
  reject: (err: Error) => void;
}
interface WriteWaiter {
  data: Uint8Array;
  offset: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Snapshot of a connection's internals, for tests and metrics. */
export interface TcpConnectionInfo {
  state: TcpState;
  srtt: number;
  rttvar: number;
  rto: number;
  cwnd: number;
  ssthresh: number;
  sendWindow: number;
  recvWindow: number;
  mss: number;
  windowScale: boolean;
  sack: boolean;
  timestamps: boolean;
  inRecovery: boolean;
  retransmits: number;
  rtoExpirations: number;
  fastRetransmits: number;
  bytesSent: number;
  bytesReceived: number;
}

// Segments are emitted through one repr; nothing reads it after emit() returns.
const txRepr: TcpRepr = {
  srcPort: 0,
  dstPort: 0,
  seq: 0,
  ack: 0,
  flags: 0,
  window: 0,
  mss: null,
  windowScale: null,
  sackPermitted: false,
  sackBlocks: [],
  timestamps: null,
  payloadLength: 0,
};
const txTimestamps: TcpTimestamps = { tsVal: 0, tsEcr: 0 };
const txSackBlocks: Array<[number, number]> = [
  [0, 0],
  [0, 0],
  [0, 0],
  [0, 0],
];
const txView = new TcpView();

export class TcpConnection {
  state = TcpState.Closed;
  /** Demux chain (the layer's hash buckets). */
  nextInBucket: TcpConnection | null = null;
  /**
   * The listener that created it (passive open), until accepted; null for active opens. Typed
   * loosely so this module does not import the API module (the layer checks with instanceof).
   */
  listener: unknown = null;
  /** Earliest deadline queued in the layer's timer heap for this connection. */
  heapAt = Infinity;

  // --- send sequence space (RFC 9293 3.3.1); sndMax is the highest sequence ever sent
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  sndMax = 0;
  sndWnd = 0;
  private sndWl1 = 0;
  private sndWl2 = 0;
  private maxSndWnd = 0;
  private sndShift = 0;
  /** Bytes from the first unacknowledged data byte on. */
  readonly sendBuf: RingBuffer;
  /** end() was called and every pending write is in sendBuf: a FIN follows the data. */
  private finQueued = false;
  /** Sequence number of our FIN once queued (fixed: nothing is written after it). */
  private finSeq = 0;
  /** The peer acknowledged our SYN: sendBuf starts at sndUna instead of iss + 1. */
  private synAcked = false;
  private synToSend = false;

  // --- receive sequence space
  irs = 0;
  rcvNxt = 0;
  private rcvShift = 0;
  readonly recvBuf: RingBuffer;
  /** Out-of-order data present past rcvNxt, as offsets from rcvNxt. */
  private readonly ooo: Assembler;
  /** Absolute sequence numbers of recently received out-of-order segments, newest first (SACK order). */
  private readonly sackRecent: number[] = [];
  private finReceived = false;
  /** Sequence number of a FIN that arrived ahead of a hole, -1 if none. */
  private oooFin = -1;
  /** Right edge of the window in the last segment we sent (RCV.NXT + window then). */
  private rcvAdvRight = 0;
  /** Largest payload received, our estimate of the peer's MSS (for ack-every-2nd-segment). */
  private rcvMss = DEFAULT_MSS;

  // --- negotiated options
  private peerMss = DEFAULT_MSS;
  private wsOk = false;
  private sackOk = false;
  private tsOk = false;
  /** Peer offered these in its SYN (passive side decides its SYN-ACK options from them). */
  private peerWs = false;
  private peerSack = false;
  private peerTs = false;
  private tsRecent = 0;
  private tsOffset = 0;
  private lastAckSent = 0;

  // --- acknowledgement
  private ackNow = false;
  private bytesSinceAck = 0;

  // --- timers (absolute ms, Infinity when off)
  private rtoAt = Infinity;
  private delackAt = Infinity;
  private persistAt = Infinity;
  private keepAt = Infinity;
  /** TIME-WAIT end, or the orphan FIN-WAIT-2 limit. */
  private closeAt = Infinity;

  // --- RTT (RFC 6298)
  private srtt = -1;
  private rttvar = 0;
  private rtoBase: number;
  private backoff = 0;
  private synRetries = 0;
  private synSentAt = 0;
  /** Without timestamps one segment at a time is timed (Karn): its end and send time. */
  private timing = false;
  private timingSeq = 0;
  private timingAt = 0;

  // --- congestion control and loss recovery
  private readonly cc: CongestionControl;
  private dupAcks = 0;
  private recovery = false;
  /** RFC 6582 "recover": sndMax when recovery started; a cumulative ACK reaching it ends recovery. */
  private recover = 0;
  /** SACK recovery: offset from sndUna below which holes have been retransmitted (RFC 6675 HighRxt). */
  private highRxt = 0;
  private forceRexmit = false;
  /** SACK scoreboard: what the peer holds above sndUna, as offsets from sndUna. */
  private readonly scoreboard = new Assembler(64);

  // --- pluggable sender module (tcp-sender.ts): pacing, proactive retransmissions; null = plain TCP
  private readonly sender: TcpSender | null;
  private readonly senderView: SenderView | null;
  /** proactive retransmissions asked for: [offset, length] pairs, sent at the next dispatch */
  private readonly proactiveQ: number[] = [];
  private readonly proactiveCb: (((ok: boolean) => void) | undefined)[] = [];

  // --- probes
  private persistBackoff = 0;
  private keepProbes = 0;

  // --- user side
  private endRequested = false;
  private userClosed = false;
  error: SocketError | null = null;
  private readonly readWaiters: ReadWaiter[] = [];
  private readonly writeWaiters: WriteWaiter[] = [];
  private closedResolve: ((err: SocketError | null) => void) | null = null;
  /** Resolves once the connection is over for the user (TIME-WAIT or CLOSED), with the error if any. */
  readonly closed: Promise<SocketError | null>;
  /** Settled by the layer for active opens. */
  connectResolve: (() => void) | null = null;
  connectReject: ((err: SocketError) => void) | null = null;

  // --- per-connection counters
  private retransmits = 0;
  private rtoExpirations = 0;
  private fastRetransmits = 0;
  private bytesSent = 0;
  private bytesReceived = 0;

  constructor(
    private readonly host: TcpHost,
    readonly cfg: ResolvedTcpConfig,
    readonly localIp: number,
    readonly localPort: number,
    readonly remoteIp: number,
    readonly remotePort: number,
    random: () => number,
  ) {
    this.sendBuf = new RingBuffer(cfg.sendBuffer);
    this.recvBuf = new RingBuffer(cfg.recvBuffer);
    this.ooo = new Assembler(cfg.maxOooRanges);
    this.rtoBase = cfg.rtoInitial;
    this.iss = cfg.initialSequence
      ? cfg.initialSequence(localIp, localPort, remoteIp, remotePort) >>> 0
      : Math.floor(random() * 0x100000000) >>> 0;
    // RFC 7323 5.4: a random offset per connection keeps timestamps from leaking the clock.
    this.tsOffset = cfg.initialSequence ? 0 : Math.floor(random() * 0x100000000) >>> 0;
    const iw = cfg.initialWindow * this.smss();
    this.cc = cfg.congestion === 'cubic' ? new Cubic(iw) : new NewReno(iw);
    this.sender = cfg.sender !== null ? cfg.sender() : null;
    this.senderView = this.sender !== null ? this.makeSenderView() : null;
    this.closed = new Promise((resolve) => {
      this.closedResolve = resolve;
    });
    // Window scale: the smallest shift that lets the whole receive buffer be offered.
    if (cfg.windowScale) {
      while (this.rcvShift < 14 && cfg.recvBuffer >>> this.rcvShift > 0xffff) this.rcvShift++;
    }
  }

  private get now(): number {
    return this.host.iface.now;
  }

  /** The sender module's view: data offsets count from the first byte after the SYN. */
  private makeSenderView(): SenderView {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const c = this;
    const first = (): number => seqAddN(c.iss, 1);
    return {
      get now() { return c.now; },
      get srtt() { return c.srtt; },
      get smss() { return c.smss(); },
      get acked() { return Math.max(0, seqSub(c.sndUna, first())); },
      get sent() { return Math.max(0, Math.min(seqSub(c.sndMax, first()), seqSub(c.dataEnd(), first()))); },
      get written() { return Math.max(0, seqSub(c.dataEnd(), first())); },
      get ended() { return c.finQueued; },
      get window() { return c.sndWnd; },
      sacked(o: number): boolean {
        const rel = o - Math.max(0, seqSub(c.sndUna, first()));
        const sb = c.scoreboard;
        for (let i = 0; i < sb.count; i++) if (rel >= sb.start(i) && rel < sb.end(i)) return true;
        return false;
      },
      retransmit(offset: number, length: number, sent?: (ok: boolean) => void): void {
        if (c.proactiveQ.length >= 64) {
          if (sent) sent(false);
          return;
        }
        c.proactiveQ.push(offset, length);
        c.proactiveCb.push(sent);
        c.host.markDirty(c);
      },
    };
  }

  /** The sender module's counters, or null without one. */
  senderStats(): Record<string, number> | null {
    return this.sender !== null ? this.sender.stats() : null;
  }
  private get counters(): StackCounters {
    return this.host.counters;
  }

  // =============================================================================================
  // Opening

  /** Active open: send a SYN. */
  openActive(): void {
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.recover = this.iss;
    this.setState(TcpState.SynSent);
    this.synToSend = true;
    this.host.markDirty(this);
  }

  /** Passive open from a SYN to a listener (RFC 9293 3.10.7.2): answer with SYN-ACK. */
  openPassive(seg: Segment): void {
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.recover = this.iss;
    this.irs = seg.seq;
    this.rcvNxt = seqAddN(seg.seq, 1);
    this.takeSynOptions(seg.options);
    // RFC 7323 2.2: the window of a SYN is never scaled.
    this.sndWnd = seg.window;
    this.maxSndWnd = seg.window;
    this.sndWl1 = seg.seq;
    this.sndWl2 = this.iss;
    this.setState(TcpState.SynReceived);
    this.synToSend = true;
    this.host.markDirty(this);
  }

  /**
   * Open from a SYN cookie (RFC 4987 3.6): the handshake's ACK arrived for a SYN answered without state.
   * Recreates SYN-RECEIVED as if our SYN-ACK (sequence `iss`, no window scale, SACK or timestamps offered)
   * had been sent, with the peer MSS the cookie kept; the caller then feeds the ACK in.
   */
  openFromCookie(ack: Segment, iss: number, peerMss: number): void {
    this.iss = iss >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = seqAddN(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.recover = this.iss;
    this.irs = (ack.seq - 1) >>> 0;
    this.rcvNxt = ack.seq;
    this.peerMss = peerMss;
    this.peerWs = this.peerSack = this.peerTs = false;
    this.wsOk = this.sackOk = this.tsOk = false;
    this.sndShift = 0;
    this.rcvShift = 0;
    this.sndWnd = ack.window;
    this.maxSndWnd = ack.window;
    this.sndWl1 = this.irs;
    this.sndWl2 = this.iss;
    this.cc.cwnd = this.cfg.initialWindow * this.smss();
    this.setState(TcpState.SynReceived);
    this.synToSend = false;
  }

  private takeSynOptions(o: TcpOptions): void {
    if (o.mss > 0) this.peerMss = o.mss;
    this.peerWs = o.windowScale >= 0;
    this.peerSack = o.sackPermitted;
    this.peerTs = o.hasTimestamps;
    this.wsOk = this.cfg.windowScale && this.peerWs;
    this.sackOk = this.cfg.sack && this.peerSack;
    this.tsOk = this.cfg.timestamps && this.peerTs;
    // RFC 7323 2.3: shifts above 14 are treated as 14.
    this.sndShift = this.wsOk ? Math.min(o.windowScale, 14) : 0;
    if (!this.wsOk) this.rcvShift = 0;
    if (this.tsOk) this.tsRecent = o.tsVal;
    // The initial window counted the default MSS; recount it with the real one.
    if (this.cc.cwnd < this.cfg.initialWindow * this.smss()) this.cc.cwnd = this.cfg.initialWindow * this.smss();
  }

  // =============================================================================================
  // Input (RFC 9293 3.10.7)

  input(seg: Segment): void {
    if (this.cfg.keepAlive !== null && this.state !== TcpState.SynSent) {
      this.keepProbes = 0;
      this.keepAt = this.now + this.cfg.keepAlive.idle;
    }
    if (this.state === TcpState.SynSent) this.inputSynSent(seg);
    else if (this.state !== TcpState.Closed && this.state !== TcpState.Listen) this.inputSynchronized(seg);
    this.wakeReaders();
    this.wakeWriters();
    this.host.schedule(this);
  }

  private inputSynSent(seg: Segment): void {
    const f = seg.flags;
    if (f & TcpFlags.ACK) {
      // Not for our SYN: answer with a reset (unless it is one).
      if (seqLe(seg.ack, this.iss) || seqLt(this.sndMax, seg.ack)) {
        if (!(f & TcpFlags.RST)) this.sendReset(seg.ack, 0, false);
        return;
      }
    }
    if (f & TcpFlags.RST) {
      if (f & TcpFlags.ACK) {
        this.counters.tcpRstRx++;
        this.toClosed(new SocketError('ECONNREFUSED', 'connection refused'));
      }
      return;
    }
    if (!(f & TcpFlags.SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAddN(seg.seq, 1);
    this.takeSynOptions(seg.options);
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    if (f & TcpFlags.ACK) {
      this.sndWnd = seg.window;
      this.maxSndWnd = seg.window;
      this.sndUna = seg.ack;
      this.synAcked = true;
      if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
      this.rttFromSyn(seg);
      this.rtoAt = Infinity;
      this.backoff = 0;
      this.ackNow = true;
      this.setState(TcpState.Established);
      this.host.onEstablished(this);
      // Data riding on a SYN-ACK is rare; it is dropped here and the peer sends it again.
    } else {
      // Simultaneous open (RFC 9293 figure 7): resend our SYN as a SYN-ACK.
      this.sndWnd = seg.window;
      this.maxSndWnd = seg.window;
      this.setState(TcpState.SynReceived);
      this.synToSend = true;
    }
    this.host.markDirty(this);
  }

  private rttFromSyn(seg: Segment): void {
    if (this.tsOk && seg.options.hasTimestamps && seg.options.tsEcr !== 0) {
      this.rttSample(seqSub(this.tsNow(), seg.options.tsEcr));
    } else if (this.synRetries === 0) {
      this.rttSample(this.now - this.synSentAt);
    }
  }

  private inputSynchronized(seg: Segment): void {
    const f = seg.flags;
    const o = seg.options;
    // PAWS (RFC 7323 5.3): an old timestamp marks an old duplicate.
    if (this.tsOk && o.hasTimestamps && !(f & TcpFlags.RST) && seqLt(o.tsVal, this.tsRecent)) {
      this.counters.tcpPawsDrop++;
      this.needAck();
      return;
    }
    if (this.state === TcpState.SynReceived && (f & TcpFlags.SYN) && !(f & TcpFlags.RST) && seg.seq === this.irs) {
      if (!(f & TcpFlags.ACK)) {
        // Our SYN-ACK was lost and the peer sent its SYN again: answer it again.
        this.synToSend = true;
        this.host.markDirty(this);
        return;
      }
      if (seqLt(this.sndUna, seg.ack) && seqLe(seg.ack, this.sndMax)) {
        // Simultaneous open: the peer's SYN-ACK acknowledges our SYN (its sequence number is
        // behind RCV.NXT, so the general check below would drop it).
        if (!this.host.onEstablished(this)) return;
        this.setState(TcpState.Established);
        this.sndUna = seg.ack;
        this.synAcked = true;
        this.sndWnd = seg.window;
        this.maxSndWnd = Math.max(this.maxSndWnd, seg.window);
        this.sndWl1 = seg.seq;
        this.sndWl2 = seg.ack;
        this.rttFromSyn(seg);
        this.backoff = 0;
        this.rtoAt = Infinity;
        this.needAck();
        return;
      }
    }
    if (!this.acceptable(seg)) {
      this.counters.tcpNotAcceptable++;
      if (this.state === TcpState.TimeWait && (f & TcpFlags.FIN)) this.closeAt = this.now + 2 * this.cfg.msl;
      if (!(f & TcpFlags.RST)) this.needAck();
      return;
    }
    // RST (RFC 5961 3.2): exactly at RCV.NXT resets; elsewhere in the window asks for proof.
    if (f & TcpFlags.RST) {
      if (seg.seq === this.rcvNxt) {
        this.counters.tcpRstRx++;
        if (this.state === TcpState.SynReceived && this.listener !== null) this.toClosed(null);
        else if (this.state === TcpState.SynReceived) this.toClosed(new SocketError('ECONNREFUSED', 'connection refused'));
        else if (this.state === TcpState.TimeWait || this.state === TcpState.LastAck || this.state === TcpState.Closing) {
          this.toClosed(null);
        } else {
          this.counters.tcpResets++;
          this.toClosed(new SocketError('ECONNRESET', 'connection reset by peer'));
        }
      } else {
        this.challengeAck();
      }
      return;
    }
    // A SYN in a synchronized state (RFC 5961 4.2): challenge ACK, never a reset.
    if (f & TcpFlags.SYN) {
      this.challengeAck();
      return;
    }
    if (!(f & TcpFlags.ACK)) return;
    if (this.state === TcpState.SynReceived) {
      if (!(seqLt(this.sndUna, seg.ack) && seqLe(seg.ack, this.sndMax))) {
        this.sendReset(seg.ack, 0, false);
        return;
      }
      // The accept queue may be full: then drop the ACK and stay (the peer retransmits), like Linux.
      if (!this.host.onEstablished(this)) return;
      this.setState(TcpState.Established);
      this.sndWnd = seg.window << this.sndShift;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
    }
    if (this.tsOk && o.hasTimestamps && seqLe(seg.seq, this.lastAckSent)) this.tsRecent = o.tsVal;
    if (!this.processAck(seg)) return;

    // Segment text (RFC 9293 3.10.7.4 seventh): only while the peer has not sent its FIN.
    let finInOrder = (f & TcpFlags.FIN) !== 0;
    if (seg.dataLength > 0) {
      if (this.state === TcpState.Established || this.state === TcpState.FinWait1 || this.state === TcpState.FinWait2) {
        finInOrder = this.processData(seg) && finInOrder;
        if ((this.state as TcpState) === TcpState.Closed) return;
      } else {
        finInOrder = false;
      }
    }
    if (f & TcpFlags.FIN) {
      const finSeq = seqAddN(seg.seq, seg.dataLength);
      if (finInOrder && finSeq === this.rcvNxt) this.acceptFin();
      else if (seqLt(this.rcvNxt, finSeq) && seqLt(finSeq, seqAddN(this.rcvNxt, this.recvBuf.window + 1))) {
        this.oooFin = finSeq;
        // With data, processData already sent the duplicate ACK for this segment.
        if (seg.dataLength === 0) this.needAck();
      }
    }
    this.host.markDirty(this);
  }

  /** RFC 9293 3.10.7.4 first check, with allowances for zero windows and bare FINs. */
  private acceptable(seg: Segment): boolean {
    const wnd = this.recvBuf.window;
    const seq = seg.seq;
    const len = seg.length;
    if (seq === this.rcvNxt) return true;
    if (wnd === 0) return false;
    if (this.inWindow(seq, wnd)) return true;
    return len > 0 && this.inWindow(seqAddN(seq, len - 1), wnd);
  }

  private inWindow(s: number, wnd: number): boolean {
    return seqLe(this.rcvNxt, s) && seqLt(s, seqAddN(this.rcvNxt, wnd));
  }

  /** ACK processing (RFC 9293 3.10.7.4 fifth). False when the segment is to be dropped. */
  private processAck(seg: Segment): boolean {
    const ack = seg.ack;
    if (seqLt(this.sndMax, ack)) {
      // Acknowledges what we never sent.
      this.needAck();
      return false;
    }
    // RFC 5961 5.2: too old to be from this connection's peer.
    if (seqLt(ack, seqAddN(this.sndUna, -Math.max(this.maxSndWnd, 1) >>> 0))) {
      this.challengeAck();
      return false;
    }
    const sackedBefore = this.scoreboard.covered;
    if (this.sackOk && seg.options.sackCount > 0) this.takeSackBlocks(seg.options);
    const newlySacked = this.scoreboard.covered > sackedBefore;
    const newWnd = this.state === TcpState.SynReceived ? seg.window : seg.window << this.sndShift;
    const windowChanged = newWnd !== this.sndWnd;
    if (seqLt(this.sndUna, ack)) {
      this.onNewAck(ack, seg);
      // SACK can show losses on an ACK that also moves SND.UNA (RFC 6675 IsLost(HighACK + 1)).
      if (!this.recovery && this.sackOk && this.lostBoundary() > 0 && seqLe(this.recover, this.sndUna)) {
        this.enterRecovery();
      }
    } else if (ack === this.sndUna && this.sndUna !== this.sndMax) {
      // RFC 5681's duplicate ACK: no data, no SYN/FIN, same window. With SACK, RFC 6675 counts
      // any ACK that SACKs new data, whatever it carries (data flowing both ways, window updates).
      const classic = seg.dataLength === 0 && !(seg.flags & (TcpFlags.SYN | TcpFlags.FIN)) && !windowChanged;
      if (classic || newlySacked) this.onDupAck();
    }
    // Window update (RFC 9293 SND.WL1/WL2 rule): only from a segment at least as new as the last.
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      const was = this.sndWnd;
      this.sndWnd = newWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (newWnd > this.maxSndWnd) this.maxSndWnd = newWnd;
      if (was === 0 && newWnd > 0) {
        this.persistAt = Infinity;
        this.persistBackoff = 0;
      }
    }
    // Our FIN is acknowledged when the ACK covers it.
    const finAcked = this.finQueued && seqLt(this.finSeq, this.sndUna);
    switch (this.state) {
      case TcpState.FinWait1:
        if (finAcked) {
          this.setState(TcpState.FinWait2);
          if (this.userClosed) this.closeAt = this.now + this.cfg.finWait2Timeout;
        }
        break;
      case TcpState.Closing:
        if (finAcked) this.enterTimeWait();
        break;
      case TcpState.LastAck:
        if (finAcked) {
          this.toClosed(null);
          return false;
        }
        break;
      default:
    }
    if (this.sender !== null) this.sender.onAck(this.senderView!);
    return true;
  }

  private onNewAck(ack: number, seg: Segment): void {
    const acked = seqSub(ack, this.sndUna);
    // Data bytes acknowledged: the SYN and the FIN take sequence space but no buffer.
    const base = this.dataBase();
    const dataAckedTo = seqLt(this.dataEnd(), ack) ? this.dataEnd() : ack;
    const dataAcked = Math.max(0, seqSub(dataAckedTo, base));
    if (dataAcked > 0) this.sendBuf.discard(dataAcked);
    const synJustAcked = !this.synAcked;
    this.sndUna = ack;
    this.synAcked = true;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    this.scoreboard.shift(acked);
    this.highRxt = Math.max(0, this.highRxt - acked);
    this.dupAcks = 0;
    this.keepProbes = 0;

    // RTT: from the echoed timestamp, else from the one timed segment (Karn: never a retransmitted one).
    const o = seg.options;
    if (this.tsOk && o.hasTimestamps && o.tsEcr !== 0) {
      this.rttSample(seqSub(this.tsNow(), o.tsEcr));
    } else if (synJustAcked) {
      if (this.synRetries === 0) this.rttSample(this.now - this.synSentAt);
    } else if (this.timing && seqLe(this.timingSeq, ack)) {
      this.timing = false;
      this.rttSample(this.now - this.timingAt);
    }
    this.backoff = 0;
    this.rtoAt = this.sndUna === this.sndMax ? Infinity : this.now + this.rto();

    const smss = this.smss();
    if (this.recovery) {
      if (seqLe(this.recover, ack)) {
        // Full ACK (RFC 6582 3.2 step 3): leave recovery with cwnd = min(ssthresh, FlightSize + SMSS).
        this.recovery = false;
        const flightNow = seqSub(this.sndMax, this.sndUna);
        this.cc.cwnd = Math.min(this.cc.ssthresh, Math.max(flightNow, smss) + smss);
      } else {
        // Partial ACK: the next hole is lost too.
        this.counters.tcpPartialAcks++;
        if (!this.sackOk) {
          this.forceRexmit = true;
          this.cc.cwnd = Math.max(smss, this.cc.cwnd - acked + (acked >= smss ? smss : 0));
        } else if (this.highRxt === 0) {
          this.forceRexmit = true;
        }
      }
    } else if (!synJustAcked) {
      this.cc.onAck(acked, smss, this.now, this.srtt < 0 ? this.rtoBase : this.srtt);
    }
  }

  private onDupAck(): void {
    this.counters.tcpDupAcksRx++;
    this.dupAcks++;
    const smss = this.smss();
    if (this.recovery) {
      // NewReno window inflation (RFC 6582 3.2 step 4); with SACK the pipe estimate covers it.
      if (!this.sackOk) this.cc.cwnd += smss;
      return;
    }
    const lost = this.sackOk && this.lostBoundary() > 0;
    if (this.dupAcks < DUP_THRESH && !lost) {
      // Limited transmit (RFC 3042): the first two duplicates may each clock out a new segment.
      this.host.markDirty(this);
      return;
    }
    // RFC 6582 3.2 step 2: no new recovery for duplicates of what an earlier recovery covered.
    if (seqLt(this.sndUna, this.recover)) return;
    this.enterRecovery();
  }

  /** Fast retransmit and the start of fast recovery (RFC 5681 3.2, RFC 6582, RFC 6675 5). */
  private enterRecovery(): void {
    const smss = this.smss();
    this.counters.tcpFastRetransmits++;
    this.fastRetransmits++;
    this.recovery = true;
    this.recover = this.sndMax;
    const flight = seqSub(this.sndMax, this.sndUna);
    this.cc.onCongestion(flight, smss, this.now);
    this.cc.cwnd = this.sackOk ? this.cc.ssthresh : this.cc.ssthresh + DUP_THRESH * smss;
    this.highRxt = 0;
    this.forceRexmit = true;
    this.timing = false;
    this.host.markDirty(this);
  }

  private takeSackBlocks(o: TcpOptions): void {
    const outstanding = seqSub(this.sndMax, this.sndUna);
    for (let i = 0; i < o.sackCount; i++) {
      const left = seqSub(o.sackBlocks[2 * i], this.sndUna);
      const right = seqSub(o.sackBlocks[2 * i + 1], this.sndUna);
      // Ignore blocks outside what is outstanding (and D-SACKs below SND.UNA).
      if (right <= 0 || right > outstanding || left >= right) continue;
      this.scoreboard.add(Math.max(0, left), right - Math.max(0, left));
    }
  }

  /** In-order and out-of-order data. Returns false when the segment's tail (and FIN) was cut off. */
  private processData(seg: Segment): boolean {
    const len = seg.dataLength;
    const skip = seqSub(this.rcvNxt, seg.seq);
    if (skip >= len) {
      // A pure duplicate: ACK at once so the sender learns where we are.
      this.needAck();
      return seg.length - len > 0 && skip === len;
    }
    if (this.userClosed) {
      // Nobody will read it (RFC 2525 2.17, as Linux does): reset.
      this.counters.tcpAbortOnData++;
      this.sendReset(this.sndMax, this.rcvNxt, true);
      this.toClosed(new SocketError('ECONNABORTED', 'data received after close'));
      return false;
    }
    const start = Math.max(0, skip);
    const off = Math.max(0, -skip);
    const room = this.recvBuf.window - off;
    const n = Math.min(len - start, room);
    if (n <= 0) {
      this.needAck();
      return false;
    }
    if (len - start > this.rcvMss) this.rcvMss = Math.min(len - start, 0xffff);
    this.recvBuf.writeUnallocated(off, seg.bytes, seg.dataOffset + start, n);
    if (off === 0) {
      const hadHoles = !this.ooo.isEmpty();
      this.ooo.add(0, n);
      const advanced = this.ooo.removeFront();
      this.advanceRcv(advanced);
      if (hadHoles) {
        // Filling a hole: ACK at once (RFC 5681 4.2) so the sender's recovery moves on.
        this.needAck();
      } else {
        this.bytesSinceAck += n;
        if (this.cfg.delayedAck <= 0 || this.bytesSinceAck >= 2 * this.rcvMss) this.needAck();
        else if (this.delackAt === Infinity) this.delackAt = this.now + this.cfg.delayedAck;
      }
    } else {
      if (!this.ooo.add(off, n)) {
        this.counters.tcpOooDrop++;
        this.needAck();
        return false;
      }
      this.counters.tcpOutOfOrder++;
      this.noteSackRecent(seqAddN(this.rcvNxt, off));
      // Out of order: a duplicate ACK at once, one per segment (RFC 5681 4.2) even when a burst is
      // processed before the next poll, so a sender without SACK sees its three duplicates.
      this.sendControl(this.sndMax, TcpFlags.ACK, this.prepareSackBlocks());
    }
    this.bytesReceived += n;
    return n === len - start;
  }

  private advanceRcv(n: number): void {
    if (n <= 0) return;
    this.recvBuf.enqueueUnallocated(n);
    this.rcvNxt = seqAddN(this.rcvNxt, n);
    if (this.oooFin >= 0 && this.oooFin === this.rcvNxt) {
      this.oooFin = -1;
      this.acceptFin();
    }
  }

  private noteSackRecent(seq: number): void {
    const r = this.sackRecent;
    const i = r.indexOf(seq);
    if (i >= 0) r.splice(i, 1);
    r.unshift(seq);
    if (r.length > 4) r.length = 4;
  }

  private acceptFin(): void {
    if (this.finReceived) return;
    this.finReceived = true;
    this.rcvNxt = seqAddN(this.rcvNxt, 1);
    this.ooo.clear();
    this.needAck();
    switch (this.state) {
      case TcpState.SynReceived:
      case TcpState.Established:
        this.setState(TcpState.CloseWait);
        break;
      case TcpState.FinWait1:
        // Our FIN is not acknowledged yet (else we would be in FIN-WAIT-2): simultaneous close.
        this.setState(TcpState.Closing);
        break;
      case TcpState.FinWait2:
        this.enterTimeWait();
        break;
      default:
    }
  }

  private enterTimeWait(): void {
    this.setState(TcpState.TimeWait);
    this.rtoAt = Infinity;
    this.persistAt = Infinity;
    this.keepAt = Infinity;
    this.closeAt = this.now + 2 * this.cfg.msl;
    this.resolveClosed();
  }

  private needAck(): void {
    this.ackNow = true;
    this.host.markDirty(this);
  }

  private challengeAck(): void {
    this.counters.tcpChallengeAcks++;
    this.needAck();
  }

  // =============================================================================================
  // Output

  /** Send whatever is due: SYN, retransmissions, new data, FIN, a pure ACK. */
  dispatch(): void {
    const now = this.now;
    switch (this.state) {
      case TcpState.Closed:
      case TcpState.Listen:
        return;
      case TcpState.SynSent:
      case TcpState.SynReceived:
        if (this.synToSend || (this.ackNow && this.state === TcpState.SynReceived)) this.sendSyn(now);
        this.ackNow = false;
        this.host.schedule(this);
        return;
      default:
    }
    let sent = false;
    const sacks = this.prepareSackBlocks();
    if (this.forceRexmit) {
      this.forceRexmit = false;
      const end = this.sendAt(this.sndUna, this.segmentRoom(sacks), sacks, true);
      if (end !== -1) {
        sent = true;
        if (this.recovery && this.sackOk) this.highRxt = Math.max(this.highRxt, seqSub(end, this.sndUna));
        if (seqLt(this.sndNxt, end)) this.sndNxt = end;
      }
    }
    if (this.proactiveQ.length > 0) sent = this.sendProactive(sacks) || sent;
    if (this.recovery && this.sackOk) sent = this.sendLostHoles(sacks) || sent;
    sent = this.sendNewData(sacks) || sent;
    if (this.ackNow && !sent) this.sendControl(this.sndMax, TcpFlags.ACK, sacks);
    // Zero window with data waiting and nothing in flight: probe until it opens (RFC 9293 3.8.6.1).
    if (this.sndWnd === 0 && this.sndUna === this.sndMax && this.unsentData() > 0) {
      if (this.persistAt === Infinity) this.persistAt = now + this.persistInterval();
    } else {
      this.persistAt = Infinity;
    }
    this.host.schedule(this);
  }

  /** The sender module's proactive retransmissions (data still unacknowledged only). */
  private sendProactive(sacks: number): boolean {
    const q = this.proactiveQ;
    let sent = false;
    for (let i = 0; i < q.length; i += 2) {
      const cb = this.proactiveCb[i >> 1];
      const seq = seqAddN(this.iss, 1 + q[i]);
      let ok = false;
      if (!seqLt(seq, this.sndUna) && seqLt(seq, this.sndMax)) {
        ok = this.sendAt(seq, Math.min(q[i + 1], this.segmentRoom(sacks)), sacks, true) !== -1;
        if (ok) {
          sent = true;
          this.counters.tcpProactiveRetransmits++;
        }
      }
      if (cb !== undefined) cb(ok);
    }
    q.length = 0;
    this.proactiveCb.length = 0;
    return sent;
  }

  /** Payload room of a data segment carrying `sacks` SACK blocks. */
  private segmentRoom(sacks: number): number {
    const opts = (this.tsOk ? TS_OPTION_LEN : 0) + (sacks > 0 ? 4 + 8 * sacks : 0);
    return Math.min(this.peerMss, this.host.iface.maxL4Payload - TCP_HEADER) - opts;
  }

  /** SMSS for congestion control: a full segment's payload with timestamps. */
  private smss(): number {
    return Math.max(
      64,
      Math.min(this.peerMss, this.host.iface.maxL4Payload - TCP_HEADER) - (this.tsOk ? TS_OPTION_LEN : 0),
    );
  }

  /** Sequence number of the first byte in sendBuf (past the SYN). */
  private dataBase(): number {
    return this.synAcked ? this.sndUna : seqAddN(this.iss, 1);
  }
  /** Where the sequence space we will use ends: after the FIN when queued, else after the data. */
  private finEnd(): number {
    return this.finQueued ? seqAddN(this.finSeq, 1) : this.dataEnd();
  }
  private dataEnd(): number {
    return seqAddN(this.dataBase(), this.sendBuf.length);
  }
  /** Data in sendBuf not yet sent (at or past sndNxt). */
  private unsentData(): number {
    return Math.max(0, seqSub(this.dataEnd(), this.sndNxt));
  }

  /**
   * Send one segment starting at `seq` with at most `maxLen` data bytes (plus the FIN when it fits).
   * Returns the sequence number after it, or -1 if there was nothing to send.
   */
  private sendAt(seq: number, maxLen: number, sacks: number, retransmit: boolean): number {
    const base = this.dataBase();
    const end = this.dataEnd();
    const off = seqSub(seq, base);
    if (off < 0) return -1;
    const len = Math.max(0, Math.min(maxLen, seqSub(end, seq)));
    const fin = this.finQueued && seqAddN(seq, len) === this.finSeq;
    if (len === 0 && !fin) return -1;
    let flags = TcpFlags.ACK;
    if (fin) flags |= TcpFlags.FIN;
    if (len > 0 && seqAddN(seq, len) === end) flags |= TcpFlags.PSH;
    this.emit(seq, flags, off, len, sacks);
    const after = seqAddN(seq, len + (fin ? 1 : 0));
    if (seqLt(this.sndMax, after)) this.sndMax = after;
    if (this.rtoAt === Infinity) this.rtoAt = this.now + this.rto();
    if (retransmit) {
      this.counters.tcpRetransmits++;
      this.retransmits++;
    }
    return after;
  }

  /** RFC 6675 NextSeg rule 1: retransmit holes judged lost, while cwnd - pipe allows a segment. */
  private sendLostHoles(sacks: number): boolean {
    const smss = this.smss();
    const room = this.segmentRoom(sacks);
    let sent = false;
    for (let guard = 0; guard < 1000; guard++) {
      const lost = this.lostBoundary();
      if (this.highRxt >= lost) break;
      if (this.cc.cwnd - this.pipe(lost) < smss) break;
      // The first unSACKed byte at or after highRxt, and where that hole ends.
      let start = this.highRxt;
      let holeEnd = lost;
      const sb = this.scoreboard;
      for (let i = 0; i < sb.count; i++) {
        if (sb.end(i) <= start) continue;
        if (sb.start(i) <= start) {
          start = sb.end(i);
          continue;
        }
        holeEnd = Math.min(lost, sb.start(i));
        break;
      }
      if (start >= lost) {
        this.highRxt = lost;
        break;
      }
      const len = Math.min(room, holeEnd - start);
      const after = this.sendAt(seqAddN(this.sndUna, start), len, sacks, true);
      if (after === -1) break;
      this.highRxt = Math.max(seqSub(after, this.sndUna), start + 1);
      sent = true;
    }
    return sent;
  }

  /**
   * RFC 6675 IsLost: an unSACKed byte is lost when more than (DupThresh - 1) * SMSS bytes, or
   * DupThresh blocks, are SACKed above it. Returns the offset (from sndUna) below which every hole is lost.
   */
  private lostBoundary(): number {
    const sb = this.scoreboard;
    const limit = (DUP_THRESH - 1) * this.smss();
    let above = 0;
    for (let i = sb.count - 1, blocks = 1; i >= 0; i--, blocks++) {
      above += sb.end(i) - sb.start(i);
      if (above > limit || blocks >= DUP_THRESH) return sb.start(i);
    }
    return 0;
  }

  /** RFC 6675 pipe: outstanding bytes not SACKed and not lost, plus what was retransmitted. */
  private pipe(lost: number): number {
    const outstanding = seqSub(this.sndMax, this.sndUna);
    return outstanding - this.sackedBelow(outstanding) - this.unsackedBelow(lost) + this.unsackedBelow(Math.min(this.highRxt, outstanding));
  }
  private sackedBelow(limit: number): number {
    const sb = this.scoreboard;
    let n = 0;
    for (let i = 0; i < sb.count; i++) {
      if (sb.start(i) >= limit) break;
      n += Math.min(sb.end(i), limit) - sb.start(i);
    }
    return n;
  }
  private unsackedBelow(limit: number): number {
    return limit - this.sackedBelow(limit);
  }

  private sendNewData(sacks: number): boolean {
    const room = this.segmentRoom(sacks);
    const smss = this.smss();
    let sent = false;
    for (;;) {
      const end = this.dataEnd();
      if (!seqLt(this.sndNxt, this.finEnd())) break;
      const avail = Math.max(0, seqSub(end, this.sndNxt));
      const usable = Math.max(0, seqSub(seqAddN(this.sndUna, this.sndWnd), this.sndNxt));
      let inFlight: number;
      if (this.recovery && this.sackOk) inFlight = this.pipe(this.lostBoundary());
      else inFlight = seqSub(this.sndNxt, this.sndUna);
      // Limited transmit (RFC 3042): one extra segment for each of the first two duplicate ACKs.
      const limited = this.recovery ? 0 : Math.min(this.dupAcks, 2) * smss;
      const ccAllow = Math.max(0, this.cc.cwnd + limited - inFlight);
      const cwAllow = this.sender === null ? ccAllow : this.sender.allowance(this.senderView!, ccAllow);
      const len = Math.min(avail, room, usable, cwAllow);
      const finOnly = avail === 0;
      if (len === 0 && !finOnly) break;
      const nothingInFlight = this.sndNxt === this.sndUna;
      if (len < avail && len < room) {
        // Sender-side silly window avoidance (RFC 9293 3.8.6.2.1): a short segment only if it is at
        // least half the largest window offered, or nothing is in flight to clock out more.
        if (len < this.maxSndWnd / 2 && !nothingInFlight) break;
        if (len < smss && !nothingInFlight && cwAllow < smss) break;
      }
      // Nagle (RFC 896) when asked for: one small segment in flight at a time.
      if (!this.cfg.noDelay && len < room && !nothingInFlight && !finOnly) break;
      const seq = this.sndNxt;
      const retransmit = seqLt(seq, this.sndMax);
      const after = this.sendAt(seq, len, sacks, retransmit);
      if (after === -1) break;
      if (!retransmit && !this.tsOk && !this.timing && len > 0) {
        this.timing = true;
        this.timingSeq = seqAddN(seq, len);
        this.timingAt = this.now;
      }
      if (!retransmit) this.bytesSent += len;
      this.sndNxt = after;
      sent = true;
    }
    return sent;
  }

  private sendSyn(now: number): void {
    this.synToSend = false;
    if (this.synRetries === 0) this.synSentAt = now;
    const flags = this.state === TcpState.SynSent ? TcpFlags.SYN : TcpFlags.SYN | TcpFlags.ACK;
    this.emit(this.iss, flags, 0, 0, 0);
    if (seqLt(this.sndNxt, seqAddN(this.iss, 1))) this.sndNxt = seqAddN(this.iss, 1);
    if (seqLt(this.sndMax, this.sndNxt)) this.sndMax = this.sndNxt;
    if (this.rtoAt === Infinity) this.rtoAt = now + this.rto();
  }

  /** A segment without data: ACK, probe, or RST. */
  private sendControl(seq: number, flags: number, sacks: number): void {
    this.emit(seq, flags, 0, 0, sacks);
  }

  /** Fill txSackBlocks from the out-of-order ranges, most recent first (RFC 2018 4). Returns the count. */
  private prepareSackBlocks(): number {
    if (!this.sackOk || this.ooo.isEmpty()) return 0;
    const max = this.tsOk ? 3 : 4;
    let n = 0;
    const used: number[] = [];
    for (const seq of this.sackRecent) {
      if (n >= max) break;
      const rel = seqSub(seq, this.rcvNxt);
      if (rel < 0) continue;
      const i = this.ooo.find(rel);
      if (i < 0 || used.includes(i)) continue;
      used.push(i);
      txSackBlocks[n][0] = seqAddN(this.rcvNxt, this.ooo.start(i));
      txSackBlocks[n][1] = seqAddN(this.rcvNxt, this.ooo.end(i));
      n++;
    }
    for (let i = 0; i < this.ooo.count && n < max; i++) {
      if (used.includes(i)) continue;
      txSackBlocks[n][0] = seqAddN(this.rcvNxt, this.ooo.start(i));
      txSackBlocks[n][1] = seqAddN(this.rcvNxt, this.ooo.end(i));
      n++;
    }
    return n;
  }

  private tsNow(): number {
    return (Math.floor(this.now) + this.tsOffset) >>> 0;
  }

  /** Window field for the next segment: free buffer space, scaled, never beyond 16 bits. */
  private windowField(syn: boolean): number {
    const free = this.recvBuf.window;
    return Math.min(syn ? free : free >>> this.rcvShift, 0xffff);
  }

  /** Build the segment in the interface's tx buffer, data copied straight from sendBuf, and send it. */
  private emit(seq: number, flags: number, dataOff: number, len: number, sacks: number): void {
    const iface = this.host.iface;
    const syn = (flags & TcpFlags.SYN) !== 0;
    const rst = (flags & TcpFlags.RST) !== 0;
    const r = txRepr;
    r.srcPort = this.localPort;
    r.dstPort = this.remotePort;
    r.seq = seq;
    r.ack = flags & TcpFlags.ACK ? this.rcvNxt : 0;
    r.flags = flags;
    r.window = rst ? 0 : this.windowField(syn);
    r.payloadLength = len;
    const activeSyn = this.state === TcpState.SynSent;
    if (syn) {
      r.mss = iface.maxL4Payload - TCP_HEADER;
      r.windowScale = (activeSyn ? this.cfg.windowScale : this.wsOk) ? this.rcvShift : null;
      r.sackPermitted = activeSyn ? this.cfg.sack : this.sackOk;
      const ts = activeSyn ? this.cfg.timestamps : this.tsOk;
      r.timestamps = ts ? txTimestamps : null;
    } else {
      r.mss = null;
      r.windowScale = null;
      r.sackPermitted = false;
      r.timestamps = this.tsOk && !rst ? txTimestamps : null;
    }
    txTimestamps.tsVal = this.tsNow();
    txTimestamps.tsEcr = flags & TcpFlags.ACK ? this.tsRecent : 0;
    const blocks = r.sackBlocks as Array<[number, number]>;
    blocks.length = 0;
    for (let i = 0; i < sacks && !rst && !syn; i++) blocks.push(txSackBlocks[i]);
    const hl = TcpRepr.headerLen(r);
    const buf = iface.txBuffer;
    if (len > 0) this.sendBuf.read(dataOff, buf, L4_OFFSET + hl, len);
    txView.wrap(buf, L4_OFFSET, hl + len);
    TcpRepr.emit(r, txView, this.localIp, this.remoteIp);
    iface.sendL4(this.localIp, this.remoteIp, IpProtocol.Tcp, hl + len, true);
    this.counters.tcpTx++;
    if (rst) this.counters.tcpRstTx++;
    if (flags & TcpFlags.ACK) {
      this.lastAckSent = this.rcvNxt;
      this.ackNow = false;
      this.delackAt = Infinity;
      this.bytesSinceAck = 0;
      this.rcvAdvRight = seqAddN(this.rcvNxt, syn ? r.window : r.window << this.rcvShift);
    }
  }

  /** A reset for this connection's peer, sent at once. */
  private sendReset(seq: number, ack: number, withAck: boolean): void {
    const saved = this.rcvNxt;
    if (withAck) this.rcvNxt = ack;
    this.emit(seq, TcpFlags.RST | (withAck ? TcpFlags.ACK : 0), 0, 0, 0);
    this.rcvNxt = saved;
  }

  // =============================================================================================
  // Timers

  /** Earliest deadline of any timer. */
  nextTimer(): number {
    const t = Math.min(this.rtoAt, this.delackAt, this.persistAt, this.keepAt, this.closeAt);
    return this.sender === null ? t : Math.min(t, this.sender.nextAt());
  }

  onTimer(): void {
    const now = this.now;
    if (this.closeAt <= now) {
      this.closeAt = Infinity;
      this.toClosed(null);
      return;
    }
    if (this.rtoAt <= now) {
      this.rtoAt = Infinity;
      this.onRto(now);
      if (this.state === TcpState.Closed) return;
    }
    if (this.persistAt <= now) {
      this.persistAt = Infinity;
      if (this.sndWnd === 0 && this.unsentData() > 0 && this.sndUna === this.sndMax) {
        // A window probe: an old sequence number makes the receiver answer with its window.
        this.counters.tcpPersistProbes++;
        this.sendControl(seqAddN(this.sndUna, -1 >>> 0), TcpFlags.ACK, 0);
        this.persistBackoff++;
        this.persistAt = now + this.persistInterval();
      }
    }
    if (this.delackAt <= now) {
      this.delackAt = Infinity;
      this.counters.tcpDelayedAcks++;
      this.needAck();
    }
    if (this.keepAt <= now) {
      this.keepAt = Infinity;
      this.onKeepAlive(now);
    }
    // The sender module's own clock (pacing): send what it now allows.
    if (this.sender !== null && this.sender.nextAt() <= now) {
      this.sender.onTimer(this.senderView!);
      this.host.markDirty(this);
    }
    this.host.schedule(this);
  }

  private onRto(now: number): void {
    if (this.state === TcpState.SynSent || this.state === TcpState.SynReceived) {
      this.synRetries++;
      if (this.synRetries > this.cfg.synRetries) {
        this.counters.tcpTimeouts++;
        this.toClosed(new SocketError('ETIMEDOUT', 'connection timed out'));
        return;
      }
      this.counters.tcpRtoExpired++;
      this.counters.tcpRetransmits++;
      this.retransmits++;
      this.backoff++;
      this.synToSend = true;
      this.rtoAt = now + this.rto();
      this.host.markDirty(this);
      return;
    }
    if (this.sndUna === this.sndMax) return;
    this.backoff++;
    if (this.backoff > this.cfg.maxRetries) {
      this.counters.tcpTimeouts++;
      this.toClosed(new SocketError('ETIMEDOUT', 'connection timed out'));
      return;
    }
    this.counters.tcpRtoExpired++;
    this.rtoExpirations++;
    const smss = this.smss();
    // RFC 5681 3.1 / RFC 6582 4: loss window, and no fast retransmit for what was outstanding.
    // ssthresh drops on the first timeout of a segment only (RFC 5681 3.1, eqn. 4).
    if (this.backoff === 1) this.cc.onTimeout(seqSub(this.sndMax, this.sndUna), smss, now);
    else this.cc.cwnd = smss;
    this.recovery = false;
    this.dupAcks = 0;
    this.recover = this.sndMax;
    // RFC 2018 8: after a timeout SACK information is not trusted; go back to SND.UNA.
    this.scoreboard.clear();
    this.highRxt = 0;
    this.timing = false;
    this.sndNxt = this.sndUna;
    this.forceRexmit = true;
    this.rtoAt = now + this.rto();
    this.host.markDirty(this);
  }

  private onKeepAlive(now: number): void {
    const ka = this.cfg.keepAlive;
    if (ka === null) return;
    const idleStates =
      this.state === TcpState.Established || this.state === TcpState.CloseWait || this.state === TcpState.FinWait2;
    if (!idleStates || this.sndUna !== this.sndMax) {
      this.keepAt = now + ka.idle;
      return;
    }
    if (this.keepProbes >= ka.count) {
      this.counters.tcpTimeouts++;
      this.toClosed(new SocketError('ETIMEDOUT', 'keep-alive timed out'));
      return;
    }
    this.keepProbes++;
    this.counters.tcpKeepAliveProbes++;
    this.sendControl(seqAddN(this.sndUna, -1 >>> 0), TcpFlags.ACK, 0);
    this.keepAt = now + ka.interval;
  }

  private rttSample(r: number): void {
    if (!(r >= 0) || r > 0x7fffffff) return;
    // RFC 6298 2.2/2.3 with alpha = 1/8, beta = 1/4 and clock granularity 1 ms.
    if (this.srtt < 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rtoBase = Math.min(this.cfg.rtoMax, Math.max(this.cfg.rtoMin, this.srtt + Math.max(1, 4 * this.rttvar)));
  }

  /** Current RTO with exponential backoff (RFC 6298 5.5). */
  rto(): number {
    return Math.min(this.cfg.rtoMax, this.rtoBase * 2 ** this.backoff);
  }

  private persistInterval(): number {
    return Math.min(this.cfg.rtoMax, Math.max(this.rtoBase, this.cfg.rtoMin) * 2 ** this.persistBackoff);
  }

  // =============================================================================================
  // User side (called by TcpSocket)

  /** Next chunk of data; null at end of stream. */
  read(): Promise<Uint8Array | null> {
    if (this.recvBuf.length > 0 && this.readWaiters.length === 0) {
      const data = this.recvBuf.dequeueBytes(MAX_READ);
      this.afterRead();
      return Promise.resolve(data);
    }
    if (this.error !== null) return Promise.reject(this.error);
    if (this.finReceived || this.state === TcpState.Closed || this.userClosed) return Promise.resolve(null);
    return new Promise((resolve, reject) => this.readWaiters.push({ resolve, reject }));
  }

  /** Bytes received and not yet read. */
  get readable(): number {
    return this.recvBuf.length;
  }

  write(data: Uint8Array): Promise<void> {
    if (this.error !== null) return Promise.reject(this.error);
    if (this.endRequested || this.userClosed) return Promise.reject(new SocketError('EPIPE', 'write after end'));
    if (this.state !== TcpState.Established && this.state !== TcpState.CloseWait) {
      return Promise.reject(new SocketError(this.state === TcpState.Closed ? 'ENOTCONN' : 'EPIPE', `write in ${this.state}`));
    }
    if (data.length === 0) return Promise.resolve();
    if (this.writeWaiters.length === 0) {
      const n = this.sendBuf.enqueue(data);
      if (n > 0) this.host.markDirty(this);
      if (n === data.length) return Promise.resolve();
      return new Promise((resolve, reject) => this.writeWaiters.push({ data, offset: n, resolve, reject }));
    }
    return new Promise((resolve, reject) => this.writeWaiters.push({ data, offset: 0, resolve, reject }));
  }

  /** Bytes buffered for sending (not yet acknowledged), plus writes still waiting for room. */
  get writable(): number {
    return this.sendBuf.window;
  }

  /** Half-close: a FIN follows everything written so far. */
  end(): void {
    if (this.endRequested || this.state === TcpState.Closed) return;
    this.endRequested = true;
    if (this.writeWaiters.length === 0) this.queueFin();
  }

  /** end(), and no more reading: data arriving later (or left unread now) resets the connection. */
  close(): void {
    if (this.state === TcpState.Closed) return;
    if (this.recvBuf.length > 0) {
      this.abort();
      return;
    }
    this.userClosed = true;
    for (const w of this.readWaiters.splice(0)) w.resolve(null);
    this.end();
    if (this.state === TcpState.FinWait2) this.closeAt = this.now + this.cfg.finWait2Timeout;
    this.host.schedule(this);
  }

  /** Drop the connection with a RST. */
  abort(): void {
    if (this.state === TcpState.Closed) return;
    const s = this.state;
    if (s !== TcpState.SynSent && s !== TcpState.TimeWait) this.sendReset(this.sndMax, this.rcvNxt, true);
    this.toClosed(this.error ?? new SocketError('ECONNABORTED', 'connection aborted'));
  }

  private queueFin(): void {
    if (this.finQueued) return;
    switch (this.state) {
      case TcpState.SynSent:
        this.toClosed(null);
        return;
      case TcpState.SynReceived:
      case TcpState.Established:
        this.finSeq = this.dataEnd();
        this.finQueued = true;
        this.setState(TcpState.FinWait1);
        break;
      case TcpState.CloseWait:
        this.finSeq = this.dataEnd();
        this.finQueued = true;
        this.setState(TcpState.LastAck);
        break;
      default:
        return;
    }
    this.host.markDirty(this);
  }

  private afterRead(): void {
    if (this.state === TcpState.Closed || this.finReceived) return;
    // Window update once reading opened the window substantially: the window the peer sees is at
    // most half the buffer and would at least double (Linux's rule), and grows by at least
    // min(buffer / 2, MSS) (receiver silly window avoidance, RFC 9293 3.8.6.2.2).
    const cap = this.recvBuf.capacity;
    const seen = Math.max(0, seqSub(this.rcvAdvRight, this.rcvNxt));
    const wnd = this.recvBuf.window;
    if (2 * seen <= cap && wnd >= 2 * seen && wnd - seen >= Math.min(cap / 2, this.rcvMss)) this.needAck();
  }

  private wakeReaders(): void {
    while (this.readWaiters.length > 0) {
      if (this.recvBuf.length > 0) {
        const w = this.readWaiters.shift() as ReadWaiter;
        w.resolve(this.recvBuf.dequeueBytes(MAX_READ));
        this.afterRead();
      } else if (this.error !== null) {
        (this.readWaiters.shift() as ReadWaiter).reject(this.error);
      } else if (this.finReceived || this.state === TcpState.Closed) {
        (this.readWaiters.shift() as ReadWaiter).resolve(null);
      } else break;
    }
  }

  private wakeWriters(): void {
    let moved = false;
    while (this.writeWaiters.length > 0) {
      const w = this.writeWaiters[0];
      const n = this.sendBuf.enqueue(w.data, w.offset);
      if (n > 0) moved = true;
      w.offset += n;
      if (w.offset < w.data.length) break;
      this.writeWaiters.shift();
      w.resolve();
    }
    if (moved) this.host.markDirty(this);
    if (this.endRequested && this.writeWaiters.length === 0 && !this.finQueued) this.queueFin();
  }

  // =============================================================================================
  // State

  private setState(s: TcpState): void {
    this.state = s;
    if (s === TcpState.Established) {
      this.counters.tcpEstablished++;
      if (this.cfg.keepAlive !== null) this.keepAt = this.now + this.cfg.keepAlive.idle;
    }
  }

  private resolveClosed(): void {
    const r = this.closedResolve;
    this.closedResolve = null;
    r?.(this.error);
  }

  /** Enter CLOSED: settle every promise, stop timers, and let the layer forget the connection. */
  toClosed(err: SocketError | null): void {
    if (this.state === TcpState.Closed) return;
    const prev = this.state;
    this.state = TcpState.Closed;
    if (err !== null && this.error === null) this.error = err;
    this.rtoAt = this.delackAt = this.persistAt = this.keepAt = this.closeAt = Infinity;
    this.ackNow = false;
    for (const w of this.readWaiters.splice(0)) {
      if (this.error !== null) w.reject(this.error);
      else w.resolve(null);
    }
    for (const w of this.writeWaiters.splice(0)) w.reject(this.error ?? new SocketError('EPIPE', 'connection closed'));
    if (this.connectReject !== null) {
      this.connectReject(this.error ?? new SocketError('ECONNREFUSED', 'connection closed during open'));
      this.connectReject = null;
      this.connectResolve = null;
    }
    this.resolveClosed();
    this.host.onClosed(this, prev);
  }

  info(): TcpConnectionInfo {
    return {
      state: this.state,
      srtt: this.srtt,
      rttvar: this.rttvar,
      rto: this.rto(),
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      sendWindow: this.sndWnd,
      recvWindow: this.recvBuf.window,
      mss: this.smss(),
      windowScale: this.wsOk,
      sack: this.sackOk,
      timestamps: this.tsOk,
      inRecovery: this.recovery,
      retransmits: this.retransmits,
      rtoExpirations: this.rtoExpirations,
      fastRetransmits: this.fastRetransmits,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
    };
  }
}
