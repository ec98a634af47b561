// The network interface: Ethernet in and out, ARP (answers, learning, resolution with a bounded
// queue), IPv4 (checks, reassembly, fragmentation, routing by prefix and gateway) and ICMP (echo,
// unreachable). UDP and TCP segments are handed to a Transport; it sends back through sendL4().

import {
  ARP_PACKET_LEN,
  ArpOperation,
  ArpView,
  ETHERNET_HEADER_LEN,
  EtherType,
  EthernetView,
  ICMP_HEADER_LEN,
  IcmpType,
  IcmpUnreachableCode,
  IcmpView,
  IpProtocol,
  IPV4_MIN_HEADER_LEN,
  Ipv4View,
  MAC_BROADCAST,
  TcpView,
  UdpView,
  WireError,
  internetChecksum,
  isIcmpError,
  writeMac,
} from '../../wire';
import { ResolvedConfig } from '../config';
import { StackCounters } from '../counters';
import { Device } from '../device';
import { EnqueueResult, Learned, NeighborTable, type NeighborCache } from '../../l3/neighbor';
import { Reassembler } from './reassembly';

/** Where transports write their header: after Ethernet and a 20-byte IPv4 header (we send no options). */
export const L4_OFFSET = ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN;
const MAX_IP_DATAGRAM = 0xffff;

/** What the interface hands segments to (the socket layer). Views are checked at the IP layer only. */
export interface Transport {
  /** `tcp` is wrapped over the IP payload, not yet checked. */
  tcpInput(ip: Ipv4View, tcp: TcpView): void;
  /** `udp` is wrapped over the IP payload and checked. Returns false when no socket has the port. */
  udpInput(ip: Ipv4View, udp: UdpView): boolean;
  /** For the classifier: is there a listener or a connection for this segment? */
  tcpAccepts(localIp: number, localPort: number, remoteIp: number, remotePort: number): boolean;
  udpAccepts(localPort: number): boolean;
}

export class Interface {
  /** Scratch frame transports build into: L4 at L4_OFFSET, room for the largest IPv4 datagram. */
  readonly txBuffer = new Uint8Array(ETHERNET_HEADER_LEN + MAX_IP_DATAGRAM);
  readonly mac: number;
  readonly mtu: number;
  readonly neighbors: NeighborCache;
  readonly reassembler: Reassembler;
  /** Time of the last receive() or poll() (ms); what API calls between them use as "now". */
  now = 0;
  transport: Transport | null = null;

  private readonly fragBuffer: Uint8Array;
  private readonly arpBuffer = new Uint8Array(ETHERNET_HEADER_LEN + ARP_PACKET_LEN);
  // One view per layer for input, others for output and the classifier: nothing allocates per packet.
  private readonly eth = new EthernetView();
  private readonly ip = new Ipv4View();
  private readonly arp = new ArpView();
  private readonly icmp = new IcmpView();
  private readonly udp = new UdpView();
  private readonly tcp = new TcpView();
  private readonly cEth = new EthernetView();
  private readonly cIp = new Ipv4View();
  private readonly cArp = new ArpView();
  private readonly cL4 = new UdpView();
  private readonly txIp = new Ipv4View();
  private readonly txIcmp = new IcmpView();
  private readonly arpView = new ArpView();
  private ipId: number;
  private icmpTokens: number;
  private icmpTokensAt = 0;

  constructor(
    private readonly cfg: ResolvedConfig,
    private readonly device: Device,
    readonly counters: StackCounters,
  ) {
    this.mac = cfg.mac;
    this.mtu = cfg.mtu;
    this.fragBuffer = new Uint8Array(ETHERNET_HEADER_LEN + cfg.mtu);
    this.neighbors = new NeighborTable<Uint8Array>(cfg.arp);
    this.reassembler = new Reassembler(cfg.reassembly, counters);
    this.ipId = Math.floor(cfg.random() * 0x10000) & 0xffff;
    this.icmpTokens = cfg.icmp.errorBurst;
  }

