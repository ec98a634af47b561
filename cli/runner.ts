// Runs an app on the engine from the CLI, the demo and benchmarks: live view, signals, summary, exit code.
import * as fs from 'fs';
import * as path from 'path';
import { Engine, EngineSummary } from '../reactor/engine';
import { APPS, AppModule, appOfModule } from '../reactor/app';
import { Config } from '../reactor/config';
import { NetstarError } from '../native';
import { S } from '../reactor/stats';
import { onStopSignal } from './signals';
import { startMetrics, type EngineMetrics } from '../reactor/metrics';
import { logger } from '../reactor/log';
import { ControlServer } from '../reactor/control-socket';
import { Capture } from '../reactor/capture';

export interface RunOptions {
  /** stop by itself after this many seconds */
  durationSec?: number;
  /** print one `STATS {json}` line per interval */
  statsLines?: boolean;
  /** print the summary as one JSON line at the end */
  json?: boolean;
  /** live one-line view (default: when stdout is a TTY) */
  live?: boolean;
  quiet?: boolean;
  /** resolves when the caller wants to stop (in addition to signals and duration) */
  until?: Promise<unknown>;
  log?: (s: string) => void;
  /** control-socket instance name (default: config control.name, else <app>-<pid>) */
  instance?: string;
}

export interface RunResult { summary: EngineSummary; exitCode: number }

/**
 * Loads the app `name`: a built-in app by name (see APPS), or a user's module by path — anything with a `/`
 * or ending in `.js`/`.cjs`, relative to the current directory (./my-nf.js) or absolute. The module may
 * `export default app` or set CommonJS `module.exports = app`.
 */
export function loadApp(name: string): { app: AppModule; appPath: string } {
  const isPath = name.includes('/') || /\.c?js$/.test(name);
  const file = isPath ? path.resolve(process.cwd(), name) : Object.hasOwn(APPS, name) ? path.resolve(__dirname, '..', APPS[name]) : '';
  if (!file) throw new NetstarError('ERR_CONFIG', `unknown app '${name}'; apps: ${Object.keys(APPS).join(', ')} (or a path to an app module, e.g. ./my-nf.js)`);
  if (isPath && !fs.existsSync(file)) throw new NetstarError('ERR_CONFIG', `app module '${file}' does not exist`);
  let mod: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    mod = require(file);
  } catch (e) {
    throw new NetstarError('ERR_CONFIG', `cannot load app module '${file}': ${(e as Error)?.message ?? String(e)}`);
  }
  const app = appOfModule(mod);
  if (!app)
    throw new NetstarError('ERR_CONFIG', `'${name}' does not export an app: \`export default app\` or \`module.exports = app\`, an object with settings() and createShard()`);
  // Shards load the same file by absolute path (they resolve it against dist/, which leaves an absolute path as is).
  return { app, appPath: file };
}

function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

