// One direction's reassembly buffer (mOS's per-side receive buffer): a bounded ring of stream bytes keyed by
// absolute stream offset, the ranges present (in order and out of order), the FIRST/LAST overlap policy, and
// what overlapping bytes disagreed with the ones already stored (what abacus needs to spot free-riding).

/** Which bytes win where a segment overlaps bytes already stored. */
export const Overlap = {
  /** keep the bytes seen first (what most end hosts deliver; what an IDS must assume to resist evasion) */
  First: 0,
  /** the later segment overwrites */
  Last: 1,
} as const;
export type Overlap = (typeof Overlap)[keyof typeof Overlap];

/** Where ring memory comes from: a global budget shared by all flows of a monitor. */
export interface BufferPool {
  /** a ring of `size` bytes, or null when the budget is spent */
  take(size: number): Uint8Array | null;
  give(buf: Uint8Array): void;
}

/** What the last write did (read by the monitor to raise events and fill the segment record). */
export interface WriteResult {
  /** bytes of the segment that were new (not stored before and not below the consumed mark) */
  fresh: number;
  /** bytes of the segment over bytes already present or already consumed */
  overlap: number;
  /** overlapping bytes that differ from the stored ones (comparable only where the bytes are still held) */
  conflict: number;
  /** overlapping bytes that could not be compared (consumed, or the buffer is off) */
  unchecked: number;
  /** bytes dropped: beyond the buffer's reach (out of order and too far ahead) or the fragment table full */
  refused: number;
}

/**
 * The ranges present are tracked even when the buffer is off (size 0): the contiguous end (`next`) is what
 * the receiver emulation needs to process a FIN and what NEW_DATA reports. Offsets are numbers (exact up to
 * 2^53 bytes), already unwrapped from 32-bit sequence numbers by the caller.
 */
export class StreamBuffer {
  /** stream offset of the first byte not consumed by peek */
  head = 0;
  /** end of the contiguous bytes from head */
  next = 0;
  /** bytes lost to overruns since the last takeLost() */
  lost = 0;
  /** all bytes ever lost (overruns and refusals) */
  lostTotal = 0;
  /** out-of-order ranges beyond next: [start0, end0, start1, end1, ...], sorted, disjoint, not touching */
  readonly frags: number[] = [];
  ring: Uint8Array | null = null;
  /** bytes that ever became contiguous (delivered in order), and bytes of out-of-order arrivals */
  delivered = 0;
  policy: Overlap = Overlap.First;
  /** the side stopped monitoring: nothing stored, ranges still tracked */
  off = false;
  /** ring size asked for (0: track ranges only) */
  size = 0;
  private pool: BufferPool | null = null;
  private allocFailed = false;
  /** the monitor reported the refusal (ERROR once per side) */
  starvedReported = false;

  constructor(readonly maxFrags = 16) {}

  reset(start: number, size: number, policy: Overlap, pool: BufferPool | null): void {
    this.release();
    this.head = this.next = start;
    this.lost = this.lostTotal = 0;
    this.frags.length = 0;
    this.delivered = 0;
    this.policy = policy;
    this.off = false;
    this.size = size;
    this.pool = pool;
    this.allocFailed = false;
    this.starvedReported = false;
  }

  /** Moves an empty stream's origin (mid-stream pickup, or the base learnt late). */
  rebase(start: number): void {
    if (this.next !== this.head || this.frags.length > 0) return;
    this.head = this.next = start;
  }

  /** Gives the ring back to the pool (the stream keeps tracking ranges). */
  release(): void {
    if (this.ring !== null && this.pool !== null) this.pool.give(this.ring);
    this.ring = null;
  }

  /** Stops storing bytes (stop monitoring a side); ranges are still tracked. */
  stop(): void {
    this.release();
    this.off = true;
  }

  /** true when bytes were wanted but the global budget refused the ring */
  get starved(): boolean {
    return this.allocFailed;
  }

