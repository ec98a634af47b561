// Property tests (fast-check) for every wire view, the flow layer's parser and the tuple rewrite: random
// and mutated frames may only produce typed errors (never an exception or an out-of-bounds read), emit then
// parse gives back what was emitted, and an incremental rewrite equals a full checksum recomputation.
import fc from 'fast-check';
import {
  ArpRepr, ArpView, EthernetRepr, EthernetView, EtherType, IcmpRepr, IcmpView, Ipv4Repr, Ipv4View, TcpOptions,
  TcpRepr, TcpView, UdpRepr, UdpView, WireError, isWireError,
} from '../../net/wire';
import { PacketInfo, ParseStatus, rewriteTupleHalves } from '../../net/flow';
import { frame, packet } from '../flow/helpers';

const RUNS = Number(process.env.NETSTAR_PROP_RUNS ?? 2000);
const eth = new EthernetView(), ip = new Ipv4View(), inner = new Ipv4View(), arp = new ArpView();
const icmp = new IcmpView(), udp = new UdpView(), tcp = new TcpView(), topts = new TcpOptions();

/** Every layer a stack would walk, every accessor once its check passed; returns how deep it got. */
function walk(b: Uint8Array, off: number, len: number): number {
  if (eth.wrap(b, off, len).check() !== WireError.Ok) return 0;
  EthernetRepr.parse(eth);
  if (eth.etherType === EtherType.Arp) {
    if (arp.wrapPayloadOf(eth).check() === WireError.Ok) ArpRepr.parse(arp);
    return 2;
  }
  const e = ip.wrapPayloadOf(eth).check();
  if (e !== WireError.Ok) {
    if (ip.checkHeader() === WireError.Ok) ip.verifyChecksum();
    return 1;
  }
  ip.verifyChecksum();
  Ipv4Repr.parse(ip);
  if (ip.isFragment && ip.fragmentOffset !== 0) return 2;
  const src = ip.src, dst = ip.dst;
  if (ip.protocol === 1 && icmp.wrapPayloadOf(ip).check() === WireError.Ok) {
    IcmpRepr.parse(icmp);
    if (icmp.wrapInner(inner) === WireError.Ok && udp.wrapPayloadOf(inner).checkHeader() === WireError.Ok) udp.computeChecksum(inner.src, inner.dst);
  } else if (ip.protocol === 17 && udp.wrapPayloadOf(ip).check() === WireError.Ok) {
    UdpRepr.parse(udp, src, dst);
  } else if (ip.protocol === 6 && tcp.wrapPayloadOf(ip).check() === WireError.Ok) {
    tcp.parseOptions(topts);
    TcpRepr.parse(tcp, src, dst);
  }
  return 3;
}

/** A valid frame of each kind, to mutate. */
const seeds: Uint8Array[] = [
  frame({ proto: 'udp', src: '198.18.0.1', dst: '198.19.0.2', sport: 1234, dport: 53, payload: new Uint8Array(20).fill(7) }),
  frame({ proto: 'tcp', src: '198.18.0.1', dst: '198.19.0.2', sport: 40000, dport: 80, payload: new Uint8Array(33).fill(1) }),
  frame({ proto: 'icmp', src: '198.18.0.1', dst: '198.19.0.2', sport: 77 }),
  frame({ proto: 'icmp', src: '198.19.0.2', dst: '198.18.0.1', icmpType: 3, icmpCode: 3,
    quoted: frame({ proto: 'udp', src: '198.18.0.1', dst: '198.19.0.2', sport: 5, dport: 6 }).subarray(14, 14 + 28) }),
];

/** A mutation of a valid frame: truncation, byte flips, inserted bytes, header-length fields set to extremes. */
const mutated = fc.tuple(
  fc.constantFrom(...seeds),
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
  fc.option(fc.nat(), { nil: undefined }),
).map(([seed, flips, cut]) => {
  const b = seed.slice();
  for (const [at, v] of flips) b[at % b.length] = v;
  return cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
});

