// Main-thread side of the runtime: starts the EAL, pools and ports from config, spawns one pinned shard
// worker per core, exposes live counters, and stops everything with every mbuf accounted for.
import { Worker } from 'worker_threads';
import * as fs from 'fs';
import * as path from 'path';
import { native, NetstarError, PortInfo, PortStats } from '../native';
import { Config, ealArgs, rssKeyBytes, shardCores, shardCount } from './config';
import { AppModule } from './app';
import { newStatsBuffer, portTotals, PortTotals, STATS_WORDS, shardStatsView, S } from './stats';
import { PortLayout, ShardInit, ShardReport } from './shard';
import { Control, CTRL } from './control';
import { RING_KINDS, RingMatrix } from '../net/qp';
import { RingMatrix as MsgMatrix } from './msgring';
import { logger } from './log';
import type { InstalledRule, SteerRule } from '../net/steer';
import { PRESENCE_BYTES } from '../net/presence';

export interface PortSummary extends PortTotals { name: string; device: PortStats }
export interface EngineSummary {
  /** app counters summed over shards, at stop */
  app: Record<string, number>;
  shards: ShardReport[];
  ports: PortSummary[];
  /** mbufs still in use in each pool after ports closed: must be 0 */
  poolsInUse: number[];
  heldAtClose: number;
  appErrors: number;
  elapsedMs: number;
  /** the app's steering rules and where each went (rte_flow or the software table) */
  steering: { rteFlow: number; software: number; rules: InstalledRule[] };
}

/** The file prefix the EAL will use with these arguments (the last --file-prefix wins, as with getopt). */
export function ealFilePrefix(args: readonly string[]): string | null {
  let prefix: string | null = null;
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith('--file-prefix=')) prefix = args[i].slice('--file-prefix='.length);
    else if (args[i] === '--file-prefix' && i + 1 < args.length) prefix = args[++i];
  }
  return prefix;
}

/** Where the EAL keeps a prefix's runtime files: /var/run/dpdk/<prefix> as root, else $XDG_RUNTIME_DIR (or /tmp)/dpdk/<prefix>. */
export function ealRuntimeDir(prefix: string): string {
  const base = process.getuid?.() === 0 ? '/var/run' : (process.env.XDG_RUNTIME_DIR ?? '/tmp');
  return path.join(base, 'dpdk', prefix);
}

function prefixInUse(prefix: string, pid?: number): NetstarError {
  const who = pid ? ` (pid ${pid}: netstar or testpmd)` : ' (netstar or testpmd)';
  return new NetstarError('ERR_EAL_INIT', `EAL file prefix '${prefix}' is in use by another running DPDK process${who}; stop it, or give this one another eal.filePrefix`);
}

/**
 * Before the EAL starts: a prefix a running process holds is refused with its pid; a runtime directory left
 * by a process that is gone (SIGKILL, crash: nothing ran its cleanup) has its files removed, said in one
 * warning line, and the EAL starts on it afresh. Nothing to do without shared config files (--in-memory,
 * --no-shconf).
 */
function checkPrefix(args: readonly string[]): void {
  const prefix = ealFilePrefix(args);
  if (prefix === null || args.includes('--in-memory') || args.includes('--no-shconf')) return;
  const dir = ealRuntimeDir(prefix);
  const c = native.eal.claimPrefix(dir);
  if (c.state === 'live') throw prefixInUse(prefix, c.pid);
  if (c.state === 'stale')
    logger().warn({ dir, removed: c.removed?.length ?? 0, ...(c.error ? { problem: c.error } : {}) }, `EAL file prefix '${prefix}': stale runtime directory ${dir} left by a DPDK process that is gone (killed or crashed: nobody holds its config lock); removed its files, starting afresh`);
  else if (c.state === 'unknown') logger().debug({ dir, problem: c.error }, `EAL file prefix '${prefix}': could not check its runtime directory; the EAL decides`);
}

/** Starts the EAL; refused arguments are a config error, a file prefix another process holds is said plainly. */
function startEal(config: Config): void {
  const args = ealArgs(config);
  checkPrefix(args);
  try {
    native.eal.init(args);
  } catch (e) {
    if (!(e instanceof NetstarError) || e.code !== 'ERR_EAL_INIT') throw e;
    // Another process took the prefix between the check and the EAL's own lock.
    if (/Cannot create lock|Is another primary process running/.test(e.message)) throw prefixInUse(ealFilePrefix(args) ?? config.eal.filePrefix ?? `netstar${process.pid}`);
    if (/unrecognized option|invalid option|option requires an argument|Invalid 'command line' arguments|Invalid argument/.test(e.message))
      throw new NetstarError('ERR_CONFIG', `eal: the EAL refused its arguments (${ealArgs(config).join(' ')}): ${e.message.replace(/^EAL init failed: /, '')}`);
    throw e;
  }
}

