// MsgRing: a lock-free single-producer/single-consumer ring of variable-length messages in a
// SharedArrayBuffer (the byte rings under cross-shard submitTo).

// Module-level alias: under a vm context (jest runs tests in one) every global lookup goes through an
// interceptor costing ~0.3 µs, which made Atomics.* 20x slower there; a local binding costs nothing anywhere.
const A = Atomics;

/*
 * Layout of one ring region (byteOffset must be a multiple of 64):
 *
 *   line 0  [magic, capacity]            written once by whoever formats the region
 *   line 1  [head]                       written only by the producer (bytes ever published)
 *   line 2  [tail]                       written only by the consumer (bytes ever released)
 *   data    capacity bytes (power of two)
 *
 * head and tail sit on their own 64-byte lines so that a store by one side does not steal the line the other
 * side is writing (false sharing). The producer keeps a private copy of tail and re-reads the shared one only
 * when the copy says full; the consumer reads head once per `drain` batch: the cross-core traffic is per
 * batch, not per message, as in Seastar's queues.
 *
 * The counters are Int32 that wrap modulo 2^32, not BigInt64: Atomics on a BigInt64Array return a BigInt,
 * which is a heap allocation per load on the hot path. With capacity <= 2^30, `(head - tail) | 0` is the
 * exact number of used bytes even across the 2^32 wrap, and `counter & mask` is the position in the data.
 *
 * Records are [u32 payload length][payload], padded to 4 bytes (so payloads start 4-aligned: Int32Array views
 * over `bytes.buffer` work on them; 8 would waste 4 more bytes per small message for little use). A record never straddles the end of the data
 * area: when it does not fit before the end, the producer writes a PAD word there and the record starts at
 * position 0. Chosen over a split copy because then every payload is contiguous, which is what makes
 * `tryReserve`/`commit` (encode straight into the ring) and the zero-copy `drain` callback possible; the cost
 * is at most one record's worth of wasted space per lap, and a bound on record size (capacity / 2, so that
 * any record fits into an empty ring whatever the position: see `maxMessage`).
 *
 * Memory ordering: the producer writes the payload and length with plain stores, then publishes the new head
 * with Atomics.store; the consumer reads head with Atomics.load before reading records. Atomics are
 * sequentially consistent, so the payload writes happen-before the consumer's reads. The same holds in
 * reverse for tail: the producer never reuses bytes the consumer has not released with Atomics.store.
 */

const LINE_I32 = 16; // 64 bytes
const MAGIC = 0x4d534752; // 'MSGR'
const H_MAGIC = 0;
const H_CAPACITY = 1;
const H_HEAD = LINE_I32;
const H_TAIL = 2 * LINE_I32;
/** Bytes of header in front of each ring's data area. */
export const RING_HEADER_BYTES = 3 * 64;
const PAD = 0xffffffff;
const MIN_CAPACITY = 64;
const MAX_CAPACITY = 1 << 30;

/** Called by {@link MsgRing.drain} for each message; the payload is `bytes[offset, offset + length)`. */
export type DrainFn = (bytes: Uint8Array, offset: number, length: number) => void;

/** Options for {@link MsgRing.create} and {@link MsgRing.format}. */
export interface MsgRingOptions {
  /**
   * Initial value of both counters. Only for tests: starting near 2^31 or 2^32 exercises the counter wrap
   * that a long-running ring reaches after 4 GiB of traffic.
   */
  initialCounter?: number;
}

function roundUpPow2(n: number): number {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}

/**
 * A single-producer/single-consumer ring of variable-length messages in shared memory. One thread calls the
 * producer methods (`tryWrite`, `tryReserve`, `commit`, `flush`), one thread calls the consumer methods
 * (`drain`, `read`); each side holds its own `MsgRing` object from {@link MsgRing.attach} (one object may
 * play both roles in a single thread). Full means "no": nothing is ever overwritten.
 */
export class MsgRing {
  /** The data area; payload offsets given by `drain`/`tryReserve` index into it. */
  readonly bytes: Uint8Array;
  /** DataView over the same data area, for reading and writing numbers at payload offsets. */
  readonly view: DataView;
  /** Data area size in bytes (a power of two). */
  readonly capacity: number;
  /** Largest payload that can ever be written (a larger one throws instead of returning false). */
  readonly maxMessage: number;

  private readonly hdr: Int32Array;
  private readonly words: Uint32Array;
  private readonly mask: number;

