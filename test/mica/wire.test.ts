// The MICA datagram protocol: frames built by scapy from mica2's field layout decode to the values scapy
// put in and re-encode byte for byte; our own frames round-trip; hostile frames never throw, never read
// outside the datagram and are refused with the right reason.
import { execFileSync } from 'child_process';
import * as path from 'path';
import fc from 'fast-check';
import {
  BATCH_HEADER_LEN, BatchView, BatchWriter, FrameError, MAGIC_REQUEST, MAGIC_RESPONSE, MAX_FRAME, Op, REQUEST_HEADER_LEN,
  emitBatch, parseBatch, requestSize, type BatchRepr,
} from '../../mica/wire';

interface PyFrame {
  hex: string; magic: number; src: string; dst: string; sport: number; dport: number; smac: string; dmac: string;
  requests: { op: number; result: number; hash: string; opaque: number; key: string; value: string }[];
}

const SCRIPT = path.resolve(__dirname, '..', '..', '..', 'test', 'mica', 'mica_frames.py');
const ip = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
const mac = (s: string): number => parseInt(s.replace(/:/g, ''), 16);
const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

function scapyFrames(seed: number, count: number): PyFrame[] {
  const out = execFileSync('/usr/bin/python3', [SCRIPT, String(seed), String(count)], { encoding: 'utf8', timeout: 60000 });
  return out.trim().split('\n').map((l) => JSON.parse(l) as PyFrame);
}

describe('MICA frames built by scapy', () => {
  const frames = scapyFrames(14, 60);
  it('decode to the values scapy wrote, in strict (mica2) mode too', () => {
    expect(frames.length).toBe(60);
    let requests = 0;
    for (const f of frames) {
      const bytes = Uint8Array.from(Buffer.from(f.hex, 'hex'));
      const b = parseBatch(bytes, true);
      if (typeof b === 'number') throw new Error(`scapy frame refused: ${FrameError[b]}`);
      expect(b.magic).toBe(f.magic);
      expect([b.srcIp, b.dstIp, b.srcPort, b.dstPort, b.srcMac, b.dstMac]).toEqual([ip(f.src), ip(f.dst), f.sport, f.dport, mac(f.smac), mac(f.dmac)]);
      expect(b.requests.map((r) => ({ op: r.op, result: r.result, hash: r.keyHash.toString(), opaque: r.opaque, key: hex(r.key), value: hex(r.value) })))
        .toEqual(f.requests);
      requests += b.requests.length;
    }
    expect(requests).toBeGreaterThan(100);
  });
  it('re-encode byte for byte (IP checksum, lengths, padding, count)', () => {
    for (const f of frames) {
      const bytes = Uint8Array.from(Buffer.from(f.hex, 'hex'));
      const b = parseBatch(bytes) as BatchRepr;
      expect(hex(emitBatch(b))).toBe(f.hex);
    }
  });
});

const reqArb = fc.record({
  op: fc.integer({ min: 0, max: 8 }), result: fc.integer({ min: 0, max: 9 }), keyHash: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  opaque: fc.integer({ min: 0, max: 0xffffffff }), key: fc.uint8Array({ maxLength: 255 }), value: fc.uint8Array({ maxLength: 200 }),
});
const batchArb = fc.record({
  magic: fc.constantFrom(MAGIC_REQUEST, MAGIC_RESPONSE),
  requests: fc.array(reqArb, { maxLength: 8 }),
  srcMac: fc.integer({ min: 0, max: 2 ** 48 - 1 }), dstMac: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  srcIp: fc.integer({ min: 0, max: 0xffffffff }), dstIp: fc.integer({ min: 0, max: 0xffffffff }),
  srcPort: fc.integer({ min: 0, max: 0xffff }), dstPort: fc.integer({ min: 0, max: 0xffff }),
}).filter((b) => b.requests.reduce((a, r) => a + requestSize(r.key.length, r.value.length), BATCH_HEADER_LEN) <= MAX_FRAME);