/** Configures a port; what the device refuses (queues, RSS key or functions, offloads) is a config error. */
function configurePort(name: string, id: number, o: Parameters<typeof native.port.configure>[1]): void {
  try {
    native.port.configure(id, o);
  } catch (e) {
    if (e instanceof NetstarError && e.code === 'ERR_PORT_CONFIG') throw new NetstarError('ERR_CONFIG', `port '${name}': ${e.message}`);
    throw e;
  }
}

export class Engine {
  readonly shards: number;
  readonly ports: PortInfo[] = [];
  readonly layout: PortLayout[] = [];
  readonly rings: RingMatrix = [];
  readonly pools: { id: number; dataRoom: number }[] = [];
  readonly stats: SharedArrayBuffer;
  private readonly messages: MsgMatrix;
  private readonly ctl: Control;
  private readonly workers: Worker[] = [];
  private reports: ShardReport[] = [];
  /** the settings the shards got (the app's control commands read them) */
  appSettings: unknown = undefined;
  /** latest app counters per shard (posted by shards every 200 ms) */
  readonly appCounters: Record<string, number>[] = [];
  private exited = 0;
  private failure: Error | null = null;
  private readonly started = Date.now();
  private stopping: Promise<EngineSummary> | null = null;
  /** steering rules as installed (rte_flow handles kept to destroy them at stop) */
  readonly steering: InstalledRule[] = [];
  /** per shard: its known-flow map (net/presence.ts), shared by the shards for new-flow shedding at their rings */
  private presence: SharedArrayBuffer[] = [];
  /** shards that passed the start barrier (or died before it: counted for them) */
  private readonly readyShards = new Set<number>();
  private readonly flowHandles: number[] = [];
  /** Called once if a shard dies: the process should stop with a clear message. */
  onFatal: (err: Error) => void = () => {};
  /** Called when a shard reports packets held past the leak deadline. */
  onLeak: (shard: number, count: number, oldestMs: number) => void = (shard, count, oldestMs) => {
    logger().warn({ shard, count, oldestMs }, `shard ${shard}: ${count} packet handle(s) held for ${(oldestMs / 1000).toFixed(1)} s without send, forward or drop`);
  };

  private constructor(readonly config: Config, readonly app: AppModule, readonly appPath: string) {
    this.shards = shardCount(config);
    this.stats = newStatsBuffer(this.shards);
    this.ctl = Control.create(this.shards);
    // 256 KiB per ordered pair: messages up to half of it (larger data belongs in shared memory).
    this.messages = MsgMatrix.create(this.shards, this.shards <= 8 ? 1 << 18 : 1 << 16);
  }

  /** Starts EAL, pools, ports and shards. Errors are NetstarError with a message saying what to change. */
  static async start<S>(config: Config, app: AppModule<S>, appPath: string): Promise<Engine> {
    const settings = app.settings(config);
    const cores = shardCores(config);
    const e = new Engine(config, app as AppModule, appPath);
    if (!native.eal.running()) {
      startEal(config);
      e.ownsEal = true;
    }
    try {
      await e.setUp(config, cores, settings);
    } catch (err) {
      // Nothing runs on the EAL yet unless shards were spawned: give back its runtime directory.
      if (e.workers.length === 0) e.releaseEal();
      throw err;
    }
    return e;
  }

  /** True when this engine started the EAL (it then cleans it up and removes its runtime directory at stop). */
  private ownsEal = false;

  /** rte_eal_cleanup, then removes /var/run/dpdk/<prefix> (the EAL leaves its config and fbarray files there). */
  private releaseEal(): void {
    if (!this.ownsEal || !native.eal.running()) return;
    const dir = native.eal.runtimeDir();
    native.eal.cleanup();
    if (dir && /\/dpdk\/[A-Za-z0-9_-]+$/.test(dir)) fs.rmSync(dir, { recursive: true, force: true });
  }

