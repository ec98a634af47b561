// MetaFlow: the programmable entry of one port's NF pipeline. It parses each packet once, runs the port's
// hooks (classify, answer, drop), keeps flows on their shard (symmetric steering), applies its rule list,
// and hands the rest to the FlowDistributor. FlowPipeline bundles the MetaFlows of all ports into a ShardApp.
import { Verdict, type ShardApp } from '../app';
import type { Packet } from '../packet';
import { PacketInfo, ParseStatus, PARSE_STATUS_NAMES, type ParseOptions } from './packet-info';
import { protoHasPorts, tupleHash } from './tuple';

/** A hook's answer meaning "not mine, go on" (typed as a Verdict so hooks return one type; never reaches the shard). */
export const CONTINUE = -100 as Verdict;

/**
 * A hook sees every packet of the port that reached its stage: return a Verdict (port, DROP, STOLEN) to
 * finish with the packet, or CONTINUE. `info.status` tells what was parsed (NotIpv4 for ARP and others).
 */
export type MetaFlowHook = (pkt: Packet, info: PacketInfo, inPort: number) => Verdict;

/** A rule: a match on the parsed packet and what to do with matching ones. */
export interface MetaFlowRule {
  name: string;
  match: (info: PacketInfo, pkt: Packet) => boolean;
  /** a Verdict (DROP, a port) or a hook deciding per packet */
  action: Verdict | MetaFlowHook;
}

/** Where MetaFlow hands IPv4 packets (a FlowDistributor of any state type fits). */
export interface FlowProcessor {
  process(pkt: Packet, inPort: number, info: PacketInfo): Verdict;
}

/** What flowPipeline drives (FlowDistributor fits). */
export interface PipelineDistributor extends FlowProcessor {
  now: number;
  /** sets `now` and whatever else follows the clock (FlowDistributor: the native executor's clock) */
  setNow?(now: number): void;
  expire(now: number): number;
  nextExpiry(): number;
  snapshot(prefix?: string): Record<string, number>;
  dropAll(): number;
  /** stops the native offload executor if attached (FlowDistributor.detachNative); flowPipeline calls it at stop */
  detachNative?(): void;
}

/** What MetaFlow needs to keep flows on their shard; the app's ShardContext fits it. */
export interface SteerTarget {
  readonly id: number;
  readonly count: number;
  /** the shard that owns a flow hash (the runtime's RSS/steering table) */
  shardOfHash(hash: number): number;
  /** hands the packet to `shard`; `hash` (its flow's steering hash) lets a busy ring shed it first if the flow is new there */
  forward(pkt: Packet, shard: number, hash?: number): void;
  /** this shard accepted a packet of the flow with this steering hash (other shards then treat it as known) */
  markFlow?(hash: number): void;
  /** declares that this shard marks the flows it accepts (MetaFlow calls it when built) */
  marksFlows?(): void;
}

export interface MetaFlowOptions {
  port: number;
  distributor?: FlowProcessor;
  /** steering target; steering is on when it has more than one shard (default: off) */
  steer?: SteerTarget;
  /**
   * Which hash a packet is steered by (default: the symmetric tuple hash of its lookup tuple — for an ICMP
   * error that of the datagram it quotes, so it reaches the shard of the flow it is about). Return -1 to keep it.
   */
  steerHash?: (info: PacketInfo, pkt: Packet) => number;
  /** parser options (default: verify IPv4 header checksums) */
  parse?: ParseOptions;
  /** the parser to use (share one between ports of a shard: packets are handled one at a time) */
  info?: PacketInfo;
}

/** Per-port entry of the pipeline. Hooks run in the order added; rules after steering, first match wins. */
export class MetaFlow {
  readonly port: number;
  readonly info: PacketInfo;
  /** run on frames that are not IPv4 (ARP…); without one they are dropped (counted as nonIp) */
  nonIp: MetaFlowHook | null = null;
  /** run on IPv4 packets before steering (things a shard answers itself: ARP-like services, pings to us) */
  readonly preHooks: MetaFlowHook[] = [];
  readonly rules: MetaFlowRule[] = [];
  /** what parse errors do: drop (default, counted) or a hook */
  onParseError: MetaFlowHook | null = null;
  readonly c = { rx: 0, nonIp: 0, steered: 0, ruleDrops: 0, hookVerdicts: 0 };
  /** drops per ParseStatus */
  readonly parseDrops = new Float64Array(PARSE_STATUS_NAMES.length);
  private readonly distributor: FlowProcessor | null;
  private readonly steerTo: SteerTarget | null;
  private readonly steerHash: ((info: PacketInfo, pkt: Packet) => number) | null;

  constructor(opts: MetaFlowOptions) {
    this.port = opts.port;
    this.info = opts.info ?? new PacketInfo(opts.parse);
    this.distributor = opts.distributor ?? null;
    this.steerTo = opts.steer && opts.steer.count > 1 ? opts.steer : null;
    // From the start, not from the first accepted packet: the other shards may shed new flows toward this one.
    if (this.steerTo !== null && this.steerTo.markFlow !== undefined && this.steerTo.marksFlows !== undefined) this.steerTo.marksFlows();
    this.steerHash = opts.steerHash ?? null;
  }

  addHook(h: MetaFlowHook): this {
    this.preHooks.push(h);
    return this;
  }

  addRule(r: MetaFlowRule): this {
    this.rules.push(r);
    return this;
  }

