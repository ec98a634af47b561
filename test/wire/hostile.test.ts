// Hostile input: truncated and malformed headers must be rejected by check() with the right code,
// and nothing (check, accessors, option walks, checksums, Repr parsers) may throw on any input.

import {
  ArpRepr,
  ArpView,
  EthernetRepr,
  EthernetView,
  IcmpRepr,
  IcmpView,
  IpProtocol,
  Ipv4Repr,
  Ipv4View,
  TcpOptions,
  TcpRepr,
  TcpView,
  UdpRepr,
  UdpView,
  WireError,
} from '../../net/wire';
import { Prng } from './prng';
import { fromHex, scapyFrame, scapyFrames } from './scapy-fixture';

const eth = new EthernetView();
const ip = new Ipv4View();
const inner = new Ipv4View();
const arp = new ArpView();
const icmp = new IcmpView();
const udp = new UdpView();
const tcp = new TcpView();
const opts = new TcpOptions();

/**
 * Walk every layer the way a stack would, touching every accessor once a check passes. Returns how
 * deep it got (0 = Ethernet rejected). Any out-of-bounds read throws a RangeError from DataView.
 */
function parseAll(bytes: Uint8Array | DataView, offset: number, length: number): number {
  let sink = 0;
  if (eth.wrap(bytes, offset, length).check() !== WireError.Ok) return 0;
  sink += eth.dst + eth.src + eth.etherType + eth.vlanTci(0) + eth.vlanTci(1) + eth.payloadLength;
  EthernetRepr.parse(eth);
  if (eth.etherType === 0x0806) {
    if (arp.wrapPayloadOf(eth).check() !== WireError.Ok) return 1;
    sink += arp.senderHw + arp.senderIp + arp.targetHw + arp.targetIp + arp.operation;
    ArpRepr.parse(arp);
    return sink >= 0 ? 2 : -1;
  }
  if (ip.wrapPayloadOf(eth).check() !== WireError.Ok) {
    if (ip.checkHeader() === WireError.Ok) sink += ip.src + ip.dst + ip.payloadLength + (ip.verifyChecksum() ? 1 : 0);
    return 1;
  }
  sink += ip.src + ip.dst + ip.ttl + ip.protocol + ip.totalLength + ip.fragmentOffset + ip.optionsLength;
  sink += ip.verifyChecksum() ? 1 : 0;
  sink += ip.computeChecksum();
  Ipv4Repr.parse(ip);
  if (ip.isFragment && ip.fragmentOffset !== 0) return 2;
  const src = ip.src;
  const dst = ip.dst;
  switch (ip.protocol) {
    case IpProtocol.Icmp:
      if (icmp.wrapPayloadOf(ip).check() !== WireError.Ok) return 2;
      sink += icmp.type + icmp.code + icmp.restOfHeader + (icmp.verifyChecksum() ? 1 : 0) + icmp.computeChecksum();
      IcmpRepr.parse(icmp);
      if (icmp.wrapInner(inner) === WireError.Ok) {
        sink += inner.src + inner.dst + inner.protocol + inner.payloadLength + (inner.verifyChecksum() ? 1 : 0);
        if (udp.wrapPayloadOf(inner).checkHeader() === WireError.Ok) {
          sink += udp.srcPort + udp.dstPort + udp.payloadLength + (udp.verifyChecksum(inner.src, inner.dst) ? 1 : 0);
          sink += udp.computeChecksum(inner.src, inner.dst);
        }
      }
      break;
    case IpProtocol.Udp:
      if (udp.wrapPayloadOf(ip).check() !== WireError.Ok) {
        if (udp.checkHeader() === WireError.Ok) sink += udp.computeChecksum(src, dst) + (udp.verifyChecksum(src, dst) ? 1 : 0);
        return 2;
      }
      sink += udp.srcPort + udp.dstPort + udp.payloadLength + (udp.verifyChecksum(src, dst) ? 1 : 0);
      sink += udp.computeChecksum(src, dst);
      UdpRepr.parse(udp, src, dst);
      break;
    case IpProtocol.Tcp:
      if (tcp.wrapPayloadOf(ip).check() !== WireError.Ok) return 2;
      sink += tcp.seqNumber + tcp.ackNumber + tcp.flags + tcp.window + tcp.urgentPointer + tcp.segmentLength;
      sink += tcp.parseOptions(opts) === WireError.Ok ? opts.mss + opts.sackCount + opts.tsVal : -1e9;
      sink += (tcp.verifyChecksum(src, dst) ? 1 : 0) + tcp.computeChecksum(src, dst);
      TcpRepr.parse(tcp, src, dst);
      break;
    default:
      return 2;
  }
  return sink >= 0 ? 3 : -1;
}

