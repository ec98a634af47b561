// Frames built by scapy, parsed by net/wire views and Reprs, compared field by field with what
// scapy reads from the same bytes.

import {
  ArpRepr,
  ArpView,
  EthernetRepr,
  EthernetView,
  formatIpv4Addr,
  formatMac,
  IcmpRepr,
  IcmpType,
  IcmpView,
  IpProtocol,
  Ipv4Repr,
  Ipv4View,
  isWireError,
  parseIpv4Addr,
  parseMac,
  TcpOptions,
  TcpRepr,
  TcpView,
  UdpRepr,
  UdpView,
  WireError,
} from '../../net/wire';
import { fromHex, ScapyFrame, ScapyIp, ScapyTcp, ScapyUdp, scapyFrame, scapyFrames, toHex } from './scapy-fixture';

const eth = new EthernetView();
const ip = new Ipv4View();
const arp = new ArpView();
const icmp = new IcmpView();
const udp = new UdpView();
const tcp = new TcpView();
const opts = new TcpOptions();

function expectIp(view: Ipv4View, s: ScapyIp): void {
  expect(view.version).toBe(s.version);
  expect(view.ihl).toBe(s.ihl);
  expect(view.headerLength).toBe(s.ihl * 4);
  expect(view.tos).toBe(s.tos);
  expect(view.dscp).toBe(s.tos >> 2);
  expect(view.ecn).toBe(s.tos & 3);
  expect(view.totalLength).toBe(s.len);
  expect(view.identification).toBe(s.id);
  expect(view.flags).toBe(s.flags);
  expect(view.dontFragment).toBe((s.flags & 2) !== 0);
  expect(view.moreFragments).toBe((s.flags & 1) !== 0);
  expect(view.fragmentOffset).toBe(s.frag * 8);
  expect(view.isFragment).toBe(s.frag !== 0 || (s.flags & 1) !== 0);
  expect(view.ttl).toBe(s.ttl);
  expect(view.protocol).toBe(s.proto);
  expect(view.checksum).toBe(s.chksum);
  expect(formatIpv4Addr(view.src)).toBe(s.src);
  expect(formatIpv4Addr(view.dst)).toBe(s.dst);
  expect(view.src).toBe(parseIpv4Addr(s.src));
  expect(view.dst).toBe(parseIpv4Addr(s.dst));
  expect(view.optionsLength).toBe(s.options.length / 2);
  expect(toHex(view.copyOut(20, view.optionsLength))).toBe(s.options);
  expect(view.optionsOffset).toBe(view.offset + 20);
}

function expectUdpHeader(view: UdpView, s: ScapyUdp): void {
  expect(view.srcPort).toBe(s.sport);
  expect(view.dstPort).toBe(s.dport);
  expect(view.udpLength).toBe(s.len);
  expect(view.checksum).toBe(s.chksum);
}

function expectTcp(view: TcpView, s: ScapyTcp): void {
  expect(view.srcPort).toBe(s.sport);
  expect(view.dstPort).toBe(s.dport);
  expect(view.seqNumber).toBe(s.seq);
  expect(view.ackNumber).toBe(s.ack);
  expect(view.dataOffset).toBe(s.dataofs);
  expect(view.headerLength).toBe(s.dataofs * 4);
  expect(view.flags).toBe(s.flags);
  expect(view.fin).toBe((s.flags & 0x01) !== 0);
  expect(view.syn).toBe((s.flags & 0x02) !== 0);
  expect(view.rst).toBe((s.flags & 0x04) !== 0);
  expect(view.psh).toBe((s.flags & 0x08) !== 0);
  expect(view.ack).toBe((s.flags & 0x10) !== 0);
  expect(view.urg).toBe((s.flags & 0x20) !== 0);
  expect(view.ece).toBe((s.flags & 0x40) !== 0);
  expect(view.cwr).toBe((s.flags & 0x80) !== 0);
  expect(view.window).toBe(s.window);
  expect(view.checksum).toBe(s.chksum);
  expect(view.urgentPointer).toBe(s.urgptr);
  expect(toHex(view.copyOut(view.headerLength, view.payloadLength))).toBe(s.payload);
  expect(view.parseOptions(opts)).toBe(WireError.Ok);
  expect(opts.mss).toBe(s.mss ?? -1);
  expect(opts.windowScale).toBe(s.wscale ?? -1);
  expect(opts.sackPermitted).toBe(s.sackok);
  expect(opts.sackCount).toBe(s.sack.length);
  s.sack.forEach(([l, r], i) => {
    expect(opts.sackBlocks[2 * i]).toBe(l);
    expect(opts.sackBlocks[2 * i + 1]).toBe(r);
  });
  expect(opts.hasTimestamps).toBe(s.ts !== null);
  if (s.ts) {
    expect(opts.tsVal).toBe(s.ts[0]);
    expect(opts.tsEcr).toBe(s.ts[1]);
  }
}

