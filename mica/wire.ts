// The MICA datagram protocol (byte-compatible with mica2's datagram_protocol.h): a batch of key-value
// requests or responses in one Ethernet/IPv4/UDP frame. Checked reading (a frame check, then a cursor that
// checks each request's bounds before exposing it), an allocation-free writer, and a Repr for slow paths.
//
//   frame:   Ethernet(14) IPv4(20, no options) UDP(8) | magic(1) count(1) reserved(4)        = 48 bytes
//   request: op(1) result(1) reserved(2) kvLength(4 LE: key length << 24 | value length)
//            keyHash(8 LE) opaque(4 LE) reserved(4)                                          = 24 bytes
//            key, zero-padded to 8 bytes; value, zero-padded to 8 bytes
import { internetChecksum } from '../net/wire/checksum';

export const MAGIC_REQUEST = 0x78;
export const MAGIC_RESPONSE = 0x79;
export const ETH_LEN = 14;
export const IPV4_LEN = 20;
export const UDP_LEN = 8;
/** Ethernet + IPv4 + UDP: where the MICA payload starts. */
export const FRAME_HEADER_LEN = ETH_LEN + IPV4_LEN + UDP_LEN;
/** The batch header including the frame headers (mica2's RequestBatchHeader). */
export const BATCH_HEADER_LEN = FRAME_HEADER_LEN + 6;
export const REQUEST_HEADER_LEN = 24;
export const MAX_KEY_LEN = 255;
export const MAX_VALUE_LEN = (1 << 24) - 1;
/** A batch holds at most this many requests (the count is one byte). */
export const MAX_BATCH = 255;
/** Largest frame mica2 builds (ETHER_MAX_LEN - CRC): a batch's requests fit in MAX_FRAME - BATCH_HEADER_LEN. */
export const MAX_FRAME = 1514;

/** mica::processor::Operation */
export enum Op { Reset = 0, NoopRead = 1, NoopWrite = 2, Add = 3, Set = 4, Get = 5, Test = 6, Delete = 7, Increment = 8 }
export const OP_COUNT = 9;
/** mica::table::Result */
export enum Result {
  Success = 0, Error = 1, InsufficientSpace = 2, Exists = 3, NotFound = 4, PartialValue = 5,
  NotProcessed = 6, NotSupported = 7, TimedOut = 8, Rejected = 9,
}

/** Why a frame is not a MICA batch (0 = it is). */
export enum FrameError {
  Ok = 0,
  /** shorter than the batch header, or than the lengths its headers declare */
  Truncated = 1,
  NotIpv4 = 2,
  /** IHL is not 5: mica2 frames carry no IP options */
  IpOptions = 3,
  /** a fragment (MF or an offset); with `strict`, any nonzero id or fragment field (DF included), as mica2 */
  Fragment = 4,
  NotUdp = 5,
  /** the UDP length disagrees with the IP length */
  UdpLength = 6,
  BadMagic = 7,
  /** the requests overrun the datagram, or the count does not match the requests present */
  BadCount = 8,
}

export const pad8 = (n: number): number => (n + 7) & ~7;

/** Bytes one request takes in a batch. */
export function requestSize(keyLength: number, valueLength: number): number {
  return REQUEST_HEADER_LEN + pad8(keyLength) + pad8(valueLength);
}

/**
 * A checked view of one received frame. `check()` validates the Ethernet/IPv4/UDP headers and the batch
 * header; `checkRequests()` walks the requests once and proves they fit. After both return Ok, the cursor
 * methods read only inside the datagram. One instance is reused for every packet.
 */
export class BatchView {
  dv: DataView = new DataView(new ArrayBuffer(0));
  /** absolute offset of the frame in dv */
  off = 0;
  len = 0;
  /** end of the datagram (the IP length; Ethernet padding after it is ignored) */
  end = 0;
  // the current request (after next())
  /** absolute offset of the current request header */
  at = 0;
  op = 0;
  result = 0;
  keyLength = 0;
  valueLength = 0;
  hashLo = 0;
  hashHi = 0;
  opaque = 0;
  private nextAt = 0;
  private left = 0;