  // -------------------------------------------------------------------------------------------
  // Addresses and routes

  /** One of our unicast addresses. */
  isLocal(ip: number): boolean {
    const a = this.cfg.addresses;
    for (let i = 0; i < a.length; i++) if (a[i].address === ip) return true;
    return false;
  }

  /** Limited broadcast or the directed broadcast of one of our subnets. */
  isBroadcast(ip: number): boolean {
    if (ip === 0xffffffff) return true;
    const a = this.cfg.addresses;
    for (let i = 0; i < a.length; i++) if (a[i].prefix < 31 && a[i].broadcast === ip) return true;
    return false;
  }

  /** On one of our subnets. */
  isOnLink(ip: number): boolean {
    const a = this.cfg.addresses;
    for (let i = 0; i < a.length; i++) if (((ip & a[i].mask) >>> 0) === a[i].network) return true;
    return false;
  }

  /** Where a datagram to `dst` goes next: itself when on link, else the gateway; -1 for no route. */
  nextHop(dst: number): number {
    if (this.isOnLink(dst) || dst === 0xffffffff) return dst;
    if (this.cfg.gateway !== null && this.isOnLink(this.cfg.gateway)) return this.cfg.gateway;
    return -1;
  }

  /** Source address for datagrams to `dst`: the address of the subnet the next hop is on. */
  sourceFor(dst: number): number {
    const hop = this.nextHop(dst);
    const a = this.cfg.addresses;
    if (hop >= 0) for (let i = 0; i < a.length; i++) if (((hop & a[i].mask) >>> 0) === a[i].network) return a[i].address;
    return a[0].address;
  }

  /** Largest IP payload of one unfragmented datagram (no options). */
  get maxL4Payload(): number {
    return this.mtu - IPV4_MIN_HEADER_LEN;
  }

  // -------------------------------------------------------------------------------------------
  // Input

  /** Process one Ethernet frame. Never throws: hostile input is counted and dropped. */
  receive(frame: Uint8Array, offset: number, length: number, now: number): void {
    if (now > this.now) this.now = now;
    this.counters.rxFrames++;
    try {
      this.receiveFrame(frame, offset, length);
    } catch {
      // A parser bug must not take the shard down; tests assert this counter stays 0.
      this.counters.rxExceptions++;
    }
  }

  private receiveFrame(frame: Uint8Array, offset: number, length: number): void {
    const eth = this.eth.wrap(frame, offset, length);
    if (eth.check() !== WireError.Ok) {
      this.counters.rxBadEthernet++;
      return;
    }
    if (eth.vlanCount !== 0) {
      this.counters.rxVlanTagged++;
      return;
    }
    if (eth.dst !== this.mac && !eth.dstIsBroadcast) {
      this.counters.rxNotOurMac++;
      return;
    }
    const type = eth.etherType;
    if (type === EtherType.Ipv4) this.receiveIpv4(frame, eth.payloadOffset, eth.payloadLength);
    else if (type === EtherType.Arp) this.receiveArp(eth);
    else this.counters.rxUnknownEtherType++;
  }

