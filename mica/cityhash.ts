// CityHash64 v1.1 (Pike & Alakuijala), the key hash mica2 puts in every request: our client and mica2
// servers must pick the same server, partition and bucket from it. Written from the published algorithm.
// 64-bit arithmetic in BigInt (wrapped with asUintN); keys are short, and hashing is off the packet path.

const M = (1n << 64n) - 1n;
const K0 = 0xc3a5c85c97cb3127n;
const K1 = 0xb492b66fbe98f273n;
const K2 = 0x9ae16a3b2f90404fn;
const KMUL = 0x9ddfea08eb382d69n;

const mul = (a: bigint, b: bigint): bigint => (a * b) & M;
const add = (a: bigint, b: bigint): bigint => (a + b) & M;
const rot = (v: bigint, s: bigint): bigint => (s === 0n ? v : ((v >> s) | (v << (64n - s))) & M);
const shiftMix = (v: bigint): bigint => v ^ (v >> 47n);

function bswap64(v: bigint): bigint {
  let r = 0n;
  for (let i = 0; i < 8; i++) {
    r = (r << 8n) | (v & 0xffn);
    v >>= 8n;
  }
  return r;
}

/** Hash128to64 of (u, v): the Murmur-style mix CityHash uses to combine two words. */
function hashLen16(u: bigint, v: bigint): bigint {
  let a = mul(u ^ v, KMUL);
  a ^= a >> 47n;
  let b = mul(v ^ a, KMUL);
  b ^= b >> 47n;
  return mul(b, KMUL);
}

function hashLen16Mul(u: bigint, v: bigint, m: bigint): bigint {
  let a = mul(u ^ v, m);
  a ^= a >> 47n;
  let b = mul(v ^ a, m);
  b ^= b >> 47n;
  return mul(b, m);
}

export class CityHash {
  private readonly dv: DataView;
  constructor(private readonly s: Uint8Array) {
    this.dv = new DataView(s.buffer, s.byteOffset, s.byteLength);
  }
  f64(i: number): bigint { return this.dv.getBigUint64(i, true); }
  f32(i: number): bigint { return BigInt(this.dv.getUint32(i, true)); }
  byte(i: number): bigint { return BigInt(this.s[i]); }
}

function len0to16(c: CityHash, o: number, len: number): bigint {
  const n = BigInt(len);
  if (len >= 8) {
    const m = add(K2, n * 2n);
    const a = add(c.f64(o), K2);
    const b = c.f64(o + len - 8);
    const cc = add(mul(rot(b, 37n), m), a);
    const d = mul(add(rot(a, 25n), b), m);
    return hashLen16Mul(cc, d, m);
  }
  if (len >= 4) {
    const m = add(K2, n * 2n);
    const a = c.f32(o);
    return hashLen16Mul(add(n, (a << 3n) & M), c.f32(o + len - 4), m);
  }
  if (len > 0) {
    const a = c.byte(o), b = c.byte(o + (len >> 1)), cc = c.byte(o + len - 1);
    const y = (a + (b << 8n)) & 0xffffffffn;
    const z = (n + (cc << 2n)) & 0xffffffffn;
    return mul(shiftMix(mul(y, K2) ^ mul(z, K0)), K2);
  }
  return K2;
}

function len17to32(c: CityHash, o: number, len: number): bigint {
  const n = BigInt(len);
  const m = add(K2, n * 2n);
  const a = mul(c.f64(o), K1);
  const b = c.f64(o + 8);
  const cc = mul(c.f64(o + len - 8), m);
  const d = mul(c.f64(o + len - 16), K2);
  return hashLen16Mul(add(add(rot(add(a, b), 43n), rot(cc, 30n)), d), add(add(a, rot(add(b, K2), 18n)), cc), m);
}

