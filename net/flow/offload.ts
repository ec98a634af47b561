// Flow offload: a handler may hand a direction of its flow to the flow layer as a fixed action — rewrite the
// tuple (checksums updated with deltas computed once), decrement the TTL, write the MACs, count under a tag,
// send on a port — and later packets of that direction get it without a handler call, as a NIC with flow
// offload or OVS's datapath cache would do. The handler is called again (and may offload again) whenever an
// entry cannot apply: its flow's first event other than a plain packet, a TTL that would expire, a tuple
// that is not the one offloaded, or an invalidation (invalidateAll(), e.g. when a neighbor's MAC changes).
//
// Entries live in one Int32Array, 128 bytes per flow direction (the action, then what the native executor
// counted), allocated at the first offload. Where a shard attaches the native executor (FlowDistributor.
// attachNative), entries marked native are also applied in the RX burst itself (native/src/offload.h):
// those packets never reach JS; their counts are folded into the flows by the distributor.
import { LAYOUT } from '../../native/layout';
import { applyChecksumDelta } from './rewrite';
import type { PacketInfo } from './packet-info';
import type { TableMemory } from './flow-table';

/** What an offloaded direction does to each packet. Tuple fields left out keep their value. */
export interface OffloadAction {
  /** port index to send on */
  out: number;
  src?: number;
  dst?: number;
  sport?: number;
  dport?: number;
  /** decrement the TTL (a packet arriving with TTL <= 1 goes to the handler instead) */
  decTtl?: boolean;
  /** rewrite the Ethernet addresses (48-bit numbers); both or neither */
  dstMac?: number;
  srcMac?: number;
  /** counter slot (0..255) bumped per offloaded packet: `counts[tag]` */
  tag?: number;
}

/** Words per entry (two 64-byte lines: the action, then what the native executor counted). */
export const OFFLOAD_STRIDE = LAYOUT.offloadEntry.stride;
const STRIDE = OFFLOAD_STRIDE;
// Word indexes within an entry: the layout shared with native/src/offload.h (native/layout.ts, checked at load).
const E = LAYOUT.offloadEntry;
const W_FLAGS = E.flags, W_EPOCH = E.epoch, W_OUT = E.out, W_TAG = E.tag, W_OSRC = E.osrc, W_ODST = E.odst, W_OPORTS = E.oports,
  W_NSRC = E.nsrc, W_NDST = E.ndst, W_NPORTS = E.nports, W_DIP = E.dIp, W_DL4 = E.dL4, W_DMAC_HI = E.dmacHi, W_DMAC_LO = E.dmacLo,
  W_SMAC_HI = E.smacHi, W_SMAC_LO = E.smacLo, W_NPKTS = E.npkts, W_NBYTES = E.nbytes, W_NLAST = E.nlast;
// Flag bits (the protocol sits in bits 8..15). F_NATIVE: the native RX path may execute the entry.
const FL = LAYOUT.offloadFlags;
const F_VALID = FL.valid, F_TTL = FL.ttl, F_MACS = FL.macs, F_PORTS = FL.ports, F_ADDRS = FL.addrs, F_NATIVE = FL.native;
/** ctl words: [0] epoch, [1] the flow clock in whole ms (what native writes as an entry's last-seen time). */
const C_EPOCH = LAYOUT.offloadCtl.epoch, C_CLOCK = LAYOUT.offloadCtl.clock;
const TWO32 = 0x100000000;

/** Sum of (~old + new) over the two 16-bit halves of a 32-bit field that changed (0 if unchanged). */
function delta32(o: number, n: number): number {
  let d = 0;
  const oh = o >>> 16, ol = o & 0xffff, nh = n >>> 16, nl = n & 0xffff;
  if (oh !== nh) d += (~oh & 0xffff) + nh;
  if (ol !== nl) d += (~ol & 0xffff) + nl;
  return d;
}

function delta16(o: number, n: number): number {
  return o === n ? 0 : (~o & 0xffff) + n;
}

