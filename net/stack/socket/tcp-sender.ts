// Pluggable sender behaviour for TCP connections (beside the congestion controls of tcp-congestion.ts): a
// module may cap what new data goes out now (pacing), wake the connection at a time of its choosing, and ask
// for proactive retransmissions. The default (no module) is plain TCP. Halfback (CoNEXT'15) is one: a short
// flow's data paced over about one RTT, then on each ACK one segment retransmitted from the tail backward,
// up to about half the flow, then ordinary TCP.

/** What a sender module sees of its connection (offsets count data bytes from the first one, past the SYN). */
export interface SenderView {
  readonly now: number;
  /** smoothed RTT (ms), or -1 before any sample */
  readonly srtt: number;
  /** sender maximum segment size (payload bytes) */
  readonly smss: number;
  /** data acknowledged (offset of SND.UNA) and sent so far (offset of SND.MAX, FIN excluded) */
  readonly acked: number;
  readonly sent: number;
  /** data written by the user so far (offset of the end of the send buffer) */
  readonly written: number;
  /** the user ended the stream: `written` is the whole flow */
  readonly ended: boolean;
  /** the peer's receive window (bytes) */
  readonly window: number;
  /** offset `o` is covered by a SACK block (the peer holds it) */
  sacked(o: number): boolean;
  /**
   * Asks for a retransmission of [offset, offset + length) at the next dispatch; `sent` is told whether it
   * left (false when the peer acknowledged it meanwhile).
   */
  retransmit(offset: number, length: number, sent?: (ok: boolean) => void): void;
}

export interface TcpSender {
  /**
   * How many bytes of new data may go out now, given what congestion control allows (`cwndAllow`). Called
   * before each new segment; return `cwndAllow` to behave as plain TCP.
   */
  allowance(v: SenderView, cwndAllow: number): number;
  /** When the connection must dispatch again without an incoming segment (ms), Infinity if never. */
  nextAt(): number;
  /** nextAt() came: the connection dispatches next (the module forgets that deadline; allowance sets another). */
  onTimer(v: SenderView): void;
  /** After each ACK (new or duplicate) was processed. */
  onAck(v: SenderView): void;
  /** Counters for this connection (proactive retransmissions…). */
  stats(): Record<string, number>;
}

export type TcpSenderFactory = () => TcpSender;

export interface HalfbackOptions {
  /** flows up to this many bytes (known when the user ended the stream before the first data left) use Halfback */
  maxFlowBytes?: number;
  /** the pacing phase spreads the flow over this fraction of an RTT (default 1) */
  paceRtts?: number;
  /** the RTT assumed before a sample (ms, default 100) */
  defaultRtt?: number;
  /** share of the flow retransmitted proactively at most (default 0.5) */
  proactiveShare?: number;
  /** totals shared by many connections (an app's counters), updated as this one works */
  totals?: HalfbackTotals;
}

export interface HalfbackTotals { flows: number; paced: number; proactive: number; proactiveBytes: number; proactiveSent: number }

const Phase = { Undecided: 0, Pacing: 1, Proactive: 2, Tcp: 3 } as const;

/**
 * Halfback: for a short flow, paced start then reverse-order proactive retransmission (RPR), then TCP.
 * Longer flows (or a stream not yet ended when the first byte leaves) are plain TCP from the start.
 */
export class Halfback implements TcpSender {
  phase: number = Phase.Undecided;
  flowLen = 0;
  private interval = 0;
  private t0 = 0;
  /** RPR pointer: the end offset of the next segment to retransmit (moving toward the start) */
  private rprEnd = 0;
  private budget = 0;
  private wake = Infinity;
  // counters
  proactive = 0;
  proactiveBytes = 0;
  paced = 0;
  readonly maxFlowBytes: number;
  readonly paceRtts: number;
  readonly defaultRtt: number;
  readonly share: number;
  private readonly totals: HalfbackTotals | null;
  /** proactive retransmissions that really left (the rest were acknowledged before the dispatch) */
  proactiveSent = 0;
  private readonly onSent = (ok: boolean): void => {
    if (!ok) return;
    this.proactiveSent++;
    if (this.totals !== null) this.totals.proactiveSent++;
  };

