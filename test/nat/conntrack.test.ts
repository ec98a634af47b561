// ovs-nat building blocks without DPDK: TCP flag and window validation (pf's algorithm as OVS runs it), OVS
// timeout classes, packet rewrites checked against full checksum recomputation, ICMP error translation,
// and the choice of translated ports (original kept when free, hash start, linear probing, exhaustion,
// replies landing on this shard).
import { PacketInfo, ParseStatus, TimeoutClass, protoHasPorts, tupleHash } from '../../net/flow';
import { Ipv4View, TcpView, UdpView, IcmpView } from '../../net/wire';
import { CS, Conn, TcpState, Update, otherUpdate, tcpInvalidFlags, tcpNew, tcpUpdate, tcpValidNew } from '../../net/conntrack';
import { chooseDestination, chooseSource, rewriteTuple, translate, translateRelated, l4ChecksumOk } from '../../net/conntrack';
import { Reta, flowHash } from '../../net/steer';
import { frame, ip, packet, quote } from '../flow/helpers';

const FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16;
const A = '198.18.1.10', B = '198.18.2.2';

function parsed(bytes: Uint8Array): PacketInfo {
  const info = new PacketInfo();
  expect(info.parse(packet(bytes))).toBe(ParseStatus.Ok);
  return info;
}

/** A TCP segment A:1000 -> B:80 (or the reverse), with an optional window-scale option via raw bytes. */
function seg(fwd: boolean, flags: number, seq: number, ack: number, len = 0, window = 65535): PacketInfo {
  return parsed(frame({ proto: 'tcp', src: fwd ? A : B, dst: fwd ? B : A, sport: fwd ? 1000 : 80, dport: fwd ? 80 : 1000, flags, seq, ack, window, payload: new Uint8Array(len) }));
}

