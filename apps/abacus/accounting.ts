// abacus's accounting over the monitor: per subscriber (an inside address in configured prefixes), each TCP
// payload byte charged once (retransmissions by policy), free-riding (retransmitted bytes that differ from
// the first copy, out-of-window data) and usage inflation (retransmissions of bytes the subscriber already
// acknowledged, sent towards it) detected and handled by policy; UDP and the rest counted plainly.
import { Verdict } from '../../index';
import { formatIp, parseCidr, type PacketInfo } from '../../net/flow';
import type { Packet } from '../../index';
import { Events, type Conn, type Monitor } from '../../mos';

export interface AbacusPolicy {
  /** subscriber prefixes ("198.18.0.0/24") */
  subscribers: string[];
  /** charge genuine retransmissions (true) or each byte once (false, default) */
  chargeRetransmissions: boolean;
  /** free-riding: charge it, flag it (alert, charged), or drop it (inline) */
  freeRiding: 'charge' | 'flag' | 'drop';
  /** usage inflation (acknowledged data retransmitted towards the subscriber): never charged; flag or drop */
  inflation: 'flag' | 'drop';
}

export class SubscriberUsage {
  /** bytes charged, by direction (up: from the subscriber, down: towards it) */
  up = 0;
  down = 0;
  /** TCP: unique payload bytes, genuine retransmitted bytes */
  tcpUnique = 0;
  tcpRexmit = 0;
  /** payload bytes of free-riding segments, inflation bytes (not charged) */
  freeRide = 0;
  inflation = 0;
  udp = 0;
  other = 0;
  packets = 0;
  toJSON(): Record<string, number> {
    return { up: this.up, down: this.down, tcpUnique: this.tcpUnique, tcpRexmit: this.tcpRexmit, freeRide: this.freeRide, inflation: this.inflation, udp: this.udp, other: this.other, packets: this.packets };
  }
}

export interface AbacusAlert {
  alert: 'freeRiding' | 'inflation';
  kind: string;
  subscriber: string;
  client: string;
  server: string;
  from: 'client' | 'server';
  offset: number;
  bytes: number;
  differing: number;
  action: string;
}

interface Prefix { net: number; mask: number }

export class Accounting {
  readonly usage = new Map<number, SubscriberUsage>();
  readonly alerts: AbacusAlert[] = [];
  /** keep at most this many alerts in memory (the sink gets all) */
  maxAlerts = 10000;
  onAlert: ((a: AbacusAlert) => void) | null = null;
  unmatchedBytes = 0;
  private readonly prefixes: Prefix[];
  /** usage entries at most (a bound against address scans; beyond, bytes go to unmatchedBytes) */
  maxSubscribers = 1 << 20;

  constructor(readonly policy: AbacusPolicy) {
    this.prefixes = policy.subscribers.map((s) => {
      const c = parseCidr(s);
      if (c === null) throw new RangeError(`bad subscriber prefix ${s}`);
      return { net: (c.addr & c.mask) >>> 0, mask: c.mask };
    });
  }

  isSubscriber(a: number): boolean {
    for (const p of this.prefixes) if (((a & p.mask) >>> 0) === p.net) return true;
    return false;
  }

  private entry(a: number): SubscriberUsage | null {
    let u = this.usage.get(a);
    if (u === undefined) {
      if (this.usage.size >= this.maxSubscribers) return null;
      this.usage.set(a, (u = new SubscriberUsage()));
    }
    return u;
  }

  /** Hooks the monitor: TCP through PKT_IN, the rest through onOther. */
  attach<C>(mon: Monitor<C>, forward: number[], passive: boolean): void {
    mon.on(Events.PKT_IN, (c) => this.tcp(c));
    mon.onOther = (pkt: Packet, info: PacketInfo, inPort: number) => {
      this.plain(info, pkt.length);
      if (passive) return Verdict.DROP;
      const out = forward[inPort];
      return out === undefined || out < 0 ? Verdict.DROP : Verdict.port(out);
    };
  }