  // Producer-local state. `head` includes staged (unpublished) records; `cachedTail` is the last tail seen,
  // refreshed from shared memory only when it says "full" (saves a cache miss on most writes).
  private head: number;
  private published: number;
  private cachedTail: number;
  private resHead = 0; // head after the pad (if any) of the current reservation
  private resPos = -1; // data position of the reserved record's length word; -1 when none
  private resLen = 0;
  /** Producer side: writes refused because the ring was full (backpressure events). */
  rejected = 0;

  // Consumer-local state.
  private tail: number;

  private constructor(readonly sab: SharedArrayBuffer, readonly byteOffset: number) {
    if (byteOffset % 64 !== 0) throw new RangeError(`ring byteOffset ${byteOffset} is not a multiple of 64`);
    this.hdr = new Int32Array(sab, byteOffset, RING_HEADER_BYTES / 4);
    if (A.load(this.hdr, H_MAGIC) !== MAGIC) throw new Error(`no MsgRing at byte ${byteOffset} of this SharedArrayBuffer`);
    const cap = A.load(this.hdr, H_CAPACITY);
    if (cap < MIN_CAPACITY || cap > MAX_CAPACITY || (cap & (cap - 1)) !== 0 || byteOffset + RING_HEADER_BYTES + cap > sab.byteLength) {
      throw new Error(`corrupt MsgRing header at byte ${byteOffset}: capacity ${cap}`);
    }
    this.capacity = cap;
    this.mask = cap - 1;
    this.maxMessage = cap / 2 - 4;
    const data = byteOffset + RING_HEADER_BYTES;
    this.bytes = new Uint8Array(sab, data, cap);
    this.view = new DataView(sab, data, cap);
    this.words = new Uint32Array(sab, data, cap / 4);
    this.head = this.published = A.load(this.hdr, H_HEAD);
    this.tail = this.cachedTail = A.load(this.hdr, H_TAIL);
  }

  /** Bytes a ring of `capacityBytes` (rounded up to a power of two, at least 64) occupies in a buffer. */
  static bytesFor(capacityBytes: number): number {
    return RING_HEADER_BYTES + roundUpPow2(capacityBytes);
  }

  /** Writes an empty ring's header into `sab` at `byteOffset`; returns the capacity used. */
  static format(sab: SharedArrayBuffer, byteOffset: number, capacityBytes: number, opts: MsgRingOptions = {}): number {
    if (!(capacityBytes > 0) || capacityBytes > MAX_CAPACITY) throw new RangeError(`ring capacity ${capacityBytes} out of range (1..2^30)`);
    const cap = roundUpPow2(capacityBytes);
    const hdr = new Int32Array(sab, byteOffset, RING_HEADER_BYTES / 4);
    const start = (opts.initialCounter ?? 0) | 0;
    if ((start & 3) !== 0) throw new RangeError(`initialCounter ${start} is not a multiple of 4`);
    A.store(hdr, H_CAPACITY, cap);
    A.store(hdr, H_HEAD, start);
    A.store(hdr, H_TAIL, start);
    A.store(hdr, H_MAGIC, MAGIC); // last: attach() trusts the rest once it sees the magic
    return cap;
  }

  /** Allocates a new ring (data area rounded up to a power of two) in its own SharedArrayBuffer. */
  static create(capacityBytes: number, opts: MsgRingOptions = {}): MsgRing {
    const sab = new SharedArrayBuffer(MsgRing.bytesFor(capacityBytes));
    MsgRing.format(sab, 0, capacityBytes, opts);
    return new MsgRing(sab, 0);
  }

  /** Opens a ring formatted by another thread (or this one) at `byteOffset` of `sab`. */
  static attach(sab: SharedArrayBuffer, byteOffset = 0): MsgRing {
    return new MsgRing(sab, byteOffset);
  }

  // --- producer ------------------------------------------------------------------------------------------

