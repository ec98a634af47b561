// Base of every header view: a reusable window (bytes, offset, length) over packet memory, plus the
// error codes that check() returns. Views never allocate when re-pointed within the same ArrayBuffer.

/** Anything a packet can be given as: a byte array or a DataView over (part of) an ArrayBuffer. */
export type Bytes = Uint8Array | DataView;

/**
 * Result of a view's check() and of Repr parse/emit. `Ok` is 0 so that `if (v.check())` reads as
 * "if it failed". Numbers, not exceptions: hostile packets are the normal case on the hot path.
 */
export enum WireError {
  Ok = 0,
  /** The buffer is shorter than the header, or than a length the header declares. */
  Truncated = 1,
  /** A field contradicts the format (IHL < 5, UDP length < 8, a TCP option of length 1, ...). */
  Malformed = 2,
  /** Well-formed but outside what this layer handles (ARP for non-Ethernet/IPv4, three VLAN tags). */
  Unsupported = 3,
  /** A checksum did not verify (only Repr parsers report this; views expose verifyChecksum()). */
  BadChecksum = 4,
  /** The (offset, length) given to wrap() does not lie inside the bytes given. */
  OutOfBounds = 5,
}

/** Type guard for the `Repr | WireError` results of the Repr parsers. */
export function isWireError(x: unknown): x is WireError {
  return typeof x === 'number';
}

const EMPTY = new ArrayBuffer(0);

/**
 * The outer layer's payload, as the next view wants it. Every view is one, so that
 * `ip.wrapPayloadOf(eth)` chains layers without allocating.
 */
export interface PayloadSource {
  readonly bytes: Bytes;
  readonly payloadOffset: number;
  readonly payloadLength: number;
}

/**
 * A window over packet bytes. Offsets given to and returned by a view (offset, payloadOffset,
 * optionsOffset...) are relative to the `bytes` passed to wrap(), so they can be handed straight to
 * the next view. Internally all reads go through one DataView / Uint8Array over the whole
 * ArrayBuffer, recreated only when the buffer changes (pool memory does not), at absolute index `p`.
 *
 * Accessors do not check bounds themselves (that would cost a branch per field): call check() once
 * after wrap(); if it returns WireError.Ok, every accessor stays inside (offset, length).
 */
export abstract class WireView implements PayloadSource {
  protected dv: DataView = new DataView(EMPTY);
  protected u8: Uint8Array = new Uint8Array(EMPTY);
  /** Absolute index of the first byte of this view in the ArrayBuffer. */
  protected p = 0;
  /** Bytes available to the view. */
  protected len = 0;
  /** False when wrap() was given a range outside its bytes; check() then fails. */
  protected inBounds = false;
  private wrapped: Bytes = this.u8;
  private wrappedOffset = 0;

  /**
   * Point the view at `length` bytes starting at `offset` inside `bytes`. Never throws: a range
   * outside `bytes` makes check() return WireError.OutOfBounds (and sets the length to 0).
   */
  wrap(bytes: Bytes, offset = 0, length: number = bytes.byteLength - offset): this {
    const buf = bytes.buffer;
    if (buf !== this.dv.buffer) {
      this.dv = new DataView(buf);
      this.u8 = new Uint8Array(buf);
    }
    this.wrapped = bytes;
    this.wrappedOffset = offset;
    this.inBounds =
      Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0 &&
      offset + length <= bytes.byteLength;
    this.p = bytes.byteOffset + (this.inBounds ? offset : 0);
    this.len = this.inBounds ? length : 0;
    return this;
  }

  /** Wrap the payload of an outer view (e.g. IPv4 inside Ethernet). */
  wrapPayloadOf(outer: PayloadSource): this {
    return this.wrap(outer.bytes, outer.payloadOffset, outer.payloadLength);
  }

  /** Validate lengths and fields once; WireError.Ok means every accessor is safe. */
  abstract check(): WireError;

  /** The bytes given to wrap(). */
  get bytes(): Bytes {
    return this.wrapped;
  }
  /** Offset of the view inside `bytes`. */
  get offset(): number {
    return this.wrappedOffset;
  }
  /** Bytes available to the view (the whole packet at this layer, not only the header). */
  get length(): number {
    return this.len;
  }

  abstract get payloadOffset(): number;
  abstract get payloadLength(): number;

  // Raw access by offset from the start of the view, for Repr emitters and for fields a view does
  // not name. Not checked against `length` (only the ArrayBuffer bounds apply): callers check first.
  getU8(at: number): number {
    return this.dv.getUint8(this.p + at);
  }
  getU16(at: number): number {
    return this.dv.getUint16(this.p + at);
  }
  getU32(at: number): number {
    return this.dv.getUint32(this.p + at);
  }
  setU8(at: number, v: number): void {
    this.dv.setUint8(this.p + at, v);
  }
  setU16(at: number, v: number): void {
    this.dv.setUint16(this.p + at, v);
  }
  setU32(at: number, v: number): void {
    this.dv.setUint32(this.p + at, v >>> 0);
  }
  /** Copy `src` into the view at `at`; returns false (copying nothing) if it does not fit. */
  copyIn(at: number, src: Uint8Array): boolean {
    if (at < 0 || at + src.length > this.len) return false;
    this.u8.set(src, this.p + at);
    return true;
  }
  /** Copy `n` bytes starting at `at` out of the view into a new array (slow path). */
  copyOut(at: number, n: number): Uint8Array {
    const start = Math.max(0, Math.min(at, this.len));
    const end = Math.max(start, Math.min(at + n, this.len));
    return this.u8.slice(this.p + start, this.p + end);
  }

  /**
   * A Uint8Array over the view's bytes. Allocates a small object: meant for tests and slow paths.
   */
  asBytes(): Uint8Array {
    return new Uint8Array(this.dv.buffer, this.p, this.len);
  }
}