  private ensureRing(): Uint8Array | null {
    if (this.ring !== null) return this.ring;
    if (this.off || this.size === 0 || this.pool === null || this.allocFailed) return null;
    this.ring = this.pool.take(this.size);
    if (this.ring === null) this.allocFailed = true;
    return this.ring;
  }

  /**
   * The end of the run of bytes starting at `o` that are all present (positive) or all absent (negative
   * end): present runs are everything below next and the fragments.
   */
  private runEnd(o: number, limit: number): number {
    if (o < this.next) return Math.min(this.next, limit);
    const f = this.frags;
    for (let i = 0; i < f.length; i += 2) {
      if (o < f[i]) return -Math.min(f[i], limit);
      if (o < f[i + 1]) return Math.min(f[i + 1], limit);
    }
    return -limit;
  }

  /**
   * Records stream bytes [o, o + len) (taken from `src` at `srcOff`). The ranges present are tracked over
   * the whole stream; bytes are stored only in the ring's reach [head, head + cap). A segment ending beyond
   * it moves head forward first: an overrun — the reader skips those bytes (counted as lost), memory never
   * grows.
   */
  write(o: number, src: Uint8Array, srcOff: number, len: number, r: WriteResult): void {
    r.fresh = r.overlap = r.conflict = r.unchecked = r.refused = 0;
    if (len <= 0) return;
    const end = o + len;
    const ring = this.size > 0 && !this.off ? this.ensureRing() : null;
    const cap = ring !== null ? ring.length : 0;
    if (ring !== null && end > this.head + cap) {
      const h = end - cap;
      this.lost += h - this.head;
      this.lostTotal += h - this.head;
      this.head = h;
    }
    const head = ring !== null ? this.head : Infinity;
    let p = o;
    while (p < end) {
      const re = this.runEnd(p, end);
      const q = re < 0 ? -re : re;
      // the part of [p, q) held in the ring (at or above head)
      const s0 = Math.max(p, Math.min(head, q));
      if (re > 0) {
        r.overlap += q - p;
        r.unchecked += s0 - p;
        if (ring !== null && q > s0) {
          let diff = 0;
          const base = srcOff + (s0 - o);
          for (let k = 0, n = q - s0; k < n; k++) {
            const at = (s0 + k) % cap;
            const b = src[base + k];
            if (ring[at] !== b) {
              diff++;
              if (this.policy === Overlap.Last) ring[at] = b;
            }
          }
          r.conflict += diff;
        }
      } else {
        r.fresh += q - p;
        if (ring !== null && q > s0) this.copyIn(ring, s0, src, srcOff + (s0 - o), q - s0);
      }
      p = q;
    }
    if (r.fresh > 0) this.addRange(o, end, r);
  }

  private copyIn(ring: Uint8Array, o: number, src: Uint8Array, srcOff: number, n: number): void {
    const cap = ring.length;
    // Only the last `cap` bytes of a run can survive in the ring.
    if (n > cap) {
      srcOff += n - cap;
      o += n - cap;
      n = cap;
    }
    const at = o % cap;
    const first = Math.min(n, cap - at);
    ring.set(src.subarray(srcOff, srcOff + first), at);
    if (first < n) ring.set(src.subarray(srcOff + first, srcOff + n), 0);
  }

