// The TS side of every memory layout shared with the native addon (its C++ side is native/src/layout.h):
// descriptor words, burst limit, fast-call parameters, port stats, offload entries, flow-table slots and hash.
// native/index.ts checks at load that these equal the addon's exported `layout`; hot paths read these consts.

/** The layout tables; field names match the addon's `layout` object (native/src/addon.cc) one for one. */
export const LAYOUT = {
  /** RX descriptor: slot, chunk (pool << 16 | chunk), bufOffset, dataOff, dataLen, port, queue, rssHash, olFlags, ptype. */
  rxDesc: { words: 10, slot: 0, chunk: 1, bufOffset: 2, dataOff: 3, dataLen: 4, port: 5, queue: 6, rss: 7, olFlags: 8, ptype: 9 },
  /** TX descriptor: slot, dataOff, dataLen, flags; `flagSetPort` asks to record the egress port (low 16 bits). */
  txDesc: { words: 4, slot: 0, dataOff: 1, dataLen: 2, flags: 3, flagSetPort: 1 << 16 },
  /** Packets per native call at most; the queue number of packets that came from no device queue. */
  burst: { max: 512, noQueue: 0xffff },
  /** The fast area: parameter words, then regions of MAX_BURST RX descriptors; parameter positions. */
  fast: { paramWords: 16, regionWords: 512 * 10, port: 0, queue: 1, count: 2, region: 3, retries: 4, handled: 5, rxDropped: 6, ringFree: 7, ringCap: 8 },
  /** Per-port counters in a shard's stats (the native offload executor adds to rx, tx, txDropped, txBytes). */
  portStats: { words: 6, rx: 0, tx: 1, txDropped: 2, dropped: 3, rxBytes: 4, txBytes: 5 },
  /** Offload entry words (int32), `stride` per flow direction. npkts/nbytes are u64 (two words). */
  offloadEntry: {
    stride: 32, maxOut: 16, counts: 256, flags: 0, epoch: 1, out: 2, tag: 3, osrc: 4, odst: 5, oports: 6, nsrc: 7, ndst: 8,
    nports: 9, dIp: 10, dL4: 11, dmacHi: 12, dmacLo: 13, smacHi: 14, smacLo: 15, npkts: 16, nbytes: 18, nlast: 20, mark: 21,
  },
  /** Offload entry flag bits; the protocol sits at bit `protoShift`. */
  offloadFlags: { valid: 1, ttl: 2, macs: 4, ports: 8, addrs: 16, native: 32, protoShift: 8 },
  /** Offload control words: epoch, and the flow clock (ms) native writes as an entry's last-seen time. */
  offloadCtl: { epoch: 0, clock: 1 },
  /** Flow table slot: lo address, hi address, lo port << 16 | hi port, proto << 24 | (value + 1). */
  flowTable: { slotWords: 4, lo: 0, hi: 1, ports: 2, meta: 3, protoShift: 24, valueMask: 0xffffff },
} as const;

export type LayoutTable = { readonly [group: string]: { readonly [field: string]: number } };

/**
 * The flow table's hash of a canonical key (lo/hi address, lo port << 16 | hi port): a multiply-xor, then a
 * murmur3 finalizer. The native offload executor computes the same (layout.h flowHome) to probe the table.
 */
export function flowKeyHash(proto: number, lo: number, hi: number, ports: number): number {
  let h = (Math.imul(lo, 0x9e3779b1) ^ hi) + Math.imul(ports, 0x85ebca6b) + proto;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Keys covering the hash's arithmetic: zeroes, all-ones, carries out of the sum, every protocol byte value class. */
export const FLOW_HASH_VECTORS: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 0, 0], [6, 0xc6120001, 0xc6120102, (1234 << 16) | 80], [17, 0xffffffff, 0xffffffff, 0xffffffff],
  [1, 0x0a000001, 0xc0a80001, 0], [255, 0x80000000, 0x7fffffff, 0x8000ffff], [6, 1, 2, 3],
];

/**
 * Compares the TS layout with the native one; returns one line per difference (empty when equal). Fields
 * present on one side only count as differences, so a word added in C++ alone fails too.
 */
export function layoutDifferences(ts: LayoutTable, nativeLayout: unknown,
  nativeHash?: (proto: number, lo: number, hi: number, ports: number) => number,
  tsHash: (proto: number, lo: number, hi: number, ports: number) => number = flowKeyHash): string[] {
  const out: string[] = [];
  if (typeof nativeLayout !== 'object' || nativeLayout === null) return ['the addon exports no `layout` object (rebuild it: npm run build:native)'];
  const nl = nativeLayout as Record<string, unknown>;
  for (const g of Object.keys(ts)) {
    const ng = nl[g];
    if (typeof ng !== 'object' || ng === null) { out.push(`${g}: missing in the addon`); continue; }
    const ngr = ng as Record<string, unknown>;
    for (const f of Object.keys(ts[g])) {
      if (ngr[f] !== ts[g][f]) out.push(`${g}.${f}: TS ${ts[g][f]}, native ${ngr[f] === undefined ? 'missing' : String(ngr[f])}`);
    }
    for (const f of Object.keys(ngr)) if (!(f in ts[g])) out.push(`${g}.${f}: native ${String(ngr[f])}, missing in TS`);
  }
  for (const g of Object.keys(nl)) if (!(g in ts) && typeof nl[g] === 'object') out.push(`${g}: native only, missing in TS`);
  if (nativeHash) {
    for (const [p, lo, hi, ports] of FLOW_HASH_VECTORS) {
      const a = tsHash(p, lo, hi, ports), b = nativeHash(p, lo, hi, ports) >>> 0;
      if (a !== b) { out.push(`flowTable hash(${p}, ${lo}, ${hi}, ${ports}): TS ${a}, native ${b}`); break; }
    }
  }
  return out;
}
