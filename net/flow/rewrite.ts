// In-place rewriting of an IPv4 packet's tuple with RFC 1624 incremental checksum updates: what NATs and
// load balancers do per packet, and what an offloaded flow direction applies (net/flow/offload.ts).
// Small integers only (addresses as 16-bit halves), so nothing is boxed even when a call is not inlined.

/**
 * Adds a checksum delta (a sum of `(~old & 0xffff) + new` over changed 16-bit words) to a checksum, RFC 1624
 * eqn. 3: HC' = ~(~HC + sum(~m + m')).
 */
export function applyChecksumDelta(cs: number, d: number): number {
  let s = (~cs & 0xffff) + d;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * Rewrites addresses and ports (TCP/UDP ports; the identifier of an ICMP echo: `sport` for a request,
 * `dport` for a reply) of the IPv4 packet whose header is at `l3` and L4 header at `l4` in `v`, updating the
 * IPv4, TCP/UDP (pseudo header) and ICMP checksums incrementally. Fields that keep their value cost nothing;
 * a UDP checksum of 0 ("none") stays 0 and a computed 0 is sent as 0xffff. The caller has checked that the
 * headers are inside the packet (PacketInfo.parse does).
 */
export function rewriteTupleHalves(
  v: DataView, l3: number, l4: number, proto: number, icmpType: number,
  sHi: number, sLo: number, dHi: number, dLo: number, sport: number, dport: number,
): void {
  let dAddr = 0, dPort = 0;
  const osHi = v.getUint16(l3 + 12), osLo = v.getUint16(l3 + 14), odHi = v.getUint16(l3 + 16), odLo = v.getUint16(l3 + 18);
  if (osHi !== sHi || osLo !== sLo) {
    v.setUint16(l3 + 12, sHi);
    v.setUint16(l3 + 14, sLo);
    dAddr += (~osHi & 0xffff) + sHi + (~osLo & 0xffff) + sLo;
  }
  if (odHi !== dHi || odLo !== dLo) {
    v.setUint16(l3 + 16, dHi);
    v.setUint16(l3 + 18, dLo);
    dAddr += (~odHi & 0xffff) + dHi + (~odLo & 0xffff) + dLo;
  }
  if (dAddr !== 0) v.setUint16(l3 + 10, applyChecksumDelta(v.getUint16(l3 + 10), dAddr));
  if (proto === 6 || proto === 17) {
    const os = v.getUint16(l4), od = v.getUint16(l4 + 2);
    if (os !== sport) {
      v.setUint16(l4, sport);
      dPort += (~os & 0xffff) + sport;
    }
    if (od !== dport) {
      v.setUint16(l4 + 2, dport);
      dPort += (~od & 0xffff) + dport;
    }
    const d = dAddr + dPort;
    if (d === 0) return;
    if (proto === 6) v.setUint16(l4 + 16, applyChecksumDelta(v.getUint16(l4 + 16), d));
    else {
      const c = v.getUint16(l4 + 6);
      if (c !== 0) v.setUint16(l4 + 6, applyChecksumDelta(c, d) || 0xffff);
    }
  } else if (proto === 1 && (icmpType === 8 || icmpType === 0)) {
    // Echo: the identifier is the "port"; ICMP has no pseudo header, so only the identifier counts.
    const id = v.getUint16(l4 + 4), nid = icmpType === 8 ? sport : dport;
    if (id !== nid) {
      v.setUint16(l4 + 4, nid);
      v.setUint16(l4 + 2, applyChecksumDelta(v.getUint16(l4 + 2), (~id & 0xffff) + nid));
    }
  }
}
