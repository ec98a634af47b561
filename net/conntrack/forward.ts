// The per-packet path shared by ovs-nat and the load balancer: track the connection (ct_state, TCP
// validation), translate the packet (or the ICMP error about it), then route it: TTL, MACs, and a wait for
// ARP when the next hop is not known yet. Synchronous except for that wait; allocates nothing otherwise.
import {
  ALL_EVENTS, CONTINUE, FlowAction, FlowEvent, MetaFlow, TimeoutClass,
  type AsyncFlow, type FlowDistributor, type OffloadAction, type FlowHandler, type FlowProcessor, type MetaFlowHook,
  type NativeOffloadHost, type NativeOffloadRx, type PacketInfo, type SteerTarget,
} from '../flow';
import { Verdict } from '../app';
import type { CounterSet } from '../flow/counters';
import type { Packet } from '../packet';
import { CS, Conn, OtherState, Update, icmpUpdate, otherUpdate, tcpNew, tcpUpdate } from './conntrack';
import type { L3 } from '../l3/hop';
import { l4ChecksumOk, translate, translateRelated } from './nat';

/** The counters this path bumps; an app's CounterSet must start with them, in this order. */
export const CT_COUNTERS = ['ct.new', 'ct.est', 'ct.rel', 'ct.rpl', 'ct.inv', 'drop.invalid', 'drop.ttl', 'drop.arp'] as const;
export type CtCounter = (typeof CT_COUNTERS)[number];
const NEW = 0, EST = 1, REL = 2, RPL = 3, INV = 4, D_INVALID = 5, D_TTL = 6, D_ARP = 7;

/**
 * Starts tracking a connection from its first packet: the protocol state, its timeout class, next-hop
 * neighbors if known, and the events its handler needs (no Timeout: removal is bookkeeping only).
 */
export function startTracking(flow: AsyncFlow<Conn>, conn: Conn, pi: PacketInfo, l3: L3): void {
  conn.nb0 = l3.neighbor(conn.nextHop0);
  conn.nb1 = l3.neighbor(conn.nextHop1);
  flow.watchEvents(ALL_EVENTS & ~FlowEvent.Timeout);
  const p = conn.proto;
  if (p === 6) flow.setTimeoutClass(tcpNew(conn, pi));
  else flow.setTimeoutClass(p === 1 ? TimeoutClass.IcmpFirst : TimeoutClass.OtherFirst);
}

/**
 * Adds what offloaded packets did to the ct counters: each offloaded direction counts under its ct_state
 * bits as tag (see conntrackHandler), so ct.new/est/rel/rpl stay per packet whichever path a packet took.
 */
export function foldOffloadCounts(r: Record<string, number>, counts: Float64Array): void {
  for (let tag = 0; tag < counts.length; tag++) {
    const n = counts[tag];
    if (n === 0) continue;
    if (tag & CS.NEW) r['ct.new'] = (r['ct.new'] ?? 0) + n;
    if (tag & CS.EST) r['ct.est'] = (r['ct.est'] ?? 0) + n;
    if (tag & CS.REL) r['ct.rel'] = (r['ct.rel'] ?? 0) + n;
    if (tag & CS.RPL) r['ct.rpl'] = (r['ct.rpl'] ?? 0) + n;
  }
}

export interface ConntrackHandlerOptions {
  /**
   * Offload connections of protocols without per-packet validation (UDP and other non-TCP, non-ICMP) once
   * their state is steady in a direction — MULTIPLE or BIDIR going forward, BIDIR for replies — so their
   * packets are translated, routed and counted by the flow layer without a handler call (default true).
   * TCP (window validation per packet) and ICMP always go through the handler.
   */
  offload?: boolean;
}