  /** UDP, ICMP and the rest: the IP payload bytes, charged to whichever end is a subscriber. */
  plain(info: PacketInfo, _len: number): void {
    const bytes = info.l4PayloadLength;
    const sa = info.src >>> 0, da = info.dst >>> 0;
    const s = this.isSubscriber(sa) ? sa : this.isSubscriber(da) ? da : -1;
    if (s < 0) {
      this.unmatchedBytes += bytes;
      return;
    }
    const u = this.entry(s);
    if (u === null) {
      this.unmatchedBytes += bytes;
      return;
    }
    u.packets++;
    if (info.proto === 17) u.udp += bytes;
    else u.other += bytes;
    if (s === sa) u.up += bytes;
    else u.down += bytes;
  }

  /** One TCP segment, after the monitor's emulation (c.seg describes it). */
  tcp<C>(c: Conn<C>): void {
    const seg = c.seg;
    const fromClient = seg.side === 0;
    const src = fromClient ? c.cAddr : c.sAddr, dst = fromClient ? c.sAddr : c.cAddr;
    const sub = this.isSubscriber(src) ? src : this.isSubscriber(dst) ? dst : -1;
    if (sub < 0) {
      this.unmatchedBytes += seg.length;
      return;
    }
    const u = this.entry(sub);
    if (u === null) {
      this.unmatchedBytes += seg.length;
      return;
    }
    u.packets++;
    if (seg.length === 0) return;
    const up = sub === src;
    let charge = 0;
    // Usage inflation: towards the subscriber, bytes it already acknowledged come again. Never charged.
    const inflated = !up && seg.acked > 0 ? seg.acked : 0;
    if (inflated > 0) {
      u.inflation += inflated;
      this.alert(c, sub, 'inflation', 'ackedRetransmission', seg.acked, 0, this.policy.inflation);
      if (this.policy.inflation === 'drop') c.drop();
    }
    // Free-riding: bytes presented as a retransmission that differ from the first copy, or data beyond the
    // receiver's window (no receiver takes it: a carrier for uncharged bytes when charging only new data).
    const freeRide = seg.conflict > 0 || seg.outOfWindow;
    if (freeRide) {
      const kind = seg.conflict > 0 ? 'conflictingRetransmission' : 'outOfWindow';
      u.freeRide += seg.length;
      this.alert(c, sub, 'freeRiding', kind, seg.length, seg.conflict, this.policy.freeRiding);
      if (this.policy.freeRiding === 'drop') {
        c.drop();
        return;
      }
      // flag and charge: every byte of the segment is charged (what it really carried)
      charge = seg.length - inflated;
      u.tcpUnique += seg.fresh;
    } else {
      u.tcpUnique += seg.fresh;
      const re = seg.length - seg.fresh - inflated;
      u.tcpRexmit += Math.max(0, re);
      charge = seg.fresh + (this.policy.chargeRetransmissions ? Math.max(0, re) : 0);
    }
    if (up) u.up += charge;
    else u.down += charge;
  }

  private alert<C>(c: Conn<C>, sub: number, alert: 'freeRiding' | 'inflation', kind: string, bytes: number, differing: number, action: string): void {
    const a: AbacusAlert = {
      alert, kind, subscriber: formatIp(sub), client: `${formatIp(c.cAddr)}:${c.cPort}`, server: `${formatIp(c.sAddr)}:${c.sPort}`,
      from: c.seg.side === 0 ? 'client' : 'server', offset: c.seg.offset, bytes, differing, action,
    };
    if (this.alerts.length < this.maxAlerts) this.alerts.push(a);
    if (this.onAlert !== null) this.onAlert(a);
  }

  report(): Record<string, Record<string, number>> {
    const r: Record<string, Record<string, number>> = {};
    for (const [a, u] of this.usage) r[formatIp(a)] = u.toJSON();
    return r;
  }

  totals(): Record<string, number> {
    const t = new SubscriberUsage();
    for (const u of this.usage.values()) {
      t.up += u.up; t.down += u.down; t.tcpUnique += u.tcpUnique; t.tcpRexmit += u.tcpRexmit; t.freeRide += u.freeRide;
      t.inflation += u.inflation; t.udp += u.udp; t.other += u.other; t.packets += u.packets;
    }
    const o: Record<string, number> = {};
    for (const [k, v] of Object.entries(t.toJSON())) o[`abacus.${k}`] = v;
    o['abacus.subscribers'] = this.usage.size;
    o['abacus.unmatchedBytes'] = this.unmatchedBytes;
    o['abacus.alerts'] = this.alerts.length;
    return o;
  }
}
