// stateless-nf: a source NAT (with the stateful firewall that implies: outside packets pass only on a
// mapping) whose per-flow state lives in a remote store (MICA by default, Redis as the alternative), as in
// StatelessNF: a flow's first packet (and any local-cache miss) looks the flow up, the packets wait (held,
// bounded) while it is pending, a new flow claims an external port with an atomic add in the store (two
// instances never hand out the same port), and an instance can die: a replacement finds every flow in the store.
import { z } from 'zod';
import { NetstarError, Verdict, flow, type AppModule, type Config, type PacketHandle, type ShardApp, type ShardContext, type Packet, appSettings } from '../../index';
import { clientSteering } from '../../mica';
import { MicaStateStore, RedisStateStore, type StateStore } from './store';

const ipRe = /^\d{1,3}(\.\d{1,3}){3}$/;
const schema = z.object({
  /** port (index in config.ports) of the inside network; its stack address is the hosts' gateway */
  insidePort: z.number().int().min(0).default(0),
  /** port of the outside network; its stack address is the external (translated) address */
  outsidePort: z.number().int().min(0).default(1),
  /** external ports handed out */
  portRange: z.tuple([z.number().int().min(1024).max(65535), z.number().int().min(1024).max(65535)]).default([20000, 29999]),
  /** next hops by address (hosts on either side); others are learned from the ports' ARP */
  /** the outside next hop for every destination (a router); without it destinations are direct neighbours */
  outsideGateway: z.string().regex(ipRe).optional(),
  neighbors: z.array(z.object({ ip: z.string().regex(ipRe), mac: z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/) }).strict()).default([]),
  backend: z.enum(['mica', 'redis']).default('mica'),
  mica: z.object({
    portIndex: z.number().int().min(0),
    servers: z.array(z.object({ ip: z.string().regex(ipRe), udpPort: z.number().int().min(1).max(65535), partitions: z.number().int().min(1).max(1024), mac: z.string().optional() }).strict()).min(1),
    replyPort: z.number().int().min(1).max(65000).default(7000),
    timeoutMs: z.number().min(0.1).default(10),
    retries: z.number().int().min(0).default(5),
  }).strict().optional(),
  redis: z.object({
    nodes: z.array(z.object({ host: z.string(), port: z.number().int().min(1).max(65535) }).strict()).min(1),
    cluster: z.boolean().default(false),
    timeoutMs: z.number().int().min(1).default(200),
  }).strict().optional(),
  /** flows remembered locally per shard (the store is the truth; the cache is cleared when full) */
  cacheSize: z.number().int().min(16).default(65536),
  /** packets held while their flow's lookup is pending: per flow, per shard */
  maxPendingPerFlow: z.number().int().min(1).default(64),
  maxPending: z.number().int().min(1).default(4096),
}).strict();
type Settings = z.infer<typeof schema> & { outsideIp: number; insideIp: number; gateway: number };

interface Lease { inIp: number; inPort: number; remoteIp: number; remotePort: number }

function leaseBytes(l: Lease): Uint8Array {
  const b = new Uint8Array(12), v = new DataView(b.buffer);
  v.setUint32(0, l.inIp); v.setUint16(4, l.inPort); v.setUint32(6, l.remoteIp); v.setUint16(10, l.remotePort);
  return b;
}
function leaseOf(b: Uint8Array): Lease | null {
  if (b.length !== 12) return null;
  const v = new DataView(b.buffer, b.byteOffset, 12);
  return { inIp: v.getUint32(0), inPort: v.getUint16(4), remoteIp: v.getUint32(6), remotePort: v.getUint16(10) };
}
const ipNum = (s: string): number => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);
const macNum = (s: string): number => parseInt(s.replace(/:/g, ''), 16);

