// ovs-nat: Open vSwitch conntrack NAT semantics as an L3 hop between an inside and an outside port, on the
// flow layer. Connections started inside get SNAT (address/port ranges), connections started outside get
// DNAT by rule or are dropped; ct states new/est/rel/rpl/inv; TCP window and flag validation; ICMP errors
// translated; per-protocol timeouts (OVS userspace defaults); a global connection limit; a conntrack dump.
import * as fs from 'fs';
import {
  NetstarError, Verdict, conntrack, defineTask, flow, l3 as l3lib,
  type AppModule, type Config, type Packet, type PortInfo, type ShardApp, type ShardContext,
} from '../../index';
import { parseSettings, schema, type DnatRule, type NatSettings, type SnatRule } from './config';
import { conntrackCommand } from './ctl';

const { CREATE_FLOW, CounterSet, FlowDistributor, PacketInfo, defaultSteerHash, flowPipeline, protoHasPorts, tupleHash } = flow;
type AsyncFlow<S> = flow.AsyncFlow<S>;
type PacketInfo = flow.PacketInfo;
type CounterSet<K extends string> = flow.CounterSet<K>;
type FlowDistributor<S> = flow.FlowDistributor<S>;
const {
  CS, Conn, tcpValidNew, chooseDestination, chooseSource, CT_COUNTERS, attachNativeOffload, conntrackHandler,
  foldOffloadCounts, l3MetaFlows, offloadRefresh, startTracking, formatConntrack,
} = conntrack;
type Conn = conntrack.Conn;
type TupleCheck = conntrack.TupleCheck;
const { L3, hostIo, shareNeighbors, parseMacText } = l3lib;
type L3 = l3lib.L3;

export const NAT_COUNTERS = [
  ...CT_COUNTERS, 'ct.snat', 'ct.dnat',
  'drop.unsolicited', 'drop.connLimit', 'drop.natExhausted', 'drop.noRoute', 'drop.badL4Checksum',
  'drop.notForUs', 'drop.toSelf', 'drop.tableFull', 'drop.otherPort',
  'expired.tcp', 'expired.udp', 'expired.icmp', 'expired.other', 'closed', 'dumps',
] as const;
type NatCounter = (typeof NAT_COUNTERS)[number];
// Indexes into the app's CounterSet: counters are bumped as `cv[K_…]++` (a typed array, no name lookup).
const K_CLOSED = NAT_COUNTERS.indexOf('closed');
const K_CT_DNAT = NAT_COUNTERS.indexOf('ct.dnat');
const K_CT_INV = NAT_COUNTERS.indexOf('ct.inv');
const K_CT_SNAT = NAT_COUNTERS.indexOf('ct.snat');
const K_DROP_CONNLIMIT = NAT_COUNTERS.indexOf('drop.connLimit');
const K_DROP_INVALID = NAT_COUNTERS.indexOf('drop.invalid');
const K_DROP_NATEXHAUSTED = NAT_COUNTERS.indexOf('drop.natExhausted');
const K_DROP_NOROUTE = NAT_COUNTERS.indexOf('drop.noRoute');
const K_DROP_OTHERPORT = NAT_COUNTERS.indexOf('drop.otherPort');
const K_DROP_TABLEFULL = NAT_COUNTERS.indexOf('drop.tableFull');
const K_DROP_TOSELF = NAT_COUNTERS.indexOf('drop.toSelf');
const K_DROP_UNSOLICITED = NAT_COUNTERS.indexOf('drop.unsolicited');
const K_DUMPS = NAT_COUNTERS.indexOf('dumps');
const K_EXPIRED_ICMP = NAT_COUNTERS.indexOf('expired.icmp');
const K_EXPIRED_OTHER = NAT_COUNTERS.indexOf('expired.other');
const K_EXPIRED_TCP = NAT_COUNTERS.indexOf('expired.tcp');
const K_EXPIRED_UDP = NAT_COUNTERS.indexOf('expired.udp');