describe('wire views on hostile input (fast-check)', () => {
  test('random bytes at any offset: checks answer with a typed error, nothing throws or reads out of bounds', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(16), (bytes, pad) => {
      const b = new Uint8Array(pad + bytes.length);
      b.set(bytes, pad);
      expect(() => walk(b, pad, bytes.length)).not.toThrow();
    }), { numRuns: RUNS });
  });

  test('mutated valid frames (flips, truncation at every length): only typed errors', () => {
    fc.assert(fc.property(mutated, (b) => {
      expect(() => walk(b, 0, b.length)).not.toThrow();
    }), { numRuns: RUNS });
  });

  test('a view never reads past the length it was given, even inside a larger buffer', () => {
    fc.assert(fc.property(fc.constantFrom(...seeds), fc.nat(), (seed, c) => {
      const cut = c % (seed.length + 1);
      // The bytes after the cut are garbage the parser must not see: results equal a buffer ending there.
      const big = new Uint8Array(seed.length + 64).fill(0xff);
      big.set(seed);
      const exact = seed.slice(0, cut);
      expect(walk(big, 0, cut)).toBe(walk(exact, 0, cut));
    }), { numRuns: RUNS });
  });
});

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

describe('emit then parse gives back the representation', () => {
  test('IPv4 (options, fragments, DSCP/ECN)', () => {
    const repr = fc.record({
      src: u32, dst: u32, protocol: fc.integer({ min: 0, max: 255 }), payloadLength: fc.integer({ min: 0, max: 64 }),
      ttl: fc.integer({ min: 0, max: 255 }), dscp: fc.integer({ min: 0, max: 63 }), ecn: fc.integer({ min: 0, max: 3 }),
      identification: u16, dontFragment: fc.boolean(), moreFragments: fc.boolean(),
      fragmentOffset: fc.integer({ min: 0, max: 0x1fff }).map((x) => x * 8),
      options: fc.integer({ min: 0, max: 10 }).map((n) => new Uint8Array(n * 4).fill(1)),
    });
    fc.assert(fc.property(repr, (r) => {
      const buf = new Uint8Array(Ipv4Repr.headerLen(r) + r.payloadLength);
      const v = new Ipv4View().wrap(buf);
      expect(Ipv4Repr.emit(r, v)).toBe(WireError.Ok);
      const back = Ipv4Repr.parse(v);
      expect(isWireError(back)).toBe(false);
      expect(back).toEqual(r);
    }), { numRuns: RUNS });
  });

  test('UDP (checksum over the pseudo header)', () => {
    fc.assert(fc.property(u16, u16, fc.uint8Array({ maxLength: 64 }), u32, u32, (sp, dp, payload, src, dst) => {
      const r = { srcPort: sp, dstPort: dp, payloadLength: payload.length };
      const v = new UdpView().wrap(new Uint8Array(UdpRepr.bufferLen(r)));
      expect(UdpRepr.emit(r, v, src, dst, payload)).toBe(WireError.Ok);
      expect(UdpRepr.parse(v, src, dst)).toEqual(r);
      expect(v.copyOut(8, payload.length)).toEqual(payload);
    }), { numRuns: RUNS });
  });

  test('TCP with every option combination that fits', () => {
    const repr = fc.record({
      srcPort: u16, dstPort: u16, seq: u32, ack: u32, flags: fc.integer({ min: 0, max: 0x1ff }), window: u16, urgent: u16,
      mss: fc.option(u16, { nil: null }), windowScale: fc.option(fc.integer({ min: 0, max: 14 }), { nil: null }),
      sackPermitted: fc.boolean(), timestamps: fc.option(fc.record({ tsVal: u32, tsEcr: u32 }), { nil: null }),
      sackBlocks: fc.array(fc.tuple(u32, u32), { maxLength: 4 }), payloadLength: fc.integer({ min: 0, max: 40 }),
    }).filter((r) => TcpRepr.headerLen(r) <= 60);
    fc.assert(fc.property(repr, u32, u32, (r, src, dst) => {
      const v = new TcpView().wrap(new Uint8Array(TcpRepr.bufferLen(r)));
      expect(TcpRepr.emit(r, v, src, dst, new Uint8Array(r.payloadLength).fill(9))).toBe(WireError.Ok);
      const back = TcpRepr.parse(v, src, dst);
      expect(isWireError(back)).toBe(false);
      expect(back).toEqual(r);
    }), { numRuns: RUNS });
  });

  test('ARP and Ethernet (with VLAN tags)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 2 ** 48 - 1 }), u32, fc.integer({ min: 0, max: 2 ** 48 - 1 }), u32,
      (operation, senderHw, senderIp, targetHw, targetIp) => {
        const r = { operation, senderHw, senderIp, targetHw, targetIp };
        const v = new ArpView().wrap(new Uint8Array(28));
        expect(ArpRepr.emit(r, v)).toBe(WireError.Ok);
        expect(ArpRepr.parse(v)).toMatchObject(r);
      }), { numRuns: RUNS });
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.array(fc.record({ pcp: fc.integer({ min: 0, max: 7 }), dei: fc.integer({ min: 0, max: 1 }), vid: fc.integer({ min: 0, max: 4095 }) }), { maxLength: 2 }),
      (dst, src, tcis) => {
        const vlans = tcis.map((t, i) => ({ tpid: i === 0 && tcis.length === 2 ? 0x88a8 : 0x8100, ...t }));
        const r = { dst, src, etherType: EtherType.Ipv4, vlans };
        const buf = new Uint8Array(14 + 4 * tcis.length + 20);
        const v = new EthernetView().wrap(buf);
        expect(EthernetRepr.emit(r, v)).toBe(WireError.Ok);
        expect(EthernetRepr.parse(v)).toEqual(r);
      }), { numRuns: RUNS });
  });
});

