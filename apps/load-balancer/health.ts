// TCP-connect health checks from inside the NF: a SYN to each backend every interval, from a port chosen so
// the answer comes back to this shard; a SYN-ACK is a success (answered with a RST, made in place from it),
// a RST or silence past the timeout a failure. `rise` successes bring a backend up, `fall` failures take it
// down; each shard checks for itself, so no state crosses shards.
import { Verdict, flow, wire, type Packet, type l3 } from '../../index';

const { CONTINUE, protoHasPorts, tupleHash } = flow;
const { sumAt } = wire;
type PacketInfo = flow.PacketInfo;
type L3 = l3.L3;
type L3Io = l3.L3Io;

export interface HealthOptions {
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  portLo: number;
  portHi: number;
}

/** A backend as the health checker (and the load balancer) knows it. */
export class Backend {
  up = true;
  okStreak = 0;
  failStreak = 0;
  /** the source port of the probe in flight, or -1 */
  probePort = -1;
  probeSeq = 0;
  sentAt = 0;
  nextProbeAt = 0;
  /** waiting for ARP before the probe can go */
  resolving = false;
  /** flows given to it (this shard) */
  flows = 0;
  constructor(readonly key: string, readonly ip: number, readonly port: number) {}
}

export const HEALTH_COUNTERS = ['probes', 'ok', 'failRst', 'failTimeout', 'failArp', 'wentDown', 'cameUp', 'stray', 'allocFailed'] as const;

export class HealthChecker {
  readonly c: Record<(typeof HEALTH_COUNTERS)[number], number>;
  private readonly byKey = new Map<string, Backend>();
  private nextPort: number;
  private seq = 0x1000;

  constructor(
    private readonly l3: L3,
    private readonly io: L3Io,
    /** port index and address probes leave from */
    private readonly port: number,
    private readonly srcIp: number,
    /** mac of the port (probe source MAC) is written by L3.writeL2 */
    private readonly o: HealthOptions,
    /** accepts a tuple hash when answers with it reach this shard */
    private readonly local: (hash: number) => boolean,
    /** called when a backend goes up or down */
    private readonly onChange: (b: Backend) => void,
  ) {
    const c = {} as Record<(typeof HEALTH_COUNTERS)[number], number>;
    for (const k of HEALTH_COUNTERS) c[k] = 0;
    this.c = c;
    this.nextPort = o.portLo;
  }

  /** The backends to check: existing ones keep their state, new ones start up, absent ones are forgotten. */
  setBackends(list: Backend[]): void {
    const keep = new Set(list.map((b) => b.key));
    for (const k of [...this.byKey.keys()]) if (!keep.has(k)) this.byKey.delete(k);
    for (const b of list) if (!this.byKey.has(b.key)) this.byKey.set(b.key, b);
  }

  get(key: string): Backend | undefined {
    return this.byKey.get(key);
  }

  /** Timeouts and new probes; call once per loop pass. */
  tick(now: number): void {
    for (const b of this.byKey.values()) {
      if (b.probePort >= 0 && now - b.sentAt >= this.o.timeoutMs) {
        b.probePort = -1;
        this.c.failTimeout++;
        this.fail(b);
      }
      if (b.probePort < 0 && !b.resolving && now >= b.nextProbeAt) this.probe(b, now);
    }
  }

  pollAt(): number {
    let t = Infinity;
    for (const b of this.byKey.values()) {
      const d = b.probePort >= 0 ? b.sentAt + this.o.timeoutMs : b.nextProbeAt;
      if (d < t) t = d;
    }
    return t;
  }

  private probe(b: Backend, now: number): void {
    b.nextProbeAt = now + this.o.intervalMs;
    const nh = this.l3.nextHop(this.port, b.ip);
    if (nh < 0) {
      this.c.failArp++;
      this.fail(b);
      return;
    }
    const nb = this.l3.neighbor(nh);
    if (nb === null) {
      b.resolving = true;
      void this.l3.resolve(this.port, nh).then((ok) => {
        b.resolving = false;
        if (ok) this.send(b, performance.now());
        else {
          this.c.failArp++;
          this.fail(b);
        }
      });
      return;
    }
    this.send(b, now);
  }

  /** A free probe port whose answers reach this shard. */
  private pickPort(b: Backend): number {
    const lo = this.o.portLo, n = this.o.portHi - lo + 1;
    for (let k = 0; k < n; k++) {
      const p = lo + ((this.nextPort - lo + k) % n);
      if (!this.local(tupleHash(6, this.srcIp, b.ip, p, b.port, protoHasPorts(6)))) continue;
      let busy = false;
      for (const o of this.byKey.values()) if (o.probePort === p) busy = true;
      if (busy) continue;
      this.nextPort = p + 1 > this.o.portHi ? lo : p + 1;
      return p;
    }
    return -1;
  }

