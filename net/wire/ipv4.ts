// IPv4 header (RFC 791): checked view with options and fragments, header checksum, address
// helpers (addresses are uint32 numbers), in-place rewrites with RFC 1624 updates, and a Repr.

import { checksumUpdate16, checksumUpdate32, sumAt } from './checksum';
import { WireError, WireView } from './view';

export enum IpProtocol {
  Icmp = 1,
  Tcp = 6,
  Udp = 17,
}

export const IPV4_MIN_HEADER_LEN = 20;
export const IPV4_MAX_OPTIONS_LEN = 40;

/** Parse dotted quad "198.18.0.1" to a uint32; null unless exactly four decimal octets 0..255. */
export function parseIpv4Addr(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let addr = 0;
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    addr = addr * 256 + octet;
  }
  return addr;
}

/** Format a uint32 as a dotted quad. */
export function formatIpv4Addr(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

export class Ipv4View extends WireView {
  /**
   * Full check: version 4, IHL >= 5, the header inside the buffer, and total length between the
   * header length and the buffer length. Bytes beyond total length (Ethernet padding) are allowed and
   * excluded from the payload.
   */
  check(): WireError {
    const err = this.checkHeader();
    if (err !== WireError.Ok) return err;
    return this.totalLength > this.len ? WireError.Truncated : WireError.Ok;
  }

  /**
   * Header only: the header is present and consistent, but the packet may be cut short. This is what
   * an ICMP error carries (the original header + 8 bytes). Every accessor stays in bounds after it;
   * payloadLength is then what is really there.
   */
  checkHeader(): WireError {
    if (!this.inBounds) return WireError.OutOfBounds;
    if (this.len < IPV4_MIN_HEADER_LEN) return WireError.Truncated;
    if (this.version !== 4) return WireError.Malformed;
    const hl = this.headerLength;
    if (hl < IPV4_MIN_HEADER_LEN) return WireError.Malformed;
    if (hl > this.len) return WireError.Truncated;
    if (this.totalLength < hl) return WireError.Malformed;
    return WireError.Ok;
  }

  get version(): number {
    return this.dv.getUint8(this.p) >>> 4;
  }
  /** Header length in 32-bit words. */
  get ihl(): number {
    return this.dv.getUint8(this.p) & 0x0f;
  }
  get headerLength(): number {
    return (this.dv.getUint8(this.p) & 0x0f) << 2;
  }
  /** The whole second byte (DSCP:6 ECN:2). */
  get tos(): number {
    return this.dv.getUint8(this.p + 1);
  }
  set tos(v: number) {
    this.dv.setUint8(this.p + 1, v);
  }
  get dscp(): number {
    return this.tos >>> 2;
  }
  get ecn(): number {
    return this.tos & 3;
  }
  get totalLength(): number {
    return this.dv.getUint16(this.p + 2);
  }
  set totalLength(v: number) {
    this.dv.setUint16(this.p + 2, v);
  }
  get identification(): number {
    return this.dv.getUint16(this.p + 4);
  }
  set identification(v: number) {
    this.dv.setUint16(this.p + 4, v);
  }
  /** The three flag bits: 0b010 = DF, 0b001 = MF (0b100 is reserved). */
  get flags(): number {
    return this.dv.getUint8(this.p + 6) >>> 5;
  }
  get dontFragment(): boolean {
    return (this.dv.getUint8(this.p + 6) & 0x40) !== 0;
  }
  get moreFragments(): boolean {
    return (this.dv.getUint8(this.p + 6) & 0x20) !== 0;
  }
  /** Fragment offset in bytes (the field counts 8-byte units). */
  get fragmentOffset(): number {
    return (this.dv.getUint16(this.p + 6) & 0x1fff) << 3;
  }
  /** Set flags (3 bits) and fragment offset (bytes; must be a multiple of 8) together. */
  setFragment(flags: number, offsetBytes: number): void {
    this.dv.setUint16(this.p + 6, ((flags & 7) << 13) | ((offsetBytes >>> 3) & 0x1fff));
  }
  /** True for any fragment: MF set or a non-zero offset. */
  get isFragment(): boolean {
    return (this.dv.getUint16(this.p + 6) & 0x3fff) !== 0;
  }
  get ttl(): number {
    return this.dv.getUint8(this.p + 8);
  }
  set ttl(v: number) {
    this.dv.setUint8(this.p + 8, v);
  }
  get protocol(): number {
    return this.dv.getUint8(this.p + 9);
  }
  set protocol(v: number) {
    this.dv.setUint8(this.p + 9, v);
  }
  get checksum(): number {
    return this.dv.getUint16(this.p + 10);
  }
  set checksum(v: number) {
    this.dv.setUint16(this.p + 10, v);
  }
  get src(): number {
    return this.dv.getUint32(this.p + 12);
  }
  set src(addr: number) {
    this.dv.setUint32(this.p + 12, addr >>> 0);
  }
  get dst(): number {
    return this.dv.getUint32(this.p + 16);
  }
  set dst(addr: number) {
    this.dv.setUint32(this.p + 16, addr >>> 0);
  }

  /** Raw options: [optionsOffset, optionsOffset + optionsLength) in the view's bytes. */
  get optionsOffset(): number {
    return this.offset + IPV4_MIN_HEADER_LEN;
  }
  get optionsLength(): number {
    return this.headerLength - IPV4_MIN_HEADER_LEN;
  }
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  /** Payload up to total length, or up to the end of the buffer if that comes first (see checkHeader). */
  get payloadLength(): number {
    return Math.max(0, Math.min(this.totalLength, this.len) - this.headerLength);
  }

  /** True when the header sums to 0xffff (checksum field included). */
  verifyChecksum(): boolean {
    return sumAt(this.dv, this.p, this.headerLength) === 0xffff;
  }
  /** The checksum the header should carry, whatever the field holds now. */
  computeChecksum(): number {
    // Sum around the field rather than zeroing it: computing must not write to the packet.
    return ~sumAt(this.dv, this.p + 12, this.headerLength - 12, sumAt(this.dv, this.p, 10)) & 0xffff;
  }
  fillChecksum(): void {
    this.checksum = this.computeChecksum();
  }

  /**
   * Folded IPv4 pseudo-header sum for TCP/UDP over this header's addresses, summed from the bytes:
   * no uint32 crosses a call, so nothing is boxed (see TcpView.verifyChecksum).
   */
  pseudoHeaderSum(protocol: number, length: number): number {
    return sumAt(this.dv, this.p + 12, 8, (protocol & 0xff) + (length & 0xffff));
  }

  /** Decrement TTL (a router hop) and update the checksum incrementally; returns the new TTL. */
  decrementTtl(): number {
    const word = this.dv.getUint16(this.p + 8);
    const ttl = (word >>> 8) - 1;
    if (ttl < 0) return 0;
    this.dv.setUint8(this.p + 8, ttl);
    this.checksum = checksumUpdate16(this.checksum, word, word - 0x100);
    return ttl;
  }
  /** Rewrite the source address, updating the header checksum (RFC 1624). Returns the old address. */
  rewriteSrc(addr: number): number {
    const old = this.src;
    this.src = addr;
    this.checksum = checksumUpdate32(this.checksum, old, addr >>> 0);
    return old;
  }
  rewriteDst(addr: number): number {
    const old = this.dst;
    this.dst = addr;
    this.checksum = checksumUpdate32(this.checksum, old, addr >>> 0);
    return old;
  }
}

export interface Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  /** Bytes after the header (total length - header length). */
  payloadLength: number;
  ttl: number;
  dscp?: number;
  ecn?: number;
  identification?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** In bytes; a multiple of 8. */
  fragmentOffset?: number;
  /** Raw options; emit pads them with zeros (End of Options List) to a multiple of 4. */
  options?: Uint8Array;
}

