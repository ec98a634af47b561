// The interface layer: ARP (answers, learning, resolution queue, expiry, sharing hooks), IPv4
// (checks, options, reassembly limits, fragmentation), ICMP (echo, unreachable), UDP, the classifier.

import { IcmpType, IpProtocol, Ipv4Repr, MAC_BROADCAST, formatIpv4Addr, internetChecksum, parseIpv4Addr, parseMac } from '../../net/wire';
import { Stack, StackConfig } from '../../net/stack';
import {
  Harness,
  PEER_IP,
  PEER_MAC,
  STACK_IP,
  STACK_MAC,
  Parsed,
  arpFrame,
  baseConfig,
  ipFrame,
  tcpFrame,
  udpFrame,
} from './helpers';

const OTHER_IP = parseIpv4Addr('198.18.0.3') as number;
const OTHER_MAC = parseMac('02:00:00:00:00:03') as number;
const GW_IP = parseIpv4Addr('198.18.0.254') as number;

function echoRequest(id: number, seq: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = IcmpType.EchoRequest;
  m[4] = id >> 8;
  m[5] = id & 0xff;
  m[6] = seq >> 8;
  m[7] = seq & 0xff;
  m.set(data, 8);
  const cs = internetChecksum(m, 0, m.length);
  m[2] = cs >> 8;
  m[3] = cs & 0xff;
  return m;
}

/** Split an L4 message into IPv4 fragments of at most `chunk` payload bytes (a multiple of 8). */
function fragments(protocol: number, l4: Uint8Array, chunk: number, id = 0x4242, over: Partial<Ipv4Repr> = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < l4.length; off += chunk) {
    const part = l4.subarray(off, Math.min(l4.length, off + chunk));
    out.push(ipFrame(protocol, part, {}, { identification: id, fragmentOffset: off, moreFragments: off + chunk < l4.length, ...over }));
  }
  return out;
}

/** Put fragments (as parsed) back together. */
function reassemble(frags: Parsed[]): Uint8Array {
  const total = Math.max(...frags.map((f) => (f.ip?.fragOffset ?? 0) + (f.ip?.payload.length ?? 0)));
  const out = new Uint8Array(total);
  for (const f of frags) out.set(f.ip!.payload, f.ip!.fragOffset);
  return out;
}

