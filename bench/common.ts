// Shared benchmark plumbing: run a child for a while, collect per-second samples, medians, output.
import { spawn } from 'child_process';
import * as path from 'path';

export const CLI = path.resolve(__dirname, '..', 'cli', 'netstar.js');

export interface BenchResult {
  bench: string; ours: number; ref: number; unit: string; ratio: number;
  /** per-round figures behind the medians (for --plot); not part of the --json line */
  rounds?: { ours: number; ref: number }[];
  /** what `ours` and `ref` are, for plot legends */
  labels?: { ours: string; ref: string };
  /** further per-round series measured in the same run (plotted beside ours and ref) */
  extraSeries?: { name: string; values: number[] }[];
}

/** The per-round pairs of two equally long series. */
export function roundsOf(ours: number[], ref: number[]): { ours: number; ref: number }[] {
  return ours.map((x, i) => ({ ours: x, ref: ref[i] }));
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs a command, hands each output line to `onLine`, stops it with SIGINT after `seconds`, SIGKILL later. */
export function runFor(cmd: string, args: string[], seconds: number, onLine: (l: string) => void): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let buf = '';
    const feed = (d: Buffer): void => {
      const s = d.toString();
      out += s;
      buf += s;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    const stop = setTimeout(() => child.kill('SIGINT'), seconds * 1000);
    const kill = setTimeout(() => child.kill('SIGKILL'), (seconds + 20) * 1000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(stop);
      clearTimeout(kill);
      if (buf) onLine(buf);
      resolve({ code, out });
    });
  });
}

/**
 * testpmd with --stats-period 1: returns the per-second Tx-pps samples of `port`. The first `skip`
 * samples (warm-up) are dropped.
 */
export async function testpmdTxPps(ealArgs: string[], pmdArgs: string[], port: number, seconds: number, skip = 2): Promise<number[]> {
  const samples: number[] = [];
  let current = -1;
  // `seconds` measured: the warm-up samples and a second for EAL start come on top (with --seconds 4 it used
  // to stop after two samples, both skipped).
  const r = await runFor('dpdk-testpmd', [...ealArgs, '--', ...pmdArgs, '--stats-period=1', '-a'], seconds + skip + 1, (l) => {
    const m = /NIC statistics for port (\d+)/.exec(l);
    if (m) current = Number(m[1]);
    const t = /Tx-pps:\s+(\d+)/.exec(l);
    if (t && current === port) samples.push(Number(t[1]));
  });
  if (samples.length <= skip) throw new Error(`testpmd gave no statistics (exit ${r.code}):\n${r.out.slice(-2000)}`);
  return samples.slice(skip);
}

/** Our CLI with --stats: returns per-interval TX pps of port index `portIndex`, warm-up dropped. */
export async function oursTxPps(app: string, configFile: string, portIndex: number, seconds: number, extra: string[] = [], skip = 2): Promise<number[]> {
  const samples: number[] = [];
  const r = await runFor(process.execPath, [CLI, 'run', app, '-c', configFile, '--stats', '-q', '-d', String(seconds), ...extra], seconds + 30, (l) => {
    if (!l.startsWith('STATS ')) return;
    const s = JSON.parse(l.slice(6)) as { ports: { txPps: number }[] };
    samples.push(s.ports[portIndex].txPps);
  });
  if (samples.length <= skip) throw new Error(`netstar gave no statistics (exit ${r.code}):\n${r.out.slice(-2000)}`);
  if (r.code !== 0) throw new Error(`netstar exited with ${r.code}:\n${r.out.slice(-2000)}`);
  return samples.slice(skip);
}

export function printTable(rows: string[][]): void {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) process.stdout.write(r.map((x, c) => x.padEnd(w[c])).join('  ') + '\n');
}

export function finish(r: BenchResult, json: boolean): void {
  if (json) process.stdout.write(JSON.stringify({ bench: r.bench, ours: r.ours, ref: r.ref, unit: r.unit, ratio: r.ratio }) + '\n');
}