const exact = (hex: string): Uint8Array => fromHex(hex);

/** A valid TCP segment (Ethernet/IPv4/TCP) whose option bytes are `options` (padded to 4 by caller). */
function tcpWithOptions(options: number[]): Uint8Array {
  const base = exact(scapyFrame('tcp-urg-fin').hex).subarray(0, 34 + 20);
  const f = new Uint8Array(base.length + options.length);
  f.set(base);
  f.set(options, base.length);
  f[14 + 2] = 0;
  f[14 + 3] = 20 + 20 + options.length; // IP total length
  f[34 + 12] = ((20 + options.length) >> 2) << 4;
  return f;
}

function tcpCheck(frame: Uint8Array): WireError {
  expect(eth.wrap(frame).check()).toBe(WireError.Ok);
  expect(ip.wrapPayloadOf(eth).check()).toBe(WireError.Ok);
  return tcp.wrapPayloadOf(ip).check();
}

describe('hostile input is rejected', () => {
  it('rejects every truncation of every scapy frame, without throwing', () => {
    for (const f of scapyFrames()) {
      const full = exact(f.hex);
      expect(parseAll(full, 0, full.length)).toBeGreaterThanOrEqual(2);
      for (let n = 0; n < full.length; n++) {
        // A fresh buffer of exactly n bytes: a read past the end throws.
        const cut = full.slice(0, n);
        const depth = parseAll(cut, 0, n);
        // Every byte of these frames is covered by some length field, so some layer must object.
        expect(depth).toBeLessThan(3);
      }
    }
  });

  it('Ethernet: short header, short VLAN tag, three tags', () => {
    expect(eth.wrap(new Uint8Array(13)).check()).toBe(WireError.Truncated);
    const tagged = exact(scapyFrame('vlan-udp').hex);
    expect(eth.wrap(tagged, 0, 17).check()).toBe(WireError.Truncated);
    expect(eth.wrap(tagged, 0, 18).check()).toBe(WireError.Ok);
    const q = exact(scapyFrame('qinq-tcp').hex);
    q[20] = 0x81; // the inner tag's type becomes a third TPID
    q[21] = 0x00;
    expect(eth.wrap(q).check()).toBe(WireError.Unsupported);
  });

  it('wrap() outside the bytes gives OutOfBounds', () => {
    const b = new Uint8Array(64);
    for (const [o, l] of [[-1, 10], [0, 65], [60, 5], [1.5, 10], [0, NaN], [NaN, 1], [0, -1]]) {
      for (const v of [eth, ip, arp, icmp, udp, tcp]) expect(v.wrap(b, o, l).check()).toBe(WireError.OutOfBounds);
    }
    expect(ip.wrap(b, 64, 0).check()).toBe(WireError.Truncated); // empty but in bounds
  });

  it('ARP: wrong sizes or types, truncated', () => {
    const f = exact(scapyFrame('arp-request').hex);
    const a = f.subarray(14);
    expect(arp.wrap(a).check()).toBe(WireError.Ok);
    expect(arp.wrap(a, 0, 27).check()).toBe(WireError.Truncated);
    expect(arp.wrap(a, 0, 7).check()).toBe(WireError.Truncated);
    for (const [i, v] of [[1, 6], [3, 0xdd], [4, 8], [5, 16]]) {
      const c = a.slice();
      c[i] = v;
      expect(arp.wrap(c).check()).toBe(WireError.Unsupported);
    }
  });

  it('IPv4: IHL < 5, IHL beyond the buffer, bad version, total length beyond the buffer or below IHL', () => {
    const f = exact(scapyFrame('udp').hex).subarray(14);
    const mut = (fn: (c: Uint8Array) => void): WireError => {
      const c = f.slice();
      fn(c);
      return ip.wrap(c).check();
    };
    expect(mut(() => undefined)).toBe(WireError.Ok);
    for (let ihl = 0; ihl < 5; ihl++) expect(mut((c) => (c[0] = 0x40 | ihl))).toBe(WireError.Malformed);
    expect(mut((c) => (c[0] = 0x65))).toBe(WireError.Malformed);
    expect(ip.wrap(f, 0, 19).check()).toBe(WireError.Truncated);
    const short = f.slice(0, 24);
    short[0] = 0x46; // 24-byte header: fits
    short[3] = 24;
    expect(ip.wrap(short).check()).toBe(WireError.Ok);
    short[0] = 0x47; // 28-byte header in 24 bytes
    expect(ip.wrap(short).check()).toBe(WireError.Truncated);
    expect(mut((c) => (c[2] = 0xff))).toBe(WireError.Truncated);
    expect(mut((c) => { c[2] = 0; c[3] = 19; })).toBe(WireError.Malformed);
    // Ethernet padding after total length is fine and not payload.
    const padded = new Uint8Array(f.length + 6);
    padded.set(f);
    expect(ip.wrap(padded).check()).toBe(WireError.Ok);
    expect(ip.payloadLength).toBe(f.length - 20);
  });

  it('UDP: length field below 8 or beyond the buffer', () => {
    const u = exact(scapyFrame('udp').hex).subarray(34);
    expect(udp.wrap(u).check()).toBe(WireError.Ok);
    expect(udp.wrap(u, 0, 7).check()).toBe(WireError.Truncated);
    const c = u.slice();
    c[4] = 0;
    c[5] = 7;
    expect(udp.wrap(c).check()).toBe(WireError.Malformed);
    c[5] = u.length + 1;
    expect(udp.wrap(c).check()).toBe(WireError.Truncated);
    expect(udp.checkHeader()).toBe(WireError.Ok);
    expect(udp.verifyChecksum(0, 0)).toBe(false);
  });

  it('ICMP: short message, error quoting a bad IP header', () => {
    expect(icmp.wrap(new Uint8Array(7)).check()).toBe(WireError.Truncated);
    const f = exact(scapyFrame('icmp-port-unreachable').hex);
    expect(icmp.wrap(f, 34).check()).toBe(WireError.Ok);
    expect(icmp.wrapInner(inner)).toBe(WireError.Ok);
    f[42] = 0x44; // the quoted IHL = 4
    expect(icmp.wrapInner(inner)).toBe(WireError.Malformed);
    expect(IcmpRepr.parse(icmp, { checksum: false })).toBe(WireError.Malformed);
    expect(IcmpRepr.parse(icmp)).toBe(WireError.BadChecksum);
    expect(icmp.wrap(f, 34, 8 + 19).check()).toBe(WireError.Ok);
    expect(icmp.wrapInner(inner)).toBe(WireError.Truncated);
    const echo = exact(scapyFrame('icmp-echo-request').hex);
    expect(icmp.wrap(echo, 34).check()).toBe(WireError.Ok);
    expect(icmp.wrapInner(inner)).toBe(WireError.Unsupported);
  });

  it('TCP: data offset below 5 or beyond the segment', () => {
    const t = exact(scapyFrame('tcp-syn-options').hex).subarray(34);
    expect(tcp.wrap(t).check()).toBe(WireError.Ok);
    expect(tcp.wrap(t, 0, 19).check()).toBe(WireError.Truncated);
    expect(tcp.wrap(t, 0, 39).check()).toBe(WireError.Truncated); // options cut
    for (let off = 0; off < 5; off++) {
      const c = t.slice();
      c[12] = off << 4;
      expect(tcp.wrap(c).check()).toBe(WireError.Malformed);
    }
    const c = t.slice();
    c[12] = 0xf0; // 60-byte header in a 40-byte segment
    expect(tcp.wrap(c).check()).toBe(WireError.Truncated);
  });

  it('TCP options: lengths 0, 1, overflowing, cut before the length, wrong sizes', () => {
    const bad: Array<[string, number[]]> = [
      ['length 0', [0x02, 0x00, 0x01, 0x01]],
      ['length 1', [0x02, 0x01, 0x01, 0x01]],
      ['unknown with length 0', [0xfe, 0x00, 0x01, 0x01]],
      ['unknown with length 1', [0xfe, 0x01, 0x01, 0x01]],
      ['overflow', [0x01, 0x01, 0x08, 0x0a]],
      ['overflow by one', [0xfe, 0x05, 0x00, 0x00]],
      ['kind as the last byte', [0x01, 0x01, 0x01, 0x02]],
      ['MSS length 3', [0x02, 0x03, 0x05, 0x01]],
      ['MSS length 6', [0x02, 0x06, 0x05, 0xb4, 0x00, 0x00, 0x01, 0x01]],
      ['window scale length 4', [0x03, 0x04, 0x07, 0x00]],
      ['SACK-permitted length 3', [0x04, 0x03, 0x00, 0x01]],
      ['timestamps length 8', [0x08, 0x08, 0, 0, 0, 1, 0, 0]],
      ['SACK length 2', [0x05, 0x02, 0x01, 0x01]],
      ['SACK length 11', [0x05, 0x0b, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0]],
      ['SACK of 5 blocks', [0x01, 0x01, 0x05, 42, ...new Array(40).fill(0)].slice(0, 40)],
    ];
    for (const [what, o] of bad) {
      expect([what, tcpCheck(tcpWithOptions(o))]).toEqual([what, WireError.Malformed]);
      expect(TcpRepr.parse(tcp, ip.src, ip.dst, { checksum: false })).toBe(WireError.Malformed);
    }
    const good: Array<[string, number[]]> = [
      ['all NOP', [1, 1, 1, 1]],
      ['EOL then garbage', [0, 0xff, 0x01, 0x00]],
      ['unknown, skipped', [0xfe, 0x04, 0xab, 0xcd]],
      ['MSS then EOL', [0x02, 0x04, 0x05, 0xb4, 0x00, 0x00, 0x00, 0x00]],
    ];
    for (const [what, o] of good) expect([what, tcpCheck(tcpWithOptions(o))]).toEqual([what, WireError.Ok]);
    tcpCheck(tcpWithOptions([0xfe, 0x04, 0xab, 0xcd, 0x02, 0x04, 0x02, 0x18]));
    expect(tcp.parseOptions(opts)).toBe(WireError.Ok);
    expect([opts.unknownCount, opts.mss]).toEqual([1, 536]);
  });

  it('Repr emitters refuse what does not fit', () => {
    const small = new Uint8Array(30);
    const tooManySacks: TcpRepr = {
      srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0, payloadLength: 0,
      timestamps: { tsVal: 1, tsEcr: 2 }, sackBlocks: [[1, 2], [3, 4], [5, 6], [7, 8]],
    };
    expect(TcpRepr.emit(tooManySacks, tcp.wrap(new Uint8Array(100)), 0, 0)).toBe(WireError.Malformed);
    expect(TcpRepr.emit({ ...tooManySacks, timestamps: null }, tcp.wrap(new Uint8Array(100)), 0, 0)).toBe(WireError.Ok);
    expect(TcpRepr.emit({ ...tooManySacks, timestamps: null }, tcp.wrap(small), 0, 0)).toBe(WireError.Truncated);
    expect(Ipv4Repr.emit({ src: 1, dst: 2, ttl: 1, protocol: 17, payloadLength: 0, options: new Uint8Array(41) }, ip.wrap(new Uint8Array(80)))).toBe(WireError.Malformed);
    expect(Ipv4Repr.emit({ src: 1, dst: 2, ttl: 1, protocol: 17, payloadLength: 0, fragmentOffset: 12 }, ip.wrap(small))).toBe(WireError.Malformed);
    expect(Ipv4Repr.emit({ src: 1, dst: 2, ttl: 1, protocol: 17, payloadLength: 0 }, ip.wrap(small, 0, 19))).toBe(WireError.Truncated);
    expect(UdpRepr.emit({ srcPort: 1, dstPort: 2, payloadLength: 30 }, udp.wrap(small), 0, 0)).toBe(WireError.Truncated);
    expect(EthernetRepr.emit({ dst: 1, src: 2, etherType: 0x800, vlans: [] }, eth.wrap(small, 0, 13))).toBe(WireError.Truncated);
    expect(ArpRepr.emit({ operation: 1, senderHw: 1, senderIp: 1, targetHw: 0, targetIp: 2 }, arp.wrap(small, 0, 27))).toBe(WireError.Truncated);
    expect(IcmpRepr.emit({ kind: 'echo', type: 8, identifier: 1, sequence: 1, data: new Uint8Array(30) }, icmp.wrap(small))).toBe(WireError.Truncated);
  });
});