  wrap(dv: DataView, off: number, len: number): this {
    this.dv = dv;
    this.off = off;
    this.len = len;
    return this;
  }

  /** Validates the frame and batch headers. `strict`: refuse a nonzero IP id or fragment field as mica2 does. */
  check(strict = false): FrameError {
    const dv = this.dv, o = this.off, len = this.len;
    if (len < BATCH_HEADER_LEN || o < 0 || o + len > dv.byteLength) return FrameError.Truncated;
    if (dv.getUint16(o + 12) !== 0x0800) return FrameError.NotIpv4;
    const ip = o + ETH_LEN;
    const vihl = dv.getUint8(ip);
    if (vihl >>> 4 !== 4) return FrameError.NotIpv4;
    if ((vihl & 0x0f) !== 5) return FrameError.IpOptions;
    const frag = dv.getUint16(ip + 6);
    if (strict ? (frag !== 0 || dv.getUint16(ip + 4) !== 0) : (frag & 0x3fff) !== 0) return FrameError.Fragment;
    const total = dv.getUint16(ip + 2);
    if (total < IPV4_LEN + UDP_LEN + 6 || total > len - ETH_LEN) return FrameError.Truncated;
    if (dv.getUint8(ip + 9) !== 17) return FrameError.NotUdp;
    if (dv.getUint16(ip + IPV4_LEN + 4) !== total - IPV4_LEN) return FrameError.UdpLength;
    const m = dv.getUint8(o + FRAME_HEADER_LEN);
    if (m !== MAGIC_REQUEST && m !== MAGIC_RESPONSE) return FrameError.BadMagic;
    this.end = o + ETH_LEN + total;
    this.rewind();
    return FrameError.Ok;
  }

  get magic(): number { return this.dv.getUint8(this.off + FRAME_HEADER_LEN); }
  get count(): number { return this.dv.getUint8(this.off + FRAME_HEADER_LEN + 1); }
  get srcIp(): number { return this.dv.getUint32(this.off + 26); }
  get dstIp(): number { return this.dv.getUint32(this.off + 30); }
  get srcPort(): number { return this.dv.getUint16(this.off + 34); }
  get dstPort(): number { return this.dv.getUint16(this.off + 36); }

  /** Walks every request once: Ok when exactly `count` requests fit in the datagram (trailing bytes refused). */
  checkRequests(): FrameError {
    this.rewind();
    let n = 0;
    while (this.next()) n++;
    const ok = n === this.count && this.nextAt === this.end;
    this.rewind();
    return ok ? FrameError.Ok : FrameError.BadCount;
  }

  /** Back to before the first request. */
  rewind(): void {
    this.nextAt = this.off + BATCH_HEADER_LEN;
    this.left = this.count;
  }

  /** Moves to the next request; false at the end of the count or when the request would overrun. */
  next(): boolean {
    if (this.left === 0) return false;
    const dv = this.dv, a = this.nextAt;
    if (a + REQUEST_HEADER_LEN > this.end) return false;
    const kv = dv.getUint32(a + 4, true);
    const kl = kv >>> 24, vl = kv & 0xffffff;
    const size = REQUEST_HEADER_LEN + pad8(kl) + pad8(vl);
    if (a + size > this.end) return false;
    this.at = a;
    this.op = dv.getUint8(a);
    this.result = dv.getUint8(a + 1);
    this.keyLength = kl;
    this.valueLength = vl;
    this.hashLo = dv.getUint32(a + 8, true);
    this.hashHi = dv.getUint32(a + 12, true);
    this.opaque = dv.getUint32(a + 16, true);
    this.nextAt = a + size;
    this.left--;
    return true;
  }