  constructor(o: HalfbackOptions = {}) {
    this.totals = o.totals ?? null;
    this.maxFlowBytes = o.maxFlowBytes ?? 141 * 1024;
    this.paceRtts = o.paceRtts ?? 1;
    this.defaultRtt = o.defaultRtt ?? 100;
    this.share = o.proactiveShare ?? 0.5;
  }

  allowance(v: SenderView, cwndAllow: number): number {
    if (this.phase === Phase.Undecided) {
      if (v.sent > 0 || !v.ended || v.written === 0 || v.written > this.maxFlowBytes) {
        this.phase = Phase.Tcp;
        return cwndAllow;
      }
      this.flowLen = v.written;
      const segs = Math.ceil(this.flowLen / v.smss);
      const rtt = v.srtt > 0 ? v.srtt : this.defaultRtt;
      this.interval = (rtt * this.paceRtts) / segs;
      this.t0 = v.now;
      this.phase = Phase.Pacing;
      if (this.totals !== null) this.totals.flows++;
      this.rprEnd = this.flowLen;
      this.budget = Math.ceil(this.flowLen * this.share);
    }
    if (this.phase !== Phase.Pacing) return cwndAllow;
    if (v.sent >= this.flowLen) {
      this.startProactive();
      return cwndAllow;
    }
    // Segment k may leave at t0 + k * interval (the paced flow ignores the congestion window, not the
    // peer's): what is due by now, so a coarse timer catches up instead of stretching the RTT.
    const k = Math.floor((v.now - this.t0) / this.interval) + 1;
    const due = Math.min(this.flowLen, k * v.smss);
    this.wake = this.t0 + k * this.interval;
    const allow = Math.max(0, Math.min(due - v.sent, v.window - (v.sent - v.acked)));
    if (allow > 0) {
      this.paced++;
      if (this.totals !== null) this.totals.paced++;
    }
    return allow;
  }

  private startProactive(): void {
    this.phase = Phase.Proactive;
    this.wake = Infinity;
  }

  nextAt(): number {
    return this.phase === Phase.Pacing ? this.wake : Infinity;
  }

  onTimer(v: SenderView): void {
    this.wake = Infinity;
    if (this.phase === Phase.Pacing && v.sent >= this.flowLen) this.startProactive();
  }

  onAck(v: SenderView): void {
    if (this.phase === Phase.Pacing && v.sent >= this.flowLen) this.startProactive();
    if (this.phase !== Phase.Proactive) return;
    // One segment per ACK from the tail backward, skipping what the peer acknowledged or SACKed; stop where
    // the pointer meets the cumulative ACK or half the flow went out again.
    while (this.budget > 0 && this.rprEnd > v.acked) {
      const smss = v.smss;
      // segments are aligned from the flow's start: the last one may be short
      const start = Math.max(v.acked, Math.floor((this.rprEnd - 1) / smss) * smss);
      const end = this.rprEnd;
      this.rprEnd = start;
      if (v.sacked(start)) continue;
      const len = end - start;
      v.retransmit(start, len, this.onSent);
      this.budget -= len;
      this.proactive++;
      this.proactiveBytes += len;
      if (this.totals !== null) {
        this.totals.proactive++;
        this.totals.proactiveBytes += len;
      }
      if (this.budget <= 0 || this.rprEnd <= v.acked) this.phase = Phase.Tcp;
      return;
    }
    this.phase = Phase.Tcp;
  }

  stats(): Record<string, number> {
    return { halfback: this.phase === Phase.Undecided ? 0 : this.flowLen > 0 ? 1 : 0, paced: this.paced, proactive: this.proactive, proactiveSent: this.proactiveSent, proactiveBytes: this.proactiveBytes };
  }
}