describe('MICA frames: properties', () => {
  it('emit then parse gives back every field (strict mode accepts what we send)', () => {
    fc.assert(fc.property(batchArb, (b) => {
      const f = emitBatch(b);
      const p = parseBatch(f, true);
      expect(typeof p).not.toBe('number');
      expect(p).toEqual(b);
    }), { numRuns: 300 });
  });

  it('any bytes: parse never throws, and what it accepts re-emits to the same datagram', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (u) => {
      const p = parseBatch(u);
      if (typeof p !== 'number') expect(hex(emitBatch(p)).slice(0, 24)).toBe(hex(u).slice(0, 24));
    }), { numRuns: 2000 });
  });

  it('a valid frame with one byte changed or cut short is refused or still reads inside the datagram', () => {
    fc.assert(fc.property(batchArb, fc.nat(), fc.nat(255), fc.nat(), (b, at, byte, cut) => {
      const f = emitBatch(b);
      const m = f.slice();
      m[at % m.length] = byte;
      const short = m.slice(0, cut % (m.length + 1));
      for (const x of [m, short]) {
        // a guard region after the frame: reads past the datagram would see 0xee, and the view's DataView ends at the frame
        const buf = new Uint8Array(x.length + 64).fill(0xee);
        buf.set(x);
        const v = new BatchView().wrap(new DataView(buf.buffer, 0, x.length), 0, x.length);
        if (v.check() !== FrameError.Ok) continue;
        if (v.checkRequests() !== FrameError.Ok) continue;
        while (v.next()) {
          expect(v.valueAt + v.valueLength).toBeLessThanOrEqual(v.end);
          expect(v.end).toBeLessThanOrEqual(x.length);
        }
      }
    }), { numRuns: 1000 });
  });
});

describe('MICA frames: refusals', () => {
  const good = (): Uint8Array => emitBatch({
    magic: MAGIC_REQUEST, srcMac: 1, dstMac: 2, srcIp: ip('198.18.0.1'), dstIp: ip('198.18.0.2'), srcPort: 1000, dstPort: 2000,
    requests: [{ op: Op.Set, result: 0, keyHash: 5n, opaque: 9, key: new Uint8Array(3), value: new Uint8Array(10) }],
  });
  const check = (f: Uint8Array, strict = false): FrameError => {
    const v = new BatchView().wrap(new DataView(f.buffer, f.byteOffset, f.length), 0, f.length);
    const e = v.check(strict);
    return e !== FrameError.Ok ? e : v.checkRequests();
  };
  it('accepts the good frame', () => expect(check(good(), true)).toBe(FrameError.Ok));
  it('truncated header', () => expect(check(good().slice(0, BATCH_HEADER_LEN - 1))).toBe(FrameError.Truncated));
  it('IP length beyond the frame', () => expect(check(good().slice(0, 60))).toBe(FrameError.Truncated));
  it('not IPv4', () => { const f = good(); f[12] = 0x86; f[13] = 0xdd; expect(check(f)).toBe(FrameError.NotIpv4); });
  it('IP options', () => { const f = good(); f[14] = 0x46; expect(check(f)).toBe(FrameError.IpOptions); });
  it('fragment (MF)', () => { const f = good(); f[20] = 0x20; expect(check(f)).toBe(FrameError.Fragment); });
  it('DF and a nonzero id pass leniently, are refused strictly (as mica2 does)', () => {
    const f = good(); f[20] = 0x40; f[19] = 7;
    expect(check(f)).toBe(FrameError.Ok);
    expect(check(f, true)).toBe(FrameError.Fragment);
  });
  it('not UDP', () => { const f = good(); f[23] = 6; expect(check(f)).toBe(FrameError.NotUdp); });
  it('UDP length mismatch', () => { const f = good(); f[38] ^= 1; expect(check(f)).toBe(FrameError.UdpLength); });
  it('bad magic', () => { const f = good(); f[42] = 0x77; expect(check(f)).toBe(FrameError.BadMagic); });
  it('count larger than the requests present', () => { const f = good(); f[43] = 2; expect(check(f)).toBe(FrameError.BadCount); });
  it('count smaller (trailing request bytes)', () => { const f = good(); f[43] = 0; expect(check(f)).toBe(FrameError.BadCount); });
  it('a value length that overruns the datagram', () => {
    const f = good(); f[BATCH_HEADER_LEN + 4] = 0xff; expect(check(f)).toBe(FrameError.BadCount);
  });
  it('a key length that overruns the datagram', () => {
    const f = good(); f[BATCH_HEADER_LEN + 7] = 200; expect(check(f)).toBe(FrameError.BadCount);
  });
  it('writer refuses what does not fit and oversize keys', () => {
    const buf = new Uint8Array(MAX_FRAME);
    const w = new BatchWriter().begin(new DataView(buf.buffer), buf, 0, MAX_FRAME, MAGIC_REQUEST);
    expect(w.reserve(Op.Get, 0, 0, 0, 0, 256, 0)).toBe(-1);
    expect(w.reserve(Op.Set, 0, 0, 0, 0, 8, MAX_FRAME)).toBe(-1);
    let n = 0;
    while (w.reserve(Op.Get, 0, 0, 0, n, 8, 0) >= 0) n++;
    expect(n).toBe(Math.floor((MAX_FRAME - BATCH_HEADER_LEN) / (REQUEST_HEADER_LEN + 8)));
  });
});
