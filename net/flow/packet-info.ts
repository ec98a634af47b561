// One parse per packet for the flow layer: the Ethernet/IPv4/L4 layout checked field by field against the
// packet's length, the 5-tuple, and the lookup tuple (for an ICMP error: the datagram it quotes). The wire
// views are wrapped on demand (ipView(), tcpView()...) for the code that rewrites or parses further.
import type { Packet } from '../packet';
// Straight from the wire modules, not '../wire': its `export *` turns every access into a getter call.
import { WireError } from '../wire/view';
import { sumAt } from '../wire/checksum';
import { Ipv4View } from '../wire/ipv4';
import { TcpView } from '../wire/tcp';
import { UdpView } from '../wire/udp';
import { IcmpView } from '../wire/icmp';

/** Outcome of PacketInfo.parse. Anything but Ok / NotIpv4 is a drop reason the caller counts. */
export const ParseStatus = {
  Ok: 0,
  /** a frame that is not IPv4 (ARP, IPv6, ...): `etherType` says what */
  NotIpv4: 1,
  Truncated: 2,
  Malformed: 3,
  BadIpChecksum: 4,
  /** an IPv4 fragment: no reassembly here, so no ports to key on */
  Fragment: 5,
  /** ICMP that is neither echo nor an error quoting a datagram; or an error quoting something unusable */
  UnsupportedIcmp: 6,
} as const;
export type ParseStatus = (typeof ParseStatus)[keyof typeof ParseStatus];
export const PARSE_STATUS_NAMES = ['ok', 'notIpv4', 'truncated', 'malformed', 'badIpChecksum', 'fragment', 'unsupportedIcmp'] as const;

export interface ParseOptions {
  /** verify the IPv4 header checksum (default true) */
  verifyIpChecksum?: boolean;
}

const OK = ParseStatus.Ok, NOT_IPV4 = ParseStatus.NotIpv4, TRUNCATED = ParseStatus.Truncated, MALFORMED = ParseStatus.Malformed;
const ICMP_ECHO_REPLY = 0, ICMP_ECHO_REQUEST = 8;

function isIcmpErrorType(t: number): boolean {
  return t === 3 || t === 4 || t === 5 || t === 11 || t === 12;
}

