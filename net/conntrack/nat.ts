// Address and port translation: rewriting a packet from one tuple to another with RFC 1624 checksum updates
// (no per-packet allocation), translating ICMP errors (outer header, the quoted datagram and its checksums),
// and choosing translated tuples: a hash-chosen start, linear probing, the original port kept when free.
import type { Packet } from '../packet';
import type { PacketInfo } from '../flow';
import { protoHasPorts, tupleHash } from '../flow';
import { checksumUpdate16, checksumUpdate32, foldSum, sumAt } from '../wire/checksum';
import { rewriteTupleHalves } from '../flow/rewrite';
import type { Conn } from './conntrack';

/**
 * Rewrites the packet's addresses and ports (TCP/UDP ports, ICMP echo identifier) to the given values,
 * updating the IPv4, TCP/UDP (pseudo header) and ICMP checksums incrementally (net/flow/rewrite.ts).
 */
export function rewriteTuple(info: PacketInfo, src: number, dst: number, sport: number, dport: number): void {
  rewrite(info, src >>> 16, src & 0xffff, dst >>> 16, dst & 0xffff, sport, dport);
}

/** The rewrite, with addresses as 16-bit halves (small integers end to end). */
function rewrite(info: PacketInfo, sHi: number, sLo: number, dHi: number, dLo: number, sport: number, dport: number): void {
  rewriteTupleHalves(info.view, info.l3, info.l4, info.proto, info.icmpType, sHi, sLo, dHi, dLo, sport, dport);
}

/** Applies connection `c`'s translation to a packet going in `dir` (the packet must be of the connection). */
export function translate(info: PacketInfo, c: Conn, dir: 0 | 1): void {
  if (c.nat === 0) return;
  if (dir === 0) rewrite(info, c.tSrc >>> 16, c.tSrc & 0xffff, c.tDst >>> 16, c.tDst & 0xffff, c.tSport, c.tDport);
  else rewrite(info, c.oDst >>> 16, c.oDst & 0xffff, c.oSrc >>> 16, c.oSrc & 0xffff, c.oDport, c.oSport);
}

/**
 * Translates an ICMP error travelling in `dir` about a packet of connection `c`: the quoted datagram went
 * the other way and left translated, so it is turned back into what its sender sent (addresses, ports, echo
 * id, its IP checksum and, where the quote holds it, its L4 checksum); the outer destination (the quoted
 * sender) and, when the error comes from the quoted destination itself, the outer source follow; then the
 * outer IPv4 checksum (incrementally) and the ICMP checksum (over the whole message) are fixed.
 */
