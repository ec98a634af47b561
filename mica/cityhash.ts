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

/** CityHash64 v1.1 of bytes [offset, offset+length) of `s`, as an unsigned 64-bit BigInt. */
export function cityHash64(s: Uint8Array, offset = 0, length = s.length - offset): bigint {
  if (offset < 0 || length < 0 || offset + length > s.length) throw new RangeError('cityHash64: range outside the buffer');
  const c = new CityHash(s);
  const o = offset;
  if (length <= 16) return len0to16(c, o, length);
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
