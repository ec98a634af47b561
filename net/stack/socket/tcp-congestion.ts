// TCP congestion control: NewReno (RFC 5681 slow start / congestion avoidance, RFC 6582 recovery is
// driven by the connection) and CUBIC (RFC 9438). Both count in bytes; the connection owns recovery.

export interface CongestionControl {
  /** Congestion window (bytes). The connection inflates/deflates it during NewReno recovery. */
  cwnd: number;
  ssthresh: number;
  /** `acked` new bytes were acknowledged outside recovery; `rtt` is the smoothed RTT (ms). */
  onAck(acked: number, smss: number, now: number, rtt: number): void;
  /** Loss detected by duplicate ACKs or SACK: set ssthresh (the connection sets cwnd). */
  onCongestion(flight: number, smss: number, now: number): void;
  /** Retransmission timeout: set ssthresh and collapse cwnd to one segment (RFC 5681 3.1). */
  onTimeout(flight: number, smss: number, now: number): void;
}

export class NewReno implements CongestionControl {
  cwnd: number;
  ssthresh = Number.MAX_SAFE_INTEGER;
  /** Bytes acked since cwnd last grew in congestion avoidance (RFC 5681 appropriate byte counting). */
  private acc = 0;

  constructor(initialWindow: number) {
    this.cwnd = initialWindow;
  }

  onAck(acked: number, smss: number): void {
    if (this.cwnd < this.ssthresh) {
      // Slow start counting every byte acknowledged (as Linux does; RFC 3465 with no limit L):
      // one poll answers a whole burst with one ACK, and L = 1 SMSS would crawl then.
      this.cwnd += acked;
      return;
    }
    this.acc += acked;
    if (this.acc >= this.cwnd) {
      this.acc -= this.cwnd;
      this.cwnd += smss;
    }
  }

  onCongestion(flight: number, smss: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * smss);
    this.acc = 0;
  }

  onTimeout(flight: number, smss: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * smss);
    this.cwnd = smss;
    this.acc = 0;
  }
}

const CUBIC_C = 0.4;
const CUBIC_BETA = 0.7;
/** RFC 9438 4.3: the Reno-friendly additive increase matching CUBIC's beta. */
const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** RFC 9438, windows kept in segments internally as the RFC writes them. */
export class Cubic implements CongestionControl {
  cwnd: number;
  ssthresh = Number.MAX_SAFE_INTEGER;
  /** Window (segments) before the last reduction. */
  private wMax = 0;
  private k = 0;
  /** Start of the current congestion avoidance epoch (ms), -1 when none. */
  private epochStart = -1;
  /** Reno-friendly estimate (segments). */
  private wEst = 0;

  constructor(initialWindow: number) {
    this.cwnd = initialWindow;
  }

  onAck(acked: number, smss: number, now: number, rtt: number): void {
    if (this.cwnd < this.ssthresh) {
      this.cwnd += acked;
      return;
    }
    const cwndSeg = this.cwnd / smss;
    if (this.epochStart < 0) {
      this.epochStart = now;
      this.wEst = cwndSeg;
      // RFC 9438 4.2 eqn 2: K = cbrt((Wmax - cwnd_epoch) / C); 0 when above the old maximum.
      this.k = this.wMax > cwndSeg ? Math.cbrt((this.wMax - cwndSeg) / CUBIC_C) : 0;
      if (this.wMax < cwndSeg) this.wMax = cwndSeg;
    }
    const t = (now - this.epochStart) / 1000;
    const rttS = Math.max(rtt, 1) / 1000;
    // Target one RTT ahead, clamped to [cwnd, 1.5 cwnd] (RFC 9438 4.2).
    const target = Math.min(Math.max(this.wCubic(t + rttS), cwndSeg), 1.5 * cwndSeg);
    this.wEst += CUBIC_ALPHA * (acked / smss / cwndSeg);
    let next: number;
    if (this.wCubic(t) < this.wEst) next = this.wEst;
    else next = cwndSeg + ((target - cwndSeg) / cwndSeg) * (acked / smss);
    this.cwnd = Math.max(this.cwnd, Math.floor(next * smss));
  }

  /** RFC 9438 eqn 1: W_cubic(t) = C (t - K)^3 + W_max, in segments, t in seconds. */
  wCubic(t: number): number {
    return CUBIC_C * (t - this.k) ** 3 + this.wMax;
  }

  onCongestion(flight: number, smss: number): void {
    const cwndSeg = this.cwnd / smss;
    // Fast convergence (RFC 9438 4.7): release bandwidth to newer flows when the maximum shrinks.
    this.wMax = cwndSeg < this.wMax ? (cwndSeg * (1 + CUBIC_BETA)) / 2 : cwndSeg;
    this.ssthresh = Math.max(Math.floor(Math.min(this.cwnd, Math.max(flight, smss)) * CUBIC_BETA), 2 * smss);
    this.epochStart = -1;
  }

  onTimeout(flight: number, smss: number): void {
    this.onCongestion(flight, smss);
    this.cwnd = smss;
  }
}
