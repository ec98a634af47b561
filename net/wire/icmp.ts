// ICMPv4 (RFC 792): echo request/reply, and the error messages (destination unreachable, time
// exceeded, ...) whose body is the offending datagram's IP header + at least 8 bytes of its payload.

import { checksumUpdate16, sumAt } from './checksum';
import { Ipv4View } from './ipv4';
import { WireError, WireView } from './view';

export enum IcmpType {
  EchoReply = 0,
  DestUnreachable = 3,
  SourceQuench = 4,
  Redirect = 5,
  EchoRequest = 8,
  TimeExceeded = 11,
  ParamProblem = 12,
}

export enum IcmpUnreachableCode {
  NetUnreachable = 0,
  HostUnreachable = 1,
  ProtocolUnreachable = 2,
  PortUnreachable = 3,
  FragmentationNeeded = 4,
  SourceRouteFailed = 5,
  AdminProhibited = 13,
}

export enum IcmpTimeExceededCode {
  TtlExceeded = 0,
  FragmentReassembly = 1,
}

export const ICMP_HEADER_LEN = 8;

/** Types whose body is an offending datagram (RFC 792, RFC 1812 4.3.2.3). */
export function isIcmpError(type: number): boolean {
  return (
    type === IcmpType.DestUnreachable ||
    type === IcmpType.SourceQuench ||
    type === IcmpType.Redirect ||
    type === IcmpType.TimeExceeded ||
    type === IcmpType.ParamProblem
  );
}

/**
 * type(1) code(1) checksum(2) rest-of-header(4) body. Wrap it over exactly the IP payload: the
 * checksum covers the whole message.
 */
export class IcmpView extends WireView {
  check(): WireError {
    if (!this.inBounds) return WireError.OutOfBounds;
    return this.len < ICMP_HEADER_LEN ? WireError.Truncated : WireError.Ok;
  }

  get type(): number {
    return this.dv.getUint8(this.p);
  }
  set type(v: number) {
    this.dv.setUint8(this.p, v);
  }
  get code(): number {
    return this.dv.getUint8(this.p + 1);
  }
  set code(v: number) {
    this.dv.setUint8(this.p + 1, v);
  }
  get checksum(): number {
    return this.dv.getUint16(this.p + 2);
  }
  set checksum(v: number) {
    this.dv.setUint16(this.p + 2, v);
  }
  /** Bytes 4..7 as one number; its meaning depends on the type. */
  get restOfHeader(): number {
    return this.dv.getUint32(this.p + 4);
  }
  set restOfHeader(v: number) {
    this.dv.setUint32(this.p + 4, v >>> 0);
  }
  /** Echo identifier / sequence number (bytes 4..5, 6..7). */
  get identifier(): number {
    return this.dv.getUint16(this.p + 4);
  }
  set identifier(v: number) {
    this.dv.setUint16(this.p + 4, v);
  }
  get sequence(): number {
    return this.dv.getUint16(this.p + 6);
  }
  set sequence(v: number) {
    this.dv.setUint16(this.p + 6, v);
  }
  /** Next-hop MTU of "fragmentation needed" (RFC 1191), bytes 6..7. */
  get nextHopMtu(): number {
    return this.dv.getUint16(this.p + 6);
  }
  /** Parameter problem: the offending octet. */
  get pointer(): number {
    return this.dv.getUint8(this.p + 4);
  }
  /** Redirect: the gateway address. */
  get gateway(): number {
    return this.dv.getUint32(this.p + 4);
  }
  get isError(): boolean {
    return isIcmpError(this.type);
  }

  /** The body: echo data, or the offending datagram of an error. */
  get payloadOffset(): number {
    return this.offset + ICMP_HEADER_LEN;
  }
  get payloadLength(): number {
    return Math.max(0, this.len - ICMP_HEADER_LEN);
  }

  /**
   * Point `inner` at the offending datagram of an error message and check its header (only the
   * header and what follows of it need be present). Unsupported for non-error types.
   */
  wrapInner(inner: Ipv4View): WireError {
    if (!isIcmpError(this.type)) return WireError.Unsupported;
    return inner.wrapPayloadOf(this).checkHeader();
  }

