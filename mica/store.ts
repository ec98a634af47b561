// One MICA partition: items appended to a circular log, found through a lossy set-associative index of
// (tag, log offset) slots. Cache mode overwrites the oldest items and slots; store mode never loses an
// item: a cleaner moves live items from the log's tail to its head, and a write that cannot fit is refused.
// Owned by one shard (EREW): no locks. Keys and values are read from and written to caller buffers.
import { Result, pad8 } from './wire';

/** Slots per index bucket (tag + offset each). */
export const SLOTS = 7;
const ITEM_HEADER = 16;

export interface PartitionOptions {
  /** log bytes (rounded down to a multiple of 8; at least 4 KiB) */
  logBytes: number;
  /** index buckets (a power of two) */
  buckets: number;
  mode: 'store' | 'cache';
  /** largest value accepted (bytes) */
  maxValueLength?: number;
}

export interface PartitionCounters {
  items: number;
  gets: number; hits: number; sets: number; deletes: number; increments: number;
  /** times the log head wrapped to the start */
  logWraps: number;
  /** cache: lookups that found a slot whose item the log had overwritten (an item lost to wrap) */
  lostToWrap: number;
  /** cache: slots taken from another key because the bucket was full (an item lost to the index) */
  indexEvictions: number;
  /** store: writes refused because the log or the bucket was full */
  refusedFull: number;
  /** store: live items the cleaner moved from the tail to the head */
  cleanerMoves: number;
  liveBytes: number;
}

/** Item size in the log. */
export function itemSize(keyLength: number, valueLength: number): number {
  return ITEM_HEADER + pad8(keyLength) + pad8(valueLength);
}

export class Partition {
  readonly size: number;
  readonly mask: number;
  readonly cache: boolean;
  readonly maxValueLength: number;
  /** the largest item: the log has this much slack after its end, so an item is always contiguous */
  private readonly maxItem: number;
  private readonly log: Uint8Array;
  private readonly dv: DataView;
  private readonly tags: Uint16Array;
  /** logical log offset of each slot's item (monotonic; physical = offset % size) */
  private readonly offs: Float64Array;
  private head = 0;
  /** store mode: logical offset of the oldest byte that may hold a live item */
  private tail = 0;
  readonly c: PartitionCounters = {
    items: 0, gets: 0, hits: 0, sets: 0, deletes: 0, increments: 0, logWraps: 0, lostToWrap: 0, indexEvictions: 0,
    refusedFull: 0, cleanerMoves: 0, liveBytes: 0,
  };
  /** after a successful get: physical offset and length of the value in `logBytes` */
  valueAt = 0;
  valueLength = 0;
  /** after a successful increment: the new value (low, high 32 bits) */
  incLo = 0;
  incHi = 0;

  constructor(o: PartitionOptions) {
    if (!(o.buckets > 0 && (o.buckets & (o.buckets - 1)) === 0)) throw new RangeError('buckets must be a power of two');
    this.size = Math.floor(o.logBytes / 8) * 8;
    if (this.size < 4096) throw new RangeError('logBytes must be at least 4096');
    this.mask = o.buckets - 1;
    this.cache = o.mode === 'cache';
    this.maxValueLength = Math.min(o.maxValueLength ?? 1 << 16, Math.floor(this.size / 4));
    this.maxItem = itemSize(255, this.maxValueLength);
    // Slack after the end: an item that crosses the end is written contiguously and mirrored to the start.
    this.log = new Uint8Array(this.size + this.maxItem);
    this.dv = new DataView(this.log.buffer);
    this.tags = new Uint16Array(o.buckets * SLOTS);
    this.offs = new Float64Array(o.buckets * SLOTS);
  }

  /** The log memory (to copy a found value out of). */
  get logBytes(): Uint8Array { return this.log; }

  private static tag(lo: number, hi: number): number {
    return (((lo >>> 16) ^ hi) & 0xffff) || 1;
  }

  /** Is the item at logical offset `o` still in the log? */
  private intact(o: number): boolean {
    return o >= this.head - this.size;
  }

  private keyEquals(p: number, lo: number, hi: number, key: Uint8Array, kOff: number, kLen: number): boolean {
    const dv = this.dv;
    if (dv.getUint32(p + 4, true) !== lo >>> 0 || dv.getUint32(p + 8, true) !== hi >>> 0) return false;
    if (dv.getUint32(p, true) >>> 24 !== kLen) return false;
    const log = this.log, k = p + ITEM_HEADER;
    for (let i = 0; i < kLen; i++) if (log[k + i] !== key[kOff + i]) return false;
    return true;
  }