/** Walk Ethernet → IPv4/ARP → transport on `bytes`, asserting every check passes. */
function parseFrame(f: ScapyFrame, bytes: Uint8Array | DataView, at: number, len: number): void {
  expect(eth.wrap(bytes, at, len).check()).toBe(WireError.Ok);
  expect(formatMac(eth.dst)).toBe(f.eth.dst);
  expect(formatMac(eth.src)).toBe(f.eth.src);
  expect(eth.dst).toBe(parseMac(f.eth.dst));
  expect(eth.outerEtherType).toBe(f.eth.type);
  expect(eth.vlanCount).toBe(f.eth.vlans.length);
  f.eth.vlans.forEach((tag, i) => {
    expect(eth.vlanTpid(i)).toBe(tag.tpid);
    expect(eth.vlanId(i)).toBe(tag.vid);
    expect(eth.vlanPcp(i)).toBe(tag.pcp);
    expect(eth.vlanDei(i)).toBe(tag.dei);
  });
  expect(eth.vlanId(f.eth.vlans.length)).toBe(-1);
  const inner = f.eth.vlans.length ? f.eth.vlans[f.eth.vlans.length - 1].type : f.eth.type;
  expect(eth.etherType).toBe(inner);
  expect(eth.headerLength).toBe(14 + 4 * f.eth.vlans.length);
  expect(eth.payloadOffset).toBe(at + eth.headerLength);

  if (f.arp) {
    const a = f.arp;
    expect(arp.wrapPayloadOf(eth).check()).toBe(WireError.Ok);
    expect([arp.htype, arp.ptype, arp.hlen, arp.plen, arp.operation]).toEqual([a.hwtype, a.ptype, a.hwlen, a.plen, a.op]);
    expect(formatMac(arp.senderHw)).toBe(a.hwsrc);
    expect(formatMac(arp.targetHw)).toBe(a.hwdst);
    expect(formatIpv4Addr(arp.senderIp)).toBe(a.psrc);
    expect(formatIpv4Addr(arp.targetIp)).toBe(a.pdst);
    return;
  }
  const s = f.ip!;
  expect(ip.wrapPayloadOf(eth).check()).toBe(WireError.Ok);
  expectIp(ip, s);
  expect(ip.verifyChecksum()).toBe(true);
  expect(ip.computeChecksum()).toBe(s.chksum);
  expect(ip.payloadLength).toBe(s.len - s.ihl * 4);
  if (ip.fragmentOffset !== 0) return; // a non-first fragment carries no transport header

  if (f.icmp) {
    expect(icmp.wrapPayloadOf(ip).check()).toBe(WireError.Ok);
    expect(icmp.type).toBe(f.icmp.type);
    expect(icmp.code).toBe(f.icmp.code);
    expect(icmp.checksum).toBe(f.icmp.chksum);
    expect(icmp.verifyChecksum()).toBe(true);
    expect(icmp.computeChecksum()).toBe(f.icmp.chksum);
    expect(toHex(icmp.copyOut(8, icmp.payloadLength))).toBe(f.icmp.payload);
    if (f.icmp.id !== null) {
      expect(icmp.identifier).toBe(f.icmp.id);
      expect(icmp.sequence).toBe(f.icmp.seq);
    }
    if (f.inner) {
      const innerIp = new Ipv4View();
      expect(icmp.isError).toBe(true);
      // The quoted header claims the original's total length: only checkHeader() accepts it.
      expect(icmp.wrapInner(innerIp)).toBe(WireError.Ok);
      expect(innerIp.check()).toBe(WireError.Truncated);
      expect(innerIp.checkHeader()).toBe(WireError.Ok);
      expectIp(innerIp, f.inner.ip);
      expect(innerIp.verifyChecksum()).toBe(true);
      expect(innerIp.payloadLength).toBe(8);
      const innerUdp = new UdpView().wrapPayloadOf(innerIp);
      expect(innerUdp.check()).toBe(WireError.Truncated);
      expect(innerUdp.checkHeader()).toBe(WireError.Ok);
      expectUdpHeader(innerUdp, f.inner.udp);
      expect(innerUdp.payloadLength).toBe(0);
      expect(innerUdp.verifyChecksum(innerIp.src, innerIp.dst)).toBe(false); // cannot: cut short
    }
  } else if (f.udp && ip.moreFragments) {
    // First fragment: the UDP length covers the whole datagram, which is not all here.
    expect(udp.wrapPayloadOf(ip).check()).toBe(WireError.Truncated);
    expect(udp.checkHeader()).toBe(WireError.Ok);
    expectUdpHeader(udp, f.udp);
    expect(udp.payloadLength).toBe(ip.payloadLength - 8);
  } else if (f.udp) {
    expect(udp.wrapPayloadOf(ip).check()).toBe(WireError.Ok);
    expectUdpHeader(udp, f.udp);
    expect(toHex(udp.copyOut(8, udp.payloadLength))).toBe(f.udp.payload);
    expect(udp.verifyChecksum(ip.src, ip.dst)).toBe(true);
    expect(udp.verifyChecksum(ip)).toBe(true);
    if (f.udp.chksum !== 0) {
      expect(udp.computeChecksum(ip.src, ip.dst)).toBe(f.udp.chksum);
      expect(udp.computeChecksum(ip)).toBe(f.udp.chksum);
    }
  } else if (f.tcp) {
    expect(tcp.wrapPayloadOf(ip).check()).toBe(WireError.Ok);
    expectTcp(tcp, f.tcp);
    expect(tcp.verifyChecksum(ip.src, ip.dst)).toBe(true);
    expect(tcp.computeChecksum(ip.src, ip.dst)).toBe(f.tcp.chksum);
    // The hot-path form reads the addresses from the IPv4 header itself.
    expect(tcp.verifyChecksum(ip)).toBe(true);
    expect(tcp.computeChecksum(ip)).toBe(f.tcp.chksum);
    expect(opts.unknownCount).toBe(f.unknown ?? 0);
  }
}

