// l3engine: a central L3 engine. Owns the NIC ports and one net_memif port (server role) per client process;
// routes packets from the network to services (prefix, protocol, port), pins each flow to one instance of the
// service by the symmetric tuple hash, and routes what clients send back out; L3/L4 checks, per-client ACL and
// rate limit, a counter for every drop. ARP and ping for its own addresses come from the shared L3 hop.
import * as fs from 'fs';
import { NetstarError, type PortInfo } from '../../index';
import type { Config } from '../../index';
import { Verdict, type AppModule, type ShardApp } from '../../index';
import type { ShardContext } from '../../index';
import type { Packet } from '../../index';
import { PacketInfo, ParseStatus } from '../../net/flow';
import { protoHasPorts, tupleHash } from '../../net/flow';
import { CounterSet } from '../../net/flow';
import { checksumUpdate16 } from '../../net/wire';
import { ArpOperation, ArpView } from '../../net/wire';
import { L3, type L3Io, type L3Port } from '../../net/l3';
import { l4ChecksumOk } from '../../net/conntrack';
import { l3engineSchema, parseControl, parseL3engineSettings, type ClientSpec, type L3engineSettings } from './config';
import { TokenBucket } from './token-bucket';

export { parseL3engineSettings } from './config';
export type { L3engineSettings } from './config';

export const ENGINE_COUNTERS = [
  'rx.nic', 'rx.client', 'tx.nic', 'tx.client',
  'drop.truncated', 'drop.malformed', 'drop.badIpChecksum', 'drop.fragment', 'drop.unsupportedIcmp', 'drop.nonIp',
  'drop.notForUs', 'drop.badL4Checksum', 'drop.martianSrc', 'drop.martianDst', 'drop.ttl', 'drop.toEngine',
  'drop.noRoute', 'drop.acl', 'drop.rate', 'drop.neighbor', 'drop.serviceDown', 'drop.unassigned', 'ping.replies', 'probes.sent',
  'probes.allocFailed', 'control.reloads', 'control.errors',
] as const;
type EngineCounter = (typeof ENGINE_COUNTERS)[number];
const PARSE_DROP: Record<number, EngineCounter> = {
  [ParseStatus.Truncated]: 'drop.truncated',
  [ParseStatus.Malformed]: 'drop.malformed',
  [ParseStatus.BadIpChecksum]: 'drop.badIpChecksum',
  [ParseStatus.Fragment]: 'drop.fragment',
  [ParseStatus.UnsupportedIcmp]: 'drop.unsupportedIcmp',
};
/** per-client counters, in this order from clientBase(i) */
const CLIENT_COUNTERS = ['rx', 'tx', 'drop.acl', 'drop.rate', 'downs'] as const;

const KIND_NONE = 0, KIND_NIC = 1, KIND_CLIENT = 2;

/**
 * Martian source: 0/8, 127/8, 169.254/16 (link-local, never routed), 224/4 and above (multicast, class E,
 * broadcast). Martian destination: 0/8, 127/8, 169.254/16, 224/4 and above (this engine routes unicast only).
 */
export function martianSource(a: number): boolean {
  const top = a >>> 24;
  return top === 0 || top === 127 || top >= 224 || (a >>> 16) === 0xa9fe;
}
export function martianDestination(a: number): boolean {
  return martianSource(a);
}

function macNumber(mac: string): number {
  return parseInt(mac.replace(/:/g, ''), 16);
}

/** One net_memif port's client as the data path sees it (replaced whole when a control file changes it). */
interface Link {
  spec: ClientSpec;
  l3: L3;
  nextHop: number;
  bucket: TokenBucket | null;
  probed: boolean;
  up: number;
}

