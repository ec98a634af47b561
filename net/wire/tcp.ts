// TCP segments (RFC 9293): checked view with flags, sequence numbers and options (MSS, window
// scale, SACK, timestamps; RFC 7323, RFC 2018), checksum over the IPv4 pseudo header, and a Repr.

import { checksumUpdate16, checksumUpdate32, ipv4PseudoHeaderSum, sumAt } from './checksum';
import { IpProtocol, Ipv4View } from './ipv4';
import { L4PortsView } from './l4';
import { WireError } from './view';

export const TCP_MIN_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;
export const TCP_MAX_SACK_BLOCKS = 4;

/** Control bits; NS (RFC 3540, now historic) sits in the low bit of byte 12. */
export enum TcpFlags {
  FIN = 0x01,
  SYN = 0x02,
  RST = 0x04,
  PSH = 0x08,
  ACK = 0x10,
  URG = 0x20,
  ECE = 0x40,
  CWR = 0x80,
  NS = 0x100,
}

export enum TcpOptionKind {
  End = 0,
  Nop = 1,
  Mss = 2,
  WindowScale = 3,
  SackPermitted = 4,
  Sack = 5,
  Timestamps = 8,
}

/**
 * Options of one segment, filled by TcpView.parseOptions(). Reusable: keep one per shard and parse
 * into it, so the hot path allocates nothing. Absent numeric options are -1.
 */
export class TcpOptions {
  mss = -1;
  /** Shift count as sent (RFC 7323 says to use 14 when larger; that is the stack's business). */
  windowScale = -1;
  sackPermitted = false;
  /** Number of SACK blocks; block i is [sackBlocks[2i], sackBlocks[2i+1]). */
  sackCount = 0;
  readonly sackBlocks: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  hasTimestamps = false;
  tsVal = 0;
  tsEcr = 0;
  /** Options of other kinds, skipped. */
  unknownCount = 0;

  reset(): void {
    this.mss = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.sackCount = 0;
    this.hasTimestamps = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.unknownCount = 0;
  }
}

/**
 * Walk the options in [p, end) of `dv`, validating every length; fill `out` when given. Never reads
 * outside the range. Known options with a wrong length are Malformed, as in smoltcp: a segment that
 * lies about its own MSS is not one to trust with the rest.
 */
function walkOptions(dv: DataView, p: number, end: number, out: TcpOptions | null): WireError {
  let i = p;
  while (i < end) {
    const kind = dv.getUint8(i);
    if (kind === TcpOptionKind.End) break;
    if (kind === TcpOptionKind.Nop) {
      i++;
      continue;
    }
    if (i + 1 >= end) return WireError.Malformed;
    const len = dv.getUint8(i + 1);
    if (len < 2 || i + len > end) return WireError.Malformed;
    switch (kind) {
      case TcpOptionKind.Mss:
        if (len !== 4) return WireError.Malformed;
        if (out) out.mss = dv.getUint16(i + 2);
        break;
      case TcpOptionKind.WindowScale:
        if (len !== 3) return WireError.Malformed;
        if (out) out.windowScale = dv.getUint8(i + 2);
        break;
      case TcpOptionKind.SackPermitted:
        if (len !== 2) return WireError.Malformed;
        if (out) out.sackPermitted = true;
        break;
      case TcpOptionKind.Sack: {
        const n = (len - 2) >>> 3;
        if (n < 1 || n > TCP_MAX_SACK_BLOCKS || len !== 2 + 8 * n) return WireError.Malformed;
        if (out) {
          for (let b = 0; b < n; b++) {
            out.sackBlocks[2 * b] = dv.getUint32(i + 2 + 8 * b);
            out.sackBlocks[2 * b + 1] = dv.getUint32(i + 6 + 8 * b);
          }
          out.sackCount = n;
        }
        break;
      }
      case TcpOptionKind.Timestamps:
        if (len !== 10) return WireError.Malformed;
        if (out) {
          out.hasTimestamps = true;
          out.tsVal = dv.getUint32(i + 2);
          out.tsEcr = dv.getUint32(i + 6);
        }
        break;
      default:
        if (out) out.unknownCount++;
    }
    i += len;
  }
  return WireError.Ok;
}

function pseudoSum(ipOrSrc: Ipv4View | number, dst: number, length: number): number {
  return typeof ipOrSrc === 'number'
    ? ipv4PseudoHeaderSum(ipOrSrc, dst, IpProtocol.Tcp, length)
    : ipOrSrc.pseudoHeaderSum(IpProtocol.Tcp, length);
}