  /** Index slot holding this key, or -1. */
  private find(lo: number, hi: number, key: Uint8Array, kOff: number, kLen: number, at = -1): number {
    const tag = Partition.tag(lo, hi), b = (lo & this.mask) * SLOTS;
    for (let s = b; s < b + SLOTS; s++) {
      if (this.tags[s] !== tag) continue;
      const o = this.offs[s];
      if (this.cache && !this.intact(o)) {
        this.tags[s] = 0;
        this.c.items--;
        this.c.lostToWrap++;
        continue;
      }
      if (at >= 0 ? o === at : this.keyEquals(o % this.size, lo, hi, key, kOff, kLen)) return s;
    }
    return -1;
  }

  /** A free slot in the key's bucket (cache: the oldest one when full), or -1 (store, bucket full). */
  private freeSlot(lo: number): number {
    const b = (lo & this.mask) * SLOTS;
    let oldest = b;
    for (let s = b; s < b + SLOTS; s++) {
      if (this.tags[s] === 0) return s;
      if (this.cache && !this.intact(this.offs[s])) {
        this.tags[s] = 0;
        this.c.items--;
        this.c.lostToWrap++;
        return s;
      }
      if (this.offs[s] < this.offs[oldest]) oldest = s;
    }
    if (!this.cache) return -1;
    this.tags[oldest] = 0;
    this.c.items--;
    this.c.indexEvictions++;
    return oldest;
  }

  /** Copies bytes written past the physical end (into the slack) to the start: the log's mirror. */
  private mirror(p: number, n: number): void {
    if (p + n > this.size) this.log.copyWithin(Math.max(0, p - this.size), Math.max(p, this.size), p + n);
  }

  /** store mode: frees log space for `n` bytes by moving live tail items to the head. False if impossible. */
  private makeRoom(n: number): boolean {
    // Admission: live data plus the new item must leave the cleaner one item of dead space to find.
    if (this.c.liveBytes + n > this.size - this.maxItem) return false;
    let scanned = 0;
    while (this.head + n > this.tail + this.size) {
      // a whole lap without room: everything left is live (a replaced item still counts until its slot moves)
      if (this.tail >= this.head || scanned > this.size) return false;
      const p = this.tail % this.size;
      const kv = this.dv.getUint32(p, true);
      const kl = kv >>> 24, sz = itemSize(kl, kv & 0xffffff);
      const lo = this.dv.getUint32(p + 4, true), hi = this.dv.getUint32(p + 8, true);
      const o = this.tail;
      const s = this.find(lo, hi, this.log, p + ITEM_HEADER, kl, o);
      this.tail += sz;
      scanned += sz;
      if (s >= 0) {
        // live: copy it to the head (the copy is what the slot points to from now on)
        const q = this.head % this.size;
        this.log.copyWithin(q, p, p + sz);
        this.mirror(q, sz);
        this.offs[s] = this.head;
        this.head += sz;
        this.c.cleanerMoves++;
      }
    }
    return true;
  }

  /** Appends an item; returns its logical offset, or -1 (store mode, no room). */
  private append(lo: number, hi: number, key: Uint8Array, kOff: number, kLen: number, val: Uint8Array, vOff: number, vLen: number): number {
    const sz = itemSize(kLen, vLen);
    if (!this.cache && !this.makeRoom(sz)) return -1;
    const p = this.head % this.size;
    const dv = this.dv, log = this.log;
    dv.setUint32(p, ((kLen << 24) | vLen) >>> 0, true);
    dv.setUint32(p + 4, lo >>> 0, true);
    dv.setUint32(p + 8, hi >>> 0, true);
    dv.setUint32(p + 12, 0, true);
    log.fill(0, p + ITEM_HEADER, p + sz);
    log.set(key.subarray(kOff, kOff + kLen), p + ITEM_HEADER);
    log.set(val.subarray(vOff, vOff + vLen), p + ITEM_HEADER + pad8(kLen));
    this.mirror(p, sz);
    const o = this.head;
    if (Math.floor((o + sz) / this.size) !== Math.floor(o / this.size)) this.c.logWraps++;
    this.head += sz;
    return o;
  }

