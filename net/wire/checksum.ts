// Internet checksum (RFC 1071): sums over byte ranges, the IPv4 pseudo header for TCP/UDP, and the
// RFC 1624 incremental update that NAT uses when it rewrites an address or a port.

import { Bytes } from './view';

/**
 * Fold a non-negative integer sum of 16-bit words (below 2^53) into its 16-bit ones' complement
 * value. Since 0x10000 ≡ 1 (mod 0xffff), end-around carry folding is reduction mod 0xffff, except
 * that a non-zero sum folds to 0xffff (negative zero), never to 0.
 */
export function foldSum(sum: number): number {
  // Sums below 2^31 (every per-packet sum) fold with two end-around carries in int32 arithmetic: V8
  // compiles `%` on a value it cannot prove int32 to a call to fmod, which cost more than the sum itself.
  if (sum >= 0 && sum <= 0x7fffffff) {
    let s = sum | 0;
    s = (s & 0xffff) + (s >>> 16);
    return (s & 0xffff) + (s >>> 16);
  }
  // Larger sums: exact for any integer a double holds.
  return sum === 0 ? 0 : sum % 0xffff || 0xffff;
}

// Integer-only arithmetic: each 32-bit load is split into its two 16-bit words and the sum is
// folded every 8K loads, so it stays a small integer. Summing whole 32-bit words into a double
// would save the split, but V8 may box that double (a heap allocation per packet).
const FOLD_EVERY = 0x8000; // bytes: 8192 loads, each adding < 2^17, keeps the sum < 2^30

function sumDataView(dv: DataView, p: number, len: number): number {
  let sum = 0;
  const end4 = p + (len & ~3);
  let i = p;
  while (i < end4) {
    const stop = Math.min(end4, i + FOLD_EVERY);
    for (; i < stop; i += 4) {
      const w = dv.getUint32(i);
      sum += (w >>> 16) + (w & 0xffff);
    }
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (len & 2) {
    sum += dv.getUint16(i);
    i += 2;
  }
  // An odd last byte is the high half of a word padded with zero.
  if (len & 1) sum += dv.getUint8(i) << 8;
  return foldSum(sum);
}

function sumUint8(u8: Uint8Array, p: number, len: number): number {
  let sum = 0;
  const end2 = p + (len & ~1);
  let i = p;
  while (i < end2) {
    const stop = Math.min(end2, i + FOLD_EVERY);
    for (; i < stop; i += 2) sum += (u8[i] << 8) | u8[i + 1];
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (len & 1) sum += u8[i] << 8;
  return foldSum(sum);
}

/**
 * Ones' complement sum (folded to 16 bits, not inverted) of `length` bytes at `offset` in `bytes`,
 * added to `initial` (another folded sum, e.g. a pseudo header). The caller guarantees the range is
 * inside `bytes` (views do after check()).
 */
export function onesComplementSum(bytes: Bytes, offset: number, length: number, initial = 0): number {
  // Both DataView reads and Uint8Array indexing are relative to the object's own byteOffset, so the
  // offset is used as given.
  const s = bytes instanceof DataView ? sumDataView(bytes, offset, length) : sumUint8(bytes, offset, length);
  return foldSum(s + initial);
}

/** The Internet checksum of a byte range: ~sum, as stored in headers. */
export function internetChecksum(bytes: Bytes, offset: number, length: number, initial = 0): number {
  return ~onesComplementSum(bytes, offset, length, initial) & 0xffff;
}

/** The same over a whole-buffer DataView at an absolute index: what views use, no allocation. */
export function sumAt(dv: DataView, p: number, length: number, initial = 0): number {
  return foldSum(sumDataView(dv, p, length) + initial);
}

/**
 * Folded sum of the IPv4 pseudo header used by TCP and UDP: source, destination, zero, protocol,
 * and the transport length (header + payload).
 */
export function ipv4PseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return foldSum(
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (protocol & 0xff) + (length & 0xffff),
  );
}

/**
 * RFC 1624 eqn. 3: the new checksum after a 16-bit word of the covered data changes from
 * `oldValue` to `newValue`: HC' = ~(~HC + ~m + m'). Unlike eqn. 2 it never yields 0xffff where a
 * full recomputation gives 0x0000.
 */
export function checksumUpdate16(checksum: number, oldValue: number, newValue: number): number {
  const sum = (~checksum & 0xffff) + (~oldValue & 0xffff) + (newValue & 0xffff);
  return ~foldSum(sum) & 0xffff;
}

/** RFC 1624 for a 32-bit field (an IPv4 address, a sequence number): both halves at once. */
export function checksumUpdate32(checksum: number, oldValue: number, newValue: number): number {
  const sum =
    (~checksum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    (newValue >>> 16) +
    (newValue & 0xffff);
  return ~foldSum(sum) & 0xffff;
}