  private receiveArp(eth: EthernetView): void {
    const arp = this.arp.wrapPayloadOf(eth);
    if (arp.check() !== WireError.Ok) {
      this.counters.arpBad++;
      return;
    }
    const op = arp.operation;
    if (op === ArpOperation.Request) this.counters.arpRxRequest++;
    else if (op === ArpOperation.Reply) this.counters.arpRxReply++;
    else {
      this.counters.arpBad++;
      return;
    }
    const senderIp = arp.senderIp;
    const senderHw = arp.senderHw;
    const targetIp = arp.targetIp;
    const forUs = this.isLocal(targetIp);
    if (this.isLocal(senderIp)) {
      // Someone claims our address (or our own frame came back): never learn it.
      if (senderHw !== this.mac) this.counters.arpConflict++;
      return;
    }
    // A sender of 0.0.0.0 is an RFC 5227 probe: answer it (defend the address), learn nothing.
    const learnable =
      senderIp !== 0 && this.isOnLink(senderIp) && !this.isBroadcast(senderIp) && senderHw !== MAC_BROADCAST &&
      (Math.floor(senderHw / 0x10000000000) & 1) === 0;
    // RFC 826 merge: refresh an entry we already have (this covers gratuitous ARP), but add one
    // only when the packet was meant for us.
    if (learnable && (forUs || this.neighbors.has(senderIp))) this.learn(senderIp, senderHw, true);
    if (forUs && op === ArpOperation.Request) {
      const buf = this.arpBuffer;
      const out = this.arpView.wrap(buf, ETHERNET_HEADER_LEN, ARP_PACKET_LEN);
      buf.set(arp.asBytes().subarray(0, ARP_PACKET_LEN), ETHERNET_HEADER_LEN);
      out.replyInPlace(this.mac);
      this.writeEthernet(buf, senderHw, EtherType.Arp);
      this.counters.arpTxReply++;
      this.transmit(buf);
    }
  }

  private receiveIpv4(bytes: Uint8Array, offset: number, length: number): void {
    const ip = this.ip.wrap(bytes, offset, length);
    if (ip.check() !== WireError.Ok) {
      this.counters.ipBadHeader++;
      return;
    }
    if (!ip.verifyChecksum()) {
      this.counters.ipBadChecksum++;
      return;
    }
    this.counters.ipRx++;
    const src = ip.src;
    const dst = ip.dst;
    const broadcast = this.isBroadcast(dst);
    if (!broadcast && !this.isLocal(dst)) {
      this.counters.ipNotForUs++;
      return;
    }
    if (src === 0 || src === 0xffffffff || src >>> 28 === 14 || this.isLocal(src) || this.isBroadcast(src)) {
      this.counters.ipBadSource++;
      return;
    }
    // RFC 1122 3.2.1.7: a host must not drop a datagram for its TTL; TTL matters to routers only.
    if (ip.isFragment) {
      if (broadcast) {
        this.counters.ipFragDropped++;
        return;
      }
      const whole = this.reassembler.add(ip, this.now);
      // Re-enter with the reassembled datagram; its header is rebuilt unfragmented, so this recurses once.
      if (whole !== null) this.receiveIpv4(whole, 0, whole.length);
      return;
    }
    switch (ip.protocol) {
      case IpProtocol.Tcp:
        if (broadcast) return;
        this.transport?.tcpInput(ip, this.tcp.wrapPayloadOf(ip));
        return;
      case IpProtocol.Udp: {
        const udp = this.udp.wrapPayloadOf(ip);
        if (udp.check() !== WireError.Ok) {
          this.counters.udpBad++;
          return;
        }
        if (!udp.verifyChecksum(ip)) {
          this.counters.udpBadChecksum++;
          return;
        }
        this.counters.udpRx++;
        if (this.transport !== null && this.transport.udpInput(ip, udp)) return;
        this.counters.udpNoPort++;
        if (!broadcast) this.sendIcmpError(ip, IcmpType.DestUnreachable, IcmpUnreachableCode.PortUnreachable);
        return;
      }
      case IpProtocol.Icmp:
        this.receiveIcmp(ip, broadcast);
        return;
      default:
        this.counters.ipUnknownProtocol++;
        if (!broadcast) this.sendIcmpError(ip, IcmpType.DestUnreachable, IcmpUnreachableCode.ProtocolUnreachable);
    }
  }