/** The handler of tracked, translated, routed connections. */
export function conntrackHandler(l3: L3, counters: CounterSet<string>, opts: ConntrackHandlerOptions = {}): FlowHandler<Conn> {
  const offload = opts.offload ?? true;
  const act: OffloadAction = { out: 0, src: 0, dst: 0, sport: 0, dport: 0, decTtl: true, dstMac: 0, srcMac: 0, tag: 0 };
  for (let i = 0; i < CT_COUNTERS.length; i++) if (counters.names[i] !== CT_COUNTERS[i]) throw new Error('the counter set must start with CT_COUNTERS');
  const c = counters.v;
  const cls = { v: 0 };

  const resolveAndForward = async (flow: AsyncFlow<Conn>, conn: Conn, dir: 0 | 1, out: number, pkt: Packet): Promise<FlowAction> => {
    const nh = dir === 0 ? conn.nextHop0 : conn.nextHop1;
    const ok = await l3.resolve(out, nh);
    const nb = ok ? l3.neighbor(nh) : null;
    if (nb === null || !flow.alive) {
      c[D_ARP]++;
      return FlowAction.Drop;
    }
    if (dir === 0) conn.nb0 = nb;
    else conn.nb1 = nb;
    l3.writeL2(pkt, out, nb);
    return FlowAction.Forward;
  };

  return (flow: AsyncFlow<Conn>): FlowAction | Promise<FlowAction> => {
    const conn = flow.state, pi = flow.info!, pkt = flow.packet!, dir = flow.direction, ev = flow.events;
    let ct: number = CS.TRK;
    // The tracker left the state as it was before this packet (VALID): later packets like it get the same
    // answer, ct bits and timeout class — what an offloaded direction gives them.
    let steady = false;
    if ((ev & FlowEvent.Related) !== 0) {
      ct |= CS.REL;
      if (dir === 1) ct |= CS.RPL;
      translateRelated(pkt, pi, conn, dir);
    } else {
      if ((ev & FlowEvent.New) !== 0) ct |= CS.NEW;
      else {
        const reply = dir === 1;
        const p = conn.proto;
        const r = p === 6 ? tcpUpdate(conn, pi, reply, cls) : p === 1 ? icmpUpdate(conn, reply, cls) : otherUpdate(conn, reply, cls);
        if (r === Update.INVALID) {
          c[INV]++;
          c[D_INVALID]++;
          conn.lastCt = CS.TRK | CS.INV;
          return FlowAction.Drop;
        }
        steady = r === Update.VALID;
        if (r === Update.NEW) {
          // A SYN on a closed connection: the same tuple (and translation) starts over.
          cls.v = tcpNew(conn, pi);
          ct |= CS.NEW;
        } else {
          ct |= r === Update.VALID_NEW ? CS.NEW : CS.EST;
          if (reply) ct |= CS.RPL;
        }
        if (cls.v >= 0) flow.setTimeoutClass(cls.v);
      }
      translate(pi, conn, dir);
    }
    ct |= conn.nat;
    conn.lastCt = ct;
    if (ct & CS.NEW) c[NEW]++;
    if (ct & CS.EST) c[EST]++;
    if (ct & CS.REL) c[REL]++;
    if (ct & CS.RPL) c[RPL]++;
    if (!l3.decrementTtl(pi.view, pi.l3)) {
      c[D_TTL]++;
      return FlowAction.Drop;
    }
    const out = dir === 0 ? conn.outPort0 : conn.inPort0;
    flow.outPort = out;
    const nb = dir === 0 ? conn.nb0 : conn.nb1;
    if (nb !== null) {
      l3.writeL2(pkt, out, nb);
      // A steady UDP/other direction: later packets like this one get the same work from the flow layer.
      if (offload && steady && ev === FlowEvent.Packet && conn.proto !== 6 && conn.proto !== 1
        && (conn.state === OtherState.BIDIR || (dir === 0 && conn.state === OtherState.MULTIPLE))) {
        // What translate() and writeL2 just did: the translated tuple going out, the original one reversed
        // coming back. One action object, filled per call (offload reads it and keeps nothing).
        const fwd = dir === 0;
        act.out = out;
        act.src = fwd ? conn.tSrc : conn.oDst;
        act.dst = fwd ? conn.tDst : conn.oSrc;
        act.sport = fwd ? conn.tSport : conn.oDport;
        act.dport = fwd ? conn.tDport : conn.oSport;
        act.dstMac = nb.mac;
        act.srcMac = l3.portMac(out);
        act.tag = ct;
        flow.offload(act);
      }
      return FlowAction.Forward;
    }
    // The next hop is not resolved yet: this packet waits (held), the flow's later packets queue behind it.
    return resolveAndForward(flow, conn, dir, out, pkt);
  };
}