export function translateRelated(pkt: Packet, info: PacketInfo, c: Conn, dir: 0 | 1): void {
  if (c.nat === 0) return;
  // The quoted datagram as it left (A) and as its sender sent it (B).
  let aS: number, aD: number, aSp: number, aDp: number, bS: number, bD: number, bSp: number, bDp: number;
  if (dir === 1) {
    // It went in direction 0: A = translated tuple, B = original.
    aS = c.tSrc; aD = c.tDst; aSp = c.tSport; aDp = c.tDport;
    bS = c.oSrc; bD = c.oDst; bSp = c.oSport; bDp = c.oDport;
  } else {
    // It was a reply: A = reverse of the original, B = reverse of the translated tuple.
    aS = c.oDst; aD = c.oSrc; aSp = c.oDport; aDp = c.oSport;
    bS = c.tDst; bD = c.tSrc; bSp = c.tDport; bDp = c.tSport;
  }
  const v = pkt.view, i3 = info.innerL3, ihl = info.innerHeaderLength, i4 = info.innerL4Offset;
  const iproto = info.kProto;
  const avail = info.innerAvailable - ihl;
  // Quoted L4 first (its checksum covers the quoted addresses through the pseudo header).
  if (i4 >= 0 && (iproto === 6 || iproto === 17)) {
    let csAt = -1;
    if (iproto === 17 && avail >= 8 && v.getUint16(i4 + 6) !== 0) csAt = i4 + 6;
    else if (iproto === 6 && avail >= 18) csAt = i4 + 16;
    let cs = csAt >= 0 ? v.getUint16(csAt) : 0;
    const os = v.getUint16(i4), od = v.getUint16(i4 + 2);
    if (os === aSp && os !== bSp) { v.setUint16(i4, bSp); cs = checksumUpdate16(cs, os, bSp); }
    if (od === aDp && od !== bDp) { v.setUint16(i4 + 2, bDp); cs = checksumUpdate16(cs, od, bDp); }
    if (aS !== bS) cs = checksumUpdate32(cs, aS, bS);
    if (aD !== bD) cs = checksumUpdate32(cs, aD, bD);
    if (csAt >= 0) v.setUint16(csAt, iproto === 17 && cs === 0 ? 0xffff : cs);
  } else if (i4 >= 0 && iproto === 1) {
    const id = v.getUint16(i4 + 4), t = v.getUint8(i4);
    const nid = t === 8 ? bSp : bDp;
    if (id !== nid) {
      v.setUint16(i4 + 4, nid);
      if (avail >= 4) v.setUint16(i4 + 2, checksumUpdate16(v.getUint16(i4 + 2), id, nid));
    }
  }
  // Quoted IPv4 header: addresses, then its checksum over the (whole, checked) quoted header.
  v.setUint32(i3 + 12, bS);
  v.setUint32(i3 + 16, bD);
  v.setUint16(i3 + 10, 0);
  v.setUint16(i3 + 10, ~sumAt(v, i3, ihl) & 0xffff);
  // Outer header: the error goes to the quoted sender; an error from the quoted destination speaks as it.
  const l3 = info.l3;
  let ipc = v.getUint16(l3 + 10);
  const odst = info.dst, osrc = info.src;
  if (odst === aS && aS !== bS) {
    v.setUint32(l3 + 16, bS);
    ipc = checksumUpdate32(ipc, odst, bS);
  }
  if (osrc === aD && aD !== bD) {
    v.setUint32(l3 + 12, bD);
    ipc = checksumUpdate32(ipc, osrc, bD);
  }
  v.setUint16(l3 + 10, ipc);
  // ICMP checksum over the whole message: it covers everything changed inside.
  const l4 = info.l4;
  v.setUint16(l4 + 2, 0);
  v.setUint16(l4 + 2, ~sumAt(v, l4, info.l4Length) & 0xffff);
}

/** Verifies the L4 checksum of a TCP/UDP/ICMP packet (UDP 0 = none). */
export function l4ChecksumOk(info: PacketInfo): boolean {
  const v = info.view, l4 = info.l4, n = info.l4Length, p = info.proto;
  if (p === 1) return sumAt(v, l4, n) === 0xffff;
  if (p !== 6 && p !== 17) return true;
  if (p === 17 && v.getUint16(l4 + 6) === 0) return true;
  // One pass: the pseudo header (addresses at l3+12, protocol, L4 length), then the segment. The sum stays
  // a small integer for any packet but the largest (and is exact as a double even then); foldSum folds it.
  const a = v.getUint32(info.l3 + 12), b = v.getUint32(info.l3 + 16);
  let s = p + n + (a >>> 16) + (a & 0xffff) + (b >>> 16) + (b & 0xffff);
  const end = l4 + (n & ~3);
  let i = l4;
  for (; i < end; i += 4) {
    const w = v.getUint32(i);
    s += (w >>> 16) + (w & 0xffff);
  }
  if (n & 2) {
    s += v.getUint16(i);
    i += 2;
  }
  if (n & 1) s += v.getUint8(i) << 8;
  return foldSum(s) === 0xffff;
}

// ---------------------------------------------------------------------------------------------
// Choosing translated tuples

/** What the chooser asks of the flow table and the steering. */
export interface TupleCheck {
  /** is this tuple (either direction) already some connection's? */
  taken(proto: number, src: number, dst: number, sport: number, dport: number): boolean;
  /** will packets with this tuple be delivered to this shard? (always true with one shard) */
  local(hash: number): boolean;
}

export interface Range {
  addrLo: number;
  addrHi: number;
  /** -1: keep the original port when free, else use 1024-65535 */
  portLo: number;
  portHi: number;
}

