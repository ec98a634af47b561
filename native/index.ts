// The one place that loads the native addon; declares its surface and turns native errors into typed ones.
import * as path from 'path';
import { LAYOUT, flowKeyHash, layoutDifferences, type LayoutTable } from './layout';

export { LAYOUT, flowKeyHash, layoutDifferences } from './layout';
/** Words per RX descriptor: slot, chunk (pool<<16 | chunk), bufOffset, dataOff, dataLen, port, queue, rssHash, olFlags, ptype. */
export const RX_DESC_WORDS = LAYOUT.rxDesc.words;
/** Words per TX descriptor: slot, dataOff, dataLen, flags. */
export const TX_DESC_WORDS = LAYOUT.txDesc.words;
/** Word positions in an RX descriptor. */
export const RXD = LAYOUT.rxDesc;
/** Word positions in a TX descriptor. */
export const TXD = LAYOUT.txDesc;
/** Queue number in descriptors of packets that did not come from a device queue (allocated, copied, from a ring). */
export const NO_QUEUE = LAYOUT.burst.noQueue;
/** Packets per native call at most (RX burst, TX, free, ring put/get). */
export const MAX_BURST = LAYOUT.burst.max;
/** TX descriptor flags word: record the egress port (low 16 bits) in the mbuf (for ring hand-offs). */
export const TX_FLAG_SET_PORT = LAYOUT.txDesc.flagSetPort;
/** Fast-call parameter word positions (see NativeAddon.fast). */
export const FAST = LAYOUT.fast;

export interface EalStartInfo { mainLcore: number; socket: number; ports: number }
export interface PoolOptions { size?: number; cacheSize?: number; dataRoom?: number }
export interface PoolInfo {
  name: string; size: number; cacheSize: number; dataRoom: number; headroom: number;
  chunks: number; inUse: number; available: number;
}
export interface PortInfo {
  id: number; name: string; driver: string; mac: string; mtu: number; minMtu: number; maxMtu: number;
  maxRxQueues: number; maxTxQueues: number; rssOffloads: number; rxOffloads: number; txOffloads: number;
  retaSize: number; /** RSS key length the device takes (0: unknown) */ hashKeySize: number; socket: number; rxQueues: number; txQueues: number; started: boolean;
}
export interface PortOptions {
  pool: number; /** one pool per RX queue (shard), overriding `pool` */ queuePools?: number[]; rxQueues?: number; txQueues?: number; rxDesc?: number; txDesc?: number;
  mtu?: number; promiscuous?: boolean; rss?: boolean;
  /** RSS key (the device's length); default: the driver's key */
  rssKey?: Uint8Array;
  /** RSS hash functions by name (ip, tcp, udp, sctp, ipv4, ipv4-tcp, ipv4-udp, ipv4-frag, ipv6, ipv6-tcp, ipv6-udp, ipv6-frag, l2-payload); default ip, tcp, udp */
  rssFunctions?: string[];
  /** TX offload MBUF_FAST_FREE: only when every mbuf sent on the port comes from one pool with refcnt 1 */
  fastFree?: boolean;
}
export interface PortStats {
  ipackets: number; opackets: number; ibytes: number; obytes: number; imissed: number; ierrors: number;
  oerrors: number; rxNombuf: number; queueIpackets: number[]; queueOpackets: number[];
}
/** A port whose received packets the native offload executor may take (with the checks MetaFlow makes). */
export interface OffloadRxPort { port: number; verifyIp: boolean; verifyL4: boolean; /** 48-bit MAC to match, or -1 */ mac: number; /** port stats block, or -1 */ statsBase: number }
/** An out index of offload entries: the DPDK port and this shard's TX queue on it (-1: none). */
export interface OffloadOutPort { index: number; port: number; queue: number; statsBase: number }
/** What `NativeLcore.offloadAttach` reads (layouts: native/layout.ts LAYOUT.flowTable, offloadEntry, offloadCtl). */
export interface OffloadAttachOptions {
  table: Uint32Array; mask: number; entries: Int32Array; capacity: number; counts: Float64Array; ctl: Int32Array; stats: Float64Array;
  rx: OffloadRxPort[];
  out: OffloadOutPort[];
}
export interface LinkStatus { up: boolean; speedMbps: number; fullDuplex: boolean }
export interface LcoreStats {
  rxPackets: number; rxBursts: number; rxMultiseg: number; rxForeign: number; /** empty frames freed at RX */ rxEmpty: number; txPackets: number; txDropped: number;
  freed: number; allocated: number; allocFailed: number; copied: number; ringPut: number; ringGet: number;
  ringFull: number; held: number;
}