  /** The pipeline for one packet; returns the verdict for onPacket. */
  process(pkt: Packet): Verdict {
    const info = this.info, port = this.port;
    this.c.rx++;
    const st = info.parse(pkt);
    if (st !== ParseStatus.Ok) {
      if (st === ParseStatus.NotIpv4) {
        if (this.nonIp !== null) return this.nonIp(pkt, info, port);
        this.c.nonIp++;
        return Verdict.DROP;
      }
      if (this.onParseError !== null) {
        const v = this.onParseError(pkt, info, port);
        if (v !== CONTINUE) return v;
      }
      this.parseDrops[st]++;
      return Verdict.DROP;
    }
    const hooks = this.preHooks;
    for (let i = 0; i < hooks.length; i++) {
      const v = hooks[i](pkt, info, port);
      if (v !== CONTINUE) {
        this.c.hookVerdicts++;
        return v;
      }
    }
    const s = this.steerTo;
    let h = -1;
    if (s !== null) {
      h = this.steerHash !== null ? this.steerHash(info, pkt) : defaultSteerHash(info);
      if (h >= 0) {
        const target = s.shardOfHash(h);
        if (target !== s.id) {
          s.forward(pkt, target, h);
          this.c.steered++;
          return Verdict.STOLEN;
        }
      }
    }
    const rules = this.rules;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      if (!r.match(info, pkt)) continue;
      const a = r.action;
      const v = typeof a === 'number' ? a : a(pkt, info, port);
      if (v === CONTINUE) continue;
      if (v === Verdict.DROP) this.c.ruleDrops++;
      return v;
    }
    if (this.distributor === null) return Verdict.DROP;
    const v = this.distributor.process(pkt, port, info);
    // The distributor took the packet (its flow exists or was created): the steering shards learn the flow is
    // known here, so a new-flow flood at a busy ring sheds other packets before this flow's.
    if (h >= 0 && v !== Verdict.DROP && s!.markFlow !== undefined) s!.markFlow(h);
    return v;
  }

  snapshot(prefix: string): Record<string, number> {
    const r: Record<string, number> = {};
    r[`${prefix}rx`] = this.c.rx;
    r[`${prefix}nonIp`] = this.c.nonIp;
    r[`${prefix}steered`] = this.c.steered;
    r[`${prefix}ruleDrops`] = this.c.ruleDrops;
    for (let i = 2; i < PARSE_STATUS_NAMES.length; i++) r[`${prefix}drop.${PARSE_STATUS_NAMES[i]}`] = this.parseDrops[i];
    return r;
  }
}

/** The symmetric hash of the lookup tuple: what the runtime's software steering computes for the flow's packets. */
export function defaultSteerHash(info: PacketInfo): number {
  return tupleHash(info.kProto, info.kSrc, info.kDst, info.kSport, info.kDport, protoHasPorts(info.kProto));
}

export interface FlowPipelineOptions {
  metaFlows: MetaFlow[];
  distributor: PipelineDistributor;
  /** extra counters merged into counters() */
  counters?: () => Record<string, number>;
  /**
   * The flow clock (ms), read once per afterBurst: give the shard's low-resolution clock (`ctx.clock`), which
   * the loop updates. Without it every pass calls performance.now(), whose result V8 boxes (16 bytes a call).
   */
  clock?: { now(): number };
  /** called after each poll-loop pass with the time (ms) */
  afterBurst?: (now: number) => void;
  /** when the app needs the loop (ms); combined with the next flow expiry */
  pollAt?: () => number;
  stop?: () => void | Promise<void>;
  /** drop packets the distributor still holds at stop (default true) */
  dropHeldAtStop?: boolean;
  /** called after those drops, e.g. `() => ctx.flushDrops()` so they are freed before the shard closes */
  flushDrops?: () => void;
}

/**
 * A ShardApp from MetaFlows (one per port index) and a distributor: onPacket runs the port's MetaFlow,
 * afterBurst advances the flow clock and expires flows, pollAt wakes the loop for the next expiry.
 */
export function flowPipeline(o: FlowPipelineOptions): ShardApp {
  const mfs = o.metaFlows;
  const dist = o.distributor;
  let nextExpiry = 0;
  const clock = o.clock ?? { now: () => performance.now() };
  return {
    onPacket(pkt: Packet, portIndex: number): Verdict {
      const mf = mfs[portIndex];
      return mf === undefined ? Verdict.DROP : mf.process(pkt);
    },
    afterBurst(): void {
      const now = clock.now();
      if (dist.setNow) dist.setNow(now);
      else dist.now = now;
      if (now >= nextExpiry) {
        dist.expire(now);
        // Re-check at the next expiry, and at least every 100 ms (new flows may expire sooner than that).
        nextExpiry = Math.min(dist.nextExpiry(), now + 100);
      }
      if (o.afterBurst) o.afterBurst(now);
    },
    pollAt(): number {
      const a = dist.nextExpiry();
      return o.pollAt ? Math.min(a, o.pollAt()) : a;
    },
    counters(): Record<string, number> {
      const r = dist.snapshot();
      for (const mf of mfs) Object.assign(r, mf.snapshot(`port${mf.port}.`));
      if (o.counters) Object.assign(r, o.counters());
      return r;
    },
    async stop(): Promise<void> {
      // The native executor stops first: from here on every packet reaches JS, which is stopping.
      if (dist.detachNative) dist.detachNative();
      if (o.stop) await o.stop();
      if ((o.dropHeldAtStop ?? true) && dist.dropAll() > 0 && o.flushDrops) o.flushDrops();
    },
  };
}