describe('ARP', () => {
  test('a request for our address gets the exact reply, and the asker is learned', () => {
    const seen: Array<[number, number]> = [];
    const h = new Harness(baseConfig({ onNeighbor: (ip, mac) => seen.push([ip, mac]) }), false);
    h.input(arpFrame(1, [PEER_MAC, PEER_IP], [0, STACK_IP], MAC_BROADCAST));
    const out = h.out();
    expect(out.length).toBe(1);
    expect(out[0].ethDst).toBe('02:00:00:00:00:02');
    expect(out[0].ethSrc).toBe('02:00:00:00:00:01');
    expect(out[0].arp).toEqual({ op: 2, senderHw: STACK_MAC, senderIp: STACK_IP, targetHw: PEER_MAC, targetIp: PEER_IP });
    expect(seen).toEqual([[PEER_IP, PEER_MAC]]);
    expect(h.stack.neighbors()).toEqual([[PEER_IP, PEER_MAC]]);
    expect(h.stack.counters.arpTxReply).toBe(1);
  });

  test('a request for another address: no reply, nothing learned, not for the stack', () => {
    const h = new Harness(baseConfig(), false);
    const f = arpFrame(1, [PEER_MAC, PEER_IP], [0, OTHER_IP], MAC_BROADCAST);
    expect(h.stack.accepts(f, 0, f.length)).toBe(false);
    h.input(f);
    expect(h.out()).toEqual([]);
    expect(h.stack.neighbors()).toEqual([]);
  });

  test('gratuitous ARP updates a known neighbour (onNeighbor fires) and adds no unknown one', () => {
    const seen: Array<[number, number]> = [];
    const h = new Harness(baseConfig({ onNeighbor: (ip, mac) => seen.push([ip, mac]) }), false);
    h.input(arpFrame(1, [PEER_MAC, PEER_IP], [0, STACK_IP], MAC_BROADCAST));
    h.out();
    const moved = parseMac('02:00:00:00:00:99') as number;
    const g = arpFrame(1, [moved, PEER_IP], [0, PEER_IP], MAC_BROADCAST);
    expect(h.stack.accepts(g, 0, g.length)).toBe(true);
    h.input(g);
    h.input(arpFrame(1, [OTHER_MAC, OTHER_IP], [0, OTHER_IP], MAC_BROADCAST));
    expect(h.out()).toEqual([]);
    expect(h.stack.neighbors()).toEqual([[PEER_IP, moved]]);
    expect(seen).toEqual([
      [PEER_IP, PEER_MAC],
      [PEER_IP, moved],
    ]);
  });

  test('someone claiming our address is counted, never learned', () => {
    const h = new Harness(baseConfig(), false);
    h.input(arpFrame(2, [OTHER_MAC, STACK_IP], [STACK_MAC, STACK_IP]));
    expect(h.stack.counters.arpConflict).toBe(1);
    expect(h.stack.neighbors()).toEqual([]);
  });

  test('resolution: request broadcast, datagrams queued (bounded), sent once the reply comes', async () => {
    const h = new Harness(baseConfig({ arp: { queuePerNeighbor: 2 } }), false);
    const u = h.stack.udpBind(7000);
    for (let i = 0; i < 3; i++) u.sendTo(new Uint8Array([i]), OTHER_IP, 9);
    h.poll();
    const out = h.out();
    expect(out.length).toBe(1);
    expect(out[0].ethDst).toBe('ff:ff:ff:ff:ff:ff');
    expect(out[0].arp).toEqual({ op: 1, senderHw: STACK_MAC, senderIp: STACK_IP, targetHw: 0, targetIp: OTHER_IP });
    expect(h.stack.counters.arpQueueDrop).toBe(1);
    h.input(arpFrame(2, [OTHER_MAC, OTHER_IP], [STACK_MAC, STACK_IP]));
    const sent = h.out();
    expect(sent.map((p) => [p.ethDst, p.udp?.dstPort, p.udp?.payload[0]])).toEqual([
      ['02:00:00:00:00:03', 9, 0],
      ['02:00:00:00:00:03', 9, 1],
    ]);
  });

  test('an address that never answers: three requests a second apart, then the queue is dropped', () => {
    const h = new Harness(baseConfig(), false);
    const u = h.stack.udpBind(7000);
    u.sendTo(new Uint8Array(4), OTHER_IP, 9);
    h.poll();
    expect(h.out().length).toBe(1);
    h.advance(999);
    expect(h.out()).toEqual([]);
    h.advance(1);
    expect(h.out().map((p) => p.arp?.targetIp)).toEqual([OTHER_IP]);
    h.advance(1000);
    expect(h.out().length).toBe(1);
    h.advance(1000);
    expect(h.out()).toEqual([]);
    expect(h.stack.counters.arpUnresolvedDrop).toBe(1);
    expect(h.stack.pollAt()).toBe(Infinity);
  });

  test('entries are re-confirmed by unicast request when stale, and forgotten when expired', () => {
    const h = new Harness(baseConfig({ arp: { reachableTime: 1000, entryTimeout: 3000 } }), false);
    h.input(arpFrame(1, [PEER_MAC, PEER_IP], [0, STACK_IP], MAC_BROADCAST));
    h.out();
    const u = h.stack.udpBind(7000);
    h.advance(1500);
    u.sendTo(new Uint8Array(1), PEER_IP, 9);
    h.poll();
    const out = h.out();
    expect(out.map((p) => [p.ethDst, p.arp ? 'arp' : 'udp'])).toEqual([
      ['02:00:00:00:00:02', 'arp'],
      ['02:00:00:00:00:02', 'udp'],
    ]);
    h.advance(2000);
    u.sendTo(new Uint8Array(1), PEER_IP, 9);
    h.poll();
    expect(h.out().map((p) => [p.ethDst, p.arp?.op])).toEqual([['ff:ff:ff:ff:ff:ff', 1]]);
  });

  test('addNeighbor (from another shard) is used, flushes the queue, and is not echoed to onNeighbor', () => {
    const seen: number[] = [];
    const h = new Harness(baseConfig({ onNeighbor: (ip) => seen.push(ip) }), false);
    const u = h.stack.udpBind(7000);
    u.sendTo(new Uint8Array(1), OTHER_IP, 9);
    h.poll();
    h.out();
    h.stack.addNeighbor(formatIpv4Addr(OTHER_IP), '02:00:00:00:00:03');
    expect(h.out().map((p) => p.ethDst)).toEqual(['02:00:00:00:00:03']);
    expect(seen).toEqual([]);
  });

  test('off-link destinations go through the gateway', () => {
    const h = new Harness(baseConfig(), false);
    h.stack.udpBind(7000).sendTo(new Uint8Array(1), '10.1.2.3', 9);
    h.poll();
    expect(h.out().map((p) => p.arp?.targetIp)).toEqual([GW_IP]);
    h.input(arpFrame(2, [OTHER_MAC, GW_IP], [STACK_MAC, STACK_IP]));
    const out = h.out();
    expect(out.map((p) => [p.ethDst, formatIpv4Addr(p.ip!.dst)])).toEqual([['02:00:00:00:00:03', '10.1.2.3']]);
  });

  test('no gateway: off-link is unreachable', async () => {
    const cfg: StackConfig = { ...baseConfig(), gateway: undefined };
    const h = new Harness(cfg);
    await expect(h.stack.tcpConnect('10.1.2.3', 80)).rejects.toMatchObject({ code: 'ENETUNREACH' });
    h.stack.udpBind(7000).sendTo(new Uint8Array(1), '10.1.2.3', 9);
    h.poll();
    expect(h.out()).toEqual([]);
    expect(h.stack.counters.ipNoRoute).toBe(1);
  });

  test('announce() sends a gratuitous ARP per address', () => {
    const h = new Harness();
    h.stack.announce();
    expect(h.out().map((p) => p.arp)).toEqual([{ op: 1, senderHw: STACK_MAC, senderIp: STACK_IP, targetHw: 0, targetIp: STACK_IP }]);
  });
});

