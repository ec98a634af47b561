// Prometheus metrics for a running engine (main thread only): an HTTP endpoint serving prom-client's
// registry, every value read at scrape time from the shared stats memory, the devices and the pools, so the
// packet path pays nothing for it.
import * as http from 'http';
import type { AddressInfo } from 'net';
import { Counter, Gauge, Registry } from 'prom-client';
import { native, NetstarError } from '../native';
import type { Engine } from './engine';
import type { MetricsConfig } from './config';
import { P, S, portBase, shardStatsView } from './stats';

type Labels = Record<string, string>;
type Sample = [Labels, number];

/** Splits a validated `host:port` (IPv4, a name, or a bracketed IPv6 address) into its parts. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw new NetstarError('ERR_CONFIG', `metrics.listen '${listen}' is not host:port (e.g. 127.0.0.1:9464)`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** What the shards' stats words mean, as Prometheus counters (name, help, shard-stats index, scale). */
const SHARD_COUNTERS: [string, string, number, number][] = [
  ['netstar_shard_busy_seconds_total', 'time the shard spent polling with work to do', S.busyMs, 1e-3],
  ['netstar_shard_idle_seconds_total', 'time the shard slept for lack of work', S.idleMs, 1e-3],
  ['netstar_shard_loops_total', 'poll-loop iterations', S.loops, 1],
  ['netstar_shard_sleeps_total', 'times the shard went to sleep', S.sleeps, 1],
  ['netstar_shard_wakeups_total', 'times the shard was woken by another thread', S.wakeups, 1],
  ['netstar_shard_rx_bursts_total', 'RX bursts that returned packets', S.rxBursts, 1],
  ['netstar_shard_app_errors_total', 'exceptions thrown by the app (the packet was dropped)', S.appErrors, 1],
  ['netstar_shard_forwarded_out_total', 'packets handed to another shard', S.fwdOut, 1],
  ['netstar_shard_forwarded_in_total', 'packets received from another shard', S.fwdIn, 1],
  ['netstar_shard_forward_drops_total', 'packets dropped at a cross-shard ring (full, or shed as a new flow)', S.fwdDropped, 1],
  ['netstar_shard_ring_full_total', 'times a cross-shard ring was found full', S.ringFull, 1],
  ['netstar_shard_shed_new_flow_total', 'packets of flows unknown to the destination shard, shed at a busy cross-shard ring', S.shedNewFlow, 1],
  ['netstar_shard_steered_total', 'packets steered in software to the shard that owns their flow', S.steered, 1],
  ['netstar_shard_tasks_total', 'cross-shard tasks run', S.tasks, 1],
  ['netstar_shard_timers_total', 'timers fired', S.timers, 1],
  ['netstar_shard_leaks_total', 'packet handles reported held past the leak deadline', S.leaks, 1],
  ['netstar_shard_to_stack_total', 'packets the distributor gave the TCP/IP stack', S.toStack, 1],
  ['netstar_shard_to_nf_total', 'packets the distributor gave the NF pipeline', S.toNf, 1],
];

/** Per port and shard (the shard polls its own queue of the port). */
const PORT_COUNTERS: [string, string, number][] = [
  ['netstar_port_rx_packets_total', 'packets received', P.rx],
  ['netstar_port_tx_packets_total', 'packets the device accepted for sending', P.tx],
  ['netstar_port_rx_bytes_total', 'bytes received', P.rxBytes],
  ['netstar_port_tx_bytes_total', 'bytes the device accepted for sending', P.txBytes],
];