/** The folded ones' complement sum of a 20-byte IPv4 header (no options): five loads, no loop. */
function ipv4HeaderSum20(v: DataView, p: number): number {
  const a = v.getUint32(p), b = v.getUint32(p + 4), c = v.getUint32(p + 8), d = v.getUint32(p + 12), e = v.getUint32(p + 16);
  let s = (a >>> 16) + (a & 0xffff) + (b >>> 16) + (b & 0xffff) + (c >>> 16) + (c & 0xffff) + (d >>> 16) + (d & 0xffff) + (e >>> 16) + (e & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/**
 * The parsed headers of the current packet; every offset is an absolute index into `pkt.bytes` and was
 * checked to lie inside the packet (the IPv4 total length, not the frame, bounds the L4 part). Reused for
 * every packet: copy what must outlive the call. The direct reads here cost a fraction of wrapping a view
 * per layer; views are there for code that needs them (wrapped once per packet, on first use).
 */
export class PacketInfo {
  status: ParseStatus = OK;
  /** the packet's memory */
  view: DataView = new DataView(new ArrayBuffer(0));
  bytes: Uint8Array = new Uint8Array(0);
  /** frame start and length */
  start = 0;
  frameLength = 0;
  etherType = 0;
  /** Ethernet header length (14, 18 or 22 with VLAN tags) */
  l2Length = 14;
  /** IPv4 header offset and length, total length */
  l3 = 0;
  ipHeaderLength = 0;
  ipTotalLength = 0;
  /** L4 offset and length (IPv4 total length minus header) */
  l4 = 0;
  l4Length = 0;
  proto = 0;
  src = 0;
  dst = 0;
  ttl = 0;
  /** TCP/UDP ports; for ICMP echo both hold the identifier; 0 otherwise */
  sport = 0;
  dport = 0;
  /** TCP control bits (0 for other protocols) and header length */
  tcpFlags = 0;
  tcpHeaderLength = 0;
  /** bytes of L4 payload (TCP/UDP data, ICMP body) */
  l4PayloadLength = 0;
  icmpType = -1;
  icmpCode = -1;

  /** An ICMP error: the k* tuple is that of the quoted datagram (as it was sent), not of this packet. */
  related = false;
  /** the quoted datagram's IPv4 header offset, header length, and its L4 offset (-1 if absent) */
  innerL3 = -1;
  innerHeaderLength = 0;
  innerL4Offset = -1;
  /** bytes of the quoted datagram present in the packet, from innerL3 */
  innerAvailable = 0;
  /** The tuple flows are looked up by. */
  kProto = 0;
  kSrc = 0;
  kDst = 0;
  kSport = 0;
  kDport = 0;

  private readonly verifyIpChecksum: boolean;
  private readonly ipV = new Ipv4View();
  private readonly tcpV = new TcpView();
  private readonly udpV = new UdpView();
  private readonly icmpV = new IcmpView();
  private readonly innerV = new Ipv4View();
  /** bits of the views wrapped for the current packet */
  private wrapped = 0;

  constructor(opts: ParseOptions = {}) {
    this.verifyIpChecksum = opts.verifyIpChecksum ?? true;
  }

  /** Parses `pkt` (reads only inside [offset, offset + length)). */
  parse(pkt: Packet): ParseStatus {
    this.related = false;
    this.innerL4Offset = -1;
    this.innerL3 = -1;
    this.tcpFlags = 0;
    this.sport = 0;
    this.dport = 0;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.l4PayloadLength = 0;
    this.wrapped = 0;
    const v = pkt.view;
    this.view = v;
    this.bytes = pkt.bytes;
    const off = pkt.offset, len = pkt.length, end = off + len;
    this.start = off;
    this.frameLength = len;
    if (len < 14) return (this.status = TRUNCATED);
    let hl = 14;
    let et = v.getUint16(off + 12);
    // Up to two VLAN tags (802.1Q, 802.1ad, and the old 0x9100), as EthernetView accepts.
    for (let tags = 0; et === 0x8100 || et === 0x88a8 || et === 0x9100; tags++) {
      if (tags === 2) return (this.status = NOT_IPV4);
      if (len < hl + 4) return (this.status = TRUNCATED);
      et = v.getUint16(off + hl + 2);
      hl += 4;
    }
    this.etherType = et;
    this.l2Length = hl;
    if (et !== 0x0800) return (this.status = NOT_IPV4);
    const l3 = off + hl;
    this.l3 = l3;
    if (end - l3 < 20) return (this.status = TRUNCATED);
    const vihl = v.getUint8(l3);
    if (vihl >>> 4 !== 4) return (this.status = MALFORMED);
    const ihl = (vihl & 15) << 2;
    if (ihl < 20) return (this.status = MALFORMED);
    if (l3 + ihl > end) return (this.status = TRUNCATED);
    const tot = v.getUint16(l3 + 2);
    if (tot < ihl) return (this.status = MALFORMED);
    if (l3 + tot > end) return (this.status = TRUNCATED);
    this.ipHeaderLength = ihl;
    this.ipTotalLength = tot;
    if (this.verifyIpChecksum && (ihl === 20 ? ipv4HeaderSum20(v, l3) : sumAt(v, l3, ihl)) !== 0xffff) return (this.status = ParseStatus.BadIpChecksum);
    const proto = v.getUint8(l3 + 9);
    this.proto = proto;
    this.ttl = v.getUint8(l3 + 8);
    const src = v.getUint32(l3 + 12), dst = v.getUint32(l3 + 16);
    this.src = src;
    this.dst = dst;
    this.kProto = proto;
    this.kSrc = src;
    this.kDst = dst;
    this.kSport = 0;
    this.kDport = 0;
    const l4 = l3 + ihl, l4len = tot - ihl;
    this.l4 = l4;
    this.l4Length = l4len;
    if ((v.getUint16(l3 + 6) & 0x3fff) !== 0) return (this.status = ParseStatus.Fragment);
    if (proto === 6) {
      if (l4len < 20) return (this.status = TRUNCATED);
      const thl = (v.getUint8(l4 + 12) >>> 4) << 2;
      if (thl < 20) return (this.status = MALFORMED);
      if (thl > l4len) return (this.status = TRUNCATED);
      this.tcpHeaderLength = thl;
      this.sport = v.getUint16(l4);
      this.dport = v.getUint16(l4 + 2);
      this.tcpFlags = v.getUint16(l4 + 12) & 0x1ff;
      this.l4PayloadLength = l4len - thl;
    } else if (proto === 17) {
      if (l4len < 8) return (this.status = TRUNCATED);
      const ulen = v.getUint16(l4 + 4);
      if (ulen < 8) return (this.status = MALFORMED);
      if (ulen > l4len) return (this.status = TRUNCATED);
      this.sport = v.getUint16(l4);
      this.dport = v.getUint16(l4 + 2);
      this.l4PayloadLength = ulen - 8;
    } else if (proto === 1) {
      const s = this.parseIcmp(v, l4, l4len);
      if (s !== OK) return (this.status = s);
    }
    if (!this.related) {
      this.kSport = this.sport;
      this.kDport = this.dport;
    }
    return (this.status = OK);
  }

  private parseIcmp(v: DataView, l4: number, l4len: number): ParseStatus {
    if (l4len < 8) return TRUNCATED;
    const type = v.getUint8(l4);
    this.icmpType = type;
    this.icmpCode = v.getUint8(l4 + 1);
    this.l4PayloadLength = l4len - 8;
    if (type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY) {
      this.sport = this.dport = v.getUint16(l4 + 4);
      return OK;
    }
    if (!isIcmpErrorType(type)) return ParseStatus.UnsupportedIcmp;
    // The quoted datagram: its header must be whole and sane; what follows may be cut short.
    const i3 = l4 + 8, avail = l4len - 8;
    if (avail < 20) return ParseStatus.UnsupportedIcmp;
    const vihl = v.getUint8(i3);
    const ihl = (vihl & 15) << 2;
    if (vihl >>> 4 !== 4 || ihl < 20 || ihl > avail || v.getUint16(i3 + 2) < ihl) return ParseStatus.UnsupportedIcmp;
    // A quoted fragment past the first carries no ports; nothing to relate it to.
    if ((v.getUint16(i3 + 6) & 0x1fff) !== 0) return ParseStatus.UnsupportedIcmp;
    const ip4 = v.getUint8(i3 + 9), i4 = i3 + ihl;
    const l4avail = Math.min(avail, v.getUint16(i3 + 2)) - ihl;
    this.related = true;
    this.innerL3 = i3;
    this.innerHeaderLength = ihl;
    this.innerAvailable = avail;
    this.kProto = ip4;
    this.kSrc = v.getUint32(i3 + 12);
    this.kDst = v.getUint32(i3 + 16);
    this.kSport = 0;
    this.kDport = 0;
    if (ip4 === 6 || ip4 === 17) {
      if (l4avail < 4) return ParseStatus.UnsupportedIcmp;
      this.kSport = v.getUint16(i4);
      this.kDport = v.getUint16(i4 + 2);
      this.innerL4Offset = i4;
    } else if (ip4 === 1) {
      // An error about an echo: key on its identifier (bytes 4..5 of the quoted ICMP header).
      if (l4avail < 8) return ParseStatus.UnsupportedIcmp;
      const t = v.getUint8(i4);
      if (t !== ICMP_ECHO_REQUEST && t !== ICMP_ECHO_REPLY) return ParseStatus.UnsupportedIcmp;
      this.kSport = this.kDport = v.getUint16(i4 + 4);
      this.innerL4Offset = i4;
    }
    return OK;
  }

  // ---- views, wrapped on first use for the current packet (after a successful parse) ----

  /** The IPv4 header view (checked). */
  ipView(): Ipv4View {
    if ((this.wrapped & 1) === 0) {
      this.wrapped |= 1;
      this.ipV.wrap(this.bytes, this.l3, this.ipTotalLength).check();
    }
    return this.ipV;
  }
  /** The TCP view over the segment; null unless the packet is TCP and its header (options included) checks. */
  tcpView(): TcpView | null {
    if (this.proto !== 6) return null;
    if ((this.wrapped & 2) === 0) {
      this.wrapped |= 2;
      if (this.tcpV.wrap(this.bytes, this.l4, this.l4Length).check() !== WireError.Ok) this.wrapped |= 32;
    }
    return (this.wrapped & 32) === 0 ? this.tcpV : null;
  }
  udpView(): UdpView | null {
    if (this.proto !== 17) return null;
    if ((this.wrapped & 4) === 0) {
      this.wrapped |= 4;
      this.udpV.wrap(this.bytes, this.l4, this.l4Length).check();
    }
    return this.udpV;
  }
  icmpView(): IcmpView | null {
    if (this.proto !== 1) return null;
    if ((this.wrapped & 8) === 0) {
      this.wrapped |= 8;
      this.icmpV.wrap(this.bytes, this.l4, this.l4Length).check();
    }
    return this.icmpV;
  }
  /** The datagram quoted by an ICMP error (header checked; its payload may be cut short); null otherwise. */
  innerView(): Ipv4View | null {
    if (!this.related) return null;
    if ((this.wrapped & 16) === 0) {
      this.wrapped |= 16;
      this.innerV.wrap(this.bytes, this.innerL3, this.innerAvailable).checkHeader();
    }
    return this.innerV;
  }
}