/** Wrap it over exactly the IP payload: the length given is the segment length for the checksum. */
export class TcpView extends L4PortsView {
  /** Header inside the buffer, data offset >= 5 words, every option length consistent. */
  check(): WireError {
    if (!this.inBounds) return WireError.OutOfBounds;
    if (this.len < TCP_MIN_HEADER_LEN) return WireError.Truncated;
    const hl = this.headerLength;
    if (hl < TCP_MIN_HEADER_LEN) return WireError.Malformed;
    if (hl > this.len) return WireError.Truncated;
    return walkOptions(this.dv, this.p + TCP_MIN_HEADER_LEN, this.p + hl, null);
  }

  /** Sequence number as uint32; compare with seqLt()/seqLe(), not <. */
  get seqNumber(): number {
    return this.dv.getUint32(this.p + 4);
  }
  set seqNumber(v: number) {
    this.dv.setUint32(this.p + 4, v >>> 0);
  }
  get ackNumber(): number {
    return this.dv.getUint32(this.p + 8);
  }
  set ackNumber(v: number) {
    this.dv.setUint32(this.p + 8, v >>> 0);
  }
  /** Header length in 32-bit words. */
  get dataOffset(): number {
    return this.dv.getUint8(this.p + 12) >>> 4;
  }
  get headerLength(): number {
    return (this.dv.getUint8(this.p + 12) >>> 4) << 2;
  }
  /** Sets the data offset from a length in bytes (a multiple of 4), keeping the NS bit. */
  set headerLength(bytes: number) {
    const b = this.dv.getUint8(this.p + 12);
    this.dv.setUint8(this.p + 12, (((bytes >>> 2) & 0xf) << 4) | (b & 0x0f));
  }
  /** The nine control bits (TcpFlags). */
  get flags(): number {
    return this.dv.getUint16(this.p + 12) & 0x1ff;
  }
  set flags(f: number) {
    const w = this.dv.getUint16(this.p + 12);
    this.dv.setUint16(this.p + 12, (w & 0xfe00) | (f & 0x1ff));
  }
  get fin(): boolean {
    return (this.dv.getUint8(this.p + 13) & TcpFlags.FIN) !== 0;
  }
  get syn(): boolean {
    return (this.dv.getUint8(this.p + 13) & TcpFlags.SYN) !== 0;
  }
  get rst(): boolean {
    return (this.dv.getUint8(this.p + 13) & TcpFlags.RST) !== 0;
  }
  get psh(): boolean {
    return (this.dv.getUint8(this.p + 13) & TcpFlags.PSH) !== 0;
  }
  get ack(): boolean {
    return (this.dv.getUint8(this.p + 13) & TcpFlags.ACK) !== 0;
  }
  get urg(): boolean {
    return (this.dv.getUint8(this.p + 13) & TcpFlags.URG) !== 0;
  }
  get ece(): boolean {
    return (this.dv.getUint8(this.p + 13) & TcpFlags.ECE) !== 0;
  }
  get cwr(): boolean {
    return (this.dv.getUint8(this.p + 13) & TcpFlags.CWR) !== 0;
  }
  get ns(): boolean {
    return (this.dv.getUint8(this.p + 12) & 1) !== 0;
  }
  get window(): number {
    return this.dv.getUint16(this.p + 14);
  }
  set window(v: number) {
    this.dv.setUint16(this.p + 14, v);
  }
  get checksum(): number {
    return this.dv.getUint16(this.p + 16);
  }
  set checksum(v: number) {
    this.dv.setUint16(this.p + 16, v);
  }
  get urgentPointer(): number {
    return this.dv.getUint16(this.p + 18);
  }
  set urgentPointer(v: number) {
    this.dv.setUint16(this.p + 18, v);
  }

  get optionsOffset(): number {
    return this.offset + TCP_MIN_HEADER_LEN;
  }
  get optionsLength(): number {
    return this.headerLength - TCP_MIN_HEADER_LEN;
  }
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  get payloadLength(): number {
    return Math.max(0, this.len - this.headerLength);
  }
  /** Sequence space the segment occupies: payload plus one each for SYN and FIN. */
  get segmentLength(): number {
    const f = this.dv.getUint8(this.p + 13);
    return this.payloadLength + (f & TcpFlags.SYN ? 1 : 0) + (f & TcpFlags.FIN ? 1 : 0);
  }