/** Per-worker DPDK context. Create one per thread, after the EAL runs (in any thread of the process). */
export interface NativeLcore {
  readonly lcoreId: number;
  readonly capacity: number;
  /** Receives up to `max` packets into RX descriptors; returns the count. */
  rx(port: number, queue: number, desc: Uint32Array, max: number): number;
  /** Transmits `count` packets named by TX descriptors; returns how many the device took (the rest are freed and counted). */
  tx(port: number, queue: number, txDesc: Uint32Array, count: number, retries?: number): number;
  /** Transmits `count` packets named by RX descriptors (their slot, dataOff and dataLen words). */
  txRx(port: number, queue: number, rxDesc: Uint32Array, count: number, retries?: number): number;
  /** Frees `count` slots listed in `slots`. */
  free(slots: Uint32Array, count: number): void;
  /** Allocates `count` packets (all or none) into RX descriptors; returns count or 0. */
  alloc(pool: number, desc: Uint32Array, count: number): number;
  /** Copies a packet's data into a new packet described at `desc[index]`; false when no buffer is free. */
  copy(slot: number, dataOff: number, dataLen: number, desc: Uint32Array, index: number): boolean;
  /** Moves packets into a native SPSC ring; returns how many went in (the rest stay held). */
  ringPut(ring: number, txDesc: Uint32Array, count: number): number;
  /** Takes packets out of a native ring into RX descriptors. */
  ringGet(ring: number, desc: Uint32Array, max: number): number;
  /** ArrayBuffers over a pool's memory chunks (cached: the same objects each call). */
  chunks(pool: number): ArrayBuffer[];
  held(): number;
  stats(): LcoreStats;
  pin(cpu: number): void;
  /** Frees every held packet and unregisters the thread; returns how many packets were still held. */
  close(): number;
  /**
   * Makes this Lcore the target of `native.fast` calls in this thread and returns their memory:
   * FAST_PARAM_WORDS parameter words, then `regions` descriptor regions of FAST_REGION_WORDS words.
   */
  fastArea(regions: number): ArrayBuffer;
  /** Executes a flow distributor's offloaded entries during RX (net/flow FlowDistributor.attachNative). */
  offloadAttach(o: OffloadAttachOptions): void;
  /** Stops that; returns what it handled and the TX drops. */
  offloadDetach(): { handled: number; txDropped: number };
}

/** What eal.claimPrefix found in a file prefix's runtime directory before the EAL starts. */
export interface PrefixClaim {
  /** absent: no EAL config there; live: a running process holds it (pid); stale: its process is gone, its files were removed; unknown: could not check (error) */
  state: 'absent' | 'live' | 'stale' | 'unknown';
  pid?: number;
  removed?: string[];
  error?: string;
}