  private receiveIcmp(ip: Ipv4View, broadcast: boolean): void {
    const icmp = this.icmp.wrapPayloadOf(ip);
    if (icmp.check() !== WireError.Ok || !icmp.verifyChecksum()) {
      this.counters.icmpBad++;
      return;
    }
    this.counters.icmpRx++;
    const type = icmp.type;
    if (type === IcmpType.EchoRequest) {
      this.counters.icmpEchoRx++;
      // No replies to broadcast pings (RFC 1122 3.2.2.6 allows silence; it avoids smurf amplification).
      if (broadcast) return;
      const n = icmp.length;
      const out = this.txBuffer;
      const src = ip.bytes;
      const srcU8 = src instanceof Uint8Array ? src : new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
      out.set(srcU8.subarray(icmp.offset, icmp.offset + n), L4_OFFSET);
      const reply = this.txIcmp.wrap(out, L4_OFFSET, n);
      reply.echoToReplyInPlace();
      this.counters.icmpEchoReplyTx++;
      this.sendL4(ip.dst, ip.src, IpProtocol.Icmp, n, false);
    } else if (type === IcmpType.EchoReply) {
      this.counters.icmpEchoReplyRx++;
    } else if (isIcmpError(type)) {
      // Errors are counted only: TCP treats them as soft errors (RFC 5461) and path MTU discovery is not done.
      this.counters.icmpErrorRx++;
    }
  }

  /**
   * An ICMP error about `ip` (checked, addressed to us): its header and first 8 payload bytes
   * (RFC 792). Not for ICMP errors, fragments after the first, or martian sources (RFC 1122 3.2.2).
   */
  sendIcmpError(ip: Ipv4View, type: number, code: number): void {
    if (ip.fragmentOffset !== 0) return;
    if (ip.protocol === IpProtocol.Icmp) {
      const t = ip.payloadLength > 0 ? ip.getU8(ip.headerLength) : -1;
      if (t < 0 || isIcmpError(t)) return;
    }
    if (!this.takeIcmpToken()) {
      this.counters.icmpRateLimited++;
      return;
    }
    const quoted = ip.headerLength + Math.min(8, ip.payloadLength);
    const out = this.txBuffer;
    out.fill(0, L4_OFFSET, L4_OFFSET + ICMP_HEADER_LEN);
    out[L4_OFFSET] = type;
    out[L4_OFFSET + 1] = code;
    out.set(ip.copyOut(0, quoted), L4_OFFSET + ICMP_HEADER_LEN);
    const n = ICMP_HEADER_LEN + quoted;
    const cs = internetChecksum(out, L4_OFFSET, n);
    out[L4_OFFSET + 2] = cs >>> 8;
    out[L4_OFFSET + 3] = cs & 0xff;
    this.counters.icmpUnreachableTx++;
    this.sendL4(ip.dst, ip.src, IpProtocol.Icmp, n, false);
  }