export interface L3MetaFlowOptions {
  ports: number;
  distributor: FlowProcessor;
  steer: SteerTarget;
  info: PacketInfo;
  l3: L3;
  checkDstMac: boolean;
  verifyL4Checksum: boolean;
  /** the app's counters; they must include 'drop.notForUs' and 'drop.badL4Checksum' */
  counters: CounterSet<string>;
  /** a steering hash for a port, if it needs its own */
  steerHash?: (port: number) => ((info: PacketInfo, pkt: Packet) => number) | undefined;
  /** one more hook for a port (e.g. health-check replies), after the checks */
  extraHook?: (port: number) => MetaFlowHook | undefined;
}

/**
 * The MetaFlows of an L3 hop (ovs-nat, the load balancer): non-IP frames (ARP) to the L3 hop, then frames not
 * addressed to us and bad L4 checksums dropped with counters, then the app's own hook.
 */
export function l3MetaFlows(o: L3MetaFlowOptions): MetaFlow[] {
  const cv = o.counters.v;
  const kNotForUs = o.counters.index('drop.notForUs');
  const kBadL4 = o.counters.index('drop.badL4Checksum');
  const l3 = o.l3;
  const out: MetaFlow[] = [];
  for (let port = 0; port < o.ports; port++) {
    const mf = new MetaFlow({ port, distributor: o.distributor, steer: o.steer, info: o.info, steerHash: o.steerHash?.(port) });
    mf.nonIp = (p, pi, ip) => l3.handleNonIp(p, pi, ip);
    if (o.checkDstMac) mf.addHook((p, _pi, ip) => {
      if (l3.acceptsDst(p, ip)) return CONTINUE;
      cv[kNotForUs]++;
      return Verdict.DROP;
    });
    if (o.verifyL4Checksum) mf.addHook((_p, pi) => {
      if (l4ChecksumOk(pi)) return CONTINUE;
      cv[kBadL4]++;
      return Verdict.DROP;
    });
    const extra = o.extraHook?.(port);
    if (extra) mf.addHook(extra);
    out.push(mf);
  }
  return out;
}

/**
 * Offloaded connections carry copies of neighbor MACs: invalidates every offload when a neighbor changes and
 * once per neighbor refresh period (the next packet of each goes through writeL2, which re-resolves when
 * due). Returns the clock hook to call after each burst.
 */
export function offloadRefresh(l3: L3, dist: FlowDistributor<Conn>): (now: number) => void {
  l3.onChange = () => dist.invalidateOffloads();
  let next = -1;
  return (now: number): void => {
    if (next >= 0 && now < next) return;
    if (next >= 0) dist.invalidateOffloads();
    next = now + l3.refreshMs;
  };
}

export interface NativeOffloadOptions {
  verifyIp: boolean;
  verifyL4: boolean;
  checkDstMac: boolean;
  /** port indexes whose MetaFlow runs hooks the native path cannot (e.g. health-check replies): JS only */
  jsOnlyPorts?: number[];
}

/**
 * Attaches the native offload executor (the shard's `ctx.nativeOffload`) to the distributor for this L3 hop's
 * ports: packets of offloaded connections are then rewritten and sent inside the RX burst, after the same checks
 * MetaFlow makes (the port's MAC as destination — other frames go to JS, which may still accept broadcasts —,
 * IPv4 and L4 checksums). Ports listed in jsOnlyPorts stay with JS; the shard leaves out ports it cannot serve
 * natively (a TCP/IP stack, no RX queue here). The distributor detaches it (flowPipeline does at stop).
 */
export function attachNativeOffload(host: NativeOffloadHost | null, ports: number, dist: FlowDistributor<Conn>, l3: L3, o: NativeOffloadOptions): boolean {
  const rx: NativeOffloadRx[] = [];
  for (let i = 0; i < ports; i++) {
    if ((o.jsOnlyPorts ?? []).includes(i)) continue;
    rx.push({ portIndex: i, verifyIp: o.verifyIp, verifyL4: o.verifyL4, mac: o.checkDstMac ? l3.portMac(i) : -1 });
  }
  return dist.attachNative(host, rx);
}
