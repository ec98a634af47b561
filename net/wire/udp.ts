// UDP (RFC 768): checked view, checksum over the IPv4 pseudo header (0 on the wire = no checksum),
// NAT-style port rewrites with RFC 1624 updates, and a Repr.

import { checksumUpdate16, checksumUpdate32, ipv4PseudoHeaderSum, sumAt } from './checksum';
import { IpProtocol, Ipv4View } from './ipv4';
import { L4PortsView } from './l4';
import { WireError } from './view';

export const UDP_HEADER_LEN = 8;

/** src port(2) dst port(2) length(2) checksum(2). Wrap it over the IP payload. */
export class UdpView extends L4PortsView {
  /**
   * The header is present, the length field is at least 8 and the datagram fits in the buffer.
   * Bytes beyond the length field are ignored (not part of the payload).
   */
  check(): WireError {
    if (!this.inBounds) return WireError.OutOfBounds;
    if (this.len < UDP_HEADER_LEN) return WireError.Truncated;
    const n = this.udpLength;
    if (n < UDP_HEADER_LEN) return WireError.Malformed;
    return n > this.len ? WireError.Truncated : WireError.Ok;
  }

  /** Only the 8 header bytes (a UDP header quoted inside an ICMP error). */
  checkHeader(): WireError {
    if (!this.inBounds) return WireError.OutOfBounds;
    return this.len < UDP_HEADER_LEN ? WireError.Truncated : WireError.Ok;
  }

  /** The length field: header + payload. */
  get udpLength(): number {
    return this.dv.getUint16(this.p + 4);
  }
  set udpLength(v: number) {
    this.dv.setUint16(this.p + 4, v);
  }
  get checksum(): number {
    return this.dv.getUint16(this.p + 6);
  }
  set checksum(v: number) {
    this.dv.setUint16(this.p + 6, v);
  }

  get payloadOffset(): number {
    return this.offset + UDP_HEADER_LEN;
  }
  get payloadLength(): number {
    return Math.max(0, Math.min(this.udpLength, this.len) - UDP_HEADER_LEN);
  }

  /**
   * True when the checksum is absent (0) or correct; false if the datagram is cut short. Give the
   * Ipv4View on hot paths: addresses of 2^31 and above passed as numbers can cost V8 an allocation
   * at a call it did not inline; read from the header they never exist as numbers.
   */
  verifyChecksum(ip: Ipv4View): boolean;
  verifyChecksum(src: number, dst: number): boolean;
  verifyChecksum(ipOrSrc: Ipv4View | number, dst = 0): boolean {
    if (this.checksum === 0) return true;
    const n = this.udpLength;
    if (n > this.len || n < UDP_HEADER_LEN) return false;
    return sumAt(this.dv, this.p, n, pseudoSum(ipOrSrc, dst, n)) === 0xffff;
  }
  /** The checksum the datagram should carry; a computed 0 is sent as 0xffff (0 means "none"). */
  computeChecksum(ip: Ipv4View): number;
  computeChecksum(src: number, dst: number): number;
  computeChecksum(ipOrSrc: Ipv4View | number, dst = 0): number {
    const n = Math.max(UDP_HEADER_LEN, Math.min(this.udpLength, this.len));
    const pseudo = pseudoSum(ipOrSrc, dst, this.udpLength);
    // Sum around the field rather than zeroing it: computing must not write to the packet.
    const cs = ~sumAt(this.dv, this.p + 8, n - 8, sumAt(this.dv, this.p, 6, pseudo)) & 0xffff;
    return cs === 0 ? 0xffff : cs;
  }
  fillChecksum(ip: Ipv4View): void;
  fillChecksum(src: number, dst: number): void;
  fillChecksum(ipOrSrc: Ipv4View | number, dst = 0): void {
    this.checksum = typeof ipOrSrc === 'number' ? this.computeChecksum(ipOrSrc, dst) : this.computeChecksum(ipOrSrc);
  }

  /**
   * RFC 1624 update after a covered 16-bit word (a port) changed. A datagram without checksum keeps
   * none, and a result of 0 is sent as 0xffff.
   */
  override adjustChecksum16(oldValue: number, newValue: number): void {
    const cs = this.checksum;
    if (cs === 0) return;
    this.checksum = checksumUpdate16(cs, oldValue, newValue) || 0xffff;
  }
  /** The same for a 32-bit word (an address of the pseudo header). */
  adjustChecksum32(oldValue: number, newValue: number): void {
    const cs = this.checksum;
    if (cs === 0) return;
    this.checksum = checksumUpdate32(cs, oldValue, newValue) || 0xffff;
  }
}

function pseudoSum(ipOrSrc: Ipv4View | number, dst: number, length: number): number {
  return typeof ipOrSrc === 'number'
    ? ipv4PseudoHeaderSum(ipOrSrc, dst, IpProtocol.Udp, length)
    : ipOrSrc.pseudoHeaderSum(IpProtocol.Udp, length);
}

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  payloadLength: number;
}

export interface UdpParseOptions {
  /** Verify the checksum when present (default true). */
  checksum?: boolean;
}

export interface UdpEmitOptions {
  /** Fill the checksum (default true); false leaves 0, "no checksum". */
  checksum?: boolean;
}

export const UdpRepr = {
  bufferLen(repr: UdpRepr): number {
    return UDP_HEADER_LEN + repr.payloadLength;
  },

  /** `src`/`dst` are the IPv4 addresses, for the pseudo header. */
  parse(view: UdpView, src: number, dst: number, opts: UdpParseOptions = {}): UdpRepr | WireError {
    const err = view.check();
    if (err !== WireError.Ok) return err;
    if (opts.checksum !== false && !view.verifyChecksum(src, dst)) return WireError.BadChecksum;
    return { srcPort: view.srcPort, dstPort: view.dstPort, payloadLength: view.payloadLength };
  },

  /**
   * Write the header, copy `payload` if given (else it must already be in place), then the checksum.
   * The view needs room for header + payload.
   */
  emit(
    repr: UdpRepr,
    view: UdpView,
    src: number,
    dst: number,
    payload?: Uint8Array,
    opts: UdpEmitOptions = {},
  ): WireError {
    const n = UdpRepr.bufferLen(repr);
    if (n > 0xffff || (payload && payload.length !== repr.payloadLength)) return WireError.Malformed;
    if (view.check() === WireError.OutOfBounds) return WireError.OutOfBounds;
    if (view.length < n) return WireError.Truncated;
    view.srcPort = repr.srcPort;
    view.dstPort = repr.dstPort;
    view.udpLength = n;
    view.checksum = 0;
    if (payload) view.copyIn(UDP_HEADER_LEN, payload);
    if (opts.checksum !== false) view.fillChecksum(src, dst);
    return WireError.Ok;
  },
};
