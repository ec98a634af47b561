// A fixed-size hash table from canonical IPv4 flow keys to small integers, in one typed array: linear probing
// with backward-shift deletion (no tombstones), so lookups stay short however long it runs and memory never
// grows after construction. A slot's four words (addresses, ports, protocol and value) share a cache line.
import { native, LAYOUT, flowKeyHash } from '../../native';
import { srcIsLow } from './tuple';

// The slot arithmetic below (i << 2, words lo, hi, ports, meta; proto << 24 | value + 1) is the layout the
// native offload executor reads (native/layout.ts LAYOUT.flowTable, checked against C++ at load). Written as
// literals for speed; this check fails at load if the shared definition ever moves away from them.
{
  const ft = LAYOUT.flowTable as Record<string, number>;
  const assumed: Record<string, number> = { slotWords: 4, lo: 0, hi: 1, ports: 2, meta: 3, protoShift: 24, valueMask: 0xffffff };
  for (const k of Object.keys(assumed)) if (ft[k] !== assumed[k]) throw new Error(`net/flow/flow-table.ts assumes flowTable.${k} = ${assumed[k]}, the layout says ${ft[k]}`);
}

/**
 * Zeroed memory for a table's slots, or null to use an ordinary typed array. `huge`: the memory sits on
 * huge pages (fewer TLB misses for random probes).
 */
export type TableMemory = (bytes: number) => { buffer: ArrayBuffer; huge: boolean } | null;

/** Tables smaller than this stay in ordinary memory (they fit a few TLB entries anyway). */
export const HUGE_TABLE_MIN_BYTES = 1 << 20;

/**
 * The default table memory: tables of HUGE_TABLE_MIN_BYTES and more on transparent huge pages
 * (native.memory.hugeBuffer: a 2 MiB-aligned mapping advised MADV_HUGEPAGE); smaller tables, or when that
 * fails, ordinary memory. A shard's flow table is probed at a random slot per packet: on 4 KiB pages a
 * 4 MiB table spans 1,024 pages and most probes miss the TLB as well as the cache.
 */
export const hugeTableMemory: TableMemory = (bytes) => {
  if (bytes < HUGE_TABLE_MIN_BYTES) return null;
  try {
    const r = native.memory.hugeBuffer(bytes);
    return { buffer: r.buffer, huge: r.advised };
  } catch {
    return null;
  }
};

/** Values must stay below this (24 bits in a slot, 0 meaning empty). */
export const FLOW_TABLE_MAX_VALUE = (1 << 24) - 2;

/**
 * Up to `capacity` entries keyed by (proto, lo address, hi address, lo port, hi port), where lo/hi is the
 * canonical order of the two endpoints, so both directions of a flow find the same entry. The value is a
 * non-negative int below FLOW_TABLE_MAX_VALUE (the flow layer stores flow index * 2 + key slot).
 */
export class FlowTable {
  readonly capacity: number;
  private readonly mask: number;
  /** per slot: lo address, hi address, lo port << 16 | hi port, proto << 24 | (value + 1) (0 = empty) */
  private readonly k: Uint32Array;
  size = 0;

  /**
   * `memory` supplies the slots' zeroed memory (e.g. hugeTableMemory); default: an ordinary typed array.
   * `hugeMemory`: whether the memory came from an allocator that put it on huge pages.
   */
  readonly hugeMemory: boolean;