describe('frames from scapy', () => {
  const frames = scapyFrames();

  it('covers the protocols the brief names', () => {
    const names = frames.map((f) => f.name);
    for (const n of ['vlan-udp', 'qinq-tcp', 'arp-request', 'arp-reply', 'ip-options', 'frag-0', 'frag-1',
      'icmp-echo-request', 'icmp-port-unreachable', 'udp', 'tcp-syn-options', 'tcp-sack4', 'tcp-unknown-eol']) {
      expect(names).toContain(n);
    }
  });

  it.each(frames.map((f) => [f.name, f] as const))('%s: views agree with scapy (exact buffer)', (_n, f) => {
    // An ArrayBuffer of exactly the frame: any read past the end would throw.
    const bytes = fromHex(f.hex);
    parseFrame(f, bytes, 0, bytes.length);
  });

  it.each(frames.map((f) => [f.name, f] as const))('%s: same inside a pool buffer, via DataView', (_n, f) => {
    // Pool-like: a big buffer, the frame at an odd offset, given as a DataView over a sub-range.
    const raw = fromHex(f.hex);
    const pool = new ArrayBuffer(4096 + raw.length);
    new Uint8Array(pool).fill(0xee);
    new Uint8Array(pool, 1001, raw.length).set(raw);
    parseFrame(f, new DataView(pool, 1000, raw.length + 100), 1, raw.length);
  });

  it('Reprs parse scapy frames', () => {
    const vlan = fromHex(scapyFrame('qinq-tcp').hex);
    const er = EthernetRepr.parse(eth.wrap(vlan));
    expect(er).toEqual({
      dst: parseMac('02:00:00:00:00:0b'),
      src: parseMac('02:00:00:00:00:0a'),
      etherType: 0x0800,
      vlans: [
        { tpid: 0x88a8, pcp: 3, dei: 0, vid: 200 },
        { tpid: 0x8100, pcp: 0, dei: 0, vid: 300 },
      ],
    });

    const a = scapyFrame('arp-request');
    eth.wrap(fromHex(a.hex)).check();
    expect(ArpRepr.parse(arp.wrapPayloadOf(eth))).toEqual({
      operation: 1,
      senderHw: parseMac(a.arp!.hwsrc),
      senderIp: parseIpv4Addr(a.arp!.psrc),
      targetHw: 0,
      targetIp: parseIpv4Addr(a.arp!.pdst),
    });

    const o = scapyFrame('ip-options');
    eth.wrap(fromHex(o.hex)).check();
    const ir = Ipv4Repr.parse(ip.wrapPayloadOf(eth));
    if (isWireError(ir)) throw new Error(`ipv4 parse: ${ir}`);
    expect(ir.options).toEqual(fromHex(o.ip!.options));
    expect(ir.dscp).toBe(0xb8 >> 2);
    expect(ir.payloadLength).toBe(o.ip!.len - o.ip!.ihl * 4);
    const ur = UdpRepr.parse(udp.wrapPayloadOf(ip), ip.src, ip.dst);
    expect(ur).toEqual({ srcPort: 53, dstPort: 53, payloadLength: 4 });

    const t = scapyFrame('tcp-syn-options');
    eth.wrap(fromHex(t.hex)).check();
    ip.wrapPayloadOf(eth).check();
    expect(TcpRepr.parse(tcp.wrapPayloadOf(ip), ip.src, ip.dst)).toEqual({
      srcPort: 51000,
      dstPort: 443,
      seq: 123456789,
      ack: 0,
      flags: 0x02,
      window: 64240,
      urgent: 0,
      mss: 1460,
      windowScale: 7,
      sackPermitted: true,
      sackBlocks: [],
      timestamps: { tsVal: 3000000000, tsEcr: 0 },
      payloadLength: 0,
    });
    // Wrong addresses: the pseudo header no longer matches.
    expect(TcpRepr.parse(tcp, ip.src ^ 1, ip.dst)).toBe(WireError.BadChecksum);

    const sack = scapyFrame('tcp-sack4');
    eth.wrap(fromHex(sack.hex)).check();
    ip.wrapPayloadOf(eth).check();
    const sr = TcpRepr.parse(tcp.wrapPayloadOf(ip), ip.src, ip.dst);
    if (isWireError(sr)) throw new Error(`tcp parse: ${sr}`);
    expect(sr.sackBlocks).toEqual(sack.tcp!.sack);

    const pu = scapyFrame('icmp-port-unreachable');
    eth.wrap(fromHex(pu.hex)).check();
    ip.wrapPayloadOf(eth).check();
    expect(ip.protocol).toBe(IpProtocol.Icmp);
    const cr = IcmpRepr.parse(icmp.wrapPayloadOf(ip));
    expect(cr).toEqual({ kind: 'error', type: IcmpType.DestUnreachable, code: 3, rest: 0, original: fromHex(pu.icmp!.payload) });

    const echo = scapyFrame('icmp-echo-request');
    eth.wrap(fromHex(echo.hex)).check();
    ip.wrapPayloadOf(eth).check();
    expect(IcmpRepr.parse(icmp.wrapPayloadOf(ip))).toEqual({
      kind: 'echo',
      type: IcmpType.EchoRequest,
      identifier: 0x1234,
      sequence: 7,
      data: new TextEncoder().encode('abcdefghijklmnopqrstuvw'),
    });
  });

  it('in-place replies match the replies scapy built', () => {
    // Echo request → reply in place: the ICMP part equals scapy's reply, checksum included.
    const req = fromHex(scapyFrame('icmp-echo-request').hex);
    const rep = fromHex(scapyFrame('icmp-echo-reply').hex);
    eth.wrap(req).check();
    ip.wrapPayloadOf(eth).check();
    icmp.wrapPayloadOf(ip).check();
    icmp.echoToReplyInPlace();
    expect(toHex(req.subarray(34))).toBe(toHex(rep.subarray(34)));

    // ARP request → reply in place, Ethernet addresses swapped by the caller.
    const areq = fromHex(scapyFrame('arp-request').hex);
    const arep = fromHex(scapyFrame('arp-reply').hex);
    eth.wrap(areq).check();
    arp.wrapPayloadOf(eth).check();
    const asker = arp.senderHw;
    arp.replyInPlace(parseMac('02:00:00:00:00:0b')!);
    eth.dst = asker;
    eth.src = parseMac('02:00:00:00:00:0b')!;
    expect(toHex(areq)).toBe(toHex(arep));
  });
});