describe('TCP validation (pf / OVS conntrack-tcp)', () => {
  test('flag sanity: SYN with RST or FIN, no ACK/RST, FIN/PSH/URG without ACK are invalid; SYN-ACK cannot start a connection', () => {
    expect(tcpInvalidFlags(SYN | RST)).toBe(true);
    expect(tcpInvalidFlags(SYN | FIN)).toBe(true);
    expect(tcpInvalidFlags(0)).toBe(true);
    expect(tcpInvalidFlags(FIN)).toBe(true);
    expect(tcpInvalidFlags(PSH)).toBe(true);
    expect(tcpInvalidFlags(SYN)).toBe(false);
    expect(tcpInvalidFlags(ACK | FIN)).toBe(false);
    expect(tcpInvalidFlags(RST)).toBe(false);
    expect(tcpValidNew(SYN | ACK)).toBe(false);
    expect(tcpValidNew(SYN)).toBe(true);
    expect(tcpValidNew(ACK)).toBe(true); // picked up mid-stream, as OVS allows
  });

  test('a handshake, data in both directions and a close walk the states and the OVS timeout classes', () => {
    const c = new Conn();
    const cls = { v: 0 };
    expect(tcpNew(c, seg(true, SYN, 1000, 0))).toBe(TimeoutClass.TcpFirstPacket);
    expect(tcpUpdate(c, seg(false, SYN | ACK, 5000, 1001), true, cls)).toBe(Update.VALID);
    expect(cls.v).toBe(TimeoutClass.TcpOpening);
    expect(tcpUpdate(c, seg(true, ACK, 1001, 5001), false, cls)).toBe(Update.VALID);
    expect(Array.from(c.tstate)).toEqual([TcpState.ESTABLISHED, TcpState.ESTABLISHED]);
    expect(cls.v).toBe(TimeoutClass.TcpEstablished);
    expect(tcpUpdate(c, seg(true, ACK | PSH, 1001, 5001, 500), false, cls)).toBe(Update.VALID);
    expect(tcpUpdate(c, seg(false, ACK | PSH, 5001, 1501, 1000), true, cls)).toBe(Update.VALID);
    expect(tcpUpdate(c, seg(true, ACK | FIN, 1501, 6001), false, cls)).toBe(Update.VALID);
    expect(cls.v).toBe(TimeoutClass.TcpClosing);
    expect(tcpUpdate(c, seg(false, ACK | FIN, 6001, 1502), true, cls)).toBe(Update.VALID);
    expect(tcpUpdate(c, seg(true, ACK, 1502, 6002), false, cls)).toBe(Update.VALID);
    expect(Array.from(c.tstate)).toEqual([TcpState.FIN_WAIT_2, TcpState.FIN_WAIT_2]);
    expect(cls.v).toBe(TimeoutClass.TcpClosed);
    // A new SYN on the closed connection starts it over.
    expect(tcpUpdate(c, seg(true, SYN, 90000, 0), false, cls)).toBe(Update.NEW);
  });

  test('out-of-window data, absurd ACKs and RSTs with a wrong sequence number are invalid', () => {
    const c = new Conn();
    const cls = { v: 0 };
    tcpNew(c, seg(true, SYN, 1000, 0, 0, 1000));
    tcpUpdate(c, seg(false, SYN | ACK, 5000, 1001, 0, 1000), true, cls);
    tcpUpdate(c, seg(true, ACK, 1001, 5001, 0, 1000), false, cls);
    // Data far beyond what the receiver's window allows.
    expect(tcpUpdate(c, seg(true, ACK, 1001 + 100000, 5001, 100, 1000), false, cls)).toBe(Update.INVALID);
    // Acknowledging far more than was ever sent (ack skew beyond a window).
    expect(tcpUpdate(c, seg(true, ACK, 1001, 5001 + 500000, 0, 1000), false, cls)).toBe(Update.INVALID);
    // A RST must carry (about) the expected sequence number.
    expect(tcpUpdate(c, seg(false, RST, 5001 + 300, 0), true, cls)).toBe(Update.INVALID);
    expect(tcpUpdate(c, seg(false, RST, 5001, 0), true, cls)).toBe(Update.VALID);
    expect(Array.from(c.tstate)).toEqual([TcpState.TIME_WAIT, TcpState.TIME_WAIT]);
  });

  test('UDP and others: first, multiple (+new once more), bidirectional', () => {
    const c = new Conn();
    const cls = { v: 0 };
    expect(otherUpdate(c, false, cls)).toBe(Update.VALID_NEW);
    expect(cls.v).toBe(TimeoutClass.OtherMultiple);
    expect(otherUpdate(c, false, cls)).toBe(Update.VALID);
    expect(otherUpdate(c, true, cls)).toBe(Update.VALID);
    expect(cls.v).toBe(TimeoutClass.OtherBidir);
  });
});

function snatConn(proto: number, sport: number, dport: number): Conn {
  const c = new Conn();
  c.proto = proto;
  c.oSrc = ip(A); c.oDst = ip(B); c.oSport = sport; c.oDport = dport;
  c.tSrc = ip('198.18.2.1'); c.tDst = ip(B); c.tSport = 61000; c.tDport = dport;
  c.nat = CS.SNAT;
  return c;
}

function checksOk(bytes: Uint8Array): void {
  const v4 = new Ipv4View().wrap(bytes, 14);
  expect(v4.check()).toBe(0);
  expect(v4.verifyChecksum()).toBe(true);
  const info = parsed(bytes);
  expect(l4ChecksumOk(info)).toBe(true);
}

describe('checksum verification on entry', () => {
  test('l4ChecksumOk agrees with the wire views for every length 0..300, odd and even, TCP and UDP; one flipped bit fails; IPv4 header sums too', () => {
    const wrong: string[] = [];
    for (const proto of ['udp', 'tcp'] as const) {
      for (let len = 0; len <= 300; len++) {
        const payload = Uint8Array.from({ length: len }, (_, i) => (i * 37 + len) & 255);
        const f = frame({ proto, src: A, dst: B, sport: 40000 + len, dport: 53, payload });
        const info = parsed(f);
        if (!l4ChecksumOk(info)) wrong.push(`${proto} ${len} good one refused`);
        const l4v = proto === 'udp' ? new UdpView().wrap(f, 34, f.length - 34) : new TcpView().wrap(f, 34, f.length - 34);
        if (!l4v.verifyChecksum(ip(A), ip(B))) wrong.push(`${proto} ${len} view disagrees`);
        // Flip one payload bit (or a header bit when there is no payload): the check must fail.
        const g = f.slice();
        g[len > 0 ? f.length - 1 - (len % 7 < len ? len % 7 : 0) : 34 + 2] ^= 0x10;
        const info2 = new PacketInfo();
        if (info2.parse(packet(g)) === ParseStatus.Ok && l4ChecksumOk(info2)) wrong.push(`${proto} ${len} corrupt one accepted`);
      }
    }
    expect(wrong).toEqual([]);
    // The IPv4 header checksum is checked by the parser (20-byte headers take a loop-free path).
    const f = frame({ proto: 'udp', src: A, dst: B, sport: 1, dport: 2 });
    f[14 + 8] ^= 1; // TTL changed, checksum not updated
    expect(new PacketInfo().parse(packet(f))).toBe(ParseStatus.BadIpChecksum);
  });
});

