// load-balancer: VIP:port -> weighted backends through a Maglev table, as an L3 hop between a client port and a
// backend port. Full NAT (client -> VIP becomes LB -> backend, so backends need no route back to clients);
// per-flow connection tracking keeps a flow on its backend whatever happens to the set; TCP-connect health
// checks take dead backends out of the table; the backends file is re-read when it changes.
import * as fs from 'fs';
import {
  NetstarError, Verdict, conntrack, defineTask, flow, l3 as l3lib,
  type AppModule, type Packet, type PortInfo, type ShardApp, type ShardContext,
} from '../../index';
import { parseSettings, readBackendsFile, schema, type LbSettings, type VipSpec } from './config';
import { Backend, HEALTH_COUNTERS, HealthChecker } from './health';
import { buildMaglev, maglevSlot } from './maglev';

const { CREATE_FLOW, CounterSet, FlowDistributor, PacketInfo, flowPipeline } = flow;
type AsyncFlow<S> = flow.AsyncFlow<S>;
type PacketInfo = flow.PacketInfo;
type CounterSet<K extends string> = flow.CounterSet<K>;
type FlowDistributor<S> = flow.FlowDistributor<S>;
const {
  CS, Conn, tcpValidNew, chooseSource, CT_COUNTERS, attachNativeOffload, conntrackHandler, foldOffloadCounts,
  l3MetaFlows, offloadRefresh, startTracking,
} = conntrack;
type Conn = conntrack.Conn;
type TupleCheck = conntrack.TupleCheck;
const { L3, hostIo, shareNeighbors, parseMacText } = l3lib;
type L3 = l3lib.L3;

export const LB_COUNTERS = [
  ...CT_COUNTERS, 'flows.new', 'drop.noVip', 'drop.noBackend', 'drop.natExhausted', 'drop.noRoute', 'drop.tableFull',
  'drop.unsolicited', 'drop.badL4Checksum', 'drop.notForUs', 'drop.otherPort', 'reloads', 'reloadErrors', 'tableRebuilds',
  'expired', 'closed',
] as const;
type LbCounter = (typeof LB_COUNTERS)[number];
// Indexes into the app's CounterSet: counters are bumped as `cv[K_…]++` (a typed array, no name lookup).
const K_CLOSED = LB_COUNTERS.indexOf('closed');
const K_CT_INV = LB_COUNTERS.indexOf('ct.inv');
const K_DROP_INVALID = LB_COUNTERS.indexOf('drop.invalid');
const K_DROP_NATEXHAUSTED = LB_COUNTERS.indexOf('drop.natExhausted');
const K_DROP_NOBACKEND = LB_COUNTERS.indexOf('drop.noBackend');
const K_DROP_NOROUTE = LB_COUNTERS.indexOf('drop.noRoute');
const K_DROP_NOVIP = LB_COUNTERS.indexOf('drop.noVip');
const K_DROP_OTHERPORT = LB_COUNTERS.indexOf('drop.otherPort');
const K_DROP_TABLEFULL = LB_COUNTERS.indexOf('drop.tableFull');
const K_DROP_UNSOLICITED = LB_COUNTERS.indexOf('drop.unsolicited');
const K_EXPIRED = LB_COUNTERS.indexOf('expired');
const K_FLOWS_NEW = LB_COUNTERS.indexOf('flows.new');
const K_RELOADERRORS = LB_COUNTERS.indexOf('reloadErrors');
const K_RELOADS = LB_COUNTERS.indexOf('reloads');
const K_TABLEREBUILDS = LB_COUNTERS.indexOf('tableRebuilds');

let localL3: L3 | null = null;
const learnTask = defineTask('load-balancer.learn', (ip: number, mac: number, port: number): void => {
  localL3?.learn(ip, mac, port);
});

/** A VIP with its backends (in file order) and the Maglev table over the healthy ones. */
interface VipState {
  spec: VipSpec;
  backends: Backend[];
  weights: number[];
  table: Int32Array;
}

