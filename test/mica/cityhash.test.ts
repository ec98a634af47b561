// CityHash64 v1.1 against the published test table (city-test.cc of CityHash 1.1: testdata[i][0] is
// CityHash64(data + i*i, i) over its pseudo-random data), covering every length class 0..83 (0-16, 17-32, 33-64, 65-128).
import { cityHash64, cityHash64Short, useSlowShortPath } from '../../mica/cityhash';

/** city-test.cc's data generator in its v1.1 form (only the bytes the first 84 vectors read). */
function testData(n: number): Uint8Array {
  const M = (1n << 64n) - 1n, k0 = 0xc3a5c85c97cb3127n;
  let a = 9n, b = 777n;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + b) & M;
    b = (b + a) & M;
    a = ((a ^ (a >> 41n)) * k0) & M;
    b = (((b ^ (b >> 41n)) * k0) + BigInt(i)) & M;
    out[i] = Number((b >> 37n) & 0xffn);
  }
  return out;
}

// testdata[i][0] for i = 0..83 (v1.1's table).
const VECTORS = `9ae16a3b2f90404f 541150e87f415e96 f3786a4b25827c1 ef923a7a1af78eab 11df592596f41d88 831f448bdc5600b3
3eca803e70304894 1b5a063fb4c7f9f1 a0f10149a0e538d6 fb8d9c70660b910b 236827beae282a46 c385e435136ecf7c e3f6828b6017086d
851fff285561dca0 61152a63595a96d9 44473e03be306c88 3ead5f21d344056 6abbfde37ee03b5b 943e7ed63b3c080 d72ce05171ef8a1a
4182832b52d63735 d6cdae892584a2cb 5c8e90bc267c5ee4 bbd7f30ac310a6f3 36a097aa49519d97 dc78cb032c49217 441593e0da922dfe
2ba3883d71cc2133 f2b6d2adf8423600 38fffe7f3680d63c b7477bf0b9ce37c6 55bdb0e71e3edebd 782fa1b08b475e7 c5dc19b876d37a80
5e1141711d2d6706 782edf6da001234f d26285842ff04d44 c6ab830865a6bae6 44b3a1929232892 4b603d7932a8de4f 4ec0b54cf1566aff
ed8b7a4b34954ff7 5d28b43694176c26 6a1ef3639e1d202e 159f4d9e0307b111 cc0a840725a7e25b a2b27ee22f63c3f1 d8f2f234899bcab3
584f28543864844f a94be46dd9aa41af 9a87bea227491d20 27688c24958d1a5c 5d1d37790a1873ad 1f03fd18b711eea9 f0316f286cf527b6
297008bcb3e3401d 43c6252411ee3be ce38a9a54fad6599 270a9305fef70cf e71be7c28e84d119 b5b58c24b53aaa19 44dd59bd301995cf
b4d4789eb6f2630b 12807833c463737c e88419922b87176f 105191e0ec8f7f60 a5b88bf7399a9f07 d08c3f5747d84f50 2f72d12a40044b4b
aa1f61fdc5c2e11e 9489b36fe2246244 358d7c0476a044cd b0c48df14275265a daa70bb300956588 4ec97a20b6c4c7c2 5c3323628435a2e8
c1ef26bea260abdb 6be7381b115d653a ae3eece1711b2105 376c28588b8fb389 58d943503bb6748f dfff5989f5cfd9a1 7fb19eb1a496e8f5
5dba5b0dadccdbaa`.split(/\s+/).map((h) => BigInt('0x' + h));

describe('cityHash64 (v1.1)', () => {
  const data = testData(84 * 84 + 84);
  it('has 84 vectors', () => expect(VECTORS.length).toBe(84));
  it.each(VECTORS.map((v, i) => [i, v] as const))('length %i', (i, want) => {
    expect(cityHash64(data, i * i, i).toString(16)).toBe(want.toString(16));
    useSlowShortPath(true);
    try {
      expect(cityHash64(data, i * i, i).toString(16)).toBe(want.toString(16));
    } finally {
      useSlowShortPath(false);
    }
  });
  it('the 32-bit short-key path equals the BigInt path on 20,000 random keys of 0..16 bytes', () => {
    const out = new Uint32Array(2);
    let seed = 12345;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    useSlowShortPath(true);
    try {
      for (let n = 0; n < 20000; n++) {
        const k = Uint8Array.from({ length: n % 17 }, rnd);
        cityHash64Short(k, 0, k.length, out);
        expect(((BigInt(out[1]) << 32n) | BigInt(out[0])).toString(16)).toBe(cityHash64(k).toString(16));
      }
    } finally {
      useSlowShortPath(false);
    }
  });
  it('rejects ranges outside the buffer', () => {
    expect(() => cityHash64(new Uint8Array(4), 2, 3)).toThrow(RangeError);
  });
});