describe('rewrites', () => {
  test.each(['udp', 'tcp', 'icmp'] as const)('%s: translate both ways, checksums equal a full recomputation', (proto) => {
    const c = snatConn(proto === 'udp' ? 17 : proto === 'tcp' ? 6 : 1, 45000, proto === 'icmp' ? 45000 : 9999);
    if (proto === 'icmp') c.tDport = 61000;
    const out = packet(frame({ proto, src: A, dst: B, sport: 45000, dport: 9999, payload: new Uint8Array([1, 2, 3, 4, 5]) }));
    const info = new PacketInfo();
    info.parse(out);
    translate(info, c, 0);
    const sent = out.toBuffer();
    checksOk(sent);
    const back = parsed(sent);
    expect([back.src, back.sport]).toEqual([ip('198.18.2.1'), 61000]);
    // The reply comes back to the translated tuple and goes out as the original.
    const reply = packet(frame({ proto, src: B, dst: '198.18.2.1', sport: 9999, dport: 61000, icmpType: proto === 'icmp' ? 0 : undefined, payload: new Uint8Array([9, 8, 7]) }));
    if (proto === 'icmp') {
      // An echo reply carries the (translated) identifier as its "port".
      const r = packet(frame({ proto, src: B, dst: '198.18.2.1', sport: 61000, icmpType: 0, payload: new Uint8Array([9, 8, 7]) }));
      info.parse(r);
      translate(info, c, 1);
      const rb = parsed(r.toBuffer());
      expect([rb.dst, rb.sport]).toEqual([ip(A), 45000]);
      checksOk(r.toBuffer());
      return;
    }
    info.parse(reply);
    translate(info, c, 1);
    const rb = parsed(reply.toBuffer());
    expect([rb.dst, rb.dport, rb.src, rb.sport]).toEqual([ip(A), 45000, ip(B), 9999]);
    checksOk(reply.toBuffer());
  });

  test('a UDP datagram without checksum keeps none', () => {
    const f = frame({ src: A, dst: B, sport: 1, dport: 2 });
    f[14 + 20 + 6] = 0;
    f[14 + 20 + 7] = 0;
    const p = packet(f);
    const info = new PacketInfo();
    info.parse(p);
    rewriteTuple(info, ip('198.18.2.1'), ip(B), 5, 2);
    const u = new UdpView().wrap(p.toBuffer(), 34);
    expect(u.checksum).toBe(0);
    expect(u.srcPort).toBe(5);
  });

  test('an ICMP port unreachable about a translated datagram is translated back: outer, quoted header and ports, all checksums', () => {
    const c = snatConn(17, 45000, 9999);
    // What left the NAT: 198.18.2.1:61000 -> B:9999, quoted whole (so the quoted UDP checksum can be checked).
    const left = frame({ src: '198.18.2.1', dst: B, sport: 61000, dport: 9999, payload: new Uint8Array([1, 2, 3]) });
    const err = packet(frame({ proto: 'icmp', src: B, dst: '198.18.2.1', icmpType: 3, icmpCode: 3, quoted: left.slice(14) }));
    const info = new PacketInfo();
    expect(info.parse(err)).toBe(ParseStatus.Ok);
    expect(info.related).toBe(true);
    translateRelated(err, info, c, 1);
    const out = err.toBuffer();
    const outer = new Ipv4View().wrap(out, 14);
    expect(outer.verifyChecksum()).toBe(true);
    expect([outer.src, outer.dst]).toEqual([ip(B), ip(A)]);
    const icmp = new IcmpView().wrap(out, 34, outer.payloadLength);
    expect(icmp.verifyChecksum()).toBe(true);
    const inner = new Ipv4View().wrap(out, 42);
    expect(inner.check()).toBe(0);
    expect(inner.verifyChecksum()).toBe(true);
    expect([inner.src, inner.dst]).toEqual([ip(A), ip(B)]);
    const iu = new UdpView().wrap(out, 62, inner.payloadLength);
    expect([iu.srcPort, iu.dstPort]).toEqual([45000, 9999]);
    expect(iu.verifyChecksum(inner)).toBe(true);
    // A quote cut to 8 bytes of UDP (RFC 792) is handled the same.
    const err8 = packet(frame({ proto: 'icmp', src: B, dst: '198.18.2.1', icmpType: 3, icmpCode: 3, quoted: quote(left, 8) }));
    info.parse(err8);
    translateRelated(err8, info, c, 1);
    const o8 = err8.toBuffer();
    expect(new IcmpView().wrap(o8, 34).verifyChecksum()).toBe(true);
    expect(new Ipv4View().wrap(o8, 42, 28).verifyChecksum()).toBe(true);
  });

  test('DNAT: an error from the translated destination speaks as the original destination', () => {
    const c = new Conn();
    c.proto = 6;
    c.oSrc = ip(B); c.oDst = ip('198.18.2.1'); c.oSport = 33000; c.oDport = 80;
    c.tSrc = ip(B); c.tDst = ip(A); c.tSport = 33000; c.tDport = 8080;
    c.nat = CS.DNAT;
    // The inside server (A) cannot take what was sent to it: an error from A about B:33000 -> A:8080.
    const sent = frame({ proto: 'tcp', src: B, dst: A, sport: 33000, dport: 8080, flags: SYN, seq: 7 });
    const err = packet(frame({ proto: 'icmp', src: A, dst: B, icmpType: 3, icmpCode: 13, quoted: quote(sent, 20) }));
    const info = new PacketInfo();
    info.parse(err);
    translateRelated(err, info, c, 1);
    const out = parsed(err.toBuffer());
    expect([out.src, out.dst]).toEqual([ip('198.18.2.1'), ip(B)]);
    expect([out.kSrc, out.kDst, out.kSport, out.kDport]).toEqual([ip(B), ip('198.18.2.1'), 33000, 80]);
    expect(new IcmpView().wrap(err.toBuffer(), 34).verifyChecksum()).toBe(true);
    expect(new Ipv4View().wrap(err.toBuffer(), 42, 40).verifyChecksum()).toBe(true);
    const t = new TcpView().wrap(err.toBuffer(), 62, 20);
    expect(t.verifyChecksum(ip(B), ip('198.18.2.1'))).toBe(true);
  });
});