  verifyChecksum(): boolean {
    return sumAt(this.dv, this.p, this.len) === 0xffff;
  }
  /** Checksum over the first `length` bytes (default: the whole view), ignoring the field's value. */
  computeChecksum(length: number = this.len): number {
    const n = Math.max(0, Math.min(length, this.len));
    if (n < 4) return 0;
    // Sum around the field rather than zeroing it: computing must not write to the packet.
    return ~sumAt(this.dv, this.p + 4, n - 4, sumAt(this.dv, this.p, 2)) & 0xffff;
  }
  fillChecksum(length: number = this.len): void {
    this.checksum = this.computeChecksum(length);
  }

  /** Turn an echo request into its reply in place (the body is echoed as is). */
  echoToReplyInPlace(): void {
    const word = this.dv.getUint16(this.p);
    this.type = IcmpType.EchoReply;
    this.checksum = checksumUpdate16(this.checksum, word, this.dv.getUint16(this.p));
  }
}

export type IcmpRepr =
  | {
      kind: 'echo';
      type: IcmpType.EchoRequest | IcmpType.EchoReply;
      identifier: number;
      sequence: number;
      data: Uint8Array;
    }
  | {
      kind: 'error';
      /** DestUnreachable, TimeExceeded, ParamProblem, ... (see isIcmpError). */
      type: number;
      code: number;
      /** Bytes 4..7 (next-hop MTU, pointer or gateway; 0 when unused). */
      rest: number;
      /** The offending datagram's IP header + leading payload bytes. */
      original: Uint8Array;
    }
  | { kind: 'other'; type: number; code: number; rest: number; data: Uint8Array };

export interface IcmpParseOptions {
  /** Verify the checksum (default true). */
  checksum?: boolean;
}

// Parsers run to completion on one thread, so one scratch view per module is safe to share.
const scratchInner = new Ipv4View();

export const IcmpRepr = {
  bufferLen(repr: IcmpRepr): number {
    return ICMP_HEADER_LEN + (repr.kind === 'error' ? repr.original.length : repr.data.length);
  },

  parse(view: IcmpView, opts: IcmpParseOptions = {}): IcmpRepr | WireError {
    const err = view.check();
    if (err !== WireError.Ok) return err;
    if (opts.checksum !== false && !view.verifyChecksum()) return WireError.BadChecksum;
    const type = view.type;
    const body = view.copyOut(ICMP_HEADER_LEN, view.payloadLength);
    if (type === IcmpType.EchoRequest || type === IcmpType.EchoReply) {
      if (view.code !== 0) return WireError.Malformed;
      return { kind: 'echo', type, identifier: view.identifier, sequence: view.sequence, data: body };
    }
    if (isIcmpError(type)) {
      // The body must at least hold a sane IP header.
      const innerErr = view.wrapInner(scratchInner);
      if (innerErr !== WireError.Ok) return innerErr;
      return { kind: 'error', type, code: view.code, rest: view.restOfHeader, original: body };
    }
    return { kind: 'other', type, code: view.code, rest: view.restOfHeader, data: body };
  },

  /** Write the whole message (header and body) and its checksum. */
  emit(repr: IcmpRepr, view: IcmpView): WireError {
    const n = IcmpRepr.bufferLen(repr);
    if (view.check() === WireError.OutOfBounds) return WireError.OutOfBounds;
    if (view.length < n) return WireError.Truncated;
    view.type = repr.type;
    if (repr.kind === 'echo') {
      view.code = 0;
      view.identifier = repr.identifier;
      view.sequence = repr.sequence;
      view.copyIn(ICMP_HEADER_LEN, repr.data);
    } else {
      view.code = repr.code;
      view.restOfHeader = repr.rest;
      view.copyIn(ICMP_HEADER_LEN, repr.kind === 'error' ? repr.original : repr.data);
    }
    view.fillChecksum(n);
    return WireError.Ok;
  },

  /**
   * The body of an error about `offending` (a checked IPv4 view): its header and the first
   * `payloadBytes` bytes after it (RFC 792: 8; RFC 1812 allows more), as far as they are present.
   */
  originalOf(offending: Ipv4View, payloadBytes = 8): Uint8Array {
    return offending.copyOut(0, offending.headerLength + Math.min(payloadBytes, offending.payloadLength));
  },
};
