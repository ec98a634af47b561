// Frames emitted by the net/wire Reprs, written to a pcap and dissected by tshark: its fields must
// match what we meant to write, and it must call every checksum good.

import {
  ArpOperation,
  ArpRepr,
  ArpView,
  EtherType,
  EthernetRepr,
  EthernetView,
  formatIpv4Addr,
  formatMac,
  IcmpRepr,
  IcmpType,
  IcmpUnreachableCode,
  IcmpView,
  IpProtocol,
  Ipv4Repr,
  Ipv4View,
  parseIpv4Addr,
  parseMac,
  TcpFlags,
  TcpRepr,
  TcpView,
  UdpRepr,
  UdpView,
  VlanTag,
  WireError,
} from '../../net/wire';
import { dissect, field, fieldAll, layer, TsharkLayers } from './pcap-fixture';

const MAC_A = parseMac('02:00:00:00:00:0a')!;
const MAC_B = parseMac('02:00:00:00:00:0b')!;
const IP_A = parseIpv4Addr('198.18.0.1')!;
const IP_B = parseIpv4Addr('198.19.0.2')!;

type Transport =
  | { kind: 'udp'; repr: UdpRepr; payload: Uint8Array; checksum?: boolean }
  | { kind: 'tcp'; repr: TcpRepr; payload: Uint8Array }
  | { kind: 'icmp'; repr: IcmpRepr }
  | { kind: 'raw'; payload: Uint8Array };

function ipFrame(vlans: VlanTag[], ipRepr: Omit<Ipv4Repr, 'payloadLength' | 'protocol'>, t: Transport): Uint8Array {
  const tlen =
    t.kind === 'udp' ? UdpRepr.bufferLen(t.repr)
    : t.kind === 'tcp' ? TcpRepr.bufferLen(t.repr)
    : t.kind === 'icmp' ? IcmpRepr.bufferLen(t.repr)
    : t.payload.length;
  const protocol = t.kind === 'udp' ? IpProtocol.Udp : t.kind === 'tcp' ? IpProtocol.Tcp : t.kind === 'icmp' ? IpProtocol.Icmp : IpProtocol.Udp;
  const er: EthernetRepr = { dst: MAC_B, src: MAC_A, etherType: EtherType.Ipv4, vlans };
  const ir: Ipv4Repr = { ...ipRepr, protocol, payloadLength: tlen };
  const frame = new Uint8Array(EthernetRepr.headerLen(er) + Ipv4Repr.headerLen(ir) + tlen);
  const eth = new EthernetView().wrap(frame);
  expect(EthernetRepr.emit(er, eth)).toBe(WireError.Ok);
  const ip = new Ipv4View().wrapPayloadOf(eth);
  expect(Ipv4Repr.emit(ir, ip)).toBe(WireError.Ok);
  expect(ip.check()).toBe(WireError.Ok);
  if (t.kind === 'udp') {
    const v = new UdpView().wrapPayloadOf(ip);
    expect(UdpRepr.emit(t.repr, v, ir.src, ir.dst, t.payload, { checksum: t.checksum })).toBe(WireError.Ok);
  } else if (t.kind === 'tcp') {
    const v = new TcpView().wrapPayloadOf(ip);
    expect(TcpRepr.emit(t.repr, v, ir.src, ir.dst, t.payload)).toBe(WireError.Ok);
    expect(v.check()).toBe(WireError.Ok);
  } else if (t.kind === 'icmp') {
    expect(IcmpRepr.emit(t.repr, new IcmpView().wrapPayloadOf(ip))).toBe(WireError.Ok);
  } else {
    frame.set(t.payload, ip.payloadOffset);
  }
  return frame;
}