describe('Repr round trip over scapy frames', () => {
  // Frames whose option layout is the one TcpRepr.emit writes (Linux's) come back byte for byte.
  const names = ['vlan-udp', 'qinq-tcp', 'arp-request', 'arp-reply', 'ip-options', 'frag-1', 'frag-2',
    'icmp-echo-request', 'icmp-echo-reply', 'icmp-port-unreachable', 'icmp-time-exceeded', 'udp',
    'udp-no-checksum', 'tcp-syn-options', 'tcp-sack4', 'tcp-ts-sack3', 'tcp-urg-fin'];

  it.each(names)('%s: emit(parse(frame)) == frame', (name) => {
    const f = scapyFrame(name);
    const bytes = fromHex(f.hex);
    const out = new Uint8Array(bytes.length);
    const e = new EthernetView().wrap(bytes);
    const er = EthernetRepr.parse(e);
    if (isWireError(er)) throw new Error(`eth ${er}`);
    const eo = new EthernetView().wrap(out);
    expect(EthernetRepr.emit(er, eo)).toBe(WireError.Ok);
    if (er.etherType === 0x0806) {
      const ar = ArpRepr.parse(new ArpView().wrapPayloadOf(e));
      if (isWireError(ar)) throw new Error(`arp ${ar}`);
      expect(ArpRepr.emit(ar, new ArpView().wrapPayloadOf(eo))).toBe(WireError.Ok);
      expect(toHex(out)).toBe(f.hex);
      return;
    }
    const i = new Ipv4View().wrapPayloadOf(e);
    const ir = Ipv4Repr.parse(i);
    if (isWireError(ir)) throw new Error(`ip ${ir}`);
    const io = new Ipv4View().wrapPayloadOf(eo);
    expect(Ipv4Repr.emit(ir, io)).toBe(WireError.Ok);
    expect(io.check()).toBe(WireError.Ok);
    if (ir.fragmentOffset !== 0) {
      out.set(bytes.subarray(i.payloadOffset), io.payloadOffset);
    } else if (ir.protocol === IpProtocol.Udp) {
      const u = new UdpView().wrapPayloadOf(i);
      const ur = UdpRepr.parse(u, ir.src, ir.dst);
      if (isWireError(ur)) throw new Error(`udp ${ur}`);
      const payload = u.copyOut(8, u.payloadLength);
      expect(UdpRepr.emit(ur, new UdpView().wrapPayloadOf(io), ir.src, ir.dst, payload, { checksum: u.checksum !== 0 })).toBe(WireError.Ok);
    } else if (ir.protocol === IpProtocol.Tcp) {
      const t = new TcpView().wrapPayloadOf(i);
      const tr = TcpRepr.parse(t, ir.src, ir.dst);
      if (isWireError(tr)) throw new Error(`tcp ${tr}`);
      const payload = t.copyOut(t.headerLength, t.payloadLength);
      expect(TcpRepr.emit(tr, new TcpView().wrapPayloadOf(io), ir.src, ir.dst, payload)).toBe(WireError.Ok);
    } else {
      const c = IcmpRepr.parse(new IcmpView().wrapPayloadOf(i));
      if (isWireError(c)) throw new Error(`icmp ${c}`);
      expect(IcmpRepr.emit(c, new IcmpView().wrapPayloadOf(io))).toBe(WireError.Ok);
    }
    expect(toHex(out)).toBe(f.hex);
  });
});