  private sizeAt(o: number): number {
    const kv = this.dv.getUint32(o % this.size, true);
    return itemSize(kv >>> 24, kv & 0xffffff);
  }

  get(lo: number, hi: number, key: Uint8Array, kOff: number, kLen: number): Result {
    this.c.gets++;
    const s = this.find(lo, hi, key, kOff, kLen);
    if (s < 0) return Result.NotFound;
    const p = this.offs[s] % this.size, kv = this.dv.getUint32(p, true);
    this.valueAt = p + ITEM_HEADER + pad8(kv >>> 24);
    this.valueLength = kv & 0xffffff;
    this.c.hits++;
    return Result.Success;
  }

  test(lo: number, hi: number, key: Uint8Array, kOff: number, kLen: number): Result {
    return this.find(lo, hi, key, kOff, kLen) < 0 ? Result.NotFound : Result.Success;
  }

  /** Set (or, with `onlyNew`, Add: Exists when the key is present). */
  set(lo: number, hi: number, key: Uint8Array, kOff: number, kLen: number, val: Uint8Array, vOff: number, vLen: number, onlyNew = false): Result {
    if (vLen > this.maxValueLength) return Result.InsufficientSpace;
    this.c.sets++;
    let s = this.find(lo, hi, key, kOff, kLen);
    if (s >= 0 && onlyNew) return Result.Exists;
    const sz = itemSize(kLen, vLen);
    if (s < 0) {
      s = this.freeSlot(lo);
      if (s < 0) {
        this.c.refusedFull++;
        return Result.InsufficientSpace;
      }
      // reserve the slot before the append: the store cleaner may look keys up
      const o = this.append(lo, hi, key, kOff, kLen, val, vOff, vLen);
      if (o < 0) {
        this.c.refusedFull++;
        return Result.InsufficientSpace;
      }
      this.tags[s] = Partition.tag(lo, hi);
      this.offs[s] = o;
      this.c.items++;
      if (!this.cache) this.c.liveBytes += sz;
      return Result.Success;
    }
    const old = this.sizeAt(this.offs[s]);
    if (!this.cache) this.c.liveBytes -= old; // the old item is dead once replaced; the cleaner may drop it
    const o = this.append(lo, hi, key, kOff, kLen, val, vOff, vLen);
    if (o < 0) {
      if (!this.cache) this.c.liveBytes += old;
      this.c.refusedFull++;
      return Result.InsufficientSpace;
    }
    this.offs[s] = o;
    if (!this.cache) this.c.liveBytes += sz;
    return Result.Success;
  }

  delete(lo: number, hi: number, key: Uint8Array, kOff: number, kLen: number): Result {
    this.c.deletes++;
    const s = this.find(lo, hi, key, kOff, kLen);
    if (s < 0) return Result.NotFound;
    if (!this.cache) this.c.liveBytes -= this.sizeAt(this.offs[s]);
    this.tags[s] = 0;
    this.c.items--;
    return Result.Success;
  }

  /** Adds a 64-bit little-endian increment to an 8-byte value (NotFound if absent, Error if not 8 bytes). */
  increment(lo: number, hi: number, key: Uint8Array, kOff: number, kLen: number, incLo: number, incHi: number): Result {
    this.c.increments++;
    const s = this.find(lo, hi, key, kOff, kLen);
    if (s < 0) return Result.NotFound;
    const p = this.offs[s] % this.size, kv = this.dv.getUint32(p, true);
    if ((kv & 0xffffff) !== 8) return Result.Error;
    const v = p + ITEM_HEADER + pad8(kv >>> 24);
    const sumLo = this.dv.getUint32(v, true) + (incLo >>> 0);
    const nLo = sumLo >>> 0;
    const nHi = (this.dv.getUint32(v + 4, true) + (incHi >>> 0) + (sumLo > 0xffffffff ? 1 : 0)) >>> 0;
    this.dv.setUint32(v, nLo, true);
    this.dv.setUint32(v + 4, nHi, true);
    this.mirror(v, 8);
    this.incLo = nLo;
    this.incHi = nHi;
    return Result.Success;
  }

  /** Forgets every item. */
  reset(): void {
    this.tags.fill(0);
    this.head = this.tail = 0;
    this.c.items = 0;
    this.c.liveBytes = 0;
  }
}