describe('IPv4 and ICMP', () => {
  test('echo request -> echo reply with the same identifier, sequence and data', () => {
    const h = new Harness();
    const data = new Uint8Array(56).map((_, i) => i);
    h.input(ipFrame(IpProtocol.Icmp, echoRequest(0x1234, 7, data)));
    const [r] = h.out();
    expect(r.ethDst).toBe('02:00:00:00:00:02');
    expect(r.ip).toMatchObject({ src: STACK_IP, dst: PEER_IP, protocol: 1, ttl: 64, checksumOk: true });
    expect(r.icmp).toMatchObject({ type: 0, code: 0, rest: 0x12340007, checksumOk: true });
    expect(Array.from(r.icmp!.body)).toEqual(Array.from(data));
  });

  test('IPv4 options are skipped', () => {
    const h = new Harness();
    h.input(ipFrame(IpProtocol.Icmp, echoRequest(1, 1, new Uint8Array(8)), {}, { options: new Uint8Array([1, 1, 1, 0]) }));
    expect(h.out().map((p) => p.icmp?.type)).toEqual([0]);
  });

  test('bad header checksum: dropped and counted', () => {
    const h = new Harness();
    const f = ipFrame(IpProtocol.Icmp, echoRequest(1, 1, new Uint8Array(8)));
    f[14 + 10] ^= 0xff;
    h.input(f);
    expect(h.out()).toEqual([]);
    expect(h.stack.counters.ipBadChecksum).toBe(1);
  });

  test('a large fragmented ping is reassembled and answered in fragments', () => {
    const h = new Harness();
    const data = new Uint8Array(4000).map((_, i) => (i * 7) & 0xff);
    const frags = fragments(IpProtocol.Icmp, echoRequest(9, 9, data), 1480);
    expect(frags.length).toBe(3);
    // Out of order on purpose.
    for (const f of [frags[2], frags[0], frags[1]]) h.input(f);
    const out = h.out();
    expect(out.map((p) => [p.ip!.fragOffset, p.ip!.mf, p.ip!.payload.length])).toEqual([
      [0, true, 1480],
      [1480, true, 1480],
      [2960, false, 1048],
    ]);
    expect(new Set(out.map((p) => p.ip!.id)).size).toBe(1);
    const msg = reassemble(out);
    expect(msg[0]).toBe(0);
    expect(internetChecksum(msg, 0, msg.length)).toBe(0);
    expect(Array.from(msg.subarray(8))).toEqual(Array.from(data));
    expect(h.stack.counters.ipReassembled).toBe(1);
    expect(h.stack.counters.ipFragTx).toBe(3);
  });

  test('a 64 KiB ping (the largest there is) works; one byte more (ping of death) is dropped', () => {
    const h = new Harness(baseConfig({ reassembly: { maxBytes: 1 << 17 } }));
    const data = new Uint8Array(65535 - 20 - 8);
    for (const f of fragments(IpProtocol.Icmp, echoRequest(1, 2, data), 1480)) h.input(f);
    expect(reassemble(h.out()).length).toBe(65535 - 20);
    const evil = ipFrame(IpProtocol.Icmp, new Uint8Array(16), {}, { identification: 7, fragmentOffset: 65528, moreFragments: false });
    h.input(evil);
    expect(h.out()).toEqual([]);
    expect(h.stack.counters.ipFragDropped).toBe(1);
  });

  test('reassembly is bounded: concurrent datagrams, bytes, and a timeout', () => {
    const h = new Harness(baseConfig({ reassembly: { maxDatagrams: 2, maxBytes: 20000, timeout: 5000 } }));
    const first = (id: number) => fragments(IpProtocol.Icmp, echoRequest(id, 1, new Uint8Array(3000)), 1480, id)[0];
    h.input(first(1));
    h.input(first(2));
    h.input(first(3));
    expect(h.stack.counters.ipFragDropped).toBe(1);
    expect(h.stack.iface.reassembler.inProgress).toBe(2);
    h.advance(5000);
    expect(h.stack.counters.ipReassemblyTimeout).toBe(2);
    expect(h.stack.iface.reassembler.inProgress).toBe(0);
    expect(h.stack.iface.reassembler.bytesHeld).toBe(0);
    // A datagram bigger than the byte budget.
    for (const f of fragments(IpProtocol.Icmp, echoRequest(5, 1, new Uint8Array(30000)), 1480, 5)) h.input(f);
    expect(h.out()).toEqual([]);
    expect(h.stack.iface.reassembler.bytesHeld).toBeLessThanOrEqual(20000);
  });

  test('fragments that disagree about the end drop the datagram', () => {
    const h = new Harness();
    h.input(ipFrame(IpProtocol.Icmp, new Uint8Array(16), {}, { identification: 3, fragmentOffset: 0, moreFragments: true }));
    h.input(ipFrame(IpProtocol.Icmp, new Uint8Array(8), {}, { identification: 3, fragmentOffset: 16, moreFragments: false }));
    h.input(ipFrame(IpProtocol.Icmp, new Uint8Array(8), {}, { identification: 4, fragmentOffset: 16, moreFragments: false }));
    h.input(ipFrame(IpProtocol.Icmp, new Uint8Array(8), {}, { identification: 4, fragmentOffset: 8, moreFragments: false }));
    expect(h.stack.counters.ipFragDropped).toBe(1);
  });

  test('unknown protocol: ICMP protocol unreachable', () => {
    const h = new Harness();
    h.input(ipFrame(99, new Uint8Array(12)));
    const [r] = h.out();
    expect(r.icmp).toMatchObject({ type: 3, code: 2 });
  });

  test('ICMP errors are rate limited', () => {
    const h = new Harness(baseConfig({ icmp: { errorRate: 10, errorBurst: 2 } }));
    for (let i = 0; i < 5; i++) h.input(udpFrame(1, 9, new Uint8Array(1)));
    expect(h.out().length).toBe(2);
    expect(h.stack.counters.icmpRateLimited).toBe(3);
    h.advance(100);
    h.input(udpFrame(1, 9, new Uint8Array(1)));
    expect(h.out().length).toBe(1);
  });
});

