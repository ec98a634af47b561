// Tracks which byte ranges of a stream or datagram have arrived: TCP out-of-order data (and the SACK
// blocks made from it) and IPv4 fragment reassembly. Bounded in the number of ranges it holds.

/**
 * Sorted, disjoint, non-adjacent ranges [start, end) of offsets relative to a moving origin (for TCP,
 * RCV.NXT). Adding a range that would need more than `maxRanges` entries fails without changing
 * anything, so a peer cannot grow it by sending many tiny scattered segments.
 */
export class Assembler {
  private starts: number[] = [];
  private ends: number[] = [];

  constructor(readonly maxRanges = 32) {}

  /** Number of disjoint ranges held. */
  get count(): number {
    return this.starts.length;
  }
  isEmpty(): boolean {
    return this.starts.length === 0;
  }
  start(i: number): number {
    return this.starts[i];
  }
  end(i: number): number {
    return this.ends[i];
  }
  /** Total bytes covered. */
  get covered(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i] - this.starts[i];
    return n;
  }
  /** Bytes present from offset 0 on (0 when the front is a hole). */
  get frontLength(): number {
    return this.starts.length > 0 && this.starts[0] <= 0 ? this.ends[0] : 0;
  }

  /** Index of the range holding `offset`, or -1. */
  find(offset: number): number {
    for (let i = 0; i < this.starts.length; i++) {
      if (offset < this.starts[i]) return -1;
      if (offset < this.ends[i]) return i;
    }
    return -1;
  }

  /** True when [offset, offset + size) is entirely present. */
  contains(offset: number, size: number): boolean {
    const i = this.find(offset);
    return i >= 0 && this.ends[i] >= offset + size;
  }

  /** Record [offset, offset + size) as present. False (nothing changed) when too many ranges. */
  add(offset: number, size: number): boolean {
    if (size <= 0) return true;
    let start = offset;
    let end = offset + size;
    // First range that ends at or after our start (touching counts: adjacent ranges merge).
    let i = 0;
    while (i < this.starts.length && this.ends[i] < start) i++;
    // Ranges i..j-1 overlap or touch the new one and merge into it.
    let j = i;
    while (j < this.starts.length && this.starts[j] <= end) {
      if (this.starts[j] < start) start = this.starts[j];
      if (this.ends[j] > end) end = this.ends[j];
      j++;
    }
    const merged = j - i;
    if (merged === 0 && this.starts.length >= this.maxRanges) return false;
    this.starts.splice(i, merged, start);
    this.ends.splice(i, merged, end);
    return true;
  }

  /**
   * Remove the contiguous range at offset 0 and move the origin past it: every offset drops by the
   * returned length. Returns 0 (nothing changes) when offset 0 is a hole.
   */
  removeFront(): number {
    const n = this.frontLength;
    if (n > 0) {
      this.starts.shift();
      this.ends.shift();
      this.shift(n);
    }
    return n;
  }

  /** Move the origin forward by `n`, forgetting whatever falls before it. */
  shift(n: number): void {
    if (n <= 0) return;
    let drop = 0;
    for (let i = 0; i < this.starts.length; i++) {
      this.starts[i] = Math.max(0, this.starts[i] - n);
      this.ends[i] -= n;
      if (this.ends[i] <= 0) drop = i + 1;
    }
    if (drop > 0) {
      this.starts.splice(0, drop);
      this.ends.splice(0, drop);
    }
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
  }
}