  private async setUp<S>(config: Config, cores: number[], settingsIn: S): Promise<void> {
    let settings: unknown = settingsIn;
    const e = this;
    for (let s = 0; s < e.shards; s++) {
      const id = native.pool.create(`mb_${process.pid % 100000}_${s}`, config.pool);
      e.pools.push({ id, dataRoom: native.pool.info(id).dataRoom });
    }
    for (const pc of config.ports) {
      const id = native.port.byName(pc.name);
      if (id === null) throw new NetstarError('ERR_CONFIG', `port '${pc.name}' was not created by the EAL (check the vdev arguments and that the interface or file exists)`);
      const info = native.port.info(id);
      // One queue per shard where the device allows; fewer RX queues are spread by software steering,
      // fewer TX queues by handing packets to the shard that owns one.
      const rxQueues = Math.min(e.shards, info.maxRxQueues), txQueues = Math.min(e.shards, info.maxTxQueues);
      if (rxQueues < 1 || txQueues < 1) throw new NetstarError('ERR_CONFIG', `port '${pc.name}' has no RX or TX queue`);
      configurePort(pc.name, id, {
        pool: e.pools[0].id, queuePools: e.pools.map((p) => p.id).slice(0, rxQueues), rxQueues, txQueues,
        rxDesc: pc.rxDesc, txDesc: pc.txDesc, mtu: pc.mtu, promiscuous: pc.promiscuous, rss: rxQueues > 1,
        rssKey: rssKeyBytes(pc.rss.key, pc.name, info.hashKeySize), rssFunctions: pc.rss.functions, fastFree: pc.mbufFastFree,
      });
      native.port.start(id);
      const started = native.port.info(id);
      e.ports.push(started);
      e.layout.push({ info: started, rxQueues, txQueues });
    }
    for (let k = 0; k < RING_KINDS; k++) {
      const byFrom: number[][] = [];
      for (let a = 0; a < e.shards; a++) {
        const row: number[] = [];
        for (let b = 0; b < e.shards; b++) row.push(a === b ? -1 : native.ring.create(`x${process.pid % 100000}_${k}_${a}_${b}`, config.ringSize));
        byFrom.push(row);
      }
      e.rings.push(byFrom);
    }
    if (e.shards > 1) for (let s = 0; s < e.shards; s++) e.presence.push(new SharedArrayBuffer(PRESENCE_BYTES));
    if (e.app.prepare) settings = e.app.prepare(settings, e.ports);
    e.appSettings = settings;
    if (e.app.steering) e.installSteering(e.app.steering(settings, e.shards));
    await e.spawn(cores, settings);
  }

  /**
   * Each rule goes to the device with rte_flow (queue = shard) when the device has a queue for that shard
   * and validates the rule; otherwise to the shards' software table (the shard reading the queue hands the
   * packet over). Which path and why is kept and reported.
   */
  private installSteering(rules: SteerRule[]): void {
    for (const r of rules) {
      if (!Number.isInteger(r.port) || r.port < 0 || r.port >= this.ports.length)
        throw new NetstarError('ERR_CONFIG', `steering rule: no port index ${r.port}`);
      if (!Number.isInteger(r.udpDst) || r.udpDst < 1 || r.udpDst > 65535)
        throw new NetstarError('ERR_CONFIG', `steering rule: UDP port ${r.udpDst} is not in 1..65535`);
      if (!Number.isInteger(r.shard) || r.shard < 0 || r.shard >= this.shards)
        throw new NetstarError('ERR_CONFIG', `steering rule: no shard ${r.shard} (${this.shards} shards)`);
      const lay = this.layout[r.port];
      let reason: string;
      if (r.shard >= lay.rxQueues) reason = `port has ${lay.rxQueues} RX queue(s): none for shard ${r.shard}`;
      else if (lay.rxQueues === 1) reason = 'one RX queue: every packet reaches shard 0 anyway';
      else {
        try {
          this.flowHandles.push(native.flow.udpToQueue(this.ports[r.port].id, r.udpDst, r.shard, true));
          this.steering.push({ ...r, path: 'rte_flow' });
          continue;
        } catch (e) {
          if (!(e instanceof NetstarError) || (e.code !== 'ERR_FLOW_UNSUPPORTED' && e.code !== 'ERR_FLOW')) throw e;
          reason = e.message;
        }
      }
      this.steering.push({ ...r, path: 'software', reason });
    }
  }