describe('UDP', () => {
  test('bind, receive through recv(), reply with sendTo', async () => {
    const h = new Harness();
    const u = h.stack.udpBind(53);
    const r = u.recv();
    h.input(udpFrame(5353, 53, new Uint8Array([1, 2, 3])));
    const d = await r;
    expect(d).toMatchObject({ address: '198.18.0.2', port: 5353, addressNumber: PEER_IP });
    expect(Array.from(d.data)).toEqual([1, 2, 3]);
    expect(u.sendTo(new Uint8Array([4, 5]), d.address, d.port)).toBe(true);
    expect(h.stack.pollAt()).toBeLessThanOrEqual(h.now);
    h.poll();
    const [o] = h.out();
    expect(o.udp).toEqual({ srcPort: 53, dstPort: 5353, payload: new Uint8Array([4, 5]), checksumOk: true });
    expect(o.ip).toMatchObject({ src: STACK_IP, dst: PEER_IP, df: false });
  });

  test('closed port: ICMP port unreachable quoting the header and 8 bytes', () => {
    const h = new Harness();
    const f = udpFrame(5353, 54, new Uint8Array(20));
    h.input(f);
    const [r] = h.out();
    expect(r.icmp).toMatchObject({ type: 3, code: 3, rest: 0, checksumOk: true });
    expect(Array.from(r.icmp!.body)).toEqual(Array.from(f.subarray(14, 14 + 28)));
    expect(h.stack.counters.udpNoPort).toBe(1);
  });

  test('broadcast to a closed port: silence', () => {
    const h = new Harness();
    h.input(udpFrame(5353, 54, new Uint8Array(4), { dstIp: parseIpv4Addr('198.18.0.255') as number, dstMac: MAC_BROADCAST }));
    expect(h.out()).toEqual([]);
  });

  test('bad UDP checksum: dropped, counted', () => {
    const h = new Harness();
    h.stack.udpBind(53);
    const f = udpFrame(5353, 53, new Uint8Array([1, 2, 3]));
    f[f.length - 1] ^= 1;
    h.input(f);
    expect(h.stack.counters.udpBadChecksum).toBe(1);
  });

  test('a datagram larger than the MTU leaves in fragments', () => {
    const h = new Harness();
    const u = h.stack.udpBind(7000);
    const data = new Uint8Array(3000).map((_, i) => i & 0xff);
    u.sendTo(data, PEER_IP, 9);
    h.poll();
    const out = h.out();
    expect(out.map((p) => [p.ip!.fragOffset, p.ip!.mf])).toEqual([
      [0, true],
      [1480, true],
      [2960, false],
    ]);
    const l4 = reassemble(out);
    expect(Array.from(l4.subarray(8))).toEqual(Array.from(data));
  });

  test('the receive queue is bounded; close() rejects waiting receivers', async () => {
    const h = new Harness(baseConfig({ udp: { recvQueue: 2 } }));
    const u = h.stack.udpBind(53);
    for (let i = 0; i < 3; i++) h.input(udpFrame(5353, 53, new Uint8Array([i])));
    expect(h.stack.counters.udpRxQueueDrop).toBe(1);
    expect(u.pending).toBe(2);
    expect(u.tryRecv()?.data[0]).toBe(0);
    expect((await u.recv()).data[0]).toBe(1);
    const w = u.recv();
    u.close();
    await expect(w).rejects.toMatchObject({ code: 'ESOCKETCLOSED' });
    expect(() => h.stack.udpBind(53)).not.toThrow();
  });

  test('sendTo refuses oversize datagrams and a full send queue', () => {
    const h = new Harness(baseConfig({ udp: { sendQueue: 1 } }));
    const u = h.stack.udpBind(0);
    expect(u.port).toBeGreaterThanOrEqual(49152);
    expect(u.sendTo(new Uint8Array(65508), PEER_IP, 9)).toBe(false);
    expect(u.sendTo(new Uint8Array(1), PEER_IP, 9)).toBe(true);
    expect(u.sendTo(new Uint8Array(1), PEER_IP, 9)).toBe(false);
    expect(h.stack.counters.udpTxDrop).toBe(2);
  });
});