  /** Parse the (checked) options into `out`, which is reset first. */
  parseOptions(out: TcpOptions): WireError {
    out.reset();
    const hl = Math.min(this.headerLength, this.len);
    return walkOptions(this.dv, this.p + TCP_MIN_HEADER_LEN, this.p + hl, out);
  }

  /**
   * Checksum over the whole view with the pseudo header of `ip` (or of src/dst). Give the Ipv4View
   * on hot paths: addresses of 2^31 and above passed as numbers can cost V8 an allocation at a call
   * it did not inline; read from the header they never exist as numbers.
   */
  verifyChecksum(ip: Ipv4View): boolean;
  verifyChecksum(src: number, dst: number): boolean;
  verifyChecksum(ipOrSrc: Ipv4View | number, dst = 0): boolean {
    return sumAt(this.dv, this.p, this.len, pseudoSum(ipOrSrc, dst, this.len)) === 0xffff;
  }
  /** Checksum over the first `length` bytes (default: the whole view), ignoring the field's value. */
  computeChecksum(ip: Ipv4View, length?: number): number;
  computeChecksum(src: number, dst: number, length?: number): number;
  computeChecksum(ipOrSrc: Ipv4View | number, b?: number, c?: number): number {
    const byNumber = typeof ipOrSrc === 'number';
    const length = (byNumber ? c : b) ?? this.len;
    const n = Math.max(TCP_MIN_HEADER_LEN, Math.min(length, this.len));
    const pseudo = pseudoSum(ipOrSrc, byNumber ? (b ?? 0) : 0, n);
    // Sum around the field rather than zeroing it: computing must not write to the packet.
    return ~sumAt(this.dv, this.p + 18, n - 18, sumAt(this.dv, this.p, 16, pseudo)) & 0xffff;
  }
  fillChecksum(ip: Ipv4View, length?: number): void;
  fillChecksum(src: number, dst: number, length?: number): void;
  fillChecksum(ipOrSrc: Ipv4View | number, b?: number, c?: number): void {
    this.checksum =
      typeof ipOrSrc === 'number' ? this.computeChecksum(ipOrSrc, b ?? 0, c) : this.computeChecksum(ipOrSrc, b);
  }
  /** RFC 1624 update after a covered 16-bit word (a port) changed. */
  override adjustChecksum16(oldValue: number, newValue: number): void {
    this.checksum = checksumUpdate16(this.checksum, oldValue, newValue);
  }
  /** The same for a 32-bit word (a pseudo-header address, a sequence number). */
  adjustChecksum32(oldValue: number, newValue: number): void {
    this.checksum = checksumUpdate32(this.checksum, oldValue, newValue);
  }
}

/** Sequence number comparisons modulo 2^32 (RFC 1982 style). */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

export interface TcpTimestamps {
  tsVal: number;
  tsEcr: number;
}

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  /** Meaningful when flags has ACK; emitted as given either way. */
  ack: number;
  /** TcpFlags bits. */
  flags: number;
  window: number;
  urgent?: number;
  mss?: number | null;
  windowScale?: number | null;
  sackPermitted?: boolean;
  /** [left, right) edges; at most 4, and at most 3 alongside timestamps (40 bytes of options). */
  sackBlocks?: Array<[number, number]>;
  timestamps?: TcpTimestamps | null;
  payloadLength: number;
}

export interface TcpParseOptions {
  /** Verify the checksum (default true). */
  checksum?: boolean;
}

export interface TcpEmitOptions {
  /** Fill the checksum (default true; false when the NIC will). */
  checksum?: boolean;
}

/**
 * Bytes of options emit() writes. The layout is Linux's, 4-byte aligned with NOPs: MSS,
 * SACK-permitted + timestamps, window scale, SACK blocks.
 */
function optionsLen(repr: TcpRepr): number {
  let n = 0;
  if (repr.mss != null) n += 4;
  if (repr.timestamps) n += 12;
  else if (repr.sackPermitted) n += 4;
  if (repr.windowScale != null) n += 4;
  const sacks = repr.sackBlocks?.length ?? 0;
  if (sacks > 0) n += 4 + 8 * sacks;
  return n;
}

// Parsers run to completion on one thread, so one scratch object per module is safe to share.
const scratchOptions = new TcpOptions();