describe('choosing translated tuples', () => {
  const range = { addrLo: ip('198.18.2.1'), addrHi: ip('198.18.2.1'), portLo: 1024, portHi: 65535 };
  const free = { taken: () => false, local: () => true };

  test('the original port is kept when free; when taken, another from a hash-chosen start', () => {
    const c = snatConn(6, 40000, 80);
    expect(chooseSource(c, range, free, 100)).toBe(true);
    expect(c.tSport).toBe(40000);
    const c2 = snatConn(6, 40000, 80);
    c2.oSrc = ip('198.18.1.11');
    const taken = new Set<number>([40000]);
    expect(chooseSource(c2, range, { taken: (_p, _a, _b, sp) => taken.has(sp), local: () => true }, 100)).toBe(true);
    expect(c2.tSport).not.toBe(40000);
    // Different originals start probing at different ports.
    const starts = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const x = snatConn(6, 40000, 80);
      x.oSrc = ip(`198.18.1.${20 + i}`);
      chooseSource(x, range, { taken: (_p, _a, _b, sp) => sp === 40000, local: () => true }, 100);
      starts.add(x.tSport);
    }
    expect(starts.size).toBeGreaterThan(15);
  });

  test('ICMP echo: the identifier is both ports of the key, so a new one changes both', () => {
    const c = snatConn(1, 777, 777);
    const check = { taken: (_p: number, _a: number, _b: number, sp: number) => sp === 777, local: () => true };
    expect(chooseSource(c, range, check, 100)).toBe(true);
    expect(c.tSport).not.toBe(777);
    expect(c.tDport).toBe(c.tSport);
  });

  test('a small range is probed linearly to the end, then reported exhausted', () => {
    const r = { ...range, portLo: 41000, portHi: 41003 };
    const used = new Set<number>();
    const check = { taken: (_p: number, _a: number, _b: number, sp: number) => used.has(sp), local: () => true };
    for (let i = 0; i < 4; i++) {
      const c = snatConn(17, 50000 + i, 53);
      expect(chooseSource(c, r, check, 100)).toBe(true);
      expect(c.tSport).toBeGreaterThanOrEqual(41000);
      expect(c.tSport).toBeLessThanOrEqual(41003);
      used.add(c.tSport);
    }
    expect(used.size).toBe(4);
    expect(chooseSource(snatConn(17, 50009, 53), r, check, 100)).toBe(false);
  });

  test('with several shards, replies of the chosen tuple land on this shard', () => {
    const reta = new Reta(4);
    for (let shard = 0; shard < 4; shard++) {
      const c = snatConn(6, 40000 + shard, 80);
      const local = (h: number): boolean => reta.shardOf(h) === shard;
      expect(chooseSource(c, range, { taken: () => false, local }, 1000)).toBe(true);
      expect(reta.shardOf(tupleHash(6, c.tDst, c.tSrc, c.tDport, c.tSport, protoHasPorts(6)))).toBe(shard);
    }
  });

  test('ICMP echo under SNAT to one address on 2 and 4 shards: every echo gets an identifier whose reply lands on its shard (issue 9)', () => {
    // Before the steering hashed the echo identifier, the reply's shard depended on the addresses only: with one
    // SNAT address every identifier of a shard the addresses did not hash to was refused (natExhausted).
    const info = new PacketInfo();
    for (const shards of [2, 4]) {
      const reta = new Reta(shards);
      for (let shard = 0; shard < shards; shard++) {
        const local = (h: number): boolean => reta.shardOf(h) === shard;
        const used = new Set<number>();
        for (let i = 0; i < 40; i++) {
          const id = 1000 + 37 * i + shard;
          const c = snatConn(1, id, id);
          const check = { taken: (_p: number, _a: number, _b: number, sp: number) => used.has(sp), local };
          expect(chooseSource(c, range, check, 65536)).toBe(true);
          used.add(c.tSport);
          expect(c.tDport).toBe(c.tSport);
          // The reply as the server sends it, hashed from its bytes by the runtime's steering, and by the flow
          // layer's steering hash after parsing: both name this shard.
          const reply = packet(frame({ proto: 'icmp', icmpType: 0, src: B, dst: '198.18.2.1', sport: c.tSport }));
          expect(reta.shardOf(flowHash(reply.view, reply.offset, reply.length))).toBe(shard);
          expect(info.parse(reply)).toBe(ParseStatus.Ok);
          expect(reta.shardOf(tupleHash(info.kProto, info.kSrc, info.kDst, info.kSport, info.kDport, protoHasPorts(info.kProto)))).toBe(shard);
        }
        expect(used.size).toBe(40);
      }
    }
  });

  test('DNAT picks an address of the range and keeps or maps the port', () => {
    const c = new Conn();
    c.proto = 6; c.oSrc = ip(B); c.oDst = ip('198.18.2.1'); c.oSport = 33000; c.oDport = 80;
    c.tSrc = c.oSrc; c.tSport = c.oSport; c.tDst = c.oDst; c.tDport = c.oDport;
    expect(chooseDestination(c, { addrLo: ip('198.18.1.20'), addrHi: ip('198.18.1.21'), portLo: 8080, portHi: 8080 }, free, 10)).toBe(true);
    expect([ip('198.18.1.20'), ip('198.18.1.21')]).toContain(c.tDst);
    expect(c.tDport).toBe(8080);
  });
});