function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A hash of the original tuple (not symmetric): spreads the starting points of the search. */
export function originHash(c: Conn, seed: number): number {
  return mix(mix(mix(c.oSrc ^ seed) + c.oDst) + ((c.oSport << 16) | c.oDport) + c.proto);
}

/**
 * Picks the source side of the translated tuple (SNAT): an address of the range from a hash of the original
 * tuple onwards, and on it the original port if it is in range and free, else ports from a hash-chosen start,
 * probing linearly. A candidate must be free (its reply tuple unused) and, with several shards, deliver the
 * replies to this shard. Fills c.tSrc/tSport; false when nothing is free within `maxProbes`.
 */
export function chooseSource(c: Conn, r: Range, check: TupleCheck, maxProbes: number): boolean {
  const nAddr = r.addrHi - r.addrLo + 1;
  const h = originHash(c, 0x5eed);
  const keep = c.proto === 6 || c.proto === 17 || c.proto === 1;
  let lo = r.portLo, hi = r.portHi;
  const given = lo >= 0;
  if (!given) {
    lo = 1024;
    hi = 65535;
  }
  const nPort = hi - lo + 1;
  const ported = protoHasPorts(c.proto) || c.proto === 1;
  let probes = 0;
  for (let ai = 0; ai < nAddr; ai++) {
    const addr = (r.addrLo + ((h + ai) % nAddr)) >>> 0;
    if (!ported) {
      if (tryTuple(c, addr, c.oSport, check, true)) return true;
      if (++probes >= maxProbes) return false;
      continue;
    }
    // The original port first, when the range allows it (or none was given).
    const orig = c.oSport;
    if (keep && (!given || (orig >= lo && orig <= hi))) {
      if (tryTuple(c, addr, orig, check, true)) return true;
      if (++probes >= maxProbes) return false;
    }
    const start = (h >>> 8) % nPort;
    for (let k = 0; k < nPort; k++) {
      const p = lo + ((start + k) % nPort);
      if (p === orig) continue;
      if (tryTuple(c, addr, p, check, true)) return true;
      if (++probes >= maxProbes) return false;
    }
  }
  return false;
}

function tryTuple(c: Conn, addr: number, port: number, check: TupleCheck, source: boolean): boolean {
  const proto = c.proto;
  const s = source ? addr : c.tSrc;
  let sp = source ? port : c.tSport;
  const d = source ? c.tDst : addr;
  let dp = source ? c.tDport : port;
  // An ICMP echo's identifier is both "ports" of its key: changing it changes both (and the steering hash,
  // which hashes it: the identifier is chosen so the reply comes back here, as a port is).
  if (proto === 1) sp = dp = port;
  if (check.taken(proto, s, d, sp, dp)) return false;
  if (!check.local(tupleHash(proto, s, d, sp, dp, protoHasPorts(proto)))) return false;
  c.tSrc = s;
  c.tSport = sp;
  c.tDst = d;
  c.tDport = dp;
  return true;
}

/**
 * Picks the destination side (DNAT): an address of the range from a hash of the original tuple onwards; the
 * original port unless the rule gives a range (then one from a hash-chosen start). The reply tuple must be
 * free; steering of DNAT replies is the caller's business (`check.local` is not asked). Fills c.tDst/tDport.
 */
export function chooseDestination(c: Conn, r: Range, check: TupleCheck, maxProbes: number): boolean {
  const nAddr = r.addrHi - r.addrLo + 1;
  const h = originHash(c, 0xd0a7);
  const given = r.portLo >= 0;
  const nPort = given ? r.portHi - r.portLo + 1 : 1;
  const anyShard: TupleCheck = { taken: check.taken, local: () => true };
  let probes = 0;
  for (let ai = 0; ai < nAddr; ai++) {
    const addr = (r.addrLo + ((h + ai) % nAddr)) >>> 0;
    const start = given ? (h >>> 8) % nPort : 0;
    for (let k = 0; k < nPort; k++) {
      const p = given ? r.portLo + ((start + k) % nPort) : c.oDport;
      if (tryTuple(c, addr, p, anyShard, false)) return true;
      if (++probes >= maxProbes) return false;
    }
  }
  return false;
}