  /** Absolute offsets of the current request's key and value in dv. */
  get keyAt(): number { return this.at + REQUEST_HEADER_LEN; }
  get valueAt(): number { return this.at + REQUEST_HEADER_LEN + pad8(this.keyLength); }
}

/** Addresses for a frame's headers (MACs as 48-bit numbers, IPs as uint32). */
export interface FrameAddresses {
  srcMac: number; dstMac: number; srcIp: number; dstIp: number; srcPort: number; dstPort: number;
}

function writeMac48(dv: DataView, o: number, mac: number): void {
  dv.setUint16(o, Math.floor(mac / 0x100000000) & 0xffff);
  dv.setUint32(o + 2, mac >>> 0);
}

/**
 * Builds one batch in place: begin(), append() requests (each checked against the space left), then
 * finish() writes the Ethernet/IPv4/UDP headers (IP id 0, no fragment flags, TTL 64, IP checksum, UDP
 * checksum 0 — what mica2 sends and accepts) and returns the frame length.
 */
export class BatchWriter {
  dv: DataView = new DataView(new ArrayBuffer(0));
  u8: Uint8Array = new Uint8Array(0);
  off = 0;
  cap = 0;
  count = 0;
  pos = 0;

  /** Starts a batch at absolute `off` of `dv` with `cap` bytes of room (at most MAX_FRAME are used). */
  begin(dv: DataView, u8: Uint8Array, off: number, cap: number, magic: number): this {
    this.dv = dv;
    this.u8 = u8;
    this.off = off;
    this.cap = Math.min(cap, MAX_FRAME);
    if (this.cap < BATCH_HEADER_LEN) throw new RangeError('BatchWriter: no room for a batch header');
    this.count = 0;
    this.pos = off + BATCH_HEADER_LEN;
    dv.setUint8(off + FRAME_HEADER_LEN, magic);
    dv.setUint8(off + FRAME_HEADER_LEN + 1, 0);
    dv.setUint32(off + FRAME_HEADER_LEN + 2, 0);
    return this;
  }

  /** Whether a request with these lengths still fits. */
  fits(keyLength: number, valueLength: number): boolean {
    return this.count < MAX_BATCH && this.pos - this.off + requestSize(keyLength, valueLength) <= this.cap;
  }

  get bytes(): number { return this.pos - this.off; }

  /**
   * Appends a request header and reserves its key and value (zero padding written); returns the absolute
   * offset of the key (the value follows at key + pad8(keyLength)), or -1 when it does not fit.
   */
  reserve(op: number, result: number, hashLo: number, hashHi: number, opaque: number, keyLength: number, valueLength: number): number {
    if (keyLength < 0 || keyLength > MAX_KEY_LEN || valueLength < 0 || valueLength > MAX_VALUE_LEN) return -1;
    if (!this.fits(keyLength, valueLength)) return -1;
    const dv = this.dv, a = this.pos;
    dv.setUint8(a, op);
    dv.setUint8(a + 1, result);
    dv.setUint16(a + 2, 0);
    dv.setUint32(a + 4, ((keyLength << 24) | valueLength) >>> 0, true);
    dv.setUint32(a + 8, hashLo >>> 0, true);
    dv.setUint32(a + 12, hashHi >>> 0, true);
    dv.setUint32(a + 16, opaque >>> 0, true);
    dv.setUint32(a + 20, 0);
    const size = requestSize(keyLength, valueLength);
    // zero the padding (the whole key/value area: the caller copies into it)
    this.u8.fill(0, a + REQUEST_HEADER_LEN, a + size);
    this.pos = a + size;
    this.count++;
    return a + REQUEST_HEADER_LEN;
  }

  /** Appends a request with its key and value copied in; false when it does not fit. */
  append(op: number, result: number, hashLo: number, hashHi: number, opaque: number,
    key: Uint8Array | null, value: Uint8Array | null): boolean {
    const kl = key?.length ?? 0, vl = value?.length ?? 0;
    const k = this.reserve(op, result, hashLo, hashHi, opaque, kl, vl);
    if (k < 0) return false;
    if (key) this.u8.set(key, k);
    if (value) this.u8.set(value, k + pad8(kl));
    return true;
  }