export function createEngine(ctx: ShardContext, s0: L3engineSettings): ShardApp {
  const nports = ctx.ports.length;
  let s = s0;
  const kind = new Int8Array(nports);
  const memifPorts: number[] = [];
  s.portNames.forEach((n, i) => { if (n.startsWith('net_memif') && !s.nics.some((x) => x.port === i)) memifPorts.push(i); });
  // Counters per memif port (a port's client may change at run time); reported under the client's name.
  const counters = new CounterSet<string>([
    ...ENGINE_COUNTERS,
    ...memifPorts.flatMap((p) => CLIENT_COUNTERS.map((k) => `port${p}.${k}`)),
  ]);
  const cv = counters.v;
  const K = (n: EngineCounter): number => counters.index(n);
  const kRxNic = K('rx.nic'), kRxClient = K('rx.client'), kTxNic = K('tx.nic'), kTxClient = K('tx.client');
  const kNonIp = K('drop.nonIp'), kNotForUs = K('drop.notForUs'), kBadL4 = K('drop.badL4Checksum');
  const kMartSrc = K('drop.martianSrc'), kMartDst = K('drop.martianDst'), kTtl = K('drop.ttl'), kToEngine = K('drop.toEngine');
  const kNoRoute = K('drop.noRoute'), kAcl = K('drop.acl'), kRate = K('drop.rate'), kNeighbor = K('drop.neighbor'), kPing = K('ping.replies');
  const kSvcDown = K('drop.serviceDown'), kProbes = K('probes.sent'), kProbeAlloc = K('probes.allocFailed'), kUnassigned = K('drop.unassigned');
  const kReloads = K('control.reloads'), kReloadErrors = K('control.errors');
  const parseDrop = new Int32Array(8).fill(-1);
  for (const [st, name] of Object.entries(PARSE_DROP)) parseDrop[Number(st)] = K(name);
  /** first per-port counter of a memif port (rx, tx, drop.acl, drop.rate, downs follow) */
  const base = new Int32Array(nports).fill(-1);
  for (const p of memifPorts) base[p] = counters.index(`port${p}.rx`);

  // ---- the shared L3 hop: one for the NIC side, one per client link (each link answers for the client's gateway) ----
  const io: L3Io = {
    alloc: (): Packet | null => ctx.allocPacket(0),
    send: (p, port) => ctx.send(p, port),
    drop: (p) => ctx.drop(p),
  };
  const arpOpts = s.arp;
  const nicPorts: L3Port[] = s.nics.map((n) => ({ port: n.port, ip: n.ip, mask: n.mask, gateway: n.gateway, mac: macNumber(ctx.ports[n.port].mac) }));
  const nicL3 = new L3(nicPorts, io, arpOpts);
  for (const n of s.nics) for (const e of n.neighbors) nicL3.addStatic(e.ip, e.mac, n.port);
  for (const n of s.nics) kind[n.port] = KIND_NIC;
  for (const p of memifPorts) kind[p] = KIND_CLIENT;
  const nics = s.nics;
  const live = s.liveness;

  // ---- clients, services, routes: rebuilt together from settings (at start and on each control-file change) ----
  const links: (Link | null)[] = new Array<Link | null>(nports).fill(null);
  let ours = new Set<number>();
  let nr = 0;
  let rAddr = new Uint32Array(0), rMask = new Uint32Array(0), rProto = new Int32Array(0), rPort = new Int32Array(0), rSvc = new Int32Array(0);
  let rDefault = new Uint8Array(0);
  /** per service: the memif ports of its instances */
  let svcPorts: Int32Array[] = [];
  const apply = (next: L3engineSettings): void => {
    const keep = new Map<number, Link>();
    for (const l of links) if (l !== null) keep.set(l.spec.port, l);
    links.fill(null);
    for (const c of next.clients) {
      const old = keep.get(c.port);
      const nextHop = c.sources[0].addr;
      let link: Link;
      // The link's L3 (and what it learned) stays while the client's addresses on the link do not change.
      if (old !== undefined && old.spec.ip === c.ip && old.spec.mask === c.mask && old.nextHop === nextHop && old.spec.mac === c.mac) {
        link = old;
        link.spec = c;
        if (old.spec.pps !== c.pps || old.spec.bps !== c.bps || old.spec.burst !== c.burst) link.bucket = c.pps > 0 || c.bps > 0 ? new TokenBucket(c.pps, c.bps, c.burst, ctx.now()) : null;
      } else {
        const l3 = new L3([{ port: c.port, ip: c.ip, mask: c.mask, gateway: 0, mac: macNumber(ctx.ports[c.port].mac) }], io, arpOpts);
        l3.now = ctx.now();
        if (c.mac >= 0) l3.addStatic(nextHop, c.mac, c.port);
        const probed = live.intervalMs > 0 && c.mac < 0;
        link = { spec: c, l3, nextHop, bucket: c.pps > 0 || c.bps > 0 ? new TokenBucket(c.pps, c.bps, c.burst, ctx.now()) : null, probed, up: probed ? 0 : 1 };
      }
      links[c.port] = link;
    }
    ours = new Set<number>([...nics.map((n) => n.ip), ...next.clients.map((c) => c.ip)]);
    nr = next.routes.length;
    rAddr = new Uint32Array(nr); rMask = new Uint32Array(nr); rProto = new Int32Array(nr); rPort = new Int32Array(nr); rSvc = new Int32Array(nr);
    rDefault = new Uint8Array(nr);
    next.routes.forEach((r, i) => {
      rAddr[i] = r.addr; rMask[i] = r.mask; rProto[i] = r.proto; rPort[i] = r.port; rSvc[i] = r.service; rDefault[i] = r.isDefault ? 1 : 0;
    });
    svcPorts = next.services.map((sv) => Int32Array.from(sv.instances.map((ci) => next.clients[ci].port)));
    s = next;
  };
  apply(s);

  /** service index for (dst, proto, dport), or -1; the default route only when `withDefault` */
  const lookup = (dst: number, proto: number, dport: number, withDefault: boolean): number => {
    for (let i = 0; i < nr; i++) {
      if (((dst & rMask[i]) >>> 0) !== rAddr[i]) continue;
      if (rProto[i] !== 0 && rProto[i] !== proto) continue;
      if (rPort[i] !== 0 && rPort[i] !== dport) continue;
      if (rDefault[i] === 1 && !withDefault) continue;
      return rSvc[i];
    }
    return -1;
  };

  // ---- the control file: polled, validated whole, applied whole ----
  let nextReload = 0, controlMtime = -1;
  const checkControl = (now: number): void => {
    if (s.controlFile === null || now < nextReload) return;
    nextReload = now + s.reloadMs;
    let m: number;
    try {
      m = fs.statSync(s.controlFile).mtimeMs;
    } catch {
      return; // not there (yet): the settings from the config stay
    }
    if (m === controlMtime) return;
    controlMtime = m;
    try {
      apply(parseControl(JSON.parse(fs.readFileSync(s.controlFile, 'utf8')), s));
      cv[kReloads]++;
    } catch {
      cv[kReloadErrors]++;
    }
  };

  // ---- per-client security: ACL and token bucket ----
  const aclOk = (c: ClientSpec, pi: PacketInfo): boolean => {
    const src = pi.src;
    let ok = false;
    for (const p of c.sources) if (((src & p.mask) >>> 0) === p.addr) { ok = true; break; }
    if (!ok) return false;
    if (c.ports.length === 0 || (pi.proto !== 6 && pi.proto !== 17)) return true;
    const sp = pi.sport;
    for (const [f, t] of c.ports) if (sp >= f && sp <= t) return true;
    return false;
  };

  // ---- liveness: ARP probes to each client's address; its answers (learned by the link's L3) keep it up ----
  const arpV = new ArpView();
  let nextProbe = 0;
  const probe = (link: Link): void => {
    const c = link.spec, l3 = link.l3, nh = link.nextHop;
    const h = ctx.allocPacket(60);
    if (h === null) {
      cv[kProbeAlloc]++;
      return;
    }
    const v = h.view, o = h.offset, mine = l3.portMac(c.port);
    // Unicast to the MAC we know (as a neighbour reachability check does), broadcast before the first answer.
    const known = l3.macOf(nh);
    for (let k = 0; k < 60; k++) v.setUint8(o + k, 0);
    if (known >= 0) {
      v.setUint16(o, Math.floor(known / 0x100000000));
      v.setUint32(o + 2, known % 0x100000000);
    } else {
      v.setUint16(o, 0xffff);
      v.setUint32(o + 2, 0xffffffff);
    }
    v.setUint16(o + 6, Math.floor(mine / 0x100000000));
    v.setUint32(o + 8, mine % 0x100000000);
    v.setUint16(o + 12, 0x0806);
    arpV.wrap(h.bytes, o + 14, 28).fill(ArpOperation.Request, mine, c.ip, 0, nh);
    cv[kProbes]++;
    ctx.send(h, c.port);
  };
  const checkLiveness = (now: number): void => {
    if (live.intervalMs === 0 || now < nextProbe) return;
    nextProbe = now + live.intervalMs;
    for (const link of links) {
      if (link === null || !link.probed) continue;
      const e = link.l3.neighbor(link.nextHop);
      const isUp = e !== null && now - e.confirmedAt <= live.timeoutMs ? 1 : 0;
      if (link.up === 1 && isUp === 0) cv[base[link.spec.port] + 4]++;
      link.up = isUp;
      probe(link);
    }
  };
  /** The instance (memif port) for flow hash `h`: its slot if up, else the next one up (flows of live instances stay put); -1 if none. */
  const pick = (inst: Int32Array, h: number): number => {
    const n = inst.length;
    const first = h % n;
    for (let k = 0; k < n; k++) {
      const p = inst[(first + k) % n];
      const l = links[p];
      if (l !== null && l.up === 1) return p;
    }
    return -1;
  };

  // ---- egress: next hop on a link, resolved through that link's L3 (packets wait for ARP in a held handle) ----
  const sendVia = (pkt: Packet, l3: L3, port: number, nh: number, txCounter: number): Verdict => {
    const e = l3.neighbor(nh);
    if (e !== null) {
      l3.writeL2(pkt, port, e);
      cv[txCounter]++;
      return Verdict.port(port);
    }
    return ctx.defer(pkt, async (h) => {
      const ok = await l3.resolve(port, nh);
      const n = ok ? l3.neighbor(nh) : null;
      if (n === null) {
        cv[kNeighbor]++;
        return Verdict.DROP;
      }
      l3.writeL2(h, port, n);
      cv[txCounter]++;
      return Verdict.port(port);
    });
  };
  /** the NIC port for `dst`: on-link first, else the first one with a gateway; -1 if none */
  const nicFor = (dst: number): number => {
    for (const n of nics) if (((dst ^ n.ip) & n.mask) === 0) return n.port;
    for (const n of nics) if (n.gateway !== 0) return n.port;
    return -1;
  };
  // A client's next hop is its first address (its stack answers ARP for it), whatever the destination.
  const toClient = (pkt: Packet, link: Link): Verdict => {
    const port = link.spec.port;
    cv[base[port] + 1]++;
    return sendVia(pkt, link.l3, port, link.nextHop, kTxClient);
  };

  const pi = new PacketInfo({ verifyIpChecksum: true });
  const checks = s.checks;

  return {
    onPacket(pkt: Packet, port: number): Verdict {
      const k = kind[port];
      if (k === KIND_NONE) return Verdict.DROP;
      let link: Link | null = null;
      if (k === KIND_NIC) cv[kRxNic]++;
      else {
        cv[kRxClient]++;
        cv[base[port]]++;
        link = links[port];
        if (link === null) {
          cv[kUnassigned]++;
          return Verdict.DROP;
        }
      }
      const l3 = link === null ? nicL3 : link.l3;
      const st = pi.parse(pkt);
      if (st === ParseStatus.NotIpv4) {
        const out = l3.handleNonIp(pkt, pi, port);
        if (out < 0 && pi.etherType !== 0x0806) cv[kNonIp]++;
        return out < 0 ? Verdict.DROP : out;
      }
      if (st !== ParseStatus.Ok) {
        cv[parseDrop[st]]++;
        return Verdict.DROP;
      }
      if (!l3.acceptsDst(pkt, port)) {
        cv[kNotForUs]++;
        return Verdict.DROP;
      }
      const dst = pi.dst >>> 0, src = pi.src >>> 0;
      if (ours.has(dst)) {
        const out = l3.echoReply(pkt, pi, port);
        if (out >= 0) {
          cv[kPing]++;
          return out;
        }
        cv[kToEngine]++;
        return Verdict.DROP;
      }
      if (checks.martians) {
        if (martianSource(src) || ours.has(src)) { cv[kMartSrc]++; return Verdict.DROP; }
        if (martianDestination(dst)) { cv[kMartDst]++; return Verdict.DROP; }
      }
      if (checks.l4Checksum && !l4ChecksumOk(pi)) {
        cv[kBadL4]++;
        return Verdict.DROP;
      }
      if (link !== null) {
        if (!aclOk(link.spec, pi)) {
          cv[kAcl]++;
          cv[base[port] + 2]++;
          return Verdict.DROP;
        }
        const b = link.bucket;
        if (b !== null && !b.take(pi.frameLength, ctx.clock.now())) {
          cv[kRate]++;
          cv[base[port] + 3]++;
          return Verdict.DROP;
        }
      }
      // TTL: decremented with an incremental checksum update (RFC 1624); 0 or 1 is the end of the road.
      const v = pi.view, l3o = pi.l3;
      const word = v.getUint16(l3o + 8);
      if (word >>> 8 <= 1) {
        cv[kTtl]++;
        return Verdict.DROP;
      }
      v.setUint16(l3o + 8, word - 0x100);
      v.setUint16(l3o + 10, checksumUpdate16(v.getUint16(l3o + 10), word, word - 0x100));
      // An ICMP error routes as the flow it quotes: the quoted datagram's source port is this packet's destination port.
      const proto = pi.related ? pi.kProto : pi.proto;
      const dport = pi.related ? pi.kSport : pi.dport;
      const svc = lookup(dst, proto, dport, k === KIND_NIC);
      if (svc >= 0) {
        const h = tupleHash(pi.kProto, pi.kSrc, pi.kDst, pi.kSport, pi.kDport, protoHasPorts(pi.kProto));
        const target = pick(svcPorts[svc], h);
        if (target < 0) {
          cv[kSvcDown]++;
          return Verdict.DROP;
        }
        if (target === port) {
          cv[kNoRoute]++; // a client's packet for its own service would loop
          return Verdict.DROP;
        }
        return toClient(pkt, links[target]!);
      }
      if (k === KIND_NIC) {
        cv[kNoRoute]++;
        return Verdict.DROP;
      }
      const out = nicFor(dst);
      if (out < 0) {
        cv[kNoRoute]++;
        return Verdict.DROP;
      }
      const nh = nicL3.nextHop(out, dst);
      if (nh < 0) {
        cv[kNoRoute]++;
        return Verdict.DROP;
      }
      return sendVia(pkt, nicL3, out, nh, kTxNic);
    },
    afterBurst(): void {
      const now = ctx.clock.now();
      nicL3.tick(now);
      for (const l of links) if (l !== null) l.l3.tick(now);
      checkLiveness(now);
      checkControl(now);
    },
    pollAt(): number {
      let t = live.intervalMs > 0 ? nextProbe : Infinity;
      if (s.controlFile !== null) t = Math.min(t, nextReload);
      t = Math.min(t, nicL3.pollAt());
      for (const l of links) if (l !== null) t = Math.min(t, l.l3.pollAt());
      return t;
    },
    counters(): Record<string, number> {
      const all = counters.snapshot();
      const r: Record<string, number> = {};
      // engine counters as they are; per-port ones under the current client's name (an unassigned port: portN)
      for (const [key, val] of Object.entries(all)) {
        const m = /^port(\d+)\.(.*)$/.exec(key);
        if (m === null) r[key] = val;
        else {
          const l = links[Number(m[1])];
          r[`client.${l === null ? `port${m[1]}` : l.spec.name}.${m[2]}`] = val;
        }
      }
      Object.assign(r, nicL3.snapshot('l3.nic.'));
      for (const l of links) {
        if (l === null) continue;
        Object.assign(r, l.l3.snapshot(`l3.${l.spec.name}.`));
        r[`client.${l.spec.name}.resolved`] = l.l3.neighbor(l.nextHop) !== null ? 1 : 0;
        r[`client.${l.spec.name}.up`] = l.up;
      }
      r.clients = s.clients.length;
      r.routes = nr;
      return r;
    },
  };
}

const app: AppModule<L3engineSettings> = {
  name: 'l3engine',
  description: 'central L3 engine: routes NIC traffic to client processes over memif (services, flow-sticky instances, ACL, rate limit)',
  settingsSchema: l3engineSchema,
  settings(config: Config): L3engineSettings {
    return parseL3engineSettings(config);
  },
  prepare(s: L3engineSettings, ports: PortInfo[]): L3engineSettings {
    for (const c of s.clients) if (!ports[c.port]) throw new NetstarError('ERR_CONFIG', `l3engine: no port ${c.port}`);
    return s;
  },
  createShard(ctx: ShardContext, s: L3engineSettings): ShardApp {
    return createEngine(ctx, s);
  },
};
export default app;