function len33to64(c: CityHash, o: number, len: number): bigint {
  const n = BigInt(len);
  const m = add(K2, n * 2n);
  let a = mul(c.f64(o), K2);
  let b = c.f64(o + 8);
  const cc = c.f64(o + len - 24);
  const d = c.f64(o + len - 32);
  const e = mul(c.f64(o + 16), K2);
  const f = mul(c.f64(o + 24), 9n);
  const g = c.f64(o + len - 8);
  const h = mul(c.f64(o + len - 16), m);
  const u = add(rot(add(a, g), 43n), mul(add(rot(b, 30n), cc), 9n));
  const v = add(add((add(a, g) ^ d), f), 1n);
  const w = add(bswap64(mul(add(u, v), m)), h);
  const x = add(rot(add(e, f), 42n), cc);
  const y = mul(add(bswap64(mul(add(v, w), m)), g), m);
  const z = add(add(e, f), cc);
  a = add(bswap64(add(mul(add(x, z), m), y)), b);
  b = mul(shiftMix(add(add(mul(add(z, a), m), d), h)), m);
  return add(b, x);
}

function weak32(c: CityHash, o: number, a: bigint, b: bigint): [bigint, bigint] {
  const w = c.f64(o), x = c.f64(o + 8), y = c.f64(o + 16), z = c.f64(o + 24);
  a = add(a, w);
  b = rot(add(add(b, a), z), 21n);
  const cc = a;
  a = add(add(a, x), y);
  b = add(b, rot(a, 44n));
  return [add(a, z), add(b, cc)];
}

const shortOut = new Uint32Array(2);
let slowOnly = false;
/** Tests: use the BigInt path for short keys too (to check one path against the other). */
export function useSlowShortPath(on: boolean): void { slowOnly = on; }

/** CityHash64 v1.1 of bytes [offset, offset+length) of `s`, as an unsigned 64-bit BigInt. */
export function cityHash64(s: Uint8Array, offset = 0, length = s.length - offset): bigint {
  if (offset < 0 || length < 0 || offset + length > s.length) throw new RangeError('cityHash64: range outside the buffer');
  const c = new CityHash(s);
  const o = offset;
  if (length <= 16) {
    if (!slowOnly) {
      cityHash64Short(s, o, length, shortOut);
      return (BigInt(shortOut[1]) << 32n) | BigInt(shortOut[0]);
    }
    return len0to16(c, o, length);
  }
  if (length <= 32) return len17to32(c, o, length);
  if (length <= 64) return len33to64(c, o, length);
  const n = BigInt(length);
  let x = c.f64(o + length - 40);
  let y = add(c.f64(o + length - 16), c.f64(o + length - 56));
  let z = hashLen16(add(c.f64(o + length - 48), n), c.f64(o + length - 24));
  let v = weak32(c, o + length - 64, n, z);
  let w = weak32(c, o + length - 32, add(y, K1), x);
  x = add(mul(x, K1), c.f64(o));
  let left = (length - 1) & ~63;
  let p = o;
  do {
    x = mul(rot(add(add(add(x, y), v[0]), c.f64(p + 8)), 37n), K1);
    y = mul(rot(add(add(y, v[1]), c.f64(p + 48)), 42n), K1);
    x ^= w[1];
    y = add(y, add(v[0], c.f64(p + 40)));
    z = mul(rot(add(z, w[0]), 33n), K1);
    v = weak32(c, p, mul(v[1], K1), add(x, w[0]));
    w = weak32(c, p + 32, add(z, w[1]), add(y, c.f64(p + 16)));
    const t = z; z = x; x = t;
    p += 64;
    left -= 64;
  } while (left !== 0);
  return hashLen16(add(add(hashLen16(v[0], w[0]), mul(shiftMix(y), K1)), z), add(hashLen16(v[1], w[1]), x));
}

/** The key hash of a string key (UTF-8). */
export function keyHash(key: Uint8Array | string): bigint {
  return cityHash64(typeof key === 'string' ? Buffer.from(key, 'utf8') : key);
}

