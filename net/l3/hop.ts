// The L3 hop of NF apps (ovs-nat, the load balancer) on net/wire: answers ARP for its own addresses, resolves
// next hops (ARP requests with retries, waiters, background refresh) in the neighbour table it shares with the
// TCP/IP stack (net/l3/neighbor.ts), answers pings to itself, and rewrites MACs and TTL of forwarded packets.
// Not a stack: no fragments, no ICMP errors of its own.
import type { Packet } from '../packet';
import { ArpView, ArpOperation } from '../wire/arp';
import { checksumUpdate16, sumAt } from '../wire/checksum';
import { WireError } from '../wire/view';
import type { PacketInfo } from '../flow';
import { Verdict } from '../app';
import { EnqueueResult, Learned, Neighbor, NeighborTable } from './neighbor';

export interface L3Port {
  /** port index */
  port: number;
  ip: number;
  mask: number;
  /** 0 = none */
  gateway: number;
  mac: number;
  /** more addresses this hop answers ARP (and pings) for on the port, e.g. a load balancer's VIPs */
  extra?: number[];
}

/** What the L3 hop needs from the shard. */
export interface L3Io {
  /** a fresh packet (data length 0) from the shard's pool, or null when the pool is empty */
  alloc(): Packet | null;
  send(pkt: Packet, port: number): void;
  drop(pkt: Packet): void;
}

export interface L3Options {
  retryMs: number;
  tries: number;
  refreshMs: number;
  maxWaiting: number;
}

/** A neighbour entry (net/l3/neighbor.ts): updated in place, so a connection may keep the reference. */
export { Neighbor };

/** What waits for a neighbour: the callback of a held packet's resolve(). */
type Waiter = (ok: boolean) => void;

export const L3_COUNTERS = [
  'arpRequestsIn', 'arpRepliesOut', 'arpRepliesIn', 'arpRequestsOut', 'arpIgnored', 'arpFailed', 'arpWaitFull', 'allocFailed',
  'echoReplies', 'ttlExceeded', 'nonIpDropped',
  /** packets given up because their next hop did not resolve: all waiting at the failure, and those after it (failHold) */
  'arpGaveUp',
] as const;

const TWO32 = 0x100000000;

export class L3 {
  readonly c: Record<(typeof L3_COUNTERS)[number], number>;
  private readonly ports: (L3Port | undefined)[] = [];
  private readonly ours = new Map<number, number>();
  private readonly table: NeighborTable<Waiter>;
  private readonly arp = new ArpView();
  private readonly refreshPeriod: number;
  /** port MACs as 16/32-bit halves, for the per-packet rewrite */
  private readonly macHi: Int32Array;
  private readonly macLo: Float64Array;
  now = 0;
  /** called when a neighbor is learned from the wire (to tell the other shards) */
  onLearn: ((ip: number, mac: number, port: number) => void) | null = null;
  /** called when a known neighbor's MAC or port changes (copies of it, e.g. offloaded flows, are stale) */
  onChange: (() => void) | null = null;

  constructor(ports: L3Port[], private readonly io: L3Io, private readonly o: L3Options) {
    this.refreshPeriod = o.refreshMs;
    // Entries stay until replaced (connections hold references); a failed address fails fast for one retry
    // interval, so a flow's queued packets are all given up with the first (issue 9: not one per ARP cycle).
    this.table = new NeighborTable<Waiter>({
      entryTimeout: Infinity, reachableTime: o.refreshMs, retryInterval: o.retryMs, maxRequests: o.tries,
      queuePerNeighbor: o.maxWaiting, queueTotal: Infinity, cacheSize: Infinity, failHoldMs: o.retryMs,
    });
    const c = {} as Record<(typeof L3_COUNTERS)[number], number>;
    for (const k of L3_COUNTERS) c[k] = 0;
    this.c = c;
    const n = Math.max(...ports.map((p) => p.port)) + 1;
    this.macHi = new Int32Array(n);
    this.macLo = new Float64Array(n);
    for (const p of ports) {
      this.ports[p.port] = p;
      this.ours.set(p.ip >>> 0, p.port);
      for (const e of p.extra ?? []) this.ours.set(e >>> 0, p.port);
      this.macHi[p.port] = Math.floor(p.mac / TWO32);
      this.macLo[p.port] = p.mac % TWO32;
    }
  }

  /** Whether `ip` is one of this hop's addresses (on any port). */
  isOurs(ip: number): boolean {
    return this.ours.has(ip >>> 0);
  }

  /** The MAC of one of our ports (48-bit number). */
  portMac(port: number): number {
    return this.macHi[port] * TWO32 + this.macLo[port];
  }

  /** The neighbor refresh period (ms): packets through writeL2 re-resolve a learned neighbor this often. */
  get refreshMs(): number {
    return this.o.refreshMs;
  }

  /** Adds an address answered on `port` (e.g. a VIP added at runtime). */
  addAddress(ip: number, port: number): void {
    this.ours.set(ip >>> 0, port);
  }