describe('flow layer parser and tuple rewrite', () => {
  const info = new PacketInfo();

  test('PacketInfo.parse on random and mutated frames: a ParseStatus, never an exception', () => {
    const statuses = new Set<number>(Object.values(ParseStatus));
    fc.assert(fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 120 })), (b) => {
      const st = info.parse(packet(b));
      expect(statuses.has(st)).toBe(true);
    }), { numRuns: RUNS });
  });

  /** Full recomputation of the IPv4 header and L4 checksums of a frame (what a receiver verifies). */
  function checksumsOk(b: Uint8Array): boolean {
    const v4 = new Ipv4View().wrap(b, 14, b.length - 14);
    if (!v4.verifyChecksum()) return false;
    if (v4.protocol === 17) {
      const u = new UdpView().wrapPayloadOf(v4);
      return u.checksum === 0 || u.verifyChecksum(v4.src, v4.dst);
    }
    if (v4.protocol === 6) return new TcpView().wrapPayloadOf(v4).verifyChecksum(v4.src, v4.dst);
    if (v4.protocol === 1) return new IcmpView().wrapPayloadOf(v4).verifyChecksum();
    return true;
  }

  test('rewriteTupleHalves: after any rewrite, every checksum verifies as a full recomputation would', () => {
    const spec = fc.record({
      proto: fc.constantFrom<'udp' | 'tcp' | 'icmp'>('udp', 'tcp', 'icmp'),
      payload: fc.uint8Array({ maxLength: 41 }),
      s: u32, d: u32, sp: u16, dp: u16,
    });
    fc.assert(fc.property(spec, u32, u32, u16, u16, (f, ns, nd, nsp, ndp) => {
      const ipStr = (x: number): string => `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
      const b = frame({ proto: f.proto, src: ipStr(f.s), dst: ipStr(f.d), sport: f.sp, dport: f.dp, payload: f.payload });
      expect(checksumsOk(b)).toBe(true);
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const icmpType = f.proto === 'icmp' ? b[34] : 0;
      rewriteTupleHalves(v, 14, 34, f.proto === 'udp' ? 17 : f.proto === 'tcp' ? 6 : 1, icmpType, ns >>> 16, ns & 0xffff, nd >>> 16, nd & 0xffff, nsp, ndp);
      expect(v.getUint32(14 + 12)).toBe(ns);
      expect(v.getUint32(14 + 16)).toBe(nd);
      expect(checksumsOk(b)).toBe(true);
    }), { numRuns: RUNS });
  });
});