// ---- The short-key path without BigInt: 64-bit words as (hi, lo) uint32 pairs ----
// Keys of up to 16 bytes (the common case: MICA benchmarks use 8) hash here in a fraction of the BigInt
// path's time; the test table checks both paths.

let RH = 0, RL = 0;
const K2H = 0x9ae16a3b, K2L = 0x2f90404f, K0H = 0xc3a5c85c, K0L = 0x97cb3127;

/** (ah,al) * (bh,bl) mod 2^64 into RH, RL. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  RL = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  RH = (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}
function add64(ah: number, al: number, bh: number, bl: number): void {
  const l = al + bl;
  RL = l >>> 0;
  RH = (ah + bh + (l > 0xffffffff ? 1 : 0)) >>> 0;
}
/** rotate right by s, 0 < s < 64 */
function rot64(h: number, l: number, s: number): void {
  if (s === 32) { RH = l; RL = h; return; }
  if (s > 32) { const t = h; h = l; l = t; s -= 32; }
  RH = ((h >>> s) | (l << (32 - s))) >>> 0;
  RL = ((l >>> s) | (h << (32 - s))) >>> 0;
}
/** x ^ (x >> 47) */
function shiftMix64(h: number, l: number): void {
  RH = h;
  RL = (l ^ (h >>> 15)) >>> 0;
}
function hashLen16Mul64(uh: number, ul: number, vh: number, vl: number, mh: number, ml: number): void {
  mul64((uh ^ vh) >>> 0, (ul ^ vl) >>> 0, mh, ml);
  shiftMix64(RH, RL);
  const ah = RH, al = RL;
  mul64((vh ^ ah) >>> 0, (vl ^ al) >>> 0, mh, ml);
  shiftMix64(RH, RL);
  mul64(RH, RL, mh, ml);
}

/**
 * CityHash64 v1.1 of a key of at most 16 bytes into out[0] (low 32 bits) and out[1] (high 32 bits),
 * without BigInt. Longer keys: cityHash64.
 */
export function cityHash64Short(s: Uint8Array, o: number, len: number, out: Uint32Array): void {
  if (len > 16 || len < 0 || o < 0 || o + len > s.length) throw new RangeError('cityHash64Short: 0..16 bytes inside the buffer');
  const u32 = (i: number): number => (s[i] | (s[i + 1] << 8) | (s[i + 2] << 16) | (s[i + 3] << 24)) >>> 0;
  if (len >= 8) {
    // mul = k2 + len * 2
    add64(K2H, K2L, 0, len * 2);
    const mh = RH, ml = RL;
    add64(u32(o + 4), u32(o), K2H, K2L);
    const ah = RH, al = RL;
    const bh = u32(o + len - 4), bl = u32(o + len - 8);
    rot64(bh, bl, 37);
    mul64(RH, RL, mh, ml);
    add64(RH, RL, ah, al);
    const ch = RH, cl = RL;
    rot64(ah, al, 25);
    add64(RH, RL, bh, bl);
    mul64(RH, RL, mh, ml);
    hashLen16Mul64(ch, cl, RH, RL, mh, ml);
  } else if (len >= 4) {
    add64(K2H, K2L, 0, len * 2);
    const mh = RH, ml = RL;
    const a = u32(o);
    // len + (a << 3)
    add64(a >>> 29, (a << 3) >>> 0, 0, len);
    hashLen16Mul64(RH, RL, 0, u32(o + len - 4), mh, ml);
  } else if (len > 0) {
    const a = s[o], b = s[o + (len >> 1)], c = s[o + len - 1];
    const y = (a + (b << 8)) >>> 0, z = (len + (c << 2)) >>> 0;
    mul64(0, y, K2H, K2L);
    const yh = RH, yl = RL;
    mul64(0, z, K0H, K0L);
    shiftMix64((yh ^ RH) >>> 0, (yl ^ RL) >>> 0);
    mul64(RH, RL, K2H, K2L);
  } else {
    RH = K2H; RL = K2L;
  }
  out[0] = RL;
  out[1] = RH;
}