describe('fuzz', () => {
  it('20k seeded mutations of valid frames never throw', () => {
    const rng = new Prng(0xf022);
    const seeds = scapyFrames().map((f) => exact(f.hex));
    // Extra seeds with every TCP option kind in odd places.
    seeds.push(tcpWithOptions([0x02, 0x04, 0x05, 0xb4, 0x05, 0x0a, 0, 0, 0, 1, 0, 0, 0, 2, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 2, 0x03, 0x03, 0x07, 0x00]));
    const depths = [0, 0, 0, 0];
    const pool = new ArrayBuffer(4096);
    for (let i = 0; i < 20000; i++) {
      const seed = seeds[rng.below(seeds.length)];
      let frame = seed.slice();
      const mutations = 1 + rng.below(4);
      for (let m = 0; m < mutations; m++) {
        const kind = rng.below(8);
        const at = rng.below(Math.max(1, frame.length));
        if (kind <= 2 && frame.length > 0) frame[at] = rng.u8(); // random byte
        else if (kind === 3 && frame.length > 0) frame[at] = rng.below(2) ? 0 : 0xff;
        else if (kind === 4 && frame.length > 0) frame[at] ^= 1 << rng.below(8); // bit flip
        else if (kind === 5) frame = frame.slice(0, rng.below(frame.length + 1)); // truncate
        else if (kind === 6) {
          // Hit the length-bearing bytes: IHL/total length, UDP length, TCP data offset, option lengths.
          const hot = [14, 16, 17, 38, 39, 46, 54, 55, 56, 57, 58, 59, 60, 61];
          const h = hot[rng.below(hot.length)];
          if (h < frame.length) frame[h] = rng.u8();
        } else {
          const grown = new Uint8Array(frame.length + rng.below(8));
          grown.set(frame);
          frame = grown; // trailing bytes (padding)
        }
      }
      // Alternate an exact-size buffer and a frame at the very end of a pool buffer, via DataView.
      let depth: number;
      if (i & 1) {
        depth = parseAll(frame, 0, frame.length);
      } else {
        const start = pool.byteLength - frame.length;
        new Uint8Array(pool, start, frame.length).set(frame);
        depth = parseAll(new DataView(pool, start - 3), 3, frame.length);
      }
      depths[Math.max(0, depth)]++;
    }
    // The mutations must still let many frames reach the transport layer, or the fuzz tests little.
    expect(depths[3]).toBeGreaterThan(2000);
    expect(depths[0] + depths[1] + depths[2]).toBeGreaterThan(2000);
  });
});