  private spawn(cores: number[], settings: unknown): Promise<void> {
    const entry = path.resolve(__dirname, 'shard.js');
    let ready = 0;
    return new Promise((resolve, reject) => {
      for (let s = 0; s < this.shards; s++) {
        const init: ShardInit & { netstarShard: true } = {
          netstarShard: true, id: s, count: this.shards, core: cores[s], config: this.config, appPath: this.appPath,
          settings, ports: this.layout, steering: this.steering, presence: this.presence, pools: this.pools, rings: this.rings, messages: this.messages.init, stats: this.stats, control: this.ctl.sab, statsWords: STATS_WORDS,
        };
        const w = new Worker(entry, { workerData: init });
        w.on('message', (m: { type: string; report?: ShardReport; count?: number; oldestMs?: number; counters?: Record<string, number> }) => {
          if (m.type === 'ready') this.readyShards.add(s);
          if (m.type === 'ready' && ++ready === this.shards) resolve();
          if (m.type === 'stopped' && m.report) this.reports.push(m.report);
          if (m.type === 'leak') this.onLeak(s, m.count ?? 0, m.oldestMs ?? 0);
          if (m.type === 'counters') this.appCounters[s] = (m as { counters: Record<string, number> }).counters;
        });
        w.on('error', (err) => {
          // The dead shard will never take part in the stop protocol: count it as quiesced and settled so
          // the others do not wait for it.
          this.ctl.bump(CTRL.quiesced);
          this.ctl.bump(CTRL.settled);
          // Nor will it pass the start barrier (if it died starting): the others must not wait for it.
          if (!this.readyShards.has(s)) {
            this.readyShards.add(s);
            this.ctl.bump(CTRL.ready);
          }
          const e = new NetstarError('ERR_SHARD', `shard ${s} died: ${err.stack ?? err.message}`);
          if (!this.failure) {
            this.failure = e;
            if (ready < this.shards) reject(e);
            else this.onFatal(e);
          }
        });
        w.on('exit', (code) => {
          this.exited++;
          if (!this.stopping && !this.failure) {
            this.failure = new NetstarError('ERR_SHARD', `shard ${s} exited unexpectedly (code ${code})`);
            if (ready < this.shards) reject(this.failure);
            else this.onFatal(this.failure);
          }
        });
        this.workers.push(w);
      }
    });
  }

  portTotals(portIndex: number): PortTotals {
    return portTotals(this.stats, this.shards, this.ports[portIndex].id);
  }

  shardCounter(shard: number, idx: number): number {
    return shardStatsView(this.stats, shard)[idx];
  }

  /** App counters summed over shards (latest reports). */
  appTotals(): Record<string, number> {
    const t: Record<string, number> = {};
    for (const c of this.appCounters) if (c) for (const [k, v] of Object.entries(c)) t[k] = (t[k] ?? 0) + v;
    return t;
  }

  /** A second stop request: shards drop what handlers still hold now instead of waiting out stopGraceMs. */
  hurry(): void {
    this.ctl.raise(CTRL.hurry);
  }

  /** Stops shards (they drain and free), then ports; checks every pool is whole again. Idempotent. */
  stop(timeoutMs = 10000): Promise<EngineSummary> {
    if (!this.stopping) this.stopping = this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<EngineSummary> {
    this.ctl.raise(CTRL.stop);
    const deadline = Date.now() + timeoutMs;
    await Promise.all(this.workers.map((w) => w.threadId < 0 ? Promise.resolve() : new Promise<void>((resolve) => {
      const t = setTimeout(() => { void w.terminate(); resolve(); }, Math.max(0, deadline - Date.now()));
      w.once('exit', () => { clearTimeout(t); resolve(); });
    })));
    if (process.env.NETSTAR_DEBUG)
      process.stderr.write(`rings at stop: ${JSON.stringify(this.rings.map((k) => k.map((row) => row.map((r) => (r < 0 ? -1 : native.ring.count(r))))))}\n`);
    const ports: PortSummary[] = this.ports.map((p, i) => ({ name: p.name, device: native.port.stats(p.id), ...this.portTotals(i) }));
    for (const h of this.flowHandles.splice(0)) {
      try { native.flow.destroy(h); } catch { /* the port may have dropped it already */ }
    }
    for (const p of this.ports) native.port.close(p.id);
    const poolsInUse = this.pools.map((p) => native.pool.inUse(p.id));
    // Every shard has exited (or was terminated): nothing uses the EAL any more.
    if (this.workers.every((w) => w.threadId < 0)) this.releaseEal();
    let appErrors = 0;
    for (let s = 0; s < this.shards; s++) appErrors += this.shardCounter(s, S.appErrors);
    const app: Record<string, number> = {};
    for (const r of this.reports) for (const [k, v] of Object.entries(r.app ?? {})) app[k] = (app[k] ?? 0) + v;
    return {
      app,
      shards: this.reports.sort((a, b) => a.id - b.id),
      ports,
      poolsInUse,
      heldAtClose: this.reports.reduce((a, r) => a + r.heldAtClose, 0),
      appErrors,
      elapsedMs: Date.now() - this.started,
      steering: {
        rteFlow: this.steering.filter((r) => r.path === 'rte_flow').length,
        software: this.steering.filter((r) => r.path === 'software').length,
        rules: this.steering,
      },
    };
  }
}