/** Device counters (rte_eth_stats), per port. */
const DEVICE_COUNTERS: [string, string, 'ipackets' | 'opackets' | 'ibytes' | 'obytes' | 'imissed' | 'ierrors' | 'oerrors' | 'rxNombuf'][] = [
  ['netstar_port_device_rx_packets_total', 'packets the device received (its own count)', 'ipackets'],
  ['netstar_port_device_tx_packets_total', 'packets the device sent (its own count)', 'opackets'],
  ['netstar_port_device_rx_bytes_total', 'bytes the device received', 'ibytes'],
  ['netstar_port_device_tx_bytes_total', 'bytes the device sent', 'obytes'],
  ['netstar_port_imissed_total', 'packets the device dropped because its RX queue was full (we polled too slowly)', 'imissed'],
  ['netstar_port_rx_nombuf_total', 'packets the device dropped for lack of an mbuf', 'rxNombuf'],
  ['netstar_port_rx_errors_total', 'erroneous packets received', 'ierrors'],
  ['netstar_port_tx_errors_total', 'packets the device failed to send', 'oerrors'],
];

/** Metric names may hold [a-zA-Z0-9_:]; an app counter name becomes a label value instead, untouched. */
export class EngineMetrics {
  readonly registry = new Registry();
  private server: http.Server | null = null;
  private closed = false;

  constructor(private readonly engine: Engine, private readonly appName: string) {
    const e = engine;
    const shardIds = Array.from({ length: e.shards }, (_, s) => s);
    const view = (s: number): Float64Array => shardStatsView(e.stats, s);
    for (const [name, help, idx, scale] of SHARD_COUNTERS)
      this.counter(name, help, ['shard'], () => shardIds.map((s) => [{ shard: String(s) }, view(s)[idx] * scale]));
    this.gauge('netstar_shard_held_mbufs', 'packets the shard holds (app-held, deferred, queued for TX)', ['shard'], () =>
      shardIds.map((s) => [{ shard: String(s) }, view(s)[S.held]]));

    const perPortShard = (idx: number): Sample[] => {
      const out: Sample[] = [];
      for (const p of e.ports) for (const s of shardIds) out.push([{ port: p.name, shard: String(s) }, view(s)[portBase(p.id) + idx]]);
      return out;
    };
    for (const [name, help, idx] of PORT_COUNTERS) this.counter(name, help, ['port', 'shard'], () => perPortShard(idx));
    this.counter('netstar_port_drops_total', 'packets dropped by cause: app (the app dropped it or threw), tx_full (the device refused it after retries)',
      ['port', 'shard', 'cause'], () => [
        ...perPortShard(P.dropped).map(([l, v]): Sample => [{ ...l, cause: 'app' }, v]),
        ...perPortShard(P.txDropped).map(([l, v]): Sample => [{ ...l, cause: 'tx_full' }, v]),
      ]);

    // One rte_eth_stats read per port per scrape, shared by the device metrics of that scrape.
    let devCache: { at: number; stats: ReturnType<typeof native.port.stats>[] } | null = null;
    const dev = (): ReturnType<typeof native.port.stats>[] => {
      const now = Date.now();
      if (!devCache || now - devCache.at > 100) devCache = { at: now, stats: e.ports.map((p) => native.port.stats(p.id)) };
      return devCache.stats;
    };
    for (const [name, help, key] of DEVICE_COUNTERS)
      this.counter(name, help, ['port'], () => dev().map((st, i) => [{ port: e.ports[i].name }, st[key]]));
    this.counter('netstar_port_queue_rx_packets_total', 'packets received per device queue', ['port', 'queue'], () =>
      dev().flatMap((st, i) => st.queueIpackets.slice(0, e.layout[i].rxQueues).map((v, q): Sample => [{ port: e.ports[i].name, queue: String(q) }, v])));
    this.counter('netstar_port_queue_tx_packets_total', 'packets sent per device queue', ['port', 'queue'], () =>
      dev().flatMap((st, i) => st.queueOpackets.slice(0, e.layout[i].txQueues).map((v, q): Sample => [{ port: e.ports[i].name, queue: String(q) }, v])));

    const poolInfo = (): Sample[][] => e.pools.map((p, s) => {
      const info = native.pool.info(p.id);
      return [[{ pool: info.name, shard: String(s) }, info.inUse], [{ pool: info.name, shard: String(s) }, info.available], [{ pool: info.name, shard: String(s) }, info.size]];
    });
    this.gauge('netstar_pool_mbufs_in_use', 'mbufs taken from the pool (in devices, rings, shards)', ['pool', 'shard'], () => poolInfo().map((x) => x[0]));
    this.gauge('netstar_pool_mbufs_available', 'mbufs free in the pool', ['pool', 'shard'], () => poolInfo().map((x) => x[1]));
    this.gauge('netstar_pool_mbufs', 'mbufs in the pool', ['pool', 'shard'], () => poolInfo().map((x) => x[2]));

    // App counters are whatever the app reports (monotonic or levels): a gauge, the app's own name as a label.
    this.gauge('netstar_app_counter', 'counters the app reports (ShardApp.counters), per shard, refreshed every 200 ms', ['app', 'counter', 'shard'], () => {
      const out: Sample[] = [];
      e.appCounters.forEach((c, s) => {
        if (c) for (const [k, v] of Object.entries(c)) if (typeof v === 'number' && Number.isFinite(v)) out.push([{ app: appName, counter: k, shard: String(s) }, v]);
      });
      return out;
    });
    this.gauge('netstar_shards', 'shards (worker threads, one per core)', [], () => [[{}, e.shards]]);
    this.gauge('netstar_start_time_seconds', 'when the engine started (unix time)', [], () => [[{}, this.startedAt]]);
  }