  addStatic(ip: number, mac: number, port: number): void {
    this.table.addStatic(ip, mac, port);
  }

  /** Learns (or refreshes) a neighbor, e.g. from another shard; static entries stay. */
  learn(ip: number, mac: number, port: number): void {
    const r = this.table.update(ip, mac, this.now, port);
    if (r === Learned.Static) return;
    if (r === Learned.Changed && this.onChange !== null) this.onChange();
    const waiters = this.table.takePending(ip);
    for (const w of waiters) w(true);
  }

  /** The neighbor entry, or null when unknown (resolve() it). Keep the reference: it stays current. */
  neighbor(ip: number): Neighbor | null {
    return this.table.get(ip);
  }

  /** The neighbor's MAC, or -1. */
  macOf(ip: number): number {
    const e = this.table.get(ip);
    return e === null ? -1 : e.mac;
  }

  /** Next hop for `dst` leaving on `port`: dst itself when on-link, else the gateway; -1 when there is none. */
  nextHop(port: number, dst: number): number {
    const p = this.ports[port];
    if (p === undefined) return -1;
    if (((dst ^ p.ip) & p.mask) === 0) return dst >>> 0;
    return p.gateway !== 0 ? p.gateway >>> 0 : -1;
  }

  /**
   * Writes the Ethernet addresses for sending `pkt` to neighbor `e` on `port` (the first 12 bytes; VLAN tags
   * stay). An entry learned long ago is re-resolved in the background meanwhile.
   */
  writeL2(pkt: Packet, port: number, e: Neighbor): void {
    const v = pkt.view, o = pkt.offset;
    v.setUint16(o, e.hi);
    v.setUint32(o + 2, e.lo);
    v.setUint16(o + 6, this.macHi[port]);
    v.setUint32(o + 8, this.macLo[port]);
    // One background re-resolution per refresh period for a learned entry, whatever the answer.
    if (e.isStatic === false && this.now - e.confirmedAt > this.refreshPeriod && this.now - e.refreshAt > this.refreshPeriod) {
      e.refreshAt = this.now;
      if (!this.table.isResolving(e.ip)) this.startResolve(e.port, e.ip, null);
    }
  }

  /**
   * Resolves once the neighbor is known (true) or the tries ran out (false). A neighbour that failed a moment ago
   * (within one retry interval) answers false at once.
   */
  resolve(port: number, nh: number): Promise<boolean> {
    if (this.table.has(nh)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => this.startResolve(port, nh >>> 0, resolve));
  }

  private startResolve(port: number, ip: number, waiter: Waiter | null): void {
    const r = this.table.enqueue(ip, waiter, this.now, port);
    if (r === EnqueueResult.QueuedFirst) this.sendRequest(ip, port);
    else if (r === EnqueueResult.Dropped) {
      this.c.arpWaitFull++;
      if (waiter !== null) waiter(false);
    } else if (r === EnqueueResult.Failed && waiter !== null) {
      this.c.arpGaveUp++;
      waiter(false);
    }
  }

  private sendRequest(ip: number, portIndex: number): void {
    const port = this.ports[portIndex];
    if (port === undefined) return;
    const pkt = this.io.alloc();
    if (pkt === null) {
      this.c.allocFailed++;
      return;
    }
    if (!pkt.append(60)) {
      this.c.allocFailed++;
      this.io.drop(pkt);
      return;
    }
    const v = pkt.view, o = pkt.offset;
    for (let i = 0; i < 60; i++) v.setUint8(o + i, 0);
    v.setUint16(o, 0xffff);
    v.setUint32(o + 2, 0xffffffff);
    v.setUint16(o + 6, this.macHi[portIndex]);
    v.setUint32(o + 8, this.macLo[portIndex]);
    v.setUint16(o + 12, 0x0806);
    const a = this.arp.wrap(pkt.bytes, o + 14, 28);
    a.fill(ArpOperation.Request, port.mac, port.ip, 0, ip);
    this.c.arpRequestsOut++;
    this.io.send(pkt, portIndex);
  }

  /**
   * Retries and failures of pending resolutions; call once per loop pass with the time (ms). When a resolution
   * fails, every packet waiting on that neighbour is given up at once (their resolve() answers false).
   */
  tick(now: number): void {
    this.now = now;
    if (this.table.resolving === 0) return;
    this.table.poll(now, (ip, port) => this.sendRequest(ip, port), (_ip, waiters) => {
      this.c.arpFailed++;
      this.c.arpGaveUp += waiters.length;
      for (const w of waiters) w(false);
    });
  }

  /** When tick() next has work (ms); Infinity if none. */
  pollAt(): number {
    return this.table.resolving === 0 ? Infinity : this.table.pollAt();
  }