function arpFrame(repr: ArpRepr): Uint8Array {
  const er: EthernetRepr = {
    dst: repr.operation === ArpOperation.Request ? 0xffffffffffff : repr.targetHw,
    src: repr.senderHw,
    etherType: EtherType.Arp,
    vlans: [],
  };
  const frame = new Uint8Array(60); // minimum frame size: the ARP packet is followed by padding
  const eth = new EthernetView().wrap(frame);
  expect(EthernetRepr.emit(er, eth)).toBe(WireError.Ok);
  expect(ArpRepr.emit(repr, new ArpView().wrapPayloadOf(eth))).toBe(WireError.Ok);
  return frame;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const base = { src: IP_A, dst: IP_B, ttl: 64 };

const udpRepr: UdpRepr = { srcPort: 5353, dstPort: 9999, payloadLength: 12 };
const synRepr: TcpRepr = {
  srcPort: 51000, dstPort: 443, seq: 0xfffffff0, ack: 0, flags: TcpFlags.SYN, window: 64240,
  mss: 1460, sackPermitted: true, timestamps: { tsVal: 3000000000, tsEcr: 0 }, windowScale: 7, payloadLength: 0,
};
const sack4Repr: TcpRepr = {
  srcPort: 443, dstPort: 51000, seq: 1, ack: 0x80000001, flags: TcpFlags.ACK | TcpFlags.PSH, window: 501,
  sackBlocks: [[1000, 2000], [3000, 4000], [5000, 6000], [4294967000, 100]], payloadLength: 5,
};
const tsSack3Repr: TcpRepr = {
  srcPort: 443, dstPort: 51000, seq: 77, ack: 88, flags: TcpFlags.ACK | TcpFlags.ECE | TcpFlags.CWR, window: 1,
  timestamps: { tsVal: 1, tsEcr: 0xffffffff }, sackBlocks: [[10, 20], [30, 40], [50, 60]], payloadLength: 0,
};
const urgRepr: TcpRepr = {
  srcPort: 1, dstPort: 2, seq: 99, ack: 7, flags: TcpFlags.FIN | TcpFlags.URG | TcpFlags.ACK, window: 1000,
  urgent: 3, windowScale: 14, payloadLength: 6,
};

function build(): { frames: Uint8Array[]; names: string[] } {
  const list: Array<[string, Uint8Array]> = [];
  const udpFrame = ipFrame([], { ...base, identification: 777, dontFragment: true },
    { kind: 'udp', repr: udpRepr, payload: text('hello tshark') });
  list.push(['udp', udpFrame]);
  list.push(['vlan-syn', ipFrame([{ tpid: 0x8100, pcp: 5, dei: 1, vid: 100 }], { ...base, dscp: 46, ecn: 1 },
    { kind: 'tcp', repr: synRepr, payload: new Uint8Array(0) })]);
  list.push(['qinq-sack4', ipFrame([{ tpid: 0x88a8, pcp: 3, dei: 0, vid: 200 }, { tpid: 0x8100, pcp: 0, dei: 0, vid: 300 }],
    base, { kind: 'tcp', repr: sack4Repr, payload: text('hello') })]);
  list.push(['ts-sack3', ipFrame([], base, { kind: 'tcp', repr: tsSack3Repr, payload: new Uint8Array(0) })]);
  list.push(['urg-fin', ipFrame([], base, { kind: 'tcp', repr: urgRepr, payload: text('urgent') })]);
  // Router Alert (RFC 2113) then a one-byte NOP: emit pads the 5 option bytes to 8 with EOL.
  list.push(['ip-options', ipFrame([], { ...base, options: new Uint8Array([0x94, 4, 0, 0, 1]) },
    { kind: 'udp', repr: { srcPort: 53, dstPort: 53, payloadLength: 4 }, payload: text('opts') })]);
  // A middle fragment: MF set, offset 1480, no transport header of its own.
  list.push(['fragment', ipFrame([], { ...base, identification: 4242, moreFragments: true, fragmentOffset: 1480 },
    { kind: 'raw', payload: new Uint8Array(64).fill(0x5a) })]);
  list.push(['echo', ipFrame([], base, {
    kind: 'icmp', repr: { kind: 'echo', type: IcmpType.EchoRequest, identifier: 0x1234, sequence: 7, data: text('abcdefgh12345678') },
  })]);
  // Port unreachable quoting the UDP datagram above (its header + 8 bytes).
  const quoted = new Ipv4View().wrapPayloadOf(new EthernetView().wrap(udpFrame));
  expect(quoted.check()).toBe(WireError.Ok);
  list.push(['port-unreachable', ipFrame([], { src: IP_B, dst: IP_A, ttl: 64 }, {
    kind: 'icmp',
    repr: { kind: 'error', type: IcmpType.DestUnreachable, code: IcmpUnreachableCode.PortUnreachable, rest: 0, original: IcmpRepr.originalOf(quoted) },
  })]);
  list.push(['arp-request', arpFrame({ operation: ArpOperation.Request, senderHw: MAC_A, senderIp: IP_A, targetHw: 0, targetIp: IP_B })]);
  list.push(['arp-reply', arpFrame({ operation: ArpOperation.Reply, senderHw: MAC_B, senderIp: IP_B, targetHw: MAC_A, targetIp: IP_A })]);
  list.push(['udp-no-checksum', ipFrame([], base,
    { kind: 'udp', repr: { srcPort: 1, dstPort: 2, payloadLength: 3 }, payload: text('abc'), checksum: false })]);

  // NAT rewrites with RFC 1624 updates only (no recomputation): tshark must still find them good.
  const natTcp = list.find(([n]) => n === 'qinq-sack4')![1].slice();
  {
    const eth = new EthernetView().wrap(natTcp);
    eth.check();
    const ip = new Ipv4View().wrapPayloadOf(eth);
    ip.check();
    const tcp = new TcpView().wrapPayloadOf(ip);
    tcp.check();
    const newSrc = parseIpv4Addr('203.0.113.9')!;
    tcp.adjustChecksum32(ip.rewriteSrc(newSrc), newSrc);
    tcp.rewriteDstPort(60001);
    ip.decrementTtl();
  }
  list.push(['nat-tcp', natTcp]);
  const natUdp = udpFrame.slice();
  {
    const ip = new Ipv4View().wrap(natUdp, 14);
    ip.check();
    const udp = new UdpView().wrapPayloadOf(ip);
    udp.check();
    const newDst = parseIpv4Addr('198.18.200.200')!;
    udp.adjustChecksum32(ip.rewriteDst(newDst), newDst);
    udp.rewriteSrcPort(40000);
  }
  list.push(['nat-udp', natUdp]);
  return { frames: list.map(([, f]) => f), names: list.map(([n]) => n) };
}

describe('frames we emit, dissected by tshark', () => {
  const { frames, names } = build();
  const dissected = dissect(frames);
  const byName = new Map<string, TsharkLayers>(names.map((n, i) => [n, dissected[i]]));
  const get = (n: string): TsharkLayers => byName.get(n)!;
  const hex = (n: number, w: number): string => '0x' + n.toString(16).padStart(w, '0');

  it('dissects every frame', () => {
    expect(dissected).toHaveLength(frames.length);
  });

  it.each(names.filter((n) => !n.startsWith('arp')))('%s: IPv4 header checksum is good', (n) => {
    expect(field(layer(get(n), 'ip'), 'ip.checksum.status')).toBe('1');
  });

  it.each(['udp', 'ip-options', 'nat-udp'])('%s: UDP checksum is good', (n) => {
    expect(field(layer(get(n), 'udp'), 'udp.checksum.status')).toBe('1');
  });

  it.each(['vlan-syn', 'qinq-sack4', 'ts-sack3', 'urg-fin', 'nat-tcp'])('%s: TCP checksum is good', (n) => {
    expect(field(layer(get(n), 'tcp'), 'tcp.checksum.status')).toBe('1');
    expect(fieldAll(get(n), '_ws.malformed')).toEqual([]);
  });

  it('UDP fields', () => {
    const f = get('udp');
    const ip = layer(f, 'ip');
    expect(field(ip, 'ip.src')).toBe('198.18.0.1');
    expect(field(ip, 'ip.dst')).toBe('198.19.0.2');
    expect(field(ip, 'ip.ttl')).toBe('64');
    expect(field(ip, 'ip.id')).toBe('0x0309');
    expect(field(ip, 'ip.flags.df')).toBe('1');
    expect(field(ip, 'ip.len')).toBe(String(20 + 8 + 12));
    const udp = layer(f, 'udp');
    expect(field(udp, 'udp.srcport')).toBe('5353');
    expect(field(udp, 'udp.dstport')).toBe('9999');
    expect(field(udp, 'udp.length')).toBe('20');
  });

  it('VLAN tags and a SYN with MSS, SACK-permitted, timestamps, window scale', () => {
    const f = get('vlan-syn');
    expect(field(layer(f, 'vlan'), 'vlan.id')).toBe('100');
    expect(field(layer(f, 'vlan'), 'vlan.priority')).toBe('5');
    expect(field(layer(f, 'vlan'), 'vlan.dei')).toBe('1');
    expect(field(layer(f, 'ip'), 'ip.dsfield.dscp')).toBe('46');
    expect(field(layer(f, 'ip'), 'ip.dsfield.ecn')).toBe('1');
    const tcp = layer(f, 'tcp');
    expect(field(tcp, 'tcp.srcport')).toBe('51000');
    expect(field(tcp, 'tcp.dstport')).toBe('443');
    expect(field(tcp, 'tcp.seq_raw')).toBe(String(0xfffffff0));
    expect(field(tcp, 'tcp.flags')).toBe('0x0002');
    expect(field(tcp, 'tcp.window_size_value')).toBe('64240');
    expect(field(tcp, 'tcp.hdr_len')).toBe('40');
    expect(field(tcp, 'tcp.options.mss_val')).toBe('1460');
    expect(field(tcp, 'tcp.options.sack_perm')).toBe('04:02');
    expect(field(tcp, 'tcp.options.timestamp.tsval')).toBe('3000000000');
    expect(field(tcp, 'tcp.options.timestamp.tsecr')).toBe('0');
    expect(field(tcp, 'tcp.options.wscale.shift')).toBe('7');
  });

  it('QinQ and four SACK blocks', () => {
    const f = get('qinq-sack4');
    expect(field(f, 'eth.type')).toBe('0x88a8');
    // tshark names the 802.1ad service tag apart from the 802.1Q customer tag.
    expect(field(layer(f, 'ieee8021ad'), 'ieee8021ad.id')).toBe('200');
    expect(field(layer(f, 'ieee8021ad'), 'ieee8021ad.priority')).toBe('3');
    expect(field(layer(f, 'vlan'), 'vlan.id')).toBe('300');
    const tcp = layer(f, 'tcp');
    expect(field(tcp, 'tcp.ack_raw')).toBe(String(0x80000001));
    expect(field(tcp, 'tcp.flags')).toBe('0x0018');
    expect(field(tcp, 'tcp.len')).toBe('5');
    expect(fieldAll(tcp, 'tcp.options.sack_le')).toEqual(['1000', '3000', '5000', '4294967000']);
    expect(fieldAll(tcp, 'tcp.options.sack_re')).toEqual(['2000', '4000', '6000', '100']);
  });

  it('timestamps with three SACK blocks, ECE and CWR', () => {
    const tcp = layer(get('ts-sack3'), 'tcp');
    expect(field(tcp, 'tcp.hdr_len')).toBe('60');
    expect(field(tcp, 'tcp.flags')).toBe('0x00d0');
    expect(field(tcp, 'tcp.options.timestamp.tsecr')).toBe(String(0xffffffff));
    expect(fieldAll(tcp, 'tcp.options.sack_le')).toEqual(['10', '30', '50']);
  });

  it('URG and FIN with an urgent pointer and window scale 14', () => {
    const tcp = layer(get('urg-fin'), 'tcp');
    expect(field(tcp, 'tcp.flags')).toBe('0x0031');
    expect(field(tcp, 'tcp.urgent_pointer')).toBe('3');
    expect(field(tcp, 'tcp.options.wscale.shift')).toBe('14');
    expect(field(tcp, 'tcp.len')).toBe('6');
  });

  it('IPv4 options', () => {
    const ip = layer(get('ip-options'), 'ip');
    expect(field(ip, 'ip.hdr_len')).toBe('28');
    expect(field(ip, 'ip.opt.ra')).toBe('0');
    expect(fieldAll(ip, 'ip.opt.type').length).toBeGreaterThanOrEqual(3); // RA, NOP, EOL
  });

  it('IPv4 fragment', () => {
    const ip = layer(get('fragment'), 'ip');
    expect(field(ip, 'ip.flags.mf')).toBe('1');
    expect(field(ip, 'ip.frag_offset')).toBe(String(1480 / 8)); // tshark 4.0 shows 8-byte units
    expect(field(ip, 'ip.id')).toBe(hex(4242, 4));
  });

  it('ICMP echo request', () => {
    const icmp = layer(get('echo'), 'icmp');
    expect(field(icmp, 'icmp.type')).toBe('8');
    expect(field(icmp, 'icmp.ident')).toBe('4660');
    expect(field(icmp, 'icmp.seq')).toBe('7');
    expect(field(icmp, 'icmp.checksum.status')).toBe('1');
  });

  it('ICMP port unreachable quoting a UDP header', () => {
    const icmp = layer(get('port-unreachable'), 'icmp');
    expect(field(icmp, 'icmp.type')).toBe('3');
    expect(field(icmp, 'icmp.code')).toBe('3');
    expect(field(icmp, 'icmp.checksum.status')).toBe('1');
    // The quoted datagram as tshark sees it inside the ICMP layer.
    expect(field(icmp, 'ip.src')).toBe('198.18.0.1');
    expect(field(icmp, 'ip.dst')).toBe('198.19.0.2');
    expect(field(icmp, 'ip.checksum.status')).toBe('1');
    expect(field(icmp, 'udp.srcport')).toBe('5353');
    expect(field(icmp, 'udp.dstport')).toBe('9999');
  });

  it('ARP request and reply', () => {
    const req = layer(get('arp-request'), 'arp');
    expect(field(req, 'arp.opcode')).toBe('1');
    expect(field(req, 'arp.src.hw_mac')).toBe(formatMac(MAC_A));
    expect(field(req, 'arp.src.proto_ipv4')).toBe('198.18.0.1');
    expect(field(req, 'arp.dst.proto_ipv4')).toBe('198.19.0.2');
    expect(field(get('arp-request'), 'eth.dst')).toBe('ff:ff:ff:ff:ff:ff');
    const rep = layer(get('arp-reply'), 'arp');
    expect(field(rep, 'arp.opcode')).toBe('2');
    expect(field(rep, 'arp.src.hw_mac')).toBe(formatMac(MAC_B));
    expect(field(rep, 'arp.dst.hw_mac')).toBe(formatMac(MAC_A));
  });

  it('UDP without checksum stays without', () => {
    expect(field(layer(get('udp-no-checksum'), 'udp'), 'udp.checksum')).toBe('0x0000');
  });

  it('NAT rewrites', () => {
    const t = get('nat-tcp');
    expect(field(layer(t, 'ip'), 'ip.src')).toBe('203.0.113.9');
    expect(field(layer(t, 'ip'), 'ip.ttl')).toBe('63');
    expect(field(layer(t, 'tcp'), 'tcp.dstport')).toBe('60001');
    const u = get('nat-udp');
    expect(field(layer(u, 'ip'), 'ip.dst')).toBe(formatIpv4Addr(parseIpv4Addr('198.18.200.200')!));
    expect(field(layer(u, 'udp'), 'udp.srcport')).toBe('40000');
  });
});
