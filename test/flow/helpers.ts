// Flow-layer test fixtures: IPv4 frames built with the wire Reprs (checksums filled), Packet objects over
// plain ArrayBuffers laid out like pool chunks, and a PacketSink that records sends/drops and checks holds.
import { Packet } from '../../net/packet';
import {
  EthernetRepr, EthernetView, EtherType, IcmpRepr, IcmpView, Ipv4Repr, Ipv4View, TcpRepr, TcpView, UdpRepr, UdpView,
} from '../../net/wire';
import type { PacketSink } from '../../net/flow';
import { parseIp } from '../../net/flow';

export const MAC_A = 0x020000000001;
export const MAC_B = 0x020000000002;

export interface FrameSpec {
  proto?: 'udp' | 'tcp' | 'icmp';
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** TCP */
  flags?: number;
  seq?: number;
  ack?: number;
  window?: number;
  payload?: Uint8Array;
  ttl?: number;
  /** ICMP echo: type 8/0 with id = sport */
  icmpType?: number;
  icmpCode?: number;
  /** ICMP error body (the quoted datagram, IP header first) */
  quoted?: Uint8Array;
  srcMac?: number;
  dstMac?: number;
}

export function ip(s: string): number {
  const v = parseIp(s);
  if (v === null) throw new Error(`bad ip ${s}`);
  return v;
}

/** An Ethernet + IPv4 + L4 frame with correct checksums. */
export function frame(s: FrameSpec): Uint8Array {
  const proto = s.proto ?? 'udp';
  const payload = s.payload ?? new Uint8Array(0);
  let l4len: number;
  if (proto === 'udp') l4len = 8 + payload.length;
  else if (proto === 'tcp') l4len = 20 + payload.length;
  else l4len = 8 + (s.quoted ? s.quoted.length : payload.length);
  const buf = new Uint8Array(14 + 20 + l4len);
  const eth = new EthernetView().wrap(buf);
  EthernetRepr.emit({ dst: s.dstMac ?? MAC_B, src: s.srcMac ?? MAC_A, etherType: EtherType.Ipv4, vlans: [] }, eth);
  const v4 = new Ipv4View().wrap(buf, 14);
  const src = ip(s.src), dst = ip(s.dst);
  Ipv4Repr.emit({ src, dst, protocol: proto === 'udp' ? 17 : proto === 'tcp' ? 6 : 1, payloadLength: l4len, ttl: s.ttl ?? 64 }, v4);
  if (proto === 'udp') UdpRepr.emit({ srcPort: s.sport ?? 1000, dstPort: s.dport ?? 2000, payloadLength: payload.length }, new UdpView().wrap(buf, 34), src, dst, payload);
  else if (proto === 'tcp')
    TcpRepr.emit({ srcPort: s.sport ?? 1000, dstPort: s.dport ?? 80, seq: s.seq ?? 0, ack: s.ack ?? 0, flags: s.flags ?? 0x02, window: s.window ?? 65535, payloadLength: payload.length }, new TcpView().wrap(buf, 34), src, dst, payload);
  else {
    const type = s.icmpType ?? 8;
    const icmp = new IcmpView().wrap(buf, 34);
    if (s.quoted) IcmpRepr.emit({ kind: 'error', type, code: s.icmpCode ?? 3, rest: 0, original: s.quoted }, icmp);
    else IcmpRepr.emit({ kind: 'echo', type: type as 8 | 0, identifier: s.sport ?? 1, sequence: 1, data: payload }, icmp);
  }
  return buf;
}

/** The IPv4 datagram of a frame (for quoting in an ICMP error), cut to header + `l4bytes`. */
export function quote(f: Uint8Array, l4bytes = 8): Uint8Array {
  return f.slice(14, 14 + 20 + l4bytes);
}

let nextSlot = 1;
const HEADROOM = 128;

/** A Packet over its own buffer (chunk-like: headroom, then the frame). */
export function packet(bytes: Uint8Array, port = 0): Packet {
  const buf = new ArrayBuffer(2048 + HEADROOM);
  const u8 = new Uint8Array(buf);
  u8.set(bytes, HEADROOM);
  const p = new Packet();
  p.slot = nextSlot++;
  p.bytes = u8;
  p.view = new DataView(buf);
  p.bufStart = 0;
  p.bufLen = buf.byteLength;
  p.offset = HEADROOM;
  p.length = bytes.length;
  p.port = port;
  return p;
}

/** Packets laid out in one shared buffer, like mbufs of one pool chunk (views over it never re-allocate). */
export function packetsInOneChunk(frames: Uint8Array[], port = 0): Packet[] {
  const stride = 2048 + HEADROOM;
  const buf = new ArrayBuffer(stride * frames.length);
  const u8 = new Uint8Array(buf), dv = new DataView(buf);
  return frames.map((f, i) => {
    const p = new Packet();
    p.slot = nextSlot++;
    p.bytes = u8;
    p.view = dv;
    p.bufStart = i * stride;
    p.bufLen = stride;
    p.offset = i * stride + HEADROOM;
    p.length = f.length;
    p.port = port;
    u8.set(f, p.offset);
    return p;
  });
}

export interface Sent { slot: number; port: number; data: Uint8Array }

/** Records what the flow layer sends and drops; holds work like the shard's handle table. */
export class FakeSink implements PacketSink {
  readonly sent: Sent[] = [];
  readonly dropped: number[] = [];
  readonly heldBySlot = new Map<number, Packet>();
  holds = 0;

  hold(pkt: Packet): Packet {
    const h = pkt.copyTo(new Packet());
    if (this.heldBySlot.has(h.slot)) throw new Error(`slot ${h.slot} held twice`);
    this.heldBySlot.set(h.slot, h);
    this.holds++;
    return h;
  }
  private release(pkt: Packet): void {
    const h = this.heldBySlot.get(pkt.slot);
    if (h !== undefined) {
      if (h !== pkt) throw new Error(`slot ${pkt.slot} released through a packet object that is not its handle`);
      this.heldBySlot.delete(pkt.slot);
    }
  }
  send(pkt: Packet, port: number): void {
    this.release(pkt);
    this.sent.push({ slot: pkt.slot, port, data: pkt.bytes.slice(pkt.offset, pkt.offset + pkt.length) });
  }
  drop(pkt: Packet): void {
    this.release(pkt);
    this.dropped.push(pkt.slot);
  }
  /** Applies an onPacket verdict the way the shard does for the flyweight. */
  verdict(pkt: Packet, v: number): void {
    if (v >= 0) this.send(pkt, v);
    else if (v === -1) this.drop(pkt);
  }
}

/** Resolves after the microtask queue has drained a few times (handlers chained over awaits). */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