export async function runApp(appName: string, config: Config, o: RunOptions = {}): Promise<RunResult> {
  const log = o.log ?? ((s: string) => process.stdout.write(s + '\n'));
  let { app, appPath } = loadApp(appName);
  let capture: Capture | null = null;
  if (config.capture) ({ capture, app, appPath } = Capture.wrap(config, app, appPath));
  let fatal: Error | null = null;
  let wake: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => { wake = resolve; });
  // Signals: the first asks for a stop (handlers get stopGraceMs to finish what they hold); a second drops
  // held packets at once; the stop still ends with the summary and the mbuf balance. A signal during
  // start-up stops the run as soon as it is up.
  let engineUp: Engine | null = null, hurried = false;
  const hurry = (): void => {
    if (hurried || !engineUp) return;
    hurried = true;
    engineUp.hurry();
  };
  let signals = 0;
  const offSignals = onStopSignal((n, sig) => {
    signals = n;
    if (n === 1) {
      process.stderr.write(`netstar: ${sig}: stopping (again to drop held packets at once)\n`);
      wake();
    } else {
      process.stderr.write(`netstar: ${sig} again: dropping held packets and stopping now\n`);
      hurry();
    }
  });
  let engine: Engine;
  try {
    engine = await Engine.start(config, app, appPath);
  } catch (e) {
    offSignals();
    await capture?.abort();
    throw e;
  }
  engineUp = engine;
  if (signals > 1) hurry();
  let metrics: EngineMetrics | null = null;
  if (config.metrics) {
    try {
      const m = await startMetrics(engine, appName, config.metrics);
      metrics = m.metrics;
      if (!o.quiet) logger().info({ url: m.url }, `metrics at ${m.url}`);
    } catch (e) {
      offSignals();
      await engine.stop();
      await capture?.abort();
      throw e;
    }
  }
  let control: ControlServer | null = null;
  if (config.control.enabled) {
    const named = o.instance ?? config.control.name;
    const instance = named ?? `${path.basename(appName).replace(/\.js$/, '').replace(/[^A-Za-z0-9_.-]/g, '_')}-${process.pid}`;
    try {
      control = new ControlServer(engine, instance, appName, { stop: () => wake(), metrics, capture });
      const where = await control.listen();
      if (!o.quiet) logger().info({ instance, socket: where }, `control socket ${where} (netstar ctl ${instance} help)`);
    } catch (e) {
      control = null;
      // A name the user chose must be theirs; a default one failing only costs the control socket.
      if (named) {
        await metrics?.close();
        offSignals();
      await engine.stop();
        await capture?.abort();
        throw e;
      }
      logger().warn(`no control socket: ${(e as Error).message}`);
    }
  }
  const live = o.live ?? (process.stdout.isTTY === true && !o.quiet);
  engine.onFatal = (e) => { fatal = e; wake(); };
  if (o.until) void o.until.then(() => wake(), () => wake());
  const timer = o.durationSec !== undefined ? setTimeout(wake, o.durationSec * 1000) : null;

  if (!o.quiet) logger().info({ app: appName, shards: engine.shards }, `${appName} on ${engine.shards} shard(s); ports: ${engine.ports.map((p) => `${p.name} (${p.driver}, ${p.mac})`).join(', ')}`);
  let prev = engine.ports.map((_, i) => engine.portTotals(i));
  let prevT = performance.now();
  const tick = setInterval(() => {
    const now = performance.now(), dt = (now - prevT) / 1000;
    const cur = engine.ports.map((_, i) => engine.portTotals(i));
    const ports = cur.map((c, i) => ({
      name: engine.ports[i].name,
      rxPps: (c.rx - prev[i].rx) / dt, txPps: (c.tx - prev[i].tx) / dt,
      drops: c.dropped + c.txDropped, rx: c.rx, tx: c.tx,
    }));
    let busy = 0, idle = 0, held = 0;
    for (let s = 0; s < engine.shards; s++) {
      busy += engine.shardCounter(s, S.busyMs); idle += engine.shardCounter(s, S.idleMs); held += engine.shardCounter(s, S.held);
    }
    if (o.statsLines) {
      const shards = Array.from({ length: engine.shards }, (_, s) => {
        const c = (k: number): number => engine.shardCounter(s, k);
        return {
          fwdIn: c(S.fwdIn), fwdOut: c(S.fwdOut), fwdDropped: c(S.fwdDropped), ringFull: c(S.ringFull), steered: c(S.steered), steeredByRule: c(S.steeredByRule), shedNewFlow: c(S.shedNewFlow),
          appErrors: c(S.appErrors), leaks: c(S.leaks), toStack: c(S.toStack), toNf: c(S.toNf), held: c(S.held), busyMs: c(S.busyMs), idleMs: c(S.idleMs), sleeps: c(S.sleeps), loops: c(S.loops),
        };
      });
      log(`STATS ${JSON.stringify({ t: Date.now(), dt, ports, busyMs: busy, idleMs: idle, held, shards, app: engine.appTotals() })}`);
    }
    if (live) process.stdout.write('\r' + ports.map((p) => `${p.name}: rx ${fmtRate(p.rxPps)}pps tx ${fmtRate(p.txPps)}pps drops ${p.drops}`).join(' | ') + '   ');
    prev = cur;
    prevT = now;
  }, config.statsIntervalMs);

  await stopRequested;
  clearInterval(tick);
  if (timer) clearTimeout(timer);
  if (live) process.stdout.write('\n');
  await control?.close();
  await metrics?.close();
  const summary = await engine.stop();
  offSignals();
  if (capture) {
    const c = await capture.finish(summary.ports);
    if (!o.quiet) logger().info({ files: c.files, packets: c.packets }, `capture: ${c.packets.reduce((a, b) => a + b, 0)} packet(s) in ${c.files.join(', ')}`);
  }
  let exitCode = 0;
  const leaked = summary.poolsInUse.reduce((a, b) => a + b, 0);
  if (fatal) exitCode = 1;
  else if (leaked > 0) exitCode = 3;
  if (o.json) log(JSON.stringify({ appName, ...summary, leaked, exitCode }));
  else if (!o.quiet) {
    log(`summary after ${(summary.elapsedMs / 1000).toFixed(1)} s:`);
    for (const p of summary.ports)
      log(`  ${p.name}: rx ${p.rx} tx ${p.tx} dropped ${p.dropped} tx-dropped ${p.txDropped} (device: ipackets ${p.device.ipackets} opackets ${p.device.opackets} imissed ${p.device.imissed} rx_nombuf ${p.device.rxNombuf})`);
    const appKeys = Object.keys(summary.app);
    if (appKeys.length) log(`  ${appName}: ${appKeys.map((k) => `${k} ${summary.app[k]}`).join(', ')}`);
    const atStop = summary.shards.reduce((a, s) => a + s.droppedAtStop, 0), bad = summary.shards.reduce((a, s) => a + s.badPackets, 0);
    log(`  mbufs: held at close ${summary.heldAtClose}, in use after stop ${leaked} ${leaked === 0 ? '(all returned)' : '(LEAK)'}; app errors ${summary.appErrors}; dropped at stop ${atStop}; bad packets ${bad}`);
  }
  if (fatal) logger().fatal((fatal as Error).message);
  return { summary, exitCode };
}