  /** Writes the frame headers and the count; returns the frame length. */
  finish(a: FrameAddresses): number {
    const dv = this.dv, o = this.off, len = this.pos - o;
    writeMac48(dv, o, a.dstMac);
    writeMac48(dv, o + 6, a.srcMac);
    dv.setUint16(o + 12, 0x0800);
    const ip = o + ETH_LEN;
    dv.setUint8(ip, 0x45);
    dv.setUint8(ip + 1, 0);
    dv.setUint16(ip + 2, len - ETH_LEN);
    dv.setUint16(ip + 4, 0);
    dv.setUint16(ip + 6, 0);
    dv.setUint8(ip + 8, 64);
    dv.setUint8(ip + 9, 17);
    dv.setUint16(ip + 10, 0);
    dv.setUint32(ip + 12, a.srcIp >>> 0);
    dv.setUint32(ip + 16, a.dstIp >>> 0);
    dv.setUint16(ip + 10, internetChecksum(dv, ip, IPV4_LEN));
    const udp = ip + IPV4_LEN;
    dv.setUint16(udp, a.srcPort);
    dv.setUint16(udp + 2, a.dstPort);
    dv.setUint16(udp + 4, len - ETH_LEN - IPV4_LEN);
    dv.setUint16(udp + 6, 0);
    dv.setUint8(o + FRAME_HEADER_LEN + 1, this.count);
    return len;
  }
}

// ---- Repr: plain values, for tests, tools and slow paths ----

export interface RequestRepr {
  op: number;
  result: number;
  /** the 64-bit key hash */
  keyHash: bigint;
  opaque: number;
  key: Uint8Array;
  value: Uint8Array;
}

export interface BatchRepr extends FrameAddresses {
  magic: number;
  requests: RequestRepr[];
}

export function hashWords(h: bigint): { lo: number; hi: number } {
  return { lo: Number(h & 0xffffffffn), hi: Number((h >> 32n) & 0xffffffffn) };
}

export function hashFromWords(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function readMac48(dv: DataView, o: number): number {
  return dv.getUint16(o) * 0x100000000 + dv.getUint32(o + 2);
}

/** Parses a whole frame into plain values, or the reason it is not a valid batch. */
export function parseBatch(frame: Uint8Array, strict = false): BatchRepr | FrameError {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const v = new BatchView().wrap(dv, 0, frame.length);
  const e = v.check(strict);
  if (e !== FrameError.Ok) return e;
  const c = v.checkRequests();
  if (c !== FrameError.Ok) return c;
  const requests: RequestRepr[] = [];
  while (v.next()) {
    requests.push({
      op: v.op, result: v.result, keyHash: hashFromWords(v.hashLo, v.hashHi), opaque: v.opaque,
      key: frame.slice(v.keyAt, v.keyAt + v.keyLength), value: frame.slice(v.valueAt, v.valueAt + v.valueLength),
    });
  }
  return {
    magic: v.magic, requests,
    dstMac: readMac48(dv, 0), srcMac: readMac48(dv, 6), srcIp: v.srcIp, dstIp: v.dstIp, srcPort: v.srcPort, dstPort: v.dstPort,
  };
}

/** Builds a frame from plain values; throws RangeError when the requests do not fit in one frame. */
export function emitBatch(b: BatchRepr): Uint8Array {
  const buf = new Uint8Array(MAX_FRAME);
  const dv = new DataView(buf.buffer);
  const w = new BatchWriter().begin(dv, buf, 0, MAX_FRAME, b.magic);
  for (const r of b.requests) {
    const { lo, hi } = hashWords(r.keyHash);
    if (!w.append(r.op, r.result, lo, hi, r.opaque, r.key, r.value)) throw new RangeError('emitBatch: the requests do not fit in one frame');
  }
  return buf.slice(0, w.finish(b));
}
