// Test helpers for the stack: a scripted peer that builds frames with the wire Reprs, a harness that
// feeds them to one Stack and parses what comes out (smoltcp-style exact segment checks), a seeded PRNG.

import { Prng as WirePrng } from '../wire/prng';
import {
  ArpRepr,
  ArpView,
  ETHERNET_HEADER_LEN,
  EtherType,
  EthernetView,
  IcmpView,
  IpProtocol,
  Ipv4Repr,
  Ipv4View,
  TcpFlags,
  TcpRepr,
  TcpView,
  UdpView,
  WireError,
  formatMac,
  parseIpv4Addr,
  parseMac,
  writeMac,
} from '../../net/wire';
import { Stack, StackConfig } from '../../net/stack';

export const STACK_MAC = parseMac('02:00:00:00:00:01') as number;
export const PEER_MAC = parseMac('02:00:00:00:00:02') as number;
export const STACK_IP = parseIpv4Addr('198.18.0.1') as number;
export const PEER_IP = parseIpv4Addr('198.18.0.2') as number;
export const PEER_PORT = 40000;
export const T0 = 1000;

/** mulberry32 (test/wire/prng.ts) with the draws the stack tests use: [0, 1) and 4-bytes-per-draw fills. */
export class Prng extends WirePrng {
  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 0x100000000;
  }
  override bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    // Four bytes per draw; stores past the end of a typed array are ignored.
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      b[i] = v;
      b[i + 1] = v >>> 8;
      b[i + 2] = v >>> 16;
      b[i + 3] = v >>> 24;
    }
    return b;
  }
}

/** Let promise continuations (accept(), read(), user loops) run. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function flagNames(f: number): string {
  const names: string[] = [];
  if (f & TcpFlags.SYN) names.push('SYN');
  if (f & TcpFlags.FIN) names.push('FIN');
  if (f & TcpFlags.RST) names.push('RST');
  if (f & TcpFlags.PSH) names.push('PSH');
  if (f & TcpFlags.ACK) names.push('ACK');
  return names.join(',');
}

function flagBits(names: string): number {
  let f = 0;
  for (const n of names.split(',').map((x) => x.trim()).filter((x) => x.length > 0)) {
    const bit = (TcpFlags as unknown as Record<string, number>)[n];
    if (bit === undefined) throw new Error(`unknown flag ${n}`);
    f |= bit;
  }
  return f;
}

/** A segment as tests write and read it. Absent option keys mean "option absent". */
export interface Seg {
  seq: number;
  ack?: number;
  flags: string;
  window?: number;
  mss?: number;
  ws?: number;
  sackPerm?: boolean;
  ts?: [number, number];
  sack?: Array<[number, number]>;
  /** Payload length (output) ... */
  len?: number;
  /** ... and, on input, the payload itself (defaults to `len` bytes of 'x'). */
  data?: Uint8Array;
  srcPort?: number;
  dstPort?: number;
}

export interface Addr {
  srcMac?: number;
  dstMac?: number;
  srcIp?: number;
  dstIp?: number;
}

/** Ethernet + IPv4 header around an L4 payload, checksum filled. */
export function ipFrame(
  protocol: number,
  l4: Uint8Array,
  a: Addr = {},
  ip: Partial<Ipv4Repr> = {},
): Uint8Array {
  const repr: Ipv4Repr = {
    src: a.srcIp ?? PEER_IP,
    dst: a.dstIp ?? STACK_IP,
    protocol,
    payloadLength: l4.length,
    ttl: 64,
    ...ip,
  };
  const hl = Ipv4Repr.headerLen(repr);
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + hl + l4.length);
  writeMac(frame, 0, a.dstMac ?? STACK_MAC);
  writeMac(frame, 6, a.srcMac ?? PEER_MAC);
  frame[12] = 0x08;
  frame[13] = 0x00;
  const v = new Ipv4View().wrap(frame, ETHERNET_HEADER_LEN, hl + l4.length);
  if (Ipv4Repr.emit(repr, v) !== WireError.Ok) throw new Error('ipv4 emit');
  frame.set(l4, ETHERNET_HEADER_LEN + hl);
  return frame;
}

