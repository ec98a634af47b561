// Helpers for running the netstar CLI as a child process (tests, benches, the demo, the NF harness): config
// files, STATS lines, the JSON summary, and clean-stop checks that throw (no test framework needed).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Topology } from './netns';
import { CLI_PATH, startCli, type ManagedProcess, type StopResult } from './proc';
import { waitFor } from './wait';
import { controlExchange, type ControlReply } from '../reactor/control-client';

export interface StatsLine { ports: { name: string; rx: number; tx: number; drops: number }[]; held: number }
export interface Summary {
  ports: { name: string; rx: number; tx: number; dropped: number; txDropped: number; device: Record<string, number> }[];
  poolsInUse: number[]; heldAtClose: number; appErrors: number; leaked: number; exitCode: number;
  app: Record<string, number>;
  shards: { id: number; heldAtClose: number; lcore: Record<string, number>; droppedAtStop: number; badPackets: number; fwdDropped: number; shedNewFlow: number; fwdOut: number; fwdIn: number; ringFull: number; busyMs: number }[];
}

export function tmpDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ns-${label}-`));
}

export function writeJson(dir: string, name: string, obj: unknown): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, JSON.stringify(obj, null, 2));
  return f;
}

/** The last `STATS {…}` line in the output, or null. */
export function lastStats(output: string): StatsLine | null {
  const lines = output.split('\n').filter((l) => l.startsWith('STATS '));
  return lines.length ? (JSON.parse(lines[lines.length - 1].slice(6)) as StatsLine) : null;
}

/** The `--json` summary line (the last line that parses as an object with `poolsInUse`). */
export function summaryOf(output: string): Summary {
  const lines = output.trim().split('\n').reverse();
  for (const l of lines) {
    if (!l.startsWith('{')) continue;
    try {
      const o = JSON.parse(l) as Summary;
      if (Array.isArray(o.poolsInUse)) return o;
    } catch {
      // not the summary
    }
  }
  throw new Error(`no summary in output:\n${output.slice(-2000)}`);
}

/** A unique EAL file prefix for one test run. */
export function filePrefix(label: string): string {
  return `t${label}${process.pid}${Math.floor(Math.random() * 1e6)}`;
}

/** The app counters of a running `netstar run … --stats` process's last STATS line (empty before the first). */
export function appCounters(p: ManagedProcess): Record<string, number> {
  return (lastStats(p.output()) as unknown as { app?: Record<string, number> } | null)?.app ?? {};
}

/** Starts `netstar run <app> -c <cfg> --stats --json` in namespace `ns` and waits for its first STATS line. */
export async function startAppIn(topo: Topology, ns: string, app: string, cfg: string): Promise<ManagedProcess> {
  const p = topo.spawn(ns, process.execPath, [CLI_PATH, 'run', app, '-c', cfg, '--stats', '--json']);
  await p.waitForOutput(/^STATS /m, 20000);
  return p;
}

/** Throws unless the process exited by itself with code 0 after the stop signal (not killed at the deadline). */
export function checkStopped(p: ManagedProcess, r: StopResult): void {
  if (r.killed) throw new Error(`${p.describe()} did not exit after SIGINT (killed); output:\n${p.output().slice(-2000)}`);
  if (r.code !== 0) throw new Error(`${p.describe()} exited with code ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}; output:\n${p.output().slice(-2000)}`);
}

/** Stops it (SIGINT) and checks a clean exit with every mbuf back; returns its summary. */
export async function stopChecked(p: ManagedProcess): Promise<Summary> {
  const r = await p.stop({ timeoutMs: 15000 });
  checkStopped(p, r);
  const s = summaryOf(p.stdout());
  if (s.leaked !== 0 || s.heldAtClose !== 0)
    throw new Error(`${p.describe()}: mbufs not all returned (leaked ${s.leaked}, held at close ${s.heldAtClose})`);
  return s;
}

/**
 * Runs `netstar run <app> -c <cfg> --stats --json` here (no namespace) until port `port` has sent `count`
 * packets or the process ended, stops it (SIGINT) and checks a clean exit; returns its summary.
 */
export async function runUntilSent(app: string, cfg: string, port: number, count: number, what: string, timeoutMs = 30000): Promise<Summary> {
  const p = startCli(['run', app, '-c', cfg, '--stats', '--json']);
  try {
    await waitFor(() => (lastStats(p.output())?.ports[port].tx ?? 0) >= count || !p.running(), { timeoutMs, what });
    checkStopped(p, await p.stop({ timeoutMs: 10000 }));
  } finally {
    if (p.running()) p.kill();
  }
  return summaryOf(p.stdout());
}

/**
 * One request on a running instance's control socket (JSON lines; see reactor/control-socket.ts) without
 * loading the addon: resolves with the result, rejects with the instance's error, a connection problem or
 * no answer within `timeoutMs`.
 */
export async function ctlRequest(sockPath: string, cmd: string, args: Record<string, unknown> = {}, timeoutMs = 5000): Promise<unknown> {
  let r: ControlReply;
  try {
    r = await controlExchange(sockPath, cmd, args, timeoutMs);
  } catch (e) {
    throw new Error(`${sockPath}: '${cmd}': ${(e as Error).message}`);
  }
  if (r.ok) return r.result;
  throw new Error(`${sockPath}: ${r.error}`);
}

/** The device counters of one port as the control socket's `stats` reports them. */
export interface DeviceCounters { ipackets: number; opackets: number; imissed: number; ierrors: number; oerrors: number; rxNombuf: number }

/** `stats` over the control socket: each port's device counters and the pools' use. */
export async function ctlStats(sockPath: string): Promise<{ ports: { name: string; rx: number; tx: number; device: DeviceCounters }[]; pools: { size: number; inUse: number; available: number }[]; counters: Record<string, number> }> {
  return (await ctlRequest(sockPath, 'stats')) as Awaited<ReturnType<typeof ctlStats>>;
}
