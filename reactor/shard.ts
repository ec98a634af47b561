// A shard: one worker thread pinned to a core and registered with DPDK, owning queue `id` of every port.
// Runs the poll loop: RX bursts -> app -> buffered TX, yielding to Node's event loop on a time budget and
// sleeping when idle so promises, timers and messages still run.
import { parentPort, workerData, isMainThread } from 'worker_threads';
import * as path from 'path';
import { native, NativeLcore } from '../native';
import { Packet, PacketMemory, RxBatch } from '../net/packet';
import { DpdkQueuePair, ShardIO } from '../net/qp';
import { S, portBase, P } from './stats';
import { AppModule, ShardApp, Verdict } from './app';
import type { Config } from './config';
import type { PortInfo } from '../native';

export interface ShardInit {
  id: number;
  count: number;
  core: number;
  config: Config;
  appPath: string;
  settings: unknown;
  ports: PortInfo[];
  pools: { id: number; dataRoom: number }[];
  stats: SharedArrayBuffer;
  control: SharedArrayBuffer;
  statsWords: number;
}

/** Control words shared with the main thread. */
export const CTRL = { stop: 0 } as const;

export interface ShardReport {
  id: number;
  lcore: ReturnType<NativeLcore['stats']>;
  heldAtClose: number;
  appErrors: number;
  loops: number;
}

export class Shard {
  readonly id: number;
  readonly count: number;
  readonly lcore: NativeLcore;
  readonly io: ShardIO;
  readonly stats: Float64Array;
  /** queue pairs by port index (position in config.ports) */
  readonly qps: DpdkQueuePair[];
  readonly ports: PortInfo[];
  private readonly control: Int32Array;
  private readonly batch: RxBatch;
  private readonly pkt = new Packet();
  private app!: ShardApp;
  private readonly idleThresholdMs = 0.2;
  private readonly quotaMs = 0.5;
  private readonly idleSleepMs = 1;
  private stopped = false;

  constructor(readonly init: ShardInit) {
    this.id = init.id;
    this.count = init.count;
    this.ports = init.ports;
    this.lcore = new native.Lcore({ capacity: init.config.slotsPerShard });
    this.lcore.pin(init.core);
    this.stats = new Float64Array(init.stats, init.id * init.statsWords * 8, init.statsWords);
    this.control = new Int32Array(init.control);
    const mem = new PacketMemory(this.lcore, init.pools);
    this.io = new ShardIO(this.lcore, mem, this.stats, init.ports.length + 8);
    this.batch = this.io.newBatch();
    this.qps = init.ports.map((p) => new DpdkQueuePair(this.io, p.id, init.id, init.id, init.config.burst));
  }

  async start(): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require(path.resolve(__dirname, '..', this.init.appPath)) as { default: AppModule };
    this.app = await mod.default.createShard(this, this.init.settings);
  }

  /** Drops a packet the app holds or is processing. */
  drop(pkt: Packet): void {
    this.io.drop(pkt.slot, pkt.port);
  }

  /** After a failed onBurst: frees the batch's packets that are still held, one by one (slow path). */
  private dropUndisposed(batch: RxBatch, n: number): void {
    this.io.flushDrops();
    for (const qp of this.qps) qp.flush();
    const one = new Uint32Array(1);
    for (let i = 0; i < n; i++) {
      one[0] = batch.slot(i);
      try {
        this.lcore.free(one, 1);
        this.stats[portBase(this.qps[0] ? batch.port(i) : 0) + P.dropped]++;
      } catch {
        // already sent or dropped by the app
      }
    }
    batch.count = 0;
  }

  /** One pass over every port: returns packets processed. */
  private pollOnce(): number {
    const qps = this.qps, batch = this.batch, pkt = this.pkt, app = this.app, io = this.io, st = this.stats;
    let total = 0;
    for (let pi = 0; pi < qps.length; pi++) {
      const n = qps[pi].receive(batch);
      if (n === 0) continue;
      total += n;
      st[S.rxBursts]++;
      if (app.onBurst) {
        try {
          app.onBurst(batch, pi, qps);
        } catch {
          st[S.appErrors]++;
          this.dropUndisposed(batch, n);
        }
        continue;
      }
      for (let i = 0; i < n; i++) {
        batch.at(i, pkt);
        let v: number;
        try {
          v = app.onPacket(pkt, pi);
        } catch {
          st[S.appErrors]++;
          v = Verdict.DROP;
        }
        if (v >= 0 && v < qps.length) qps[v].send(pkt);
        else if (v !== Verdict.STOLEN) io.drop(pkt.slot, pkt.port);
      }
    }
    if (this.app.afterBurst) this.app.afterBurst();
    for (let pi = 0; pi < qps.length; pi++) qps[pi].flush();
    io.flushDrops();
    return total;
  }

  /** The poll loop; resolves when the main thread asks to stop. */
  run(): Promise<void> {
    return new Promise((resolve, reject) => {
      const st = this.stats;
      let lastWork = performance.now();
      const slice = (): void => {
        try {
          const t0 = performance.now();
          let t = t0;
          let loops = 0;
          let worked = false;
          for (;;) {
            const n = this.pollOnce();
            loops++;
            if (n > 0) worked = true;
            if ((loops & 15) !== 0) continue;
            // Every 16 passes: read the clock and the stop flag (both cost more than a pass's bookkeeping).
            t = performance.now();
            if (worked) { lastWork = t; worked = false; }
            if (Atomics.load(this.control, CTRL.stop) !== 0) {
              st[S.loops] += loops;
              st[S.busyMs] += t - t0;
              return resolve();
            }
            if (t - t0 >= this.quotaMs) break;
            if (t - lastWork >= this.idleThresholdMs) {
              // Idle: sleep briefly so the core is free; wake to poll again.
              st[S.loops] += loops;
              st[S.busyMs] += t - t0;
              st[S.sleeps]++;
              st[S.held] = this.lcore.held();
              const ts = performance.now();
              setTimeout(() => {
                st[S.idleMs] += performance.now() - ts;
                if (Atomics.load(this.control, CTRL.stop) !== 0) return resolve();
                lastWork = performance.now() - this.idleThresholdMs / 2;
                slice();
              }, this.idleSleepMs);
              return;
            }
          }
          st[S.loops] += loops;
          st[S.busyMs] += t - t0;
          st[S.held] = this.lcore.held();
          setImmediate(slice);
        } catch (e) {
          reject(e);
        }
      };
      slice();
    });
  }

  async stop(): Promise<ShardReport> {
    if (this.stopped) throw new Error('shard already stopped');
    this.stopped = true;
    for (const qp of this.qps) qp.flush();
    this.io.flushDrops();
    if (this.app.stop) await this.app.stop();
    const lcoreStats = this.lcore.stats();
    const heldAtClose = this.lcore.close();
    this.stats[S.held] = 0;
    return { id: this.id, lcore: lcoreStats, heldAtClose, appErrors: this.stats[S.appErrors], loops: this.stats[S.loops] };
  }
}

async function main(): Promise<void> {
  const init = workerData as ShardInit;
  const shard = new Shard(init);
  await shard.start();
  parentPort!.postMessage({ type: 'ready', id: init.id, lcore: shard.lcore.lcoreId });
  await shard.run();
  const report = await shard.stop();
  parentPort!.postMessage({ type: 'stopped', report });
}

if (!isMainThread && (workerData as { netstarShard?: boolean })?.netstarShard) {
  main().catch((e: unknown) => {
    // Let the main thread see the failure as this worker's error.
    throw e;
  });
}
