// Runs an app on the engine from the CLI, the demo and benchmarks: live view, signals, summary, exit code.
import * as fs from 'fs';
import * as path from 'path';
import { Engine, EngineSummary } from '../reactor/engine';
import { APPS, AppModule } from '../reactor/app';
import { Config } from '../reactor/config';
import { NetstarError } from '../native';
import { S } from '../reactor/stats';

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
}

export interface RunResult { summary: EngineSummary; exitCode: number }

export function loadApp(name: string): { app: AppModule; appPath: string } {
  // A path (./my-nf.js, /abs/app.js) loads a user's own app module; a name loads a built-in one.
  const isPath = name.includes('/') || name.endsWith('.js');
  const rel = isPath ? path.resolve(name) : APPS[name];
  if (!rel) throw new NetstarError('ERR_CONFIG', `unknown app '${name}'; apps: ${Object.keys(APPS).join(', ')} (or a path to an app module)`);
  if (isPath && !fs.existsSync(rel)) throw new NetstarError('ERR_CONFIG', `app module '${rel}' does not exist`);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const mod = require(path.resolve(__dirname, '..', rel)) as { default?: AppModule };
  if (!mod.default || typeof mod.default.createShard !== 'function' || typeof mod.default.settings !== 'function')
    throw new NetstarError('ERR_CONFIG', `'${name}' does not export an app (default export with settings() and createShard())`);
  return { app: mod.default, appPath: rel };
}

function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

export async function runApp(appName: string, config: Config, o: RunOptions = {}): Promise<RunResult> {
  const log = o.log ?? ((s: string) => process.stdout.write(s + '\n'));
  const { app, appPath } = loadApp(appName);
  const engine = await Engine.start(config, app, appPath);
  const live = o.live ?? (process.stdout.isTTY === true && !o.quiet);
  let fatal: Error | null = null;
  let wake: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => { wake = resolve; });
  engine.onFatal = (e) => { fatal = e; wake(); };
  const onSignal = (): void => wake();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (o.until) void o.until.then(() => wake(), () => wake());
  const timer = o.durationSec !== undefined ? setTimeout(wake, o.durationSec * 1000) : null;

  if (!o.quiet) log(`netstar: ${appName} on ${engine.shards} shard(s); ports: ${engine.ports.map((p) => `${p.name} (${p.driver}, ${p.mac})`).join(', ')}`);
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
          fwdIn: c(S.fwdIn), fwdOut: c(S.fwdOut), fwdDropped: c(S.fwdDropped), ringFull: c(S.ringFull), steered: c(S.steered), steeredByRule: c(S.steeredByRule),
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
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (live) process.stdout.write('\n');
  const summary = await engine.stop();
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
    log(`  mbufs: held at close ${summary.heldAtClose}, in use after stop ${leaked} ${leaked === 0 ? '(all returned)' : '(LEAK)'}; app errors ${summary.appErrors}`);
  }
  if (fatal) log(`netstar: ${(fatal as Error).message}`);
  return { summary, exitCode };
}
