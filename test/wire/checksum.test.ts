// Internet checksum against a byte-by-byte reference and RFC vectors, and RFC 1624 incremental
// updates against full recomputation over many seeded random NAT-style rewrites.

import {
  checksumUpdate16,
  checksumUpdate32,
  foldSum,
  internetChecksum,
  IpProtocol,
  Ipv4Repr,
  Ipv4View,
  ipv4PseudoHeaderSum,
  onesComplementSum,
  TcpFlags,
  TcpRepr,
  TcpView,
  UdpRepr,
  UdpView,
  WireError,
} from '../../net/wire';
import { Prng } from './prng';

/** RFC 1071 done the slow, obvious way: 16-bit words with end-around carry after every add. */
function reference(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < length; i += 2) {
    const word = (bytes[offset + i] << 8) | (i + 1 < length ? bytes[offset + i + 1] : 0);
    sum += word;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

describe('internet checksum', () => {
  it('matches the RFC 1071 example', () => {
    const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(onesComplementSum(b, 0, 8)).toBe(0xddf2);
    expect(internetChecksum(b, 0, 8)).toBe(0x220d);
  });

  it('handles empty, zero and all-ones data', () => {
    const z = new Uint8Array(10);
    expect(internetChecksum(z, 0, 0)).toBe(0xffff);
    expect(internetChecksum(z, 0, 10)).toBe(0xffff);
    const ones = new Uint8Array(10).fill(0xff);
    expect(internetChecksum(ones, 0, 10)).toBe(0x0000);
    expect(internetChecksum(ones, 0, 9)).toBe(reference(ones, 0, 9));
  });

  it('matches the reference for every length 0..300 and offsets, on Uint8Array and DataView', () => {
    const rng = new Prng(1071);
    const buf = rng.bytes(400);
    for (let len = 0; len <= 300; len++) {
      for (const off of [0, 1, 2, 3, 7]) {
        const want = reference(buf, off, len);
        expect(internetChecksum(buf, off, len)).toBe(want);
        // A DataView over part of the buffer reads relative to its own start.
        const dv = new DataView(buf.buffer, 5, 395);
        expect(internetChecksum(dv, off, len)).toBe(reference(buf, 5 + off, len));
        const sub = buf.subarray(3);
        expect(internetChecksum(sub, off, len)).toBe(reference(buf, 3 + off, len));
      }
    }
  });

  it('keeps exact sums over large buffers (chunked folding)', () => {
    const rng = new Prng(7);
    const big = rng.bytes((1 << 20) + 4099);
    const dv = new DataView(big.buffer);
    expect(internetChecksum(dv, 1, big.length - 1)).toBe(reference(big, 1, big.length - 1));
    expect(internetChecksum(big, 0, big.length)).toBe(reference(big, 0, big.length));
  });

  it('folds', () => {
    expect(foldSum(0)).toBe(0);
    expect(foldSum(0xffff)).toBe(0xffff);
    expect(foldSum(0x1fffe)).toBe(0xffff);
    expect(foldSum(0x10000)).toBe(1);
    expect(foldSum(2 ** 52)).toBe(16); // 2^52 = (2^16)^3 * 16 ≡ 16 (mod 0xffff)
  });

  it('folds small sums (the int32 carry path) exactly as reduction mod 0xffff does', () => {
    // The carry path serves sums up to 2^31 - 1; the definition: 0 stays 0, a non-zero multiple of 0xffff
    // is 0xffff (negative zero), anything else is its remainder.
    const byDefinition = (x: number): number => (x === 0 ? 0 : x % 0xffff || 0xffff);
    const edges = [1, 0xfffe, 0xffff, 0x10000, 0x1fffe, 0x1ffff, 0xfffe0001, 0x7ffeffff, 0x7fff0000, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 40 + 3];
    let x = 12345;
    const samples = [...edges];
    for (let i = 0; i < 20000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      samples.push(x >>> (i % 31));
    }
    const wrong = samples.filter((v) => foldSum(v) !== byDefinition(v));
    expect(wrong).toEqual([]);
  });

  it('computes the IPv4 pseudo header sum', () => {
    const src = 0xc6120001;
    const dst = 0xc6130002;
    const b = new Uint8Array([0xc6, 0x12, 0x00, 0x01, 0xc6, 0x13, 0x00, 0x02, 0, 6, 0x01, 0x2c]);
    expect(ipv4PseudoHeaderSum(src, dst, IpProtocol.Tcp, 300)).toBe(~reference(b, 0, 12) & 0xffff);
  });
});

describe('RFC 1624 incremental update', () => {
  it('gives 0x0000, not 0xffff, in the RFC 1624 section 5 example', () => {
    expect(checksumUpdate16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it('agrees with full recomputation on the edge words', () => {
    const rng = new Prng(5);
    const data = rng.bytes(20);
    const dv = new DataView(data.buffer);
    for (const v of [0x0000, 0xffff, 0x0001, 0xfffe, 0x8000]) {
      for (const w of [0x0000, 0xffff, 0x0001, 0xfffe, 0x7fff]) {
        dv.setUint16(4, v);
        const before = internetChecksum(data, 0, 20);
        dv.setUint16(4, w);
        expect(checksumUpdate16(before, v, w)).toBe(internetChecksum(data, 0, 20));
      }
    }
  });

  it('equals a full recompute over 20k random NAT rewrites (seeded)', () => {
    const rng = new Prng(1624);
    const ip = new Ipv4View();
    const tcp = new TcpView();
    const udp = new UdpView();
    let checked = 0;
    const failures: string[] = [];
    for (let round = 0; round < 500; round++) {
      const isTcp = (round & 1) === 0;
      const payloadLength = rng.below(64);
      const options = rng.bytes(rng.below(3) * 4);
      const ir: Ipv4Repr = {
        src: rng.u32(), dst: rng.u32(), ttl: 1 + rng.below(255), identification: rng.u16(), options,
        protocol: isTcp ? IpProtocol.Tcp : IpProtocol.Udp,
        payloadLength: (isTcp ? 20 : 8) + payloadLength,
      };
      const buf = new Uint8Array(Ipv4Repr.headerLen(ir) + ir.payloadLength);
      expect(Ipv4Repr.emit(ir, ip.wrap(buf))).toBe(WireError.Ok);
      const payload = rng.bytes(payloadLength);
      if (isTcp) {
        const tr: TcpRepr = { srcPort: rng.u16(), dstPort: rng.u16(), seq: rng.u32(), ack: rng.u32(), flags: TcpFlags.ACK, window: rng.u16(), payloadLength };
        expect(TcpRepr.emit(tr, tcp.wrapPayloadOf(ip), ir.src, ir.dst, payload)).toBe(WireError.Ok);
      } else {
        const ur: UdpRepr = { srcPort: rng.u16(), dstPort: rng.u16(), payloadLength };
        expect(UdpRepr.emit(ur, udp.wrapPayloadOf(ip), ir.src, ir.dst, payload, { checksum: rng.below(8) !== 0 })).toBe(WireError.Ok);
      }
      // A chain of 40 rewrites, each only incremental; compare with recomputation after each.
      for (let k = 0; k < 40; k++) {
        const what = rng.below(6);
        const l4: TcpView | UdpView = isTcp ? tcp : udp;
        if (what === 0) l4.adjustChecksum32(ip.rewriteSrc(rng.u32()), ip.src);
        else if (what === 1) l4.adjustChecksum32(ip.rewriteDst(rng.u32()), ip.dst);
        else if (what === 2) l4.rewriteSrcPort(rng.u16());
        else if (what === 3) l4.rewriteDstPort(rng.u16());
        else if (what === 4 && ip.ttl > 1) ip.decrementTtl();
        else if (isTcp) {
          const old = tcp.seqNumber;
          tcp.seqNumber = rng.u32();
          tcp.adjustChecksum32(old, tcp.seqNumber);
        }
        // Plain comparisons, one expect at the end: jest's expect is too slow for 20k rounds.
        let ok = ip.checksum === ip.computeChecksum() && ip.verifyChecksum();
        if (isTcp) {
          ok &&= tcp.checksum === tcp.computeChecksum(ip.src, ip.dst) && tcp.verifyChecksum(ip);
        } else if (udp.checksum !== 0) {
          ok &&= udp.checksum === udp.computeChecksum(ip) && udp.verifyChecksum(ip.src, ip.dst);
        }
        if (!ok) failures.push(`round ${round} step ${k} (${what})`);
        checked++;
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(20000);
  });

  it('32-bit update equals two 16-bit updates', () => {
    const rng = new Prng(32);
    let mismatches = 0;
    for (let i = 0; i < 10000; i++) {
      const hc = rng.u16();
      const a = rng.u32();
      const b = rng.u32();
      const two = checksumUpdate16(checksumUpdate16(hc, a >>> 16, b >>> 16), a & 0xffff, b & 0xffff);
      if (checksumUpdate32(hc, a, b) !== two) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});
