// A MICA partition against a Map: store mode never loses or corrupts an acknowledged item (and refuses
// cleanly when full, the cleaner moving live items across many log laps); cache mode may forget but never
// answers a wrong value; increments, adds, deletes and counters.
import fc from 'fast-check';
import { Partition } from '../../mica/store';
import { Result } from '../../mica/wire';
import { keyHash } from '../../mica/cityhash';

const enc = new TextEncoder();
function h(key: Uint8Array): [number, number] {
  const x = keyHash(key);
  return [Number(x & 0xffffffffn), Number(x >> 32n)];
}
function value(p: Partition): string {
  return Buffer.from(p.logBytes.subarray(p.valueAt, p.valueAt + p.valueLength)).toString('hex');
}

type Cmd = { kind: 'set' | 'add' | 'get' | 'del' | 'test'; key: number; len: number; fill: number };
const cmdArb = fc.record({
  kind: fc.constantFrom('set', 'set', 'add', 'get', 'get', 'del', 'test') as fc.Arbitrary<Cmd['kind']>,
  key: fc.integer({ min: 0, max: 40 }), len: fc.integer({ min: 0, max: 300 }), fill: fc.integer({ min: 0, max: 255 }),
});

function run(p: Partition, cmds: Cmd[], store: boolean): void {
  const model = new Map<string, string>();
  for (const c of cmds) {
    const key = enc.encode(`key-${c.key}`), [lo, hi] = h(key);
    const val = new Uint8Array(c.len).fill(c.fill).map((b, i) => (b + i) & 0xff), hexv = Buffer.from(val).toString('hex');
    const k = key.toString();
    switch (c.kind) {
      case 'set': case 'add': {
        const r = p.set(lo, hi, key, 0, key.length, val, 0, val.length, c.kind === 'add');
        if (c.kind === 'add' && model.has(k)) { expect(r).toBe(store ? Result.Exists : r); if (r === Result.Exists) break; }
        if (r === Result.Success) model.set(k, hexv);
        else if (r === Result.Exists) expect(store).toBe(false); // cache: the model may hold a key the cache lost... never the reverse
        else expect(r).toBe(Result.InsufficientSpace);
        break;
      }
      case 'get': {
        const r = p.get(lo, hi, key, 0, key.length);
        if (r === Result.Success) expect(value(p)).toBe(model.get(k));
        else if (store) expect(model.has(k)).toBe(false);
        break;
      }
      case 'test': {
        const r = p.test(lo, hi, key, 0, key.length);
        if (store) expect(r).toBe(model.has(k) ? Result.Success : Result.NotFound);
        else if (r === Result.Success) expect(model.has(k)).toBe(true);
        break;
      }
      case 'del': {
        const r = p.delete(lo, hi, key, 0, key.length);
        if (store) expect(r).toBe(model.has(k) ? Result.Success : Result.NotFound);
        model.delete(k);
        break;
      }
    }
  }
  if (store) {
    // every acknowledged item is still there, intact
    for (const [k, v] of model) {
      const key = enc.encode(k.split(',').map(Number).map((c) => String.fromCharCode(c)).join('')), [lo, hi] = h(key);
      expect(p.get(lo, hi, key, 0, key.length)).toBe(Result.Success);
      expect(value(p)).toBe(v);
    }
    expect(p.c.items).toBe(model.size);
  }
}

describe('MICA partition', () => {
  it('store mode: agrees with a Map through many log laps (the cleaner moves live items)', () => {
    fc.assert(fc.property(fc.array(cmdArb, { minLength: 50, maxLength: 600 }), (cmds) => {
      run(new Partition({ logBytes: 16384, buckets: 64, mode: 'store', maxValueLength: 512 }), cmds, true);
    }), { numRuns: 150 });
  });

  it('store mode: refuses when full and keeps what it acknowledged', () => {
    const p = new Partition({ logBytes: 8192, buckets: 1024, mode: 'store', maxValueLength: 512 });
    const val = new Uint8Array(200).fill(7);
    let ok = 0, refused = 0;
    for (let i = 0; i < 200; i++) {
      const key = enc.encode(`k${i}`), [lo, hi] = h(key);
      const r = p.set(lo, hi, key, 0, key.length, val, 0, val.length);
      if (r === Result.Success) ok++; else { expect(r).toBe(Result.InsufficientSpace); refused++; }
    }
    expect(ok).toBeGreaterThan(20);
    expect(refused).toBe(200 - ok);
    expect(p.c.refusedFull).toBe(refused);
    for (let i = 0; i < ok; i++) {
      const key = enc.encode(`k${i}`), [lo, hi] = h(key);
      expect(p.get(lo, hi, key, 0, key.length)).toBe(Result.Success);
    }
    // deleting frees room again (the cleaner reclaims the dead space)
    for (let i = 0; i < ok; i += 2) { const key = enc.encode(`k${i}`), [lo, hi] = h(key); p.delete(lo, hi, key, 0, key.length); }
    const key = enc.encode('again'), [lo, hi] = h(key);
    expect(p.set(lo, hi, key, 0, key.length, val, 0, val.length)).toBe(Result.Success);
  });

  it('cache mode: never a wrong value; wraps and evictions are counted', () => {
    fc.assert(fc.property(fc.array(cmdArb, { minLength: 50, maxLength: 600 }), (cmds) => {
      run(new Partition({ logBytes: 4096, buckets: 2, mode: 'cache', maxValueLength: 512 }), cmds, false);
    }), { numRuns: 150 });
    const p = new Partition({ logBytes: 4096, buckets: 1, mode: 'cache' });
    for (let i = 0; i < 100; i++) { const key = enc.encode(`c${i}`), [lo, hi] = h(key); p.set(lo, hi, key, 0, key.length, new Uint8Array(100), 0, 100); }
    expect(p.c.logWraps).toBeGreaterThan(0);
    expect(p.c.indexEvictions + p.c.lostToWrap).toBeGreaterThan(0);
    expect(p.c.items).toBeLessThanOrEqual(7);
  });

  it('increment: 64-bit little-endian with carry; NotFound when absent; Error when not 8 bytes', () => {
    const p = new Partition({ logBytes: 4096, buckets: 8, mode: 'store' });
    const key = enc.encode('ctr'), [lo, hi] = h(key);
    expect(p.increment(lo, hi, key, 0, key.length, 1, 0)).toBe(Result.NotFound);
    const v = new Uint8Array(8); new DataView(v.buffer).setUint32(0, 0xffffffff, true);
    expect(p.set(lo, hi, key, 0, key.length, v, 0, 8, true)).toBe(Result.Success);
    expect(p.increment(lo, hi, key, 0, key.length, 2, 0)).toBe(Result.Success);
    expect([p.incLo, p.incHi]).toEqual([1, 1]);
    expect(p.get(lo, hi, key, 0, key.length)).toBe(Result.Success);
    expect(value(p)).toBe('0100000001000000');
    const k2 = enc.encode('str'), [l2, h2] = h(k2);
    p.set(l2, h2, k2, 0, k2.length, new Uint8Array(3), 0, 3);
    expect(p.increment(l2, h2, k2, 0, k2.length, 1, 0)).toBe(Result.Error);
    expect(p.set(lo, hi, key, 0, key.length, v, 0, 8, true)).toBe(Result.Exists);
  });
});