export interface Ipv4ParseOptions {
  /** Verify the header checksum (default true; false when the NIC already did). */
  checksum?: boolean;
}

export interface Ipv4EmitOptions {
  /** Fill the header checksum (default true; false when the NIC will). */
  checksum?: boolean;
}

export const Ipv4Repr = {
  headerLen(repr: Ipv4Repr): number {
    const opt = repr.options?.length ?? 0;
    return IPV4_MIN_HEADER_LEN + ((opt + 3) & ~3);
  },

  parse(view: Ipv4View, opts: Ipv4ParseOptions = {}): Ipv4Repr | WireError {
    const err = view.check();
    if (err !== WireError.Ok) return err;
    if (opts.checksum !== false && !view.verifyChecksum()) return WireError.BadChecksum;
    return {
      src: view.src,
      dst: view.dst,
      protocol: view.protocol,
      payloadLength: view.payloadLength,
      ttl: view.ttl,
      dscp: view.dscp,
      ecn: view.ecn,
      identification: view.identification,
      dontFragment: view.dontFragment,
      moreFragments: view.moreFragments,
      fragmentOffset: view.fragmentOffset,
      options: view.copyOut(IPV4_MIN_HEADER_LEN, view.optionsLength),
    };
  },

  /**
   * Write the header at the start of the view (which needs room for at least the header); the
   * payload goes at view.payloadOffset afterwards.
   */
  emit(repr: Ipv4Repr, view: Ipv4View, opts: Ipv4EmitOptions = {}): WireError {
    const hl = Ipv4Repr.headerLen(repr);
    const frag = repr.fragmentOffset ?? 0;
    if (hl > IPV4_MIN_HEADER_LEN + IPV4_MAX_OPTIONS_LEN) return WireError.Malformed;
    if (frag % 8 !== 0 || frag > 0x1fff * 8 || hl + repr.payloadLength > 0xffff) return WireError.Malformed;
    if (view.check() === WireError.OutOfBounds) return WireError.OutOfBounds;
    if (view.length < hl) return WireError.Truncated;
    view.setU8(0, 0x40 | (hl >>> 2));
    view.tos = (((repr.dscp ?? 0) & 0x3f) << 2) | ((repr.ecn ?? 0) & 3);
    view.totalLength = hl + repr.payloadLength;
    view.identification = repr.identification ?? 0;
    view.setFragment((repr.dontFragment ? 2 : 0) | (repr.moreFragments ? 1 : 0), frag);
    view.ttl = repr.ttl;
    view.protocol = repr.protocol;
    view.checksum = 0;
    view.src = repr.src;
    view.dst = repr.dst;
    for (let i = IPV4_MIN_HEADER_LEN; i < hl; i++) view.setU8(i, 0);
    if (repr.options) view.copyIn(IPV4_MIN_HEADER_LEN, repr.options);
    if (opts.checksum !== false) view.fillChecksum();
    return WireError.Ok;
  },
};