export const TcpRepr = {
  optionsLen,

  headerLen(repr: TcpRepr): number {
    return TCP_MIN_HEADER_LEN + optionsLen(repr);
  },

  bufferLen(repr: TcpRepr): number {
    return TCP_MIN_HEADER_LEN + optionsLen(repr) + repr.payloadLength;
  },

  /** `src`/`dst` are the IPv4 addresses, for the pseudo header. */
  parse(view: TcpView, src: number, dst: number, opts: TcpParseOptions = {}): TcpRepr | WireError {
    const err = view.check();
    if (err !== WireError.Ok) return err;
    if (opts.checksum !== false && !view.verifyChecksum(src, dst)) return WireError.BadChecksum;
    const o = scratchOptions;
    view.parseOptions(o);
    const sackBlocks: Array<[number, number]> = [];
    for (let i = 0; i < o.sackCount; i++) sackBlocks.push([o.sackBlocks[2 * i], o.sackBlocks[2 * i + 1]]);
    return {
      srcPort: view.srcPort,
      dstPort: view.dstPort,
      seq: view.seqNumber,
      ack: view.ackNumber,
      flags: view.flags,
      window: view.window,
      urgent: view.urgentPointer,
      mss: o.mss >= 0 ? o.mss : null,
      windowScale: o.windowScale >= 0 ? o.windowScale : null,
      sackPermitted: o.sackPermitted,
      sackBlocks,
      timestamps: o.hasTimestamps ? { tsVal: o.tsVal, tsEcr: o.tsEcr } : null,
      payloadLength: view.payloadLength,
    };
  },

  /**
   * Write header and options, copy `payload` if given (else it must already be in place), then the
   * checksum over header + payload. The view needs room for bufferLen(repr).
   */
  emit(
    repr: TcpRepr,
    view: TcpView,
    src: number,
    dst: number,
    payload?: Uint8Array,
    opts: TcpEmitOptions = {},
  ): WireError {
    const hl = TcpRepr.headerLen(repr);
    const n = hl + repr.payloadLength;
    const sacks = repr.sackBlocks ?? [];
    if (hl > TCP_MAX_HEADER_LEN || sacks.length > TCP_MAX_SACK_BLOCKS) return WireError.Malformed;
    if (payload && payload.length !== repr.payloadLength) return WireError.Malformed;
    if (view.check() === WireError.OutOfBounds) return WireError.OutOfBounds;
    if (view.length < n) return WireError.Truncated;
    view.srcPort = repr.srcPort;
    view.dstPort = repr.dstPort;
    view.seqNumber = repr.seq;
    view.ackNumber = repr.ack;
    view.setU16(12, ((hl >>> 2) << 12) | (repr.flags & 0x1ff));
    view.window = repr.window;
    view.checksum = 0;
    view.urgentPointer = repr.urgent ?? 0;
    let at = TCP_MIN_HEADER_LEN;
    if (repr.mss != null) {
      view.setU32(at, (TcpOptionKind.Mss << 24) | (4 << 16) | (repr.mss & 0xffff));
      at += 4;
    }
    if (repr.timestamps) {
      view.setU16(at, repr.sackPermitted ? (TcpOptionKind.SackPermitted << 8) | 2 : 0x0101);
      view.setU16(at + 2, (TcpOptionKind.Timestamps << 8) | 10);
      view.setU32(at + 4, repr.timestamps.tsVal);
      view.setU32(at + 8, repr.timestamps.tsEcr);
      at += 12;
    } else if (repr.sackPermitted) {
      view.setU32(at, 0x01010000 | (TcpOptionKind.SackPermitted << 8) | 2);
      at += 4;
    }
    if (repr.windowScale != null) {
      view.setU32(at, 0x01000000 | (TcpOptionKind.WindowScale << 16) | (3 << 8) | (repr.windowScale & 0xff));
      at += 4;
    }
    if (sacks.length > 0) {
      view.setU32(at, 0x01010000 | (TcpOptionKind.Sack << 8) | (2 + 8 * sacks.length));
      at += 4;
      for (const [left, right] of sacks) {
        view.setU32(at, left);
        view.setU32(at + 4, right);
        at += 8;
      }
    }
    if (payload) view.copyIn(hl, payload);
    if (opts.checksum !== false) view.fillChecksum(src, dst, n);
    return WireError.Ok;
  },
};