const app: AppModule<Settings> = {
  name: 'stateless-nf',
  description: 'source NAT whose per-flow state lives in MICA or Redis, so instances can be killed and replaced',
  settingsSchema: schema,
  settings: appSettings('stateless-nf', schema, (s, config): Settings => {
    const addrOf = (i: number, what: string): number => {
      const st = config.ports[i]?.stack;
      if (!st || st.closedPorts !== 'nf') throw new NetstarError('ERR_CONFIG', `stateless-nf: the ${what} port ${i} needs "stack": {"address": "…/prefix", "closedPorts": "nf"}`);
      return ipNum(st.address.split('/')[0]);
    };
    const insideIp = addrOf(s.insidePort, 'inside'), outsideIp = addrOf(s.outsidePort, 'outside');
    if (s.backend === 'mica') {
      if (!s.mica) throw new NetstarError('ERR_CONFIG', 'stateless-nf: backend "mica" needs app.mica {portIndex, servers}');
      addrOf(s.mica.portIndex, 'MICA');
    }
    if (s.backend === 'redis' && !s.redis) throw new NetstarError('ERR_CONFIG', 'stateless-nf: backend "redis" needs app.redis {nodes}');
    if (s.portRange[0] > s.portRange[1]) throw new NetstarError('ERR_CONFIG', 'stateless-nf: portRange is [low, high]');
    return { ...s, insideIp, outsideIp, gateway: s.outsideGateway ? ipNum(s.outsideGateway) : -1 };
  }),
  steering: (s: Settings, shards: number) => (s.backend === 'mica' && s.mica ? clientSteering(s.mica, shards) : []),
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const store: StateStore = s.backend === 'mica'
      ? new MicaStateStore(ctx, { portIndex: s.mica!.portIndex, servers: s.mica!.servers, replyPort: s.mica!.replyPort, timeoutMs: s.mica!.timeoutMs, retries: s.mica!.retries })
      : new RedisStateStore(s.redis!);
    const info = new flow.PacketInfo();
    const n = {
      outPackets: 0, inPackets: 0, cacheHits: 0, lookups: 0, storeHits: 0, allocated: 0, portCollisions: 0, exhausted: 0,
      pendingDrops: 0, noMapping: 0, filtered: 0, noNeighbor: 0, storeErrors: 0, parseErrors: 0, unsupported: 0, notOurs: 0,
      cacheFlushes: 0, held: 0,
    };
    // lookup latency (µs from a flow's first held packet to its lookup's end), a bounded sample for p50/p99
    const lat = new Float64Array(8192);
    let latN = 0;
    const pct = (q: number): number => {
      const k = Math.min(latN, lat.length);
      if (k === 0) return 0;
      const xs = Array.from(lat.subarray(0, k)).sort((a, b) => a - b);
      return Math.round(xs[Math.min(k - 1, Math.floor(q * k))]);
    };
    // Local caches keyed by numbers (no string per packet): outbound by [proto][src:sport] -> [dst:dport] -> port,
    // inbound by proto:port -> lease. Strings name store keys only, on the miss path.
    const outCache: Map<number, Map<number, number>>[] = [new Map(), new Map()];
    let outCount = 0;
    const inCache = new Map<number, Lease>();
    const pending = new Map<string, PacketHandle[]>();
    let pendingTotal = 0;
    const macs = new Map<number, number>(s.neighbors.map((x) => [ipNum(x.ip), macNum(x.mac)]));
    const portMac = ctx.ports.map((p) => macNum(p.mac));
    const [lo, hi] = s.portRange;

    function neighbor(port: number, ip: number): number {
      const m = macs.get(ip);
      if (m !== undefined) return m;
      for (const [nip, nmac] of ctx.stack(port)?.neighbors() ?? []) if (nip === ip) { macs.set(ip, nmac); return nmac; }
      return -1;
    }
    function setMacs(p: Packet, dst: number, src: number): void {
      const v = p.view, o = p.offset;
      v.setUint16(o, Math.floor(dst / 0x100000000)); v.setUint32(o + 2, dst >>> 0);
      v.setUint16(o + 6, Math.floor(src / 0x100000000)); v.setUint32(o + 8, src >>> 0);
    }
    /** Rewrites an inside->outside packet (already parsed into `info`) to leave from extPort. */
    function translateOut(p: Packet, extPort: number): Verdict {
      const mac = neighbor(s.outsidePort, s.gateway >= 0 ? s.gateway : info.dst);
      if (mac < 0) { n.noNeighbor++; return Verdict.DROP; }
      flow.rewriteTupleHalves(info.view, info.l3, info.l4, info.proto, -1, s.outsideIp >>> 16, s.outsideIp & 0xffff, info.dst >>> 16, info.dst & 0xffff, extPort, info.dport);
      setMacs(p, mac, portMac[s.outsidePort]);
      n.outPackets++;
      return Verdict.port(s.outsidePort);
    }
    function translateIn(p: Packet, l: Lease): Verdict {
      if (l.remoteIp !== info.src || l.remotePort !== info.sport) { n.filtered++; return Verdict.DROP; }
      const mac = neighbor(s.insidePort, l.inIp);
      if (mac < 0) { n.noNeighbor++; return Verdict.DROP; }
      flow.rewriteTupleHalves(info.view, info.l3, info.l4, info.proto, -1, info.src >>> 16, info.src & 0xffff, l.inIp >>> 16, l.inIp & 0xffff, info.sport, l.inPort);
      setMacs(p, mac, portMac[s.insidePort]);
      n.inPackets++;
      return Verdict.port(s.insidePort);
    }
    const pIdx = (proto: number): number => (proto === 6 ? 0 : 1);
    function rememberOut(proto: number, a: number, b: number, ext: number): void {
      if (outCount >= s.cacheSize) { outCache[0].clear(); outCache[1].clear(); outCount = 0; n.cacheFlushes++; }
      const m = outCache[pIdx(proto)];
      let inner = m.get(a);
      if (inner === undefined) m.set(a, (inner = new Map()));
      if (!inner.has(b)) outCount++;
      inner.set(b, ext);
    }
    function rememberIn(k: number, l: Lease): void {
      if (inCache.size >= s.cacheSize) { inCache.clear(); n.cacheFlushes++; }
      inCache.set(k, l);
    }

    async function resolveOut(key: string, proto: number, src: number, sport: number, dst: number, dport: number): Promise<number> {
      n.lookups++;
      const v = await store.get(key);
      if (v !== null && v.length === 2) { n.storeHits++; return (v[0] << 8) | v[1]; }
      const lease = leaseBytes({ inIp: src, inPort: sport, remoteIp: dst, remotePort: dport });
      for (let i = 0; i < 32; i++) {
        const cand = lo + Math.floor(Math.random() * (hi - lo + 1));
        if (await store.add(`p:${proto}:${cand}`, lease)) {
          await store.set(key, Uint8Array.of(cand >>> 8, cand & 0xff));
          n.allocated++;
          return cand;
        }
        n.portCollisions++;
      }
      n.exhausted++;
      return -1;
    }
    async function resolveIn(key: string): Promise<Lease | null> {
      n.lookups++;
      const v = await store.get(key);
      if (v === null) return null;
      n.storeHits++;
      return leaseOf(v);
    }

    /** Holds a packet of a flow whose lookup is pending; starts the lookup for its first one. */
    function park(pkt: Packet, key: string, lookup: () => Promise<(h: PacketHandle) => Verdict>): Verdict {
      let q = pending.get(key);
      if (q !== undefined && q.length >= s.maxPendingPerFlow || pendingTotal >= s.maxPending) { n.pendingDrops++; return Verdict.DROP; }
      const h = ctx.hold(pkt);
      n.held++;
      pendingTotal++;
      if (q !== undefined) { q.push(h); return Verdict.STOLEN; }
      q = [h];
      pending.set(key, q);
      const t0 = performance.now();
      lookup().then((apply) => {
        lat[latN++ % lat.length] = (performance.now() - t0) * 1000;
        pending.delete(key);
        for (const x of q!) {
          pendingTotal--;
          // parse again: the held packet is this handle, not the flyweight the lookup began with
          if (info.parse(x) !== flow.ParseStatus.Ok) { ctx.drop(x); continue; }
          const v = apply(x);
          if (v >= 0) ctx.send(x, v); else ctx.drop(x);
        }
      }, () => {
        n.storeErrors++;
        pending.delete(key);
        for (const x of q!) { pendingTotal--; ctx.drop(x); }
      });
      return Verdict.STOLEN;
    }

    function onPacket(pkt: Packet, pi: number): Verdict {
      if (store.onPacket !== undefined && s.backend === 'mica' && pi === s.mica!.portIndex) {
        return store.onPacket(pkt, pi) === 'stolen' ? Verdict.STOLEN : Verdict.DROP;
      }
      if (info.parse(pkt) !== flow.ParseStatus.Ok) { n.parseErrors++; return Verdict.DROP; }
      const proto = info.proto;
      if (proto !== 6 && proto !== 17) { n.unsupported++; return Verdict.DROP; }
      if (pi === s.insidePort) {
        const src = info.src, sport = info.sport, dst = info.dst, dport = info.dport;
        const a = src * 65536 + sport, b = dst * 65536 + dport;
        const ext = outCache[pIdx(proto)].get(a)?.get(b);
        if (ext !== undefined) { n.cacheHits++; return translateOut(pkt, ext); }
        const key = `o:${proto}:${src}:${sport}:${dst}:${dport}`;
        return park(pkt, key, async () => {
          const e = await resolveOut(key, proto, src, sport, dst, dport);
          if (e >= 0) rememberOut(proto, a, b, e);
          return (h) => (e < 0 ? Verdict.DROP : translateOut(h, e));
        });
      }
      if (pi === s.outsidePort) {
        if (info.dst !== s.outsideIp) { n.notOurs++; return Verdict.DROP; }
        const k = proto * 65536 + info.dport;
        const l = inCache.get(k);
        if (l !== undefined) { n.cacheHits++; return translateIn(pkt, l); }
        const key = `p:${proto}:${info.dport}`;
        return park(pkt, key, async () => {
          const lease = await resolveIn(key);
          if (lease !== null) rememberIn(k, lease);
          return (h) => { if (lease === null) { n.noMapping++; return Verdict.DROP; } return translateIn(h, lease); };
        });
      }
      return Verdict.DROP;
    }

    ctx.onStop(() => {
      for (const q of pending.values()) for (const x of q) ctx.drop(x);
      pending.clear();
      store.close();
    });
    return {
      onPacket,
      afterBurst: () => store.flush?.(),
      pollAt: () => store.pollAt?.() ?? Infinity,
      counters: () => ({ ...n, pending: pendingTotal, lookupP50Us: pct(0.5), lookupP99Us: pct(0.99), ...store.counters() }),
    };
  },
};
export default app;