/** The shard-local L3 hop, for neighbors learned on another shard (ARP arrives on one shard only). */
let localL3: L3 | null = null;
const learnTask = defineTask('ovs-nat.learn', (ip: number, mac: number, port: number): void => {
  localL3?.learn(ip, mac, port);
});

function matchSnat(rules: SnatRule[], info: PacketInfo): SnatRule | null {
  for (const r of rules) {
    if (r.proto !== 0 && r.proto !== info.proto) continue;
    if ((info.src & r.srcMask) !== r.src || (info.dst & r.dstMask) !== r.dst) continue;
    return r;
  }
  return null;
}

function matchDnat(rules: DnatRule[], info: PacketInfo): DnatRule | null {
  for (const r of rules) {
    if (r.dst !== info.dst >>> 0) continue;
    if (r.proto !== 0 && r.proto !== info.proto) continue;
    if (r.dport >= 0 && r.dport !== info.dport) continue;
    return r;
  }
  return null;
}

export function createNat(ctx: ShardContext, s: NatSettings): ShardApp {
  const inside = s.inside.port, outside = s.outside.port;
  const counters = new CounterSet<NatCounter>(NAT_COUNTERS);
  const cv = counters.v;
  const shared = new Int32Array(s.shared);
  const l3 = new L3([
    { port: inside, ip: s.inside.ip, mask: s.inside.mask, gateway: s.inside.gateway, mac: s.inside.mac },
    { port: outside, ip: s.outside.ip, mask: s.outside.mask, gateway: s.outside.gateway, mac: s.outside.mac },
  ], hostIo(ctx), s.arp);
  for (const n of s.neighbors) l3.addStatic(n.ip, n.mac, l3.nextHop(inside, n.ip) === n.ip ? inside : outside);
  localL3 = l3;
  shareNeighbors(ctx, l3, learnTask);

  const info = new PacketInfo({ verifyIpChecksum: s.verifyIpChecksum });
  const nports = ctx.qps.length;
  const defaultOut = new Array<number>(nports).fill(-1);
  defaultOut[inside] = outside;
  defaultOut[outside] = inside;
  let now = performance.now();
  const debug = process.env.NETSTAR_DEBUG !== undefined;

  const handler = conntrackHandler(l3, counters as unknown as CounterSet<string>, { offload: s.offload });

  const check: TupleCheck = {
    taken: (p, a, b, sp, dp) => dist.has(p, a, b, sp, dp),
    local: ctx.count > 1 ? (h) => ctx.ownsHash(h) : () => true,
  };

  const onNewFlow = (flow: AsyncFlow<Conn>, _pkt: Packet, pi: PacketInfo, inPort: number): boolean => {
    const conn = flow.state;
    conn.reset();
    const proto = pi.kProto;
    conn.proto = proto;
    conn.oSrc = conn.tSrc = pi.src >>> 0;
    conn.oDst = conn.tDst = pi.dst >>> 0;
    conn.oSport = conn.tSport = pi.sport;
    conn.oDport = conn.tDport = pi.dport;
    conn.inPort0 = inPort;
    conn.outPort0 = inPort === inside ? outside : inside;
    conn.createdAt = now;
    if ((proto === 6 && !tcpValidNew(pi.tcpFlags)) || (proto === 1 && pi.icmpType !== 8)) {
      cv[K_CT_INV]++;
      cv[K_DROP_INVALID]++;
      return false;
    }
    if (Atomics.add(shared, 0, 1) >= s.connLimit) {
      Atomics.sub(shared, 0, 1);
      cv[K_DROP_CONNLIMIT]++;
      return false;
    }
    conn.counted = true;
    const refuse = (k: number): boolean => {
      cv[k]++;
      Atomics.sub(shared, 0, 1);
      conn.counted = false;
      return false;
    };
    if (inPort === inside) {
      const rule = matchSnat(s.snat, pi);
      if (rule !== null) {
        if (!chooseSource(conn, rule, check, s.maxPortProbes)) return refuse(K_DROP_NATEXHAUSTED);
        conn.nat |= CS.SNAT;
        cv[K_CT_SNAT]++;
      }
    } else {
      const rule = matchDnat(s.dnat, pi);
      if (rule !== null) {
        if (!chooseDestination(conn, rule, check, s.maxPortProbes)) return refuse(K_DROP_NATEXHAUSTED);
        conn.nat |= CS.DNAT;
        cv[K_CT_DNAT]++;
      }
    }
    // Replies carry the translated tuple reversed: a second key (none when nothing was translated).
    if (conn.nat !== 0 && !flow.addKey(proto, conn.tDst, conn.tSrc, conn.tDport, conn.tSport, 1)) return refuse(K_DROP_TABLEFULL);
    conn.nextHop0 = l3.nextHop(conn.outPort0, conn.tDst);
    conn.nextHop1 = l3.nextHop(conn.inPort0, conn.oSrc);
    if (conn.nextHop0 < 0 || conn.nextHop1 < 0) return refuse(K_DROP_NOROUTE);
    startTracking(flow, conn, pi, l3);
    return true;
  };

  const onMiss = (pkt: Packet, pi: PacketInfo, inPort: number): Verdict => {
    if (inPort === outside) {
      if (matchDnat(s.dnat, pi) !== null) return CREATE_FLOW;
      if (l3.isOurs(pi.dst)) {
        // Pings to us are answered; anything else to our address unasked for is unsolicited.
        const v = l3.echoReply(pkt, pi, inPort);
        if (v >= 0) return v;
      } else if (s.allowInbound) return CREATE_FLOW;
      cv[K_DROP_UNSOLICITED]++;
      return Verdict.DROP;
    }
    if (inPort === inside) {
      if (l3.isOurs(pi.dst)) return toSelf(pkt, pi, inPort);
      return CREATE_FLOW;
    }
    cv[K_DROP_OTHERPORT]++;
    return Verdict.DROP;
  };
  const toSelf = (pkt: Packet, pi: PacketInfo, inPort: number): Verdict => {
    const v = l3.echoReply(pkt, pi, inPort);
    if (v >= 0) return v;
    cv[K_DROP_TOSELF]++;
    return Verdict.DROP;
  };

  const onRemove = (flow: AsyncFlow<Conn>, why: 'closed' | 'expired'): void => {
    const conn = flow.state;
    if (conn.counted) {
      Atomics.sub(shared, 0, 1);
      conn.counted = false;
    }
    if (why === 'closed') cv[K_CLOSED]++;
    else cv[conn.proto === 6 ? K_EXPIRED_TCP : conn.proto === 17 ? K_EXPIRED_UDP : conn.proto === 1 ? K_EXPIRED_ICMP : K_EXPIRED_OTHER]++;
  };

  const dist: FlowDistributor<Conn> = new FlowDistributor<Conn>({
    capacity: s.maxConnsPerShard,
    createState: () => new Conn(),
    sink: ctx,
    handler,
    onNewFlow,
    onMiss,
    onRemove,
    defaultOut,
    preprocess: false,
    timeouts: s.timeouts,
    reparse: new PacketInfo({ verifyIpChecksum: s.verifyIpChecksum }),
    onError: debug ? (e) => process.stderr.write(`ovs-nat shard ${ctx.id}: handler error: ${(e as Error)?.stack ?? String(e)}\n`) : undefined,
  });

  // With several shards a DNAT reply (from a translated destination) is steered as its original would be.
  const steerHash = ctx.count > 1 && s.dnat.length > 0
    ? (pi: PacketInfo): number => {
      if (!pi.related) {
        for (const r of s.dnat) {
          const a = pi.src >>> 0;
          if (a < r.addrLo || a > r.addrHi || (r.proto !== 0 && r.proto !== pi.proto)) continue;
          if (r.portLo >= 0 && (pi.sport < r.portLo || pi.sport > r.portHi)) continue;
          if (r.portLo < 0 && r.dport >= 0 && pi.sport !== r.dport) continue;
          const sp = r.dport >= 0 ? r.dport : pi.sport;
          return tupleHash(pi.proto, r.dst, pi.dst, sp, pi.dport, protoHasPorts(pi.proto));
        }
      }
      return defaultSteerHash(pi);
    }
    : undefined;

  const metaFlows = l3MetaFlows({
    ports: nports, distributor: dist, steer: ctx, info, l3, counters,
    checkDstMac: s.checkDstMac, verifyL4Checksum: s.verifyL4Checksum,
    steerHash: (port) => (port === inside ? steerHash : undefined),
  });

  const refreshOffloads = offloadRefresh(l3, dist);
  // The distributor drives the native executor (and detaches it at stop).
  if (s.offload && s.nativeOffload) {
    attachNativeOffload(ctx.nativeOffload, nports, dist, l3, { verifyIp: s.verifyIpChecksum, verifyL4: s.verifyL4Checksum, checkDstMac: s.checkDstMac });
  }

  let dumpSeq = Atomics.load(shared, 1);
  let nextDumpCheck = 0;
  const dump = (why: string): void => {
    if (s.dumpFile === null) return;
    cv[K_DUMPS]++;
    const text = formatConntrack(dist, now, why, ctx.id) + '\n';
    try {
      fs.writeFileSync(`${s.dumpFile}.${ctx.id}`, text);
    } catch {
      // a dump that cannot be written must not stop the NF
    }
  };

  return flowPipeline({
    clock: ctx.clock,
    metaFlows,
    distributor: dist,
    flushDrops: () => ctx.flushDrops(),
    afterBurst(t: number): void {
      now = t;
      l3.tick(t);
      refreshOffloads(t);
      if (t >= nextDumpCheck) {
        nextDumpCheck = t + 100;
        const seq = Atomics.load(shared, 1);
        if (seq !== dumpSeq) {
          dumpSeq = seq;
          dump('SIGUSR2');
        }
      }
    },
    pollAt: () => Math.min(l3.pollAt(), nextDumpCheck + 100),
    counters(): Record<string, number> {
      const r = counters.snapshot();
      foldOffloadCounts(r, dist.offloads.counts);
      r.conns = dist.active;
      Object.assign(r, l3.snapshot());
      return r;
    },
    stop(): void {
      dump('stop');
      if (localL3 === l3) localL3 = null;
    },
  });
}

const app: AppModule<NatSettings> = {
  name: 'ovs-nat',
  description: 'stateful NAT router (OVS conntrack semantics): SNAT/DNAT, connection tracking, timeouts',
  settingsSchema: schema,
  // `netstar ctl <instance> conntrack '{"match": "…"}'` (SIGUSR2 still writes the same dump)
  control: { conntrack: conntrackCommand },
  settings(config: Config): NatSettings {
    const s = parseSettings(config);
    // SIGUSR2 asks every shard for a conntrack dump (signals reach the main thread only).
    const words = new Int32Array(s.shared);
    process.on('SIGUSR2', () => {
      Atomics.add(words, 1, 1);
    });
    return s;
  },
  prepare(s: NatSettings, ports: PortInfo[]): NatSettings {
    const mac = (i: number): number => {
      const p = ports[i];
      if (!p) throw new NetstarError('ERR_CONFIG', `ovs-nat: no port ${i}`);
      return parseMacText(p.mac);
    };
    return { ...s, inside: { ...s.inside, mac: mac(s.inside.port) }, outside: { ...s.outside, mac: mac(s.outside.port) } };
  },
  createShard(ctx: ShardContext, s: NatSettings): ShardApp {
    return createNat(ctx, s);
  },
};

export default app;
