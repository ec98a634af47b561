// Capture, main-thread side: turns `config.capture` into the shard wrapper's settings (one queue per shard),
// starts the writer thread, starts and stops capturing at run time, and finishes the files at stop with the
// devices' statistics.
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { NetstarError } from '../native';
import type { AppControlContext, AppModule } from './app';
import { shardCount, type Config } from './config';
import { compileFilter, FilterError } from '../net/filter';
import { CTL, H, newRing, type CaptureConfig } from './capture-ring';
import type { CaptureShardSettings } from './capture-app';
import type { WriterInit } from './capture-writer';
import type { PortSummary } from './engine';

export const CAPTURE_APP_PATH = 'reactor/capture-app';

export interface CaptureStatus { capturing: boolean; captured: number; dropped: number; files: string[] }

export class Capture {
  private readonly rings: SharedArrayBuffer[];
  private readonly control = new SharedArrayBuffer(16);
  private readonly ctl = new Int32Array(this.control);
  private readonly writer: Worker;
  private readonly closed: Promise<{ files: string[]; packets: number[] }>;
  private finished = false;
  /** pcapng interface per port index (-1: not captured) */
  readonly ifOf: number[];

  private constructor(readonly config: Config, readonly cc: CaptureConfig) {
    try {
      compileFilter(cc.filter);
    } catch (e) {
      if (e instanceof FilterError) throw new NetstarError('ERR_CONFIG', `invalid capture.filter: ${e.message}`);
      throw e;
    }
    if (cc.filterModule && !fs.existsSync(path.resolve(cc.filterModule)))
      throw new NetstarError('ERR_CONFIG', `capture.filterModule: ${path.resolve(cc.filterModule)} does not exist`);
    const dir = path.dirname(path.resolve(cc.file));
    if (!fs.existsSync(dir)) throw new NetstarError('ERR_CONFIG', `capture.file: directory ${dir} does not exist`);
    const wanted = cc.ports ?? config.ports.map((_, i) => i);
    for (const p of wanted) if (p >= config.ports.length) throw new NetstarError('ERR_CONFIG', `capture.ports: no port ${p} (there are ${config.ports.length})`);
    let k = 0;
    this.ifOf = config.ports.map((_, i) => (wanted.includes(i) ? k++ : -1));
    this.rings = Array.from({ length: shardCount(config) }, () => newRing(cc.queueBytes));
    Atomics.store(this.ctl, CTL.active, cc.start ? 1 : 0);
    const init: WriterInit & { netstarCapture: true } = {
      netstarCapture: true, file: path.resolve(cc.file), files: cc.files, fileBytes: cc.fileBytes, rings: this.rings, control: this.control,
      interfaces: config.ports.filter((_, i) => this.ifOf[i] >= 0).map((p) => ({ name: p.name, description: `netstar port ${config.ports.indexOf(p)}`, snaplen: cc.snaplen })),
      comment: `netstar capture; direction ${cc.direction}${cc.filter ? `; filter "${cc.filter}"` : ''}`,
    };
    this.writer = new Worker(path.resolve(__dirname, 'capture-writer.js'), { workerData: init });
    this.closed = new Promise((resolve, reject) => {
      this.writer.on('message', (m: { type: string; files: string[]; packets: number[] }) => { if (m.type === 'closed') resolve(m); });
      this.writer.on('error', reject);
      this.writer.on('exit', (code) => reject(new Error(`capture writer exited (code ${code}) before finishing`)));
    });
    this.closed.catch(() => undefined);
  }

  /** Wraps `app` so its shards capture; returns the module and path the engine should run instead. */
  static wrap(config: Config, app: AppModule, appPath: string): { capture: Capture; app: AppModule; appPath: string } {
    const cc = config.capture!;
    const capture = new Capture(config, cc);
    const wrapped: AppModule<CaptureShardSettings> = {
      name: app.name,
      description: app.description,
      settings: (c: Config): CaptureShardSettings => ({
        innerPath: appPath, inner: app.settings(c), rings: capture.rings, control: capture.control, ifOf: capture.ifOf,
        rx: cc.direction !== 'tx', tx: cc.direction !== 'rx', snaplen: cc.snaplen, filter: cc.filter,
        filterModule: cc.filterModule ? path.resolve(cc.filterModule) : undefined,
      }),
      prepare: app.prepare ? (s, ports) => ({ ...s, inner: app.prepare!(s.inner, ports) }) : undefined,
      control: app.control ? Object.fromEntries(Object.entries(app.control).map(([k, h]) => [k, (s: CaptureShardSettings, a: Record<string, unknown>, c: AppControlContext) => h(s.inner, a, c)])) : undefined,
      createShard: () => { throw new Error('runs in the shard from ' + CAPTURE_APP_PATH); },
    };
    return { capture, app: wrapped as AppModule, appPath: CAPTURE_APP_PATH };
  }

  start(): void { Atomics.store(this.ctl, CTL.active, 1); }
  stop(): void { Atomics.store(this.ctl, CTL.active, 0); }

  status(): CaptureStatus {
    let captured = 0, dropped = 0;
    for (const r of this.rings) {
      const h = new Int32Array(r, 0, H.ifDrops);
      captured += Atomics.load(h, H.captured);
      dropped += Atomics.load(h, H.dropped);
    }
    return { capturing: Atomics.load(this.ctl, CTL.active) !== 0, captured, dropped, files: [] };
  }

  /** After the engine stopped: the writer drains, writes interface statistics, closes. */
  async finish(ports: PortSummary[]): Promise<{ files: string[]; packets: number[] }> {
    if (this.finished) return this.closed;
    this.finished = true;
    this.stop();
    const stats = this.config.ports.map((_, i) => i).filter((i) => this.ifOf[i] >= 0).map((i) => {
      const d = ports[i]?.device;
      return { received: d ? d.ipackets : 0, ifDrop: d ? d.imissed + d.rxNombuf : 0 };
    });
    this.writer.postMessage({ type: 'close', stats });
    const r = await this.closed;
    await this.writer.terminate();
    return r;
  }

  /** When the run failed to start: no files to finish. */
  async abort(): Promise<void> {
    this.finished = true;
    await this.writer.terminate();
  }
}