export function createLb(ctx: ShardContext, s: LbSettings): ShardApp {
  const cport = s.client.port, bport = s.backend.port;
  const counters = new CounterSet<LbCounter>(LB_COUNTERS);
  const cv = counters.v;
  const io = hostIo(ctx);
  const l3 = new L3([
    { port: cport, ip: s.client.ip, mask: s.client.mask, gateway: s.client.gateway, mac: s.client.mac, extra: s.vips.map((v) => v.vip) },
    { port: bport, ip: s.backend.ip, mask: s.backend.mask, gateway: s.backend.gateway, mac: s.backend.mac },
  ], io, s.arp);
  for (const n of s.neighbors) l3.addStatic(n.ip, n.mac, l3.nextHop(cport, n.ip) === n.ip ? cport : bport);
  localL3 = l3;
  shareNeighbors(ctx, l3, learnTask);
  const local = ctx.count > 1 ? (h: number): boolean => ctx.ownsHash(h) : (): boolean => true;

  // ---- VIPs, backends, Maglev tables ----
  let vips: VipState[] = [];
  const registry = new Map<string, Backend>();
  const rebuild = (v: VipState): void => {
    const list = v.backends.map((b, i) => ({ name: b.key, weight: b.up ? v.weights[i] : 0 }));
    v.table = buildMaglev(list, s.tableSize, v.table);
    cv[K_TABLEREBUILDS]++;
  };
  const health = new HealthChecker(l3, io, bport, s.backend.ip, s.health, local, (b) => {
    for (const v of vips) if (v.backends.includes(b)) rebuild(v);
  });
  const apply = (specs: VipSpec[]): void => {
    const next: VipState[] = [];
    const seen = new Map<string, Backend>();
    for (const spec of specs) {
      const backends = spec.backends.map((bs) => {
        let b = registry.get(bs.key);
        if (!b) {
          b = new Backend(bs.key, bs.ip >>> 0, bs.port);
          registry.set(bs.key, b);
        }
        seen.set(bs.key, b);
        return b;
      });
      const v: VipState = { spec, backends, weights: spec.backends.map((b) => b.weight), table: new Int32Array(0) };
      rebuild(v);
      next.push(v);
      l3.addAddress(spec.vip, cport);
    }
    // Backends no longer listed are forgotten (their flows keep going: a flow knows its backend's address).
    for (const k of [...registry.keys()]) if (!seen.has(k)) registry.delete(k);
    vips = next;
    if (s.health.enabled) health.setBackends([...seen.values()]);
  };
  apply(s.vips);

  const vipFor = (pi: PacketInfo): VipState | null => {
    const dst = pi.dst >>> 0;
    for (let i = 0; i < vips.length; i++) {
      const v = vips[i].spec;
      if (v.vip === dst && v.port === pi.dport && v.proto === pi.proto) return vips[i];
    }
    return null;
  };

  // ---- flows ----
  const handler = conntrackHandler(l3, counters as unknown as CounterSet<string>, { offload: s.offload });
  const check: TupleCheck = { taken: (p, a, b, sp, dp) => dist.has(p, a, b, sp, dp), local };
  const snatRange = { addrLo: s.backend.ip, addrHi: s.backend.ip, portLo: s.snatLo, portHi: s.snatHi };

  const onMiss = (pkt: Packet, pi: PacketInfo, inPort: number): Verdict => {
    if (inPort === cport) {
      if (vipFor(pi) !== null) return CREATE_FLOW;
      if (l3.isOurs(pi.dst)) {
        const v = l3.echoReply(pkt, pi, inPort);
        if (v >= 0) return v;
      }
      cv[K_DROP_NOVIP]++;
      return Verdict.DROP;
    }
    if (inPort === bport) {
      if (l3.isOurs(pi.dst)) {
        const v = l3.echoReply(pkt, pi, inPort);
        if (v >= 0) return v;
      }
      cv[K_DROP_UNSOLICITED]++;
      return Verdict.DROP;
    }
    cv[K_DROP_OTHERPORT]++;
    return Verdict.DROP;
  };

  const onNewFlow = (flow: AsyncFlow<Conn>, _pkt: Packet, pi: PacketInfo, inPort: number): boolean => {
    const v = vipFor(pi);
    if (v === null || inPort !== cport) return false;
    const conn = flow.state;
    conn.reset();
    conn.proto = pi.proto;
    conn.oSrc = pi.src >>> 0;
    conn.oDst = pi.dst >>> 0;
    conn.oSport = pi.sport;
    conn.oDport = pi.dport;
    if (conn.proto === 6 && !tcpValidNew(pi.tcpFlags)) {
      cv[K_CT_INV]++;
      cv[K_DROP_INVALID]++;
      return false;
    }
    const idx = v.table.length > 0 ? v.table[maglevSlot(conn.proto, conn.oSrc, conn.oDst, conn.oSport, conn.oDport, s.tableSize)] : -1;
    if (idx < 0) {
      cv[K_DROP_NOBACKEND]++;
      return false;
    }
    const b = v.backends[idx];
    // Full NAT: the backend sees the LB's backend-side address as the client.
    conn.tSrc = s.backend.ip >>> 0;
    conn.tDst = b.ip;
    conn.tDport = b.port;
    conn.tSport = conn.oSport;
    if (!chooseSource(conn, snatRange, check, s.maxPortProbes)) {
      cv[K_DROP_NATEXHAUSTED]++;
      return false;
    }
    conn.nat = CS.SNAT | CS.DNAT;
    if (!flow.addKey(conn.proto, conn.tDst, conn.tSrc, conn.tDport, conn.tSport, 1)) {
      cv[K_DROP_TABLEFULL]++;
      return false;
    }
    conn.inPort0 = cport;
    conn.outPort0 = bport;
    conn.nextHop0 = l3.nextHop(bport, conn.tDst);
    conn.nextHop1 = l3.nextHop(cport, conn.oSrc);
    if (conn.nextHop0 < 0 || conn.nextHop1 < 0) {
      cv[K_DROP_NOROUTE]++;
      return false;
    }
    conn.backend = idx;
    b.flows++;
    cv[K_FLOWS_NEW]++;
    startTracking(flow, conn, pi, l3);
    return true;
  };

  const dist: FlowDistributor<Conn> = new FlowDistributor<Conn>({
    capacity: s.maxFlowsPerShard,
    createState: () => new Conn(),
    sink: ctx,
    handler,
    onNewFlow,
    onMiss,
    onRemove: (_f, why) => {
      if (why === 'closed') cv[K_CLOSED]++;
      else cv[K_EXPIRED]++;
    },
    defaultOut: Array.from({ length: ctx.qps.length }, (_, i) => (i === cport ? bport : i === bport ? cport : -1)),
    preprocess: false,
    timeouts: s.timeouts,
    reparse: new PacketInfo({ verifyIpChecksum: s.verifyIpChecksum }),
  });

  const info = new PacketInfo({ verifyIpChecksum: s.verifyIpChecksum });
  const metaFlows = l3MetaFlows({
    ports: ctx.qps.length, distributor: dist, steer: ctx, info, l3, counters,
    checkDstMac: s.checkDstMac, verifyL4Checksum: s.verifyL4Checksum,
    extraHook: (port) => (port === bport && s.health.enabled ? (p, pi) => health.handle(p, pi) : undefined),
  });

  // ---- reloading the backends file ----
  let fileMtime = -1;
  let nextReload = 0;
  if (s.backendsFile) {
    try {
      fileMtime = fs.statSync(s.backendsFile).mtimeMs;
    } catch {
      fileMtime = -1;
    }
  }
  const maybeReload = (now: number): void => {
    if (s.backendsFile === null || now < nextReload) return;
    nextReload = now + s.reloadMs;
    let m: number;
    try {
      m = fs.statSync(s.backendsFile).mtimeMs;
    } catch {
      return;
    }
    if (m === fileMtime) return;
    fileMtime = m;
    try {
      apply(readBackendsFile(s.backendsFile));
      cv[K_RELOADS]++;
    } catch {
      cv[K_RELOADERRORS]++;
    }
  };

  const refreshOffloads = offloadRefresh(l3, dist);
  // Health-check replies arrive on the backend port and are a hook's: that port stays with JS while checks run.
  // The distributor drives the native executor (and detaches it at stop).
  if (s.offload && s.nativeOffload) {
    attachNativeOffload(ctx.nativeOffload, ctx.qps.length, dist, l3, {
      verifyIp: s.verifyIpChecksum, verifyL4: s.verifyL4Checksum, checkDstMac: s.checkDstMac, jsOnlyPorts: s.health.enabled ? [bport] : [],
    });
  }

  return flowPipeline({
    clock: ctx.clock,
    metaFlows,
    distributor: dist,
    flushDrops: () => ctx.flushDrops(),
    afterBurst(now: number): void {
      l3.tick(now);
      refreshOffloads(now);
      if (s.health.enabled) health.tick(now);
      maybeReload(now);
    },
    pollAt(): number {
      let t = l3.pollAt();
      if (s.health.enabled) t = Math.min(t, health.pollAt());
      if (s.backendsFile !== null) t = Math.min(t, nextReload);
      return t;
    },
    counters(): Record<string, number> {
      const r = counters.snapshot();
      foldOffloadCounts(r, dist.offloads.counts);
      for (const k of HEALTH_COUNTERS) r[`health.${k}`] = health.c[k];
      r.flows = dist.active;
      for (const b of registry.values()) {
        r[`backend.${b.key}.flows`] = b.flows;
        r[`backend.${b.key}.up`] = b.up ? 1 : 0;
      }
      Object.assign(r, l3.snapshot());
      return r;
    },
    stop(): void {
      if (localL3 === l3) localL3 = null;
    },
  });
}

const app: AppModule<LbSettings> = {
  name: 'load-balancer',
  description: 'L4 load balancer: Maglev hashing over VIP backends, full NAT, health checks, reloadable backends',
  settingsSchema: schema,
  settings: parseSettings,
  prepare(s: LbSettings, ports: PortInfo[]): LbSettings {
    const mac = (i: number): number => {
      const p = ports[i];
      if (!p) throw new NetstarError('ERR_CONFIG', `load-balancer: no port ${i}`);
      return parseMacText(p.mac);
    };
    return { ...s, client: { ...s.client, mac: mac(s.client.port) }, backend: { ...s.backend, mac: mac(s.backend.port) } };
  },
  createShard(ctx: ShardContext, s: LbSettings): ShardApp {
    return createLb(ctx, s);
  },
};

export default app;