export class FlowOffload {
  /** packets sent by offloaded entries, per tag */
  readonly counts = new Float64Array(256);
  /** entries installed, and packets that found an entry that could not apply (they went to the handler) */
  installed = 0;
  fallbacks = 0;
  /** shared with the native executor: epoch and clock (see C_*); 128 bytes, so its memory is off the JS heap */
  readonly ctl = new Int32Array(32);
  private w: Int32Array | null = null;
  private wu: Uint32Array | null = null;

  constructor(readonly capacity: number, private readonly memory: TableMemory | null) {
    this.ctl[C_EPOCH] = 1;
  }

  /**
   * Installs the action for packets like the current one (`info`, already parsed, not yet rewritten) of flow
   * `index` in direction `dir`. False (nothing installed) for ICMP, ICMP errors and bad arguments.
   */
  set(index: number, dir: 0 | 1, info: PacketInfo, a: OffloadAction, native = false): boolean {
    const proto = info.proto;
    if (info.related || proto === 1 || index < 0 || index >= this.capacity) return false;
    const tag = a.tag ?? 0;
    if (!Number.isInteger(a.out) || a.out < 0 || a.out > 0xffff || !Number.isInteger(tag) || tag < 0 || tag > 255) return false;
    if ((a.dstMac === undefined) !== (a.srcMac === undefined)) return false;
    const w = this.words();
    const b = ((index << 1) | dir) * STRIDE;
    const osrc = info.src >>> 0, odst = info.dst >>> 0;
    const ports = proto === 6 || proto === 17;
    const osp = ports ? info.sport : 0, odp = ports ? info.dport : 0;
    const nsrc = (a.src ?? osrc) >>> 0, ndst = (a.dst ?? odst) >>> 0;
    const nsp = ports ? (a.sport ?? osp) : 0, ndp = ports ? (a.dport ?? odp) : 0;
    if (nsp < 0 || nsp > 0xffff || ndp < 0 || ndp > 0xffff) return false;
    const dAddr = delta32(osrc, nsrc) + delta32(odst, ndst);
    let flags = F_VALID | (proto << 8);
    if (a.decTtl) flags |= F_TTL;
    if (a.dstMac !== undefined) flags |= F_MACS;
    if (ports) flags |= F_PORTS;
    if (dAddr !== 0) flags |= F_ADDRS;
    if (native) flags |= F_NATIVE;
    w[b + W_EPOCH] = this.ctl[C_EPOCH];
    w[b + W_OUT] = a.out;
    w[b + W_TAG] = tag;
    w[b + W_OSRC] = osrc | 0;
    w[b + W_ODST] = odst | 0;
    w[b + W_OPORTS] = (osp << 16) | odp;
    w[b + W_NSRC] = nsrc | 0;
    w[b + W_NDST] = ndst | 0;
    w[b + W_NPORTS] = (nsp << 16) | ndp;
    w[b + W_DIP] = dAddr;
    w[b + W_DL4] = dAddr + delta16(osp, nsp) + delta16(odp, ndp);
    if (a.dstMac !== undefined && a.srcMac !== undefined) {
      w[b + W_DMAC_HI] = Math.floor(a.dstMac / TWO32) & 0xffff;
      w[b + W_DMAC_LO] = (a.dstMac % TWO32) | 0;
      w[b + W_SMAC_HI] = Math.floor(a.srcMac / TWO32) & 0xffff;
      w[b + W_SMAC_LO] = (a.srcMac % TWO32) | 0;
    }
    w[b + W_FLAGS] = flags;
    this.installed++;
    return true;
  }

  clear(index: number, dir: 0 | 1): void {
    if (this.w !== null) this.w[((index << 1) | dir) * STRIDE + W_FLAGS] = 0;
  }

  /** Every entry stops applying (each flow's handler sees its next packet and may offload again). */
  invalidateAll(): void {
    this.ctl[C_EPOCH] = (this.ctl[C_EPOCH] + 1) | 0 || 1;
  }

  /** The flow clock (ms) the native executor stamps entries with. */
  setClock(now: number): void {
    this.ctl[C_CLOCK] = now;
  }