  constructor(capacity: number, memory?: TableMemory) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > FLOW_TABLE_MAX_VALUE) throw new RangeError(`flow table capacity must be an integer in 1..${FLOW_TABLE_MAX_VALUE}, got ${capacity}`);
    this.capacity = capacity;
    // Load factor at most 1/2: short probe sequences for linear probing.
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.mask = n - 1;
    const m = memory?.(n * 16) ?? null;
    if (m !== null && m.buffer.byteLength < n * 16) throw new RangeError(`flow table memory: ${m.buffer.byteLength} bytes given, ${n * 16} needed`);
    this.k = m !== null ? new Uint32Array(m.buffer, 0, n * 4) : new Uint32Array(n * 4);
    this.hugeMemory = m !== null && m.huge;
  }

  get slots(): number {
    return this.mask + 1;
  }

  /** The slot words and the probe mask, for the native offload executor (it reads, never writes). */
  nativeView(): { table: Uint32Array; mask: number } {
    return { table: this.k, mask: this.mask };
  }

  private home(proto: number, lo: number, hi: number, ports: number): number {
    return flowKeyHash(proto, lo, hi, ports) & this.mask;
  }

  /** Slot index of the entry for the tuple, or -1. The tuple may be given in either direction. */
  find(proto: number, src: number, dst: number, sport: number, dport: number): number {
    let lo: number, hi: number, ports: number;
    if (srcIsLow(src, dst, sport, dport)) {
      lo = src >>> 0; hi = dst >>> 0; ports = ((sport << 16) | dport) >>> 0;
    } else {
      lo = dst >>> 0; hi = src >>> 0; ports = ((dport << 16) | sport) >>> 0;
    }
    const m = this.mask, k = this.k;
    let i = this.home(proto, lo, hi, ports);
    for (;;) {
      const b = i << 2;
      const meta = k[b + 3];
      if (meta === 0) return -1;
      if (k[b] === lo && k[b + 1] === hi && k[b + 2] === ports && meta >>> 24 === proto) return i;
      i = (i + 1) & m;
    }
  }

  /** The value for the tuple, or -1. */
  get(proto: number, src: number, dst: number, sport: number, dport: number): number {
    const i = this.find(proto, src, dst, sport, dport);
    return i < 0 ? -1 : (this.k[(i << 2) + 3] & 0xffffff) - 1;
  }

  /** Adds an entry; false when the table is full or the key is present. */
  insert(proto: number, src: number, dst: number, sport: number, dport: number, value: number): boolean {
    if (this.size >= this.capacity || value < 0 || value > FLOW_TABLE_MAX_VALUE) return false;
    let lo: number, hi: number, ports: number;
    if (srcIsLow(src, dst, sport, dport)) {
      lo = src >>> 0; hi = dst >>> 0; ports = ((sport << 16) | dport) >>> 0;
    } else {
      lo = dst >>> 0; hi = src >>> 0; ports = ((dport << 16) | sport) >>> 0;
    }
    const m = this.mask, k = this.k;
    let i = this.home(proto, lo, hi, ports);
    for (;;) {
      const b = i << 2;
      const meta = k[b + 3];
      if (meta === 0) break;
      if (k[b] === lo && k[b + 1] === hi && k[b + 2] === ports && meta >>> 24 === proto) return false;
      i = (i + 1) & m;
    }
    const b = i << 2;
    k[b] = lo; k[b + 1] = hi; k[b + 2] = ports; k[b + 3] = (((proto & 0xff) << 24) | (value + 1)) >>> 0;
    this.size++;
    return true;
  }

  /** Removes the entry for the tuple; false if absent. */
  remove(proto: number, src: number, dst: number, sport: number, dport: number): boolean {
    const i = this.find(proto, src, dst, sport, dport);
    if (i < 0) return false;
    this.removeAt(i);
    return true;
  }

  /** Backward-shift deletion: pull later entries of the probe run into the hole so no tombstone is needed. */
  private removeAt(i: number): void {
    const m = this.mask, k = this.k;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & m;
      const bj = j << 2;
      if (k[bj + 3] === 0) break;
      const h = this.home(k[bj + 3] >>> 24, k[bj], k[bj + 1], k[bj + 2]);
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const inRange = hole <= j ? hole < h && h <= j : hole < h || h <= j;
      if (inRange) continue;
      const bh = hole << 2;
      k[bh] = k[bj]; k[bh + 1] = k[bj + 1]; k[bh + 2] = k[bj + 2]; k[bh + 3] = k[bj + 3];
      hole = j;
    }
    k[(hole << 2) + 3] = 0;
    this.size--;
  }

  clear(): void {
    this.k.fill(0);
    this.size = 0;
  }
}