export interface NativeAddon {
  eal: { init(args: string[]): EalStartInfo; cleanup(): void; running(): boolean; version(): string; tscHz(): number; /** /var/run/dpdk/<prefix>, '' when not running */ runtimeDir(): string;
    /** Before init: whether a running primary holds this runtime directory; a dead one's files are removed (eal.cc). */
    claimPrefix(dir: string): PrefixClaim };
  pool: { create(name: string, o: PoolOptions): number; info(pool: number): PoolInfo; inUse(pool: number): number; count(): number };
  ring: { create(name: string, size: number): number; count(ring: number): number };
  port: {
    count(): number; byName(name: string): number | null; info(port: number): PortInfo;
    configure(port: number, o: PortOptions): { rxDesc: number; txDesc: number; rss: boolean; fastFree: boolean };
    /** What the device hashes with now: its key and the hash functions (names, comma-separated). */
    rssConf(port: number): { key: Uint8Array | null; functions: string };
    start(port: number): void; stop(port: number): void; close(port: number): void;
    link(port: number): LinkStatus; stats(port: number): PortStats; xstats(port: number): Record<string, number>;
    resetStats(port: number): void;
  };
  Lcore: new (o?: { capacity?: number }) => NativeLcore;
  /** rte_flow steering rules (ERR_FLOW_UNSUPPORTED when the device refuses a rule: steer in software then). */
  flow: {
    /** Validates "IPv4/UDP dst port -> RX queue"; with `create`, installs it and returns its handle. */
    udpToQueue(port: number, udpDst: number, queue: number, create?: boolean): number;
    destroy(handle: number): void;
    /** Removes every rule of a port. */
    flush(port: number): void;
  };
  memory: {
    /**
     * Zeroed memory of `bytes` (1..2^30) on a 2 MiB-aligned anonymous mapping advised MADV_HUGEPAGE and
     * faulted in at once; unmapped when the ArrayBuffer is collected. `advised` is false where THP is off.
     */
    hugeBuffer(bytes: number): { buffer: ArrayBuffer; advised: boolean };
  };
  /**
   * Zero-argument hot calls on this thread's Lcore; arguments are read from the fast area's params:
   * [0] port or ring, [1] queue, [2] count or max, [3] region, [4] TX retries. Each returns a count.
   */
  fast: { rx(): number; tx(): number; txRx(): number; free(): number; ringPut(): number; ringPutRx(): number; ringGet(): number; ringDrain(): number };
  FAST_PARAM_WORDS: number;
  FAST_REGION_WORDS: number;
  /** The C++ layout definitions (native/src/layout.h), checked against LAYOUT at load. */
  layout: Record<string, Record<string, number>> & { flowHash(proto: number, lo: number, hi: number, ports: number): number };
}

/** Error raised by the native layer or by config checks; `code` is stable (ERR_EAL_INIT, ERR_PORT, ERR_BAD_PACKET, …). */
export class NetstarError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'NetstarError';
  }
}

function wrapErrors<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    out[k] = typeof v === 'function'
      ? (...args: unknown[]) => {
          try {
            return (v as (...a: unknown[]) => unknown)(...args);
          } catch (e) {
            throw toNetstarError(e);
          }
        }
      : v;
  }
  return out as T;
}

export function toNetstarError(e: unknown): unknown {
  if (e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && !(e instanceof NetstarError))
    return new NetstarError((e as unknown as { code: string }).code, e.message);
  return e;
}

/**
 * Throws ERR_LAYOUT naming every field where the TS layout (native/layout.ts) and the addon's disagree: a
 * stale build or an edit on one side only would otherwise corrupt packets silently.
 */
export function checkLayout(nativeLayout: unknown, ts: LayoutTable = LAYOUT, tsHash: typeof flowKeyHash = flowKeyHash): void {
  const hash = typeof nativeLayout === 'object' && nativeLayout !== null && typeof (nativeLayout as { flowHash?: unknown }).flowHash === 'function'
    ? (nativeLayout as NativeAddon['layout']).flowHash : undefined;
  const diffs = layoutDifferences(ts, nativeLayout, hash, tsHash);
  if (hash === undefined && typeof nativeLayout === 'object' && nativeLayout !== null) diffs.push('flowTable hash: the addon exports no layout.flowHash');
  if (diffs.length > 0)
    throw new NetstarError('ERR_LAYOUT', `the native addon's memory layout differs from the TypeScript one (rebuild the addon, or fix native/src/layout.h or native/layout.ts):\n  ${diffs.join('\n  ')}`);
}

function load(): NativeAddon {
  // NETSTAR_ADDON picks another build of the addon, e.g. the sanitizer build (scripts/asan.sh sets it).
  const file = process.env.NETSTAR_ADDON ? path.resolve(process.env.NETSTAR_ADDON) : path.resolve(__dirname, '..', '..', 'build', 'Release', 'netstar.node');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const raw = require(file) as NativeAddon;
  checkLayout(raw.layout);
  // Control-plane calls get typed errors; the Lcore hot path is used as is (its errors carry `code` too).
  return { ...raw, fast: raw.fast, eal: wrapErrors(raw.eal), pool: wrapErrors(raw.pool), ring: wrapErrors(raw.ring), port: wrapErrors(raw.port), memory: wrapErrors(raw.memory), flow: wrapErrors(raw.flow) };
}

export const native: NativeAddon = load();