export function tcpFrame(s: Seg, a: Addr = {}): Uint8Array {
  const data = s.data ?? new Uint8Array(s.len ?? 0).fill(0x78);
  const repr: TcpRepr = {
    srcPort: s.srcPort ?? PEER_PORT,
    dstPort: s.dstPort ?? 80,
    seq: s.seq >>> 0,
    ack: (s.ack ?? 0) >>> 0,
    flags: flagBits(s.flags),
    window: s.window ?? 65535,
    mss: s.mss ?? null,
    windowScale: s.ws ?? null,
    sackPermitted: s.sackPerm ?? false,
    sackBlocks: s.sack ?? [],
    timestamps: s.ts ? { tsVal: s.ts[0], tsEcr: s.ts[1] } : null,
    payloadLength: data.length,
  };
  const l4 = new Uint8Array(TcpRepr.bufferLen(repr));
  const src = a.srcIp ?? PEER_IP;
  const dst = a.dstIp ?? STACK_IP;
  if (TcpRepr.emit(repr, new TcpView().wrap(l4), src, dst, data) !== WireError.Ok) throw new Error('tcp emit');
  return ipFrame(IpProtocol.Tcp, l4, a);
}

export function udpFrame(srcPort: number, dstPort: number, data: Uint8Array, a: Addr = {}): Uint8Array {
  const l4 = new Uint8Array(8 + data.length);
  const v = new UdpView().wrap(l4);
  v.srcPort = srcPort;
  v.dstPort = dstPort;
  v.udpLength = l4.length;
  l4.set(data, 8);
  v.fillChecksum(a.srcIp ?? PEER_IP, a.dstIp ?? STACK_IP);
  return ipFrame(IpProtocol.Udp, l4, a);
}

export function arpFrame(op: number, sender: [number, number], target: [number, number], ethDst = STACK_MAC, ethSrc?: number): Uint8Array {
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + 28);
  writeMac(frame, 0, ethDst);
  writeMac(frame, 6, ethSrc ?? sender[0]);
  frame[12] = 0x08;
  frame[13] = 0x06;
  ArpRepr.emit(
    { operation: op, senderHw: sender[0], senderIp: sender[1], targetHw: target[0], targetIp: target[1] },
    new ArpView().wrap(frame, ETHERNET_HEADER_LEN, 28),
  );
  return frame;
}

/** Everything a test wants to know about a frame the stack sent. */
export interface Parsed {
  ethDst: string;
  ethSrc: string;
  etherType: number;
  raw: Uint8Array;
  ip?: { src: number; dst: number; protocol: number; ttl: number; id: number; df: boolean; mf: boolean; fragOffset: number; payload: Uint8Array; checksumOk: boolean };
  tcp?: Seg & { srcPort: number; dstPort: number; payload: Uint8Array; checksumOk: boolean };
  udp?: { srcPort: number; dstPort: number; payload: Uint8Array; checksumOk: boolean };
  icmp?: { type: number; code: number; rest: number; body: Uint8Array; checksumOk: boolean };
  arp?: { op: number; senderHw: number; senderIp: number; targetHw: number; targetIp: number };
}