  private send(b: Backend, now: number): void {
    const nh = this.l3.nextHop(this.port, b.ip);
    const nb = nh >= 0 ? this.l3.neighbor(nh) : null;
    const p = nb !== null ? this.pickPort(b) : -1;
    const pkt = p >= 0 ? this.io.alloc() : null;
    if (nb === null || p < 0 || pkt === null) {
      this.c.allocFailed++;
      return;
    }
    if (!pkt.append(54)) {
      this.io.drop(pkt);
      this.c.allocFailed++;
      return;
    }
    const seq = (this.seq = (Math.imul(this.seq, 1103515245) + 12345) >>> 0);
    pkt.view.setUint16(pkt.offset + 12, 0x0800);
    writeIpTcp(pkt.view, pkt.offset + 14, this.srcIp, b.ip, p, b.port, seq, 0, 0x02, 1024);
    this.l3.writeL2(pkt, this.port, nb);
    b.probePort = p;
    b.probeSeq = seq;
    b.sentAt = now;
    this.c.probes++;
    this.io.send(pkt, this.port);
  }

  private ok(b: Backend): void {
    this.c.ok++;
    b.failStreak = 0;
    b.okStreak++;
    if (!b.up && b.okStreak >= this.o.rise) {
      b.up = true;
      this.c.cameUp++;
      this.onChange(b);
    }
  }

  private fail(b: Backend): void {
    b.okStreak = 0;
    b.failStreak++;
    if (b.up && b.failStreak >= this.o.fall) {
      b.up = false;
      this.c.wentDown++;
      this.onChange(b);
    }
  }

  /**
   * MetaFlow hook on the backend port: answers to probes (TCP to our address, a probe port). A SYN-ACK is
   * turned into the RST that closes the half-open connection and sent back; everything else ends here.
   */
  handle(pkt: Packet, info: PacketInfo): Verdict {
    if (info.proto !== 6 || info.related || info.dst >>> 0 !== this.srcIp >>> 0 || info.dport < this.o.portLo || info.dport > this.o.portHi) return CONTINUE;
    let b: Backend | undefined;
    for (const x of this.byKey.values()) if (x.probePort === info.dport && x.ip === info.src >>> 0 && x.port === info.sport) b = x;
    const v = info.view, l4 = info.l4, flags = info.tcpFlags;
    const ack = v.getUint32(l4 + 8);
    if (b === undefined || (flags & 0x10) === 0 || ack !== ((b.probeSeq + 1) >>> 0)) {
      this.c.stray++;
      return Verdict.DROP;
    }
    b.probePort = -1;
    if ((flags & 0x04) !== 0) {
      this.c.failRst++;
      this.fail(b);
      return Verdict.DROP;
    }
    if ((flags & 0x12) !== 0x12) {
      this.c.stray++;
      return Verdict.DROP;
    }
    this.ok(b);
    // SYN-ACK: answer with a RST (seq = their ack) so the backend forgets the half-open connection.
    const o = pkt.offset, l2 = info.l2Length;
    const sm0 = v.getUint16(o + 6), sm1 = v.getUint32(o + 8), dm0 = v.getUint16(o), dm1 = v.getUint32(o + 2);
    v.setUint16(o, sm0); v.setUint32(o + 2, sm1); v.setUint16(o + 6, dm0); v.setUint32(o + 8, dm1);
    pkt.length = l2 + 40;
    writeIpTcp(v, o + l2, info.dst, info.src, info.dport, info.sport, ack, 0, 0x04, 0);
    return Verdict.port(this.port);
  }
}

/** Writes an IPv4 header and an option-less TCP header at `ip` (40 bytes) with both checksums. */
function writeIpTcp(v: DataView, ip: number, src: number, dst: number, sport: number, dport: number, seq: number, ack: number, flags: number, window: number): void {
  const t = ip + 20;
  v.setUint8(ip, 0x45);
  v.setUint8(ip + 1, 0);
  v.setUint16(ip + 2, 40);
  v.setUint16(ip + 4, 0);
  v.setUint16(ip + 6, 0x4000);
  v.setUint8(ip + 8, 64);
  v.setUint8(ip + 9, 6);
  v.setUint16(ip + 10, 0);
  v.setUint32(ip + 12, src >>> 0);
  v.setUint32(ip + 16, dst >>> 0);
  v.setUint16(ip + 10, ~sumAt(v, ip, 20) & 0xffff);
  v.setUint16(t, sport);
  v.setUint16(t + 2, dport);
  v.setUint32(t + 4, seq >>> 0);
  v.setUint32(t + 8, ack >>> 0);
  v.setUint16(t + 12, (5 << 12) | flags);
  v.setUint16(t + 14, window);
  v.setUint16(t + 16, 0);
  v.setUint16(t + 18, 0);
  v.setUint16(t + 16, ~sumAt(v, t, 20, sumAt(v, ip + 12, 8, 6 + 20)) & 0xffff);
}