  /**
   * MetaFlow hook for frames that are not IPv4: answers ARP requests for our addresses (in place, back out
   * of the port they came in on) and learns from ARP addressed to us. Everything else is dropped.
   */
  handleNonIp(pkt: Packet, info: PacketInfo, inPort: number): Verdict {
    if (info.etherType !== 0x0806) {
      this.c.nonIpDropped++;
      return Verdict.DROP;
    }
    const a = this.arp.wrap(pkt.bytes, info.start + info.l2Length, info.frameLength - info.l2Length);
    if (a.check() !== WireError.Ok) {
      this.c.arpIgnored++;
      return Verdict.DROP;
    }
    const port = this.ports[inPort];
    if (port === undefined) return Verdict.DROP;
    const tip = a.targetIp, sip = a.senderIp, sha = a.senderHw, op = a.operation;
    const ours = this.ours.get(tip);
    const forUs = ours === inPort;
    if (op === ArpOperation.Request) {
      this.c.arpRequestsIn++;
      if (!forUs) {
        // A gratuitous ARP (sender = target) refreshes what we know; others' requests are none of ours.
        if (sip === tip && this.table.has(sip)) this.learnWire(sip, sha, inPort);
        else this.c.arpIgnored++;
        return Verdict.DROP;
      }
      if (sip !== 0) this.learnWire(sip, sha, inPort);
      a.replyInPlace(port.mac);
      // Reply to the asker: Ethernet dst = its MAC, src = ours.
      const v = pkt.view, o = pkt.offset;
      v.setUint16(o, Math.floor(sha / TWO32));
      v.setUint32(o + 2, sha % TWO32);
      v.setUint16(o + 6, this.macHi[inPort]);
      v.setUint32(o + 8, this.macLo[inPort]);
      this.c.arpRepliesOut++;
      return Verdict.port(inPort);
    }
    if (op === ArpOperation.Reply) {
      this.c.arpRepliesIn++;
      if (forUs || this.table.isResolving(sip) || this.table.has(sip)) this.learnWire(sip, sha, inPort);
      return Verdict.DROP;
    }
    this.c.arpIgnored++;
    return Verdict.DROP;
  }

  private learnWire(ip: number, mac: number, port: number): void {
    this.learn(ip, mac, port);
    if (this.onLearn !== null) this.onLearn(ip >>> 0, mac, port);
  }

  /** Is the frame addressed to this port (its MAC, broadcast or multicast)? */
  acceptsDst(pkt: Packet, port: number): boolean {
    const v = pkt.view, o = pkt.offset;
    const hi = v.getUint16(o);
    if ((hi & 0x0100) !== 0) return true; // group bit: broadcast / multicast
    return hi === this.macHi[port] && v.getUint32(o + 2) === this.macLo[port];
  }

  /** Answers an ICMP echo request addressed to us, in place; returns the port to send on, or DROP (not one). */
  echoReply(pkt: Packet, info: PacketInfo, inPort: number): Verdict {
    if (info.proto !== 1 || info.icmpType !== 8 || info.related) return Verdict.DROP;
    const v = pkt.view, o = pkt.offset, l3 = info.l3, l4 = info.l4;
    // ICMP: type 8 -> 0 (the checksum changes by that word only)
    const w = v.getUint16(l4);
    v.setUint8(l4, 0);
    v.setUint16(l4 + 2, checksumUpdate16(v.getUint16(l4 + 2), w, v.getUint16(l4)));
    // IP: swap addresses, fresh TTL, recompute the header checksum
    const src = v.getUint32(l3 + 12), dst = v.getUint32(l3 + 16);
    v.setUint32(l3 + 12, dst);
    v.setUint32(l3 + 16, src);
    v.setUint8(l3 + 8, 64);
    v.setUint16(l3 + 10, 0);
    v.setUint16(l3 + 10, ~sumAt(v, l3, info.ipHeaderLength) & 0xffff);
    // Ethernet: back to the sender
    const dhi = v.getUint16(o + 6), dlo = v.getUint32(o + 8);
    v.setUint16(o, dhi);
    v.setUint32(o + 2, dlo);
    v.setUint16(o + 6, this.macHi[inPort]);
    v.setUint32(o + 8, this.macLo[inPort]);
    this.c.echoReplies++;
    return Verdict.port(inPort);
  }

  /** Decrements the TTL with an RFC 1624 checksum update; false (and counted) when it would reach 0. */
  decrementTtl(v: DataView, l3: number): boolean {
    const word = v.getUint16(l3 + 8);
    if (word >>> 8 <= 1) {
      this.c.ttlExceeded++;
      return false;
    }
    v.setUint16(l3 + 8, word - 0x100);
    v.setUint16(l3 + 10, checksumUpdate16(v.getUint16(l3 + 10), word, word - 0x100));
    return true;
  }

  /** Neighbor table for dumps. */
  dumpNeighbors(): { ip: number; mac: number; port: number; static: boolean }[] {
    return [...this.table.values()].map((e) => ({ ip: e.ip, mac: e.mac, port: e.port, static: e.isStatic }));
  }

  snapshot(prefix = 'l3.'): Record<string, number> {
    const r: Record<string, number> = {};
    for (const k of L3_COUNTERS) r[prefix + k] = this.c[k];
    r[prefix + 'neighbors'] = this.table.size;
    r[prefix + 'pending'] = this.table.resolving;
    return r;
  }
}