  private takeIcmpToken(): boolean {
    const rate = this.cfg.icmp.errorRate;
    const elapsed = this.now - this.icmpTokensAt;
    if (elapsed > 0) {
      this.icmpTokens = Math.min(this.cfg.icmp.errorBurst, this.icmpTokens + (elapsed * rate) / 1000);
      this.icmpTokensAt = this.now;
    }
    if (this.icmpTokens < 1) return false;
    this.icmpTokens -= 1;
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Classifier

  /**
   * Is this frame for the stack? ARP for (or gratuitously from near) us, fragments and ICMP to us,
   * TCP/UDP to a port with a listener, socket or connection. Everything else belongs to the NF
   * pipeline. Reads headers in place with views of its own; allocates nothing.
   */
  accepts(frame: Uint8Array, offset: number, length: number): boolean {
    try {
      return this.classify(frame, offset, length);
    } catch {
      this.counters.rxExceptions++;
      return false;
    }
  }

  private classify(frame: Uint8Array, offset: number, length: number): boolean {
    const eth = this.cEth.wrap(frame, offset, length);
    if (eth.check() !== WireError.Ok || eth.vlanCount !== 0) return false;
    if (eth.dst !== this.mac && !eth.dstIsBroadcast) return false;
    const type = eth.etherType;
    if (type === EtherType.Arp) {
      const arp = this.cArp.wrapPayloadOf(eth);
      if (arp.check() !== WireError.Ok) return false;
      const target = arp.targetIp;
      return this.isLocal(target) || (arp.senderIp === target && this.neighbors.has(target));
    }
    if (type !== EtherType.Ipv4) return false;
    const ip = this.cIp.wrapPayloadOf(eth);
    if (ip.check() !== WireError.Ok) return false;
    const dst = ip.dst;
    if (!this.isLocal(dst)) {
      // Broadcast UDP to a bound port is ours too; the NF pipeline sees the rest.
      if (!this.isBroadcast(dst) || ip.protocol !== IpProtocol.Udp || ip.isFragment) return false;
    }
    if (ip.isFragment) return true;
    const t = this.transport;
    const l4 = this.cL4.wrapPayloadOf(ip);
    switch (ip.protocol) {
      case IpProtocol.Icmp:
        return true;
      case IpProtocol.Tcp:
        return t !== null && l4.length >= 20 && t.tcpAccepts(dst, l4.dstPort, ip.src, l4.srcPort);
      case IpProtocol.Udp:
        return t !== null && l4.checkHeader() === WireError.Ok && t.udpAccepts(l4.dstPort);
      default:
        return false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Output

  /**
   * Send the transport message already written at L4_OFFSET of txBuffer (`l4Length` bytes, its
   * checksum filled): add IPv4 and Ethernet, fragment beyond the MTU unless `dontFragment`, and
   * queue behind ARP if the next hop is unresolved. Returns false when dropped at once.
   */
  sendL4(src: number, dst: number, protocol: number, l4Length: number, dontFragment: boolean): boolean {
    const hop = this.nextHop(dst);
    if (hop < 0) {
      this.counters.ipNoRoute++;
      return false;
    }
    const ipLength = IPV4_MIN_HEADER_LEN + l4Length;
    if (ipLength > MAX_IP_DATAGRAM) {
      this.counters.ipTxTooBig++;
      return false;
    }
    const id = this.ipId;
    this.ipId = (this.ipId + 1) & 0xffff;
    this.counters.ipTx++;
    if (ipLength <= this.mtu) {
      const buf = this.txBuffer;
      this.writeIpv4(buf, src, dst, protocol, l4Length, id, dontFragment ? 2 : 0, 0);
      this.output(buf.subarray(0, ETHERNET_HEADER_LEN + ipLength), hop, EtherType.Ipv4);
      return true;
    }
    if (dontFragment) {
      this.counters.ipTxTooBig++;
      return false;
    }
    // RFC 791 fragmentation: every fragment but the last carries a multiple of 8 bytes.
    const chunk = (this.mtu - IPV4_MIN_HEADER_LEN) & ~7;
    const frag = this.fragBuffer;
    for (let off = 0; off < l4Length; off += chunk) {
      const n = Math.min(chunk, l4Length - off);
      const more = off + n < l4Length;
      frag.set(this.txBuffer.subarray(L4_OFFSET + off, L4_OFFSET + off + n), L4_OFFSET);
      this.writeIpv4(frag, src, dst, protocol, n, id, more ? 1 : 0, off);
      this.counters.ipFragTx++;
      this.output(frag.subarray(0, L4_OFFSET + n), hop, EtherType.Ipv4);
    }
    return true;
  }

  private writeIpv4(
    buf: Uint8Array,
    src: number,
    dst: number,
    protocol: number,
    payloadLength: number,
    id: number,
    flags: number,
    fragOffset: number,
  ): void {
    const v = this.txIp.wrap(buf, ETHERNET_HEADER_LEN, IPV4_MIN_HEADER_LEN + payloadLength);
    v.setU8(0, 0x45);
    v.tos = 0;
    v.totalLength = IPV4_MIN_HEADER_LEN + payloadLength;
    v.identification = id;
    v.setFragment(flags, fragOffset);
    v.ttl = this.cfg.ttl;
    v.protocol = protocol;
    v.src = src;
    v.dst = dst;
    v.fillChecksum();
  }

  private writeEthernet(buf: Uint8Array, dstMac: number, type: number): void {
    writeMac(buf, 0, dstMac);
    writeMac(buf, 6, this.mac);
    buf[12] = type >>> 8;
    buf[13] = type & 0xff;
  }

  /** Resolve the next hop, then transmit or park the frame until ARP answers. */
  private output(frame: Uint8Array, hop: number, type: number): void {
    let mac: number;
    if (this.isBroadcast(hop)) mac = MAC_BROADCAST;
    else {
      mac = this.neighbors.lookup(hop, this.now);
      if (mac >= 0 && this.neighbors.wantsRefresh(hop, this.now)) this.sendArpRequest(hop, mac);
    }
    this.writeEthernet(frame, mac < 0 ? 0 : mac, type);
    if (mac >= 0) {
      this.transmit(frame);
      return;
    }
    const r = this.neighbors.enqueue(hop, frame.slice(), this.now);
    if (r === EnqueueResult.Dropped) this.counters.arpQueueDrop++;
    else if (r === EnqueueResult.QueuedFirst) this.sendArpRequest(hop, MAC_BROADCAST);
  }

  private transmit(frame: Uint8Array): void {
    this.counters.txFrames++;
    this.device.transmit(frame);
  }

  /** Who-has `ip`, broadcast, or unicast to `mac` to re-confirm a known entry. */
  private sendArpRequest(ip: number, mac: number): void {
    const buf = this.arpBuffer;
    const arp = this.arpView.wrap(buf, ETHERNET_HEADER_LEN, ARP_PACKET_LEN);
    arp.fill(ArpOperation.Request, this.mac, this.sourceFor(ip), 0, ip);
    this.writeEthernet(buf, mac, EtherType.Arp);
    this.counters.arpTxRequest++;
    this.transmit(buf);
  }

  /** Gratuitous ARP for each of our addresses (announce after start, or after a MAC change). */
  announce(): void {
    for (const a of this.cfg.addresses) {
      const buf = this.arpBuffer;
      const arp = this.arpView.wrap(buf, ETHERNET_HEADER_LEN, ARP_PACKET_LEN);
      arp.fill(ArpOperation.Request, this.mac, a.address, 0, a.address);
      this.writeEthernet(buf, MAC_BROADCAST, EtherType.Arp);
      this.counters.arpTxRequest++;
      this.transmit(buf);
    }
  }

  /**
   * Record a neighbour and send what waited for it. `fromWire` entries are reported through
   * onNeighbor; entries shared by other shards (addNeighbor) are not, so shards do not echo them.
   */
  learn(ip: number, mac: number, fromWire: boolean): void {
    const learned = this.neighbors.update(ip, mac, this.now);
    const changed = learned === Learned.New || learned === Learned.Changed;
    if (changed && fromWire) {
      this.counters.arpLearned++;
      this.cfg.onNeighbor?.(ip, mac);
    }
    const frames = this.neighbors.takePending(ip);
    for (const f of frames) {
      writeMac(f, 0, mac);
      this.transmit(f);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  poll(now: number): void {
    if (now > this.now) this.now = now;
    if (this.neighbors.queuedItems > 0) {
      this.counters.arpUnresolvedDrop += this.neighbors.poll(now, (ip) => this.sendArpRequest(ip, MAC_BROADCAST));
    }
    if (this.reassembler.inProgress > 0) this.reassembler.poll(now);
  }

  pollAt(): number {
    const a = this.neighbors.queuedItems > 0 ? this.neighbors.pollAt() : Infinity;
    const b = this.reassembler.inProgress > 0 ? this.reassembler.pollAt() : Infinity;
    return Math.min(a, b);
  }
}