  /**
   * What the native executor did for flow `index` in direction `dir` since the last call: adds packets and
   * bytes to `out[0]`, `out[1]` and returns its last-seen time (ms, -1 if nothing), then zeroes its counters.
   */
  drainNative(index: number, dir: 0 | 1, out: Float64Array): number {
    const wu = this.wu;
    if (wu === null) return -1;
    const b = ((index << 1) | dir) * STRIDE;
    const pLo = wu[b + W_NPKTS], pHi = wu[b + W_NPKTS + 1];
    if (pLo === 0 && pHi === 0) return -1;
    out[0] += pLo + pHi * 0x100000000;
    out[1] += wu[b + W_NBYTES] + wu[b + W_NBYTES + 1] * 0x100000000;
    wu[b + W_NPKTS] = wu[b + W_NPKTS + 1] = wu[b + W_NBYTES] = wu[b + W_NBYTES + 1] = 0;
    return this.w![b + W_NLAST];
  }

  /** The entries' memory (allocated on first use), for the native executor. */
  entries(): Int32Array {
    return this.words();
  }

  /**
   * Applies the entry of flow `index`, direction `dir`, to the parsed packet: the port to send on, or -1
   * when it cannot apply (the packet is untouched then and goes to the handler).
   */
  apply(index: number, dir: 0 | 1, info: PacketInfo): number {
    const w = this.w;
    if (w === null) return -1;
    const b = ((index << 1) | dir) * STRIDE;
    const f = w[b + W_FLAGS];
    if (f === 0 || w[b + W_EPOCH] !== this.ctl[C_EPOCH] || f >>> 8 !== info.proto || w[b + W_OSRC] !== (info.src | 0)
      || w[b + W_ODST] !== (info.dst | 0) || ((f & F_PORTS) !== 0 && w[b + W_OPORTS] !== ((info.sport << 16) | info.dport))) {
      this.fallbacks++;
      return -1;
    }
    const v = info.view, l3 = info.l3;
    let dIp = w[b + W_DIP];
    if ((f & F_TTL) !== 0) {
      const t = v.getUint16(l3 + 8);
      if (t >>> 8 <= 1) {
        this.fallbacks++;
        return -1;
      }
      v.setUint16(l3 + 8, t - 0x100);
      dIp += (~t & 0xffff) + (t - 0x100);
    }
    if ((f & F_ADDRS) !== 0) {
      v.setInt32(l3 + 12, w[b + W_NSRC]);
      v.setInt32(l3 + 16, w[b + W_NDST]);
    }
    if (dIp !== 0) v.setUint16(l3 + 10, applyChecksumDelta(v.getUint16(l3 + 10), dIp));
    if ((f & F_PORTS) !== 0) {
      const l4 = info.l4;
      v.setInt32(l4, w[b + W_NPORTS]);
      const d = w[b + W_DL4];
      if (d !== 0) {
        if ((f >>> 8) === 6) v.setUint16(l4 + 16, applyChecksumDelta(v.getUint16(l4 + 16), d));
        else {
          // UDP: 0 means "no checksum" and stays 0; a computed 0 is sent as 0xffff.
          const c = v.getUint16(l4 + 6);
          if (c !== 0) v.setUint16(l4 + 6, applyChecksumDelta(c, d) || 0xffff);
        }
      }
    }
    if ((f & F_MACS) !== 0) {
      const o = info.start;
      v.setUint16(o, w[b + W_DMAC_HI]);
      v.setInt32(o + 2, w[b + W_DMAC_LO]);
      v.setUint16(o + 6, w[b + W_SMAC_HI]);
      v.setInt32(o + 8, w[b + W_SMAC_LO]);
    }
    this.counts[w[b + W_TAG]]++;
    return w[b + W_OUT];
  }

  /** Packets sent by offloaded entries (all tags). */
  total(): number {
    let n = 0;
    for (let i = 0; i < 256; i++) n += this.counts[i];
    return n;
  }

  private words(): Int32Array {
    if (this.w === null) {
      const bytes = this.capacity * 2 * STRIDE * 4;
      const m = this.memory?.(bytes) ?? null;
      this.w = m !== null ? new Int32Array(m.buffer, 0, this.capacity * 2 * STRIDE) : new Int32Array(this.capacity * 2 * STRIDE);
      this.wu = new Uint32Array(this.w.buffer, this.w.byteOffset, this.w.length);
    }
    return this.w;
  }
}