  /**
   * Reserves room for a `len`-byte payload and returns its offset in {@link bytes}, or -1 when the ring is
   * full. Write the payload there, then call {@link commit}. Throws if `len` exceeds {@link maxMessage}.
   */
  tryReserve(len: number): number {
    if (this.resPos >= 0) throw new Error('MsgRing.tryReserve: previous reservation not committed');
    if (!(len >= 0 && len <= this.maxMessage)) throw new RangeError(`message of ${len} bytes exceeds ring limit ${this.maxMessage}`);
    const need = (len + 7) & ~3; // 4-byte length word + payload, padded to 4
    const pos = this.head & this.mask;
    const toEnd = this.capacity - pos;
    const total = need <= toEnd ? need : toEnd + need;
    if (((this.head - this.cachedTail) | 0) + total > this.capacity) {
      this.cachedTail = A.load(this.hdr, H_TAIL);
      if (((this.head - this.cachedTail) | 0) + total > this.capacity) {
        this.rejected++;
        return -1;
      }
    }
    if (need <= toEnd) {
      this.resHead = this.head;
      this.resPos = pos;
    } else {
      // Not yet visible to the consumer: head only moves past the pad at commit.
      this.words[pos >> 2] = PAD;
      this.resHead = (this.head + toEnd) | 0;
      this.resPos = 0;
    }
    this.resLen = len;
    return this.resPos + 4;
  }

  /**
   * Completes the reservation with the payload's final length (at most what was reserved: encode into a
   * worst-case reservation, commit what was used). With `publish` false the record stays invisible to the
   * consumer until {@link flush}, so a batch costs one shared store (Seastar flushes its queues per loop).
   */
  commit(len: number = this.resLen, publish = true): void {
    const pos = this.resPos;
    if (pos < 0) throw new Error('MsgRing.commit without tryReserve');
    if (!(len >= 0 && len <= this.resLen)) throw new RangeError(`commit(${len}) larger than reservation ${this.resLen}`);
    this.words[pos >> 2] = len;
    this.head = (this.resHead + ((len + 7) & ~3)) | 0;
    this.resPos = -1;
    if (publish) {
      this.published = this.head;
      A.store(this.hdr, H_HEAD, this.head);
    }
  }

  /** Copies `bytes` into the ring as one message; false (and nothing written) when it does not fit now. */
  tryWrite(bytes: Uint8Array, publish = true): boolean {
    const off = this.tryReserve(bytes.length);
    if (off < 0) return false;
    this.bytes.set(bytes, off);
    this.commit(bytes.length, publish);
    return true;
  }

  /** Publishes records committed with `publish = false`. */
  flush(): void {
    if (this.published !== this.head) {
      this.published = this.head;
      A.store(this.hdr, H_HEAD, this.head);
    }
  }

  /** Producer side: bytes committed but not yet flushed. */
  get staged(): number {
    return (this.head - this.published) | 0;
  }

  // --- consumer ------------------------------------------------------------------------------------------

  /**
   * Hands up to `max` published messages to `fn` in order and releases their space; returns how many.
   * Allocation-free: `fn` sees the ring's own bytes and must copy what it keeps, because the producer may
   * reuse them as soon as drain returns. Only messages published before the call are considered, so one call
   * is bounded even against a fast producer. If `fn` throws, the message it was given counts as consumed and
   * the error propagates.
   */
  drain(fn: DrainFn, max = Infinity): number {
    let tail = this.tail;
    const head = A.load(this.hdr, H_HEAD);
    if (tail === head) return 0;
    let n = 0;
    try {
      while (n < max && tail !== head) {
        const pos = tail & this.mask;
        const len = this.words[pos >> 2];
        if (len === PAD) {
          tail = (tail + this.capacity - pos) | 0;
          continue;
        }
        // A length the producer cannot have written means the region is shared with something else.
        if (len > this.maxMessage) throw new Error(`corrupt MsgRing record: length ${len} at ${pos}`);
        tail = (tail + ((len + 7) & ~3)) | 0;
        n++;
        fn(this.bytes, pos + 4, len);
      }
    } finally {
      this.tail = tail;
      A.store(this.hdr, H_TAIL, tail);
    }
    return n;
  }

  /** Takes one message as a copy (allocates: prefer {@link drain} on hot paths); null when empty. */
  read(): Uint8Array | null {
    let out: Uint8Array | null = null;
    this.drain((b, off, len) => {
      out = b.slice(off, off + len);
    }, 1);
    return out;
  }

  /** Bytes published and not yet released (records, padding and length words included). */
  get size(): number {
    return (A.load(this.hdr, H_HEAD) - A.load(this.hdr, H_TAIL)) | 0;
  }

  /** True when no published message is waiting (a cheap "pure poll" for the consumer). */
  get isEmpty(): boolean {
    return A.load(this.hdr, H_HEAD) === A.load(this.hdr, H_TAIL);
  }
}