export function parseFrame(raw: Uint8Array): Parsed {
  const eth = new EthernetView().wrap(raw);
  if (eth.check() !== WireError.Ok) throw new Error('stack sent a bad Ethernet frame');
  const out: Parsed = { ethDst: formatMac(eth.dst), ethSrc: formatMac(eth.src), etherType: eth.etherType, raw };
  if (eth.etherType === EtherType.Arp) {
    const a = new ArpView().wrapPayloadOf(eth);
    if (a.check() !== WireError.Ok) throw new Error('stack sent a bad ARP packet');
    out.arp = { op: a.operation, senderHw: a.senderHw, senderIp: a.senderIp, targetHw: a.targetHw, targetIp: a.targetIp };
    return out;
  }
  const ip = new Ipv4View().wrapPayloadOf(eth);
  if (ip.check() !== WireError.Ok) throw new Error('stack sent a bad IPv4 header');
  out.ip = {
    src: ip.src,
    dst: ip.dst,
    protocol: ip.protocol,
    ttl: ip.ttl,
    id: ip.identification,
    df: ip.dontFragment,
    mf: ip.moreFragments,
    fragOffset: ip.fragmentOffset,
    payload: ip.copyOut(ip.headerLength, ip.payloadLength),
    checksumOk: ip.verifyChecksum(),
  };
  if (ip.isFragment) return out;
  if (ip.protocol === IpProtocol.Tcp) {
    const t = new TcpView().wrapPayloadOf(ip);
    const r = TcpRepr.parse(t, ip.src, ip.dst, { checksum: false });
    if (typeof r === 'number') throw new Error(`stack sent a bad TCP segment (${r})`);
    const seg: Seg & { srcPort: number; dstPort: number; payload: Uint8Array; checksumOk: boolean } = {
      seq: r.seq,
      flags: flagNames(r.flags),
      window: r.window,
      len: r.payloadLength,
      srcPort: r.srcPort,
      dstPort: r.dstPort,
      payload: t.copyOut(t.headerLength, t.payloadLength),
      checksumOk: t.verifyChecksum(ip),
    };
    if (r.flags & TcpFlags.ACK) seg.ack = r.ack;
    if (r.mss != null) seg.mss = r.mss;
    if (r.windowScale != null) seg.ws = r.windowScale;
    if (r.sackPermitted) seg.sackPerm = true;
    if (r.timestamps) seg.ts = [r.timestamps.tsVal, r.timestamps.tsEcr];
    if (r.sackBlocks && r.sackBlocks.length > 0) seg.sack = r.sackBlocks;
    out.tcp = seg;
  } else if (ip.protocol === IpProtocol.Udp) {
    const u = new UdpView().wrapPayloadOf(ip);
    if (u.check() !== WireError.Ok) throw new Error('stack sent a bad UDP datagram');
    out.udp = { srcPort: u.srcPort, dstPort: u.dstPort, payload: u.copyOut(8, u.payloadLength), checksumOk: u.verifyChecksum(ip) };
  } else if (ip.protocol === IpProtocol.Icmp) {
    const c = new IcmpView().wrapPayloadOf(ip);
    if (c.check() !== WireError.Ok) throw new Error('stack sent a bad ICMP message');
    out.icmp = { type: c.type, code: c.code, rest: c.restOfHeader, body: c.copyOut(8, c.payloadLength), checksumOk: c.verifyChecksum() };
  }
  return out;
}

/** The fields an exact-segment assertion compares (no ports, payload bytes or checksum flag). */
export function segOf(p: Parsed): Seg {
  if (!p.tcp) throw new Error(`expected a TCP segment, got ethertype ${p.etherType} protocol ${p.ip?.protocol}`);
  const { payload: _payload, checksumOk, srcPort: _s, dstPort: _d, ...seg } = p.tcp;
  if (!checksumOk) throw new Error('bad TCP checksum in output');
  if (!p.ip?.checksumOk) throw new Error('bad IPv4 checksum in output');
  if (seg.len === 0) delete seg.len;
  return seg;
}

export function baseConfig(over: Partial<StackConfig> = {}): StackConfig {
  return {
    mac: STACK_MAC,
    addresses: [{ address: STACK_IP, prefix: 24 }],
    gateway: '198.18.0.254',
    ...over,
    tcp: {
      sendBuffer: 65536,
      recvBuffer: 16384,
      windowScale: false,
      sack: false,
      timestamps: false,
      initialSequence: () => 1000,
      chooseSourcePort: () => 50000,
      ...over.tcp,
    },
  };
}

/** One stack, a scripted peer, and a clock the test moves. */
export class Harness {
  readonly stack: Stack;
  readonly sent: Uint8Array[] = [];
  now = T0;

  constructor(config: StackConfig = baseConfig(), learnPeer = true) {
    this.stack = new Stack(config, { transmit: (f) => this.sent.push(f.slice()) });
    if (learnPeer) this.stack.addNeighbor(PEER_IP, PEER_MAC);
  }

  /** Deliver a frame now, then poll as the reactor would. */
  input(frame: Uint8Array): void {
    this.stack.receive(frame, 0, frame.length, this.now);
    this.poll();
  }

  tcp(s: Seg, a: Addr = {}): void {
    this.input(tcpFrame(s, a));
  }

  poll(): void {
    for (let i = 0; i < 8 && this.stack.pollAt() <= this.now; i++) this.stack.poll(this.now);
  }

  /** Move the clock by `ms` in steps that stop at every deadline the stack asks for. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const at = this.stack.pollAt();
      if (at > end) break;
      this.now = Math.max(this.now, at);
      this.stack.poll(this.now);
    }
    this.now = end;
    this.poll();
  }

  /** Frames sent since the last call, parsed. */
  out(): Parsed[] {
    return this.sent.splice(0).map(parseFrame);
  }

  /** TCP segments sent since the last call, as Seg for toEqual(). */
  segs(): Seg[] {
    return this.out().map(segOf);
  }

  /** Run promise continuations, then poll (user code may have written). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await tick();
      this.poll();
    }
  }
}
