// A token bucket on packets and bits per second (either or both): the per-client rate limit of the engine.

export class TokenBucket {
  private pkts: number;
  private bits: number;
  private last: number;
  private readonly maxBits: number;

  /**
   * `pps` / `bps`: sustained rates (0 = no limit on that measure); `burst`: packets that may pass at once
   * (for the bit bucket: burst full-size 1514-byte frames). `now` in ms.
   */
  constructor(private readonly pps: number, private readonly bps: number, private readonly burst: number, now: number) {
    this.pkts = burst;
    this.maxBits = burst * 1514 * 8;
    this.bits = this.maxBits;
    this.last = now;
  }

  /** Takes one packet of `bytes`; false when either bucket is short (nothing is taken then). */
  take(bytes: number, now: number): boolean {
    const dt = now - this.last;
    if (dt > 0) {
      this.last = now;
      if (this.pps > 0) this.pkts = Math.min(this.burst, this.pkts + (dt * this.pps) / 1000);
      if (this.bps > 0) this.bits = Math.min(this.maxBits, this.bits + (dt * this.bps) / 1000);
    }
    const b = bytes * 8;
    if (this.pps > 0 && this.pkts < 1) return false;
    if (this.bps > 0 && this.bits < b) return false;
    if (this.pps > 0) this.pkts -= 1;
    if (this.bps > 0) this.bits -= b;
    return true;
  }
}