  private readonly startedAt = Date.now() / 1000;

  private counter(name: string, help: string, labelNames: string[], read: () => Sample[]): void {
    const guard = (): Sample[] => (this.closed ? [] : read());
    new Counter({
      name, help, labelNames, registers: [this.registry],
      collect(this: Counter<string>) {
        this.reset();
        for (const [l, v] of guard()) this.inc(l, Math.max(0, v));
      },
    });
  }

  private gauge(name: string, help: string, labelNames: string[], read: () => Sample[]): void {
    const guard = (): Sample[] => (this.closed ? [] : read());
    new Gauge({
      name, help, labelNames, registers: [this.registry],
      collect(this: Gauge<string>) {
        this.reset();
        for (const [l, v] of guard()) this.set(l, v);
      },
    });
  }

  /** Serves GET /metrics on `listen`; resolves with the bound address once listening. */
  listen(listen: string): Promise<{ host: string; port: number; url: string }> {
    const { host, port } = parseListen(listen);
    this.server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
        res.writeHead(req.url === '/' ? 200 : 404, { 'content-type': 'text/plain' });
        res.end(req.url === '/' ? 'netstar: metrics at /metrics\n' : 'not found\n');
        return;
      }
      this.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': this.registry.contentType });
        res.end(text);
      }, (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics failed: ${(err as Error)?.message ?? String(err)}\n`);
      });
    });
    const server = this.server;
    // Keep-alive scrapers must not hold the process open at stop.
    server.keepAliveTimeout = 5000;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new NetstarError('ERR_CONFIG', `metrics: cannot listen on ${listen}: ${err.code ?? err.message}`)));
      server.listen(port, host, () => {
        const a = server.address() as AddressInfo;
        const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        resolve({ host: a.address, port: a.port, url: `http://${h}:${a.port}/metrics` });
      });
    });
  }

  /** Stops serving (before the engine closes its ports: scrapes read the devices). */
  close(): Promise<void> {
    this.closed = true;
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}

/** Starts the metrics endpoint of `config.metrics` for an engine. */
export async function startMetrics(engine: Engine, appName: string, config: MetricsConfig): Promise<{ metrics: EngineMetrics; url: string }> {
  const metrics = new EngineMetrics(engine, appName);
  try {
    const { url } = await metrics.listen(config.listen);
    return { metrics, url };
  } catch (e) {
    await metrics.close();
    throw e;
  }
}