describe('classifier', () => {
  test('says which frames belong to the stack', async () => {
    const h = new Harness();
    const s = h.stack;
    const acc = (f: Uint8Array) => s.accepts(f, 0, f.length);
    s.tcpListen(80);
    s.udpBind(53);
    expect(acc(arpFrame(1, [PEER_MAC, PEER_IP], [0, STACK_IP], MAC_BROADCAST))).toBe(true);
    expect(acc(tcpFrame({ seq: 1, flags: 'SYN', dstPort: 80 }))).toBe(true);
    expect(acc(tcpFrame({ seq: 1, flags: 'SYN', dstPort: 81 }))).toBe(false);
    expect(acc(tcpFrame({ seq: 1, flags: 'SYN', dstPort: 80 }, { dstIp: OTHER_IP }))).toBe(false);
    expect(acc(tcpFrame({ seq: 1, flags: 'SYN', dstPort: 80 }, { dstMac: OTHER_MAC }))).toBe(false);
    expect(acc(udpFrame(1, 53, new Uint8Array(1)))).toBe(true);
    expect(acc(udpFrame(1, 54, new Uint8Array(1)))).toBe(false);
    expect(acc(udpFrame(1, 53, new Uint8Array(1), { dstIp: parseIpv4Addr('198.18.0.255') as number, dstMac: MAC_BROADCAST }))).toBe(true);
    expect(acc(ipFrame(IpProtocol.Icmp, echoRequest(1, 1, new Uint8Array(4))))).toBe(true);
    expect(acc(ipFrame(IpProtocol.Icmp, echoRequest(1, 1, new Uint8Array(4)), { dstIp: OTHER_IP }))).toBe(false);
    expect(acc(ipFrame(IpProtocol.Udp, new Uint8Array(8), {}, { identification: 1, fragmentOffset: 8 }))).toBe(true);
    expect(acc(new Uint8Array(10))).toBe(false);
    const v6 = tcpFrame({ seq: 1, flags: 'SYN', dstPort: 80 });
    v6[12] = 0x86;
    v6[13] = 0xdd;
    expect(acc(v6)).toBe(false);
    // An active connection's 4-tuple belongs to the stack too.
    const p = s.tcpConnect(PEER_IP, 443);
    h.poll();
    const syn = h.out()[0].tcp!;
    expect(acc(tcpFrame({ seq: 1, ack: syn.seq + 1, flags: 'SYN,ACK', srcPort: 443, dstPort: syn.srcPort }))).toBe(true);
    expect(acc(tcpFrame({ seq: 1, ack: syn.seq + 1, flags: 'SYN,ACK', srcPort: 444, dstPort: syn.srcPort }))).toBe(false);
    // Left half-open: the connect promise is never settled in this test.
    void p.catch(() => undefined);
  });

  test('frames to another MAC and VLAN-tagged frames are dropped by receive()', () => {
    const h = new Harness();
    h.input(ipFrame(IpProtocol.Icmp, echoRequest(1, 1, new Uint8Array(4)), { dstMac: OTHER_MAC }));
    const f = ipFrame(IpProtocol.Icmp, echoRequest(1, 1, new Uint8Array(4)));
    const tagged = new Uint8Array(f.length + 4);
    tagged.set(f.subarray(0, 12));
    tagged.set([0x81, 0x00, 0x00, 0x05], 12);
    tagged.set(f.subarray(12), 16);
    h.input(tagged);
    expect(h.out()).toEqual([]);
    expect(h.stack.counters.rxNotOurMac).toBe(1);
    expect(h.stack.counters.rxVlanTagged).toBe(1);
  });

  test('a Stack needs no reactor: it runs on receive/poll/pollAt alone', () => {
    const frames: Uint8Array[] = [];
    const s = new Stack(baseConfig(), { transmit: (f) => frames.push(f.slice()) });
    expect(s.pollAt()).toBe(Infinity);
    s.poll(0);
    expect(frames).toEqual([]);
  });
});