  /** Marks [o, end) present; merges fragments; advances next; applies the ring's capacity. */
  private addRange(o: number, end: number, r: WriteResult): void {
    const f = this.frags;
    if (o <= this.next) {
      if (end > this.next) this.next = end;
      // swallow fragments now reached
      while (f.length > 0 && f[0] <= this.next) {
        if (f[1] > this.next) this.next = f[1];
        f.splice(0, 2);
      }
    } else {
      // insert [o, end) into the sorted fragment list, merging neighbours
      let i = 0;
      while (i < f.length && f[i + 1] < o) i += 2;
      let s = o, e = end, j = i;
      while (j < f.length && f[j] <= e) {
        s = Math.min(s, f[j]);
        e = Math.max(e, f[j + 1]);
        j += 2;
      }
      if ((f.length - (j - i)) / 2 >= this.maxFrags) {
        // The fragment table is full: refuse the range (a receiver's out-of-order queue is bounded too).
        r.refused += r.fresh;
        this.lostTotal += r.fresh;
        r.fresh = 0;
        return;
      }
      f.splice(i, j - i, s, e);
    }
    // Without a ring nothing is held: everything contiguous counts as consumed.
    if (this.ring === null && this.size === 0) this.head = this.next;
  }

  /** Bytes available to peek (contiguous, not consumed, still held). */
  get readable(): number {
    return this.ring !== null ? Math.max(0, this.next - this.head) : 0;
  }

  /** Returns and clears the bytes lost to overruns since the last call. */
  takeLost(): number {
    const n = this.lost;
    this.lost = 0;
    return n;
  }

  /**
   * The bytes [o, o + n) when all are held (contiguous or inside one out-of-order fragment); a view of the
   * ring when they do not wrap (valid until the next write), else a copy into `scratch` (or a new array).
   * Null when any byte is missing.
   */
  read(o: number, n: number, scratch: Uint8Array | null = null): Uint8Array | null {
    const ring = this.ring;
    if (ring === null || n < 0 || o < this.head) return null;
    if (n === 0) return new Uint8Array(0);
    const end = o + n;
    let ok = end <= this.next;
    if (!ok) {
      const f = this.frags;
      for (let i = 0; i < f.length; i += 2) if (o >= f[i] && end <= f[i + 1]) ok = true;
    }
    if (!ok) return null;
    const cap = ring.length, at = o % cap;
    if (at + n <= cap) return ring.subarray(at, at + n);
    const out = scratch !== null && scratch.length >= n ? scratch.subarray(0, n) : new Uint8Array(n);
    const first = cap - at;
    out.set(ring.subarray(at, cap), 0);
    out.set(ring.subarray(0, n - first), first);
    return out;
  }

  /** Consumes up to `max` contiguous bytes from head: returns them (see read for lifetime). */
  consume(max: number, scratch: Uint8Array | null = null): Uint8Array {
    const n = Math.min(this.readable, max);
    if (n <= 0) return new Uint8Array(0);
    const b = this.read(this.head, n, scratch) ?? new Uint8Array(0);
    this.head += n;
    return b;
  }

  /** The out-of-order fragments as [start, end) pairs (offsets), for fragment info. */
  fragments(): { start: number; end: number }[] {
    const r: { start: number; end: number }[] = [];
    for (let i = 0; i < this.frags.length; i += 2) r.push({ start: this.frags[i], end: this.frags[i + 1] });
    return r;
  }
}

/** A budget of ring bytes with free lists per size (rings are reused, never grown). */
export class RingPool implements BufferPool {
  used = 0;
  refused = 0;
  /** bytes of free rings kept for reuse (at most a quarter of the budget: in use + kept stays bounded) */
  kept = 0;
  private readonly free = new Map<number, Uint8Array[]>();

  constructor(readonly budget: number) {}

  take(size: number): Uint8Array | null {
    if (this.used + size > this.budget) {
      this.refused++;
      return null;
    }
    this.used += size;
    const l = this.free.get(size);
    if (l !== undefined && l.length > 0) {
      this.kept -= size;
      return l.pop()!;
    }
    return new Uint8Array(size);
  }

  give(buf: Uint8Array): void {
    this.used -= buf.length;
    let l = this.free.get(buf.length);
    if (l === undefined) this.free.set(buf.length, (l = []));
    // Keep a bounded free list: beyond it the GC takes the ring back.
    if (this.kept + buf.length <= this.budget / 4) {
      l.push(buf);
      this.kept += buf.length;
    }
  }
}
