// Software steering: a symmetric flow hash (both directions of a flow hash alike) and a RETA that maps a
// hash to a shard, used when a port has fewer RX queues than there are shards or gives no RSS hash.

/** RTE_MBUF_F_RX_RSS_HASH: the descriptor's hash word is valid. */
export const RX_RSS_HASH = 1 << 1;
export const RETA_SIZE = 128;

function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Symmetric hash of an Ethernet frame's IPv4 5-tuple (addresses and ports combined order-independently);
 * non-IPv4 frames hash to 0 (all land on one shard). An ICMP echo request or reply hashes its identifier in
 * the ports' place (the same both ways), so a NAT can pick an identifier whose reply comes back to the shard
 * that translated it, as it picks ports. Reads only within [off, off+len).
 */
export function flowHash(v: DataView, off: number, len: number): number {
  if (len < 34) return 0;
  let p = off + 12;
  let type = v.getUint16(p);
  if (type === 0x8100 || type === 0x88a8) {
    if (len < 38) return 0;
    p += 4;
    type = v.getUint16(p);
  }
  if (type !== 0x0800) return 0;
  const ip = p + 2, end = off + len;
  const ihl = (v.getUint8(ip) & 0x0f) * 4;
  if (ihl < 20 || ip + ihl > end) return 0;
  const proto = v.getUint8(ip + 9);
  const a = v.getUint32(ip + 12), b = v.getUint32(ip + 16);
  let ports = 0;
  const frag = v.getUint16(ip + 6) & 0x3fff;
  if ((proto === 6 || proto === 17) && frag === 0 && ip + ihl + 4 <= end) ports = v.getUint16(ip + ihl) ^ v.getUint16(ip + ihl + 2);
  else if (proto === 1 && frag === 0 && ip + ihl + 6 <= end) {
    const t = v.getUint8(ip + ihl);
    if (t === 8 || t === 0) ports = v.getUint16(ip + ihl + 4);
  }
  return mix(((a ^ b) >>> 0) + Math.imul(ports, 0x9e3779b1) + proto);
}

/** A redirection table: hash -> shard. */
export class Reta {
  readonly table = new Uint8Array(RETA_SIZE);
  constructor(shards: number) {
    for (let i = 0; i < RETA_SIZE; i++) this.table[i] = i % shards;
  }
  shardOf(hash: number): number {
    return this.table[hash & (RETA_SIZE - 1)];
  }
}

/**
 * The flow hash of a tuple, without a frame — arguments in its name's order: protocol, the two addresses, the
 * two ports (either direction gives the same value), and whether the ports count (TCP/UDP and not a fragment,
 * as flowHash decides; for ICMP echo, portA is the identifier). Equals flowHash of a frame carrying the tuple, so `reta.shardOf(...)` names the shard
 * software steering delivers it to. The one implementation: net/flow/tuple.ts tupleHash calls it.
 */
export function hashProtoAddrsPorts(proto: number, addrA: number, addrB: number, portA: number, portB: number, portsUsed: boolean): number {
  // An ICMP echo's identifier stands in the ports' place (portA), as flowHash reads it from the frame.
  const ports = portsUsed ? (portA ^ portB) & 0xffff : proto === 1 ? portA & 0xffff : 0;
  return mix(((addrA ^ addrB) >>> 0) + Math.imul(ports, 0x9e3779b1) + proto);
}

/** @deprecated argument order (ipA, ipB, proto, portA, portB): use hashProtoAddrsPorts. */
export function tupleHash(ipA: number, ipB: number, proto: number, portA: number, portB: number): number {
  return hashProtoAddrsPorts(proto, ipA, ipB, portA, portB, proto === 6 || proto === 17);
}

// ---- Steering rules: "IPv4/UDP to this destination port -> this shard" (MICA endpoints, client reply ports) ----

/** A rule an app asks for (AppModule.steering): packets of `port` (index in config.ports) to UDP `udpDst` go to `shard`. */
export interface SteerRule { port: number; udpDst: number; shard: number }
/** How the engine installed a rule: in the device (rte_flow, queue = shard) or in the shards' software table. */
export interface InstalledRule extends SteerRule { path: 'rte_flow' | 'software'; reason?: string }

/** The software path of the rules of one port: UDP destination port -> shard (-1: no rule). */
export class UdpPortTable {
  readonly shardOf = new Int16Array(65536).fill(-1);
  size = 0;
  add(udpDst: number, shard: number): void {
    if (this.shardOf[udpDst] < 0) this.size++;
    this.shardOf[udpDst] = shard;
  }
  /**
   * The shard a rule sends this frame to, or -1 (no rule, not IPv4/UDP, a non-first fragment, or too short).
   * Reads only within [off, off+len).
   */
  lookup(v: DataView, off: number, len: number): number {
    if (len < 42 || v.getUint16(off + 12) !== 0x0800) return -1;
    const ip = off + 14, ihl = (v.getUint8(ip) & 0x0f) * 4;
    if (ihl < 20 || v.getUint8(ip + 9) !== 17 || (v.getUint16(ip + 6) & 0x1fff) !== 0 || ip + ihl + 4 > off + len) return -1;
    return this.shardOf[v.getUint16(ip + ihl + 2)];
  }
}
