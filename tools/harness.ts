// The NF author's harness: runs an app (built-in or a user's module) with the netstar CLI in a child process
// over net_pcap ports fed from frames or pcap files, and returns what each port sent, the counters and the
// mbuf balance — what the project's own pcap-driven tests do, usable from a user's jest tests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCli } from './proc';
import { waitFor } from './wait';
import { filePrefix, lastStats, summaryOf, type Summary } from './netstar';
import { readPcap, writePcap } from './pcap';

/** What one port receives. Port i is the vdev `net_pcap<i>`; a port without input receives nothing. */
export interface NfPortInput {
  /** Frames the port receives, in order (written to a pcap the port reads). */
  frames?: readonly Uint8Array[];
  /** Or: a pcap file the port reads (relative to `cwd`). */
  pcap?: string;
  /** Extra keys of this port's config entry, e.g. `{ stack: { address: '198.18.7.2/24' } }`, `mtu`. */
  config?: Record<string, unknown>;
}

/** The counters a STATS line carries, as the stop condition sees them. */
export interface NfProgress {
  /** per port: received (every frame the device handed over, dropped ones included), sent, dropped */
  ports: { rx: number; tx: number; drops: number }[];
  /** mbufs the app holds now */
  held: number;
  /** the app's counters */
  app: Record<string, number>;
  /** frames given as input, per port */
  input: number[];
}

export interface RunNfOptions {
  /** A built-in app's name (`l2fwd`), or the path of the app's compiled module (`./dist/my-nf.js`), relative to `cwd`. */
  app: string;
  /** The app's settings (`config.app`). */
  settings?: Record<string, unknown>;
  /** Other config keys (e.g. `burst`, `pool`, `eal: { memoryMb }`); the harness owns `eal.vdevs` and `ports`. */
  config?: Record<string, unknown>;
  /** The ports, in config order. */
  ports: NfPortInput[];
  /** Shards (worker threads); one shard reads each port and steers packets to the others. Default 1. */
  shards?: number;
  /**
   * When to stop the run. Default: every input frame was received and no counter (ports, app, mbufs held)
   * moved for `settleMs` — a port's stack keeps a steady few mbufs. An app that keeps packets longer than that
   * or sends without input (timers) needs its own condition.
   */
  until?: (p: NfProgress) => boolean;
  /** Quiet time before the default condition holds, in ms. Default 250. */
  settleMs?: number;
  /** Deadline for the whole run, in ms; past it the run is stopped and the call rejects. Default 60000. */
  timeoutMs?: number;
  /** Directory the CLI runs in (the app path and pcap paths are relative to it). Default process.cwd(). */
  cwd?: string;
  /** Keep the pcap files in this directory (input `in<i>.pcap`, output `out<i>.pcap`); default: a temporary one, removed. */
  outDir?: string;
}

export interface NfResult {
  /** The frames each port sent, in order. */
  output: Uint8Array[][];
  /** Per-port totals from the summary. */
  ports: { name: string; rx: number; tx: number; dropped: number; txDropped: number }[];
  /** The app's counters at the end. */
  counters: Record<string, number>;
  /** The mbuf balance: held by the app when it stopped, and not back in the pools after the stop (both 0 when clean). */
  mbufs: { held: number; leaked: number };
  /** The CLI's exit code: 0 clean, 1 a shard failed, 3 mbufs leaked. */
  exitCode: number;
  /** Paths of the output pcaps (only useful with `outDir`). */
  outputPcaps: string[];
  /** The CLI's JSON summary, and its output. */
  summary: Summary;
  stdout: string;
  stderr: string;
}

/** The run did not produce a summary (bad config, crash), was stopped at its deadline, or would not stop. */
export class NfRunError extends Error {
  constructor(message: string, readonly stdout: string, readonly stderr: string, readonly exitCode: number | null) {
    super(message);
    this.name = 'NfRunError';
  }
}

function tail(s: string): string {
  return s.length > 3000 ? `…${s.slice(-3000)}` : s;
}

/**
 * Runs an NF over net_pcap ports in a child process (`netstar run <app> --stats --json`) and returns the
 * frames each port sent, the counters and the mbuf balance. Rejects with {@link NfRunError} when the CLI
 * ends without a summary (its stderr in the message), or when the stop condition does not hold in time.
 */
export async function runNf(o: RunNfOptions): Promise<NfResult> {
  if (!o.ports.length) throw new NfRunError('runNf: at least one port is needed', '', '', null);
  const cwd = o.cwd ?? process.cwd();
  const dir = o.outDir ? path.resolve(cwd, o.outDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'netstar-nf-'));
  fs.mkdirSync(dir, { recursive: true });
  try {
    const input: number[] = [];
    const vdevs: string[] = [];
    const outputPcaps: string[] = [];
    o.ports.forEach((p, i) => {
      if (p.frames && p.pcap) throw new NfRunError(`runNf: port ${i} has both frames and a pcap`, '', '', null);
      let inFile: string;
      if (p.pcap) {
        inFile = path.resolve(cwd, p.pcap);
        input.push(readPcap(inFile).length);
      } else {
        inFile = path.join(dir, `in${i}.pcap`);
        input.push(writePcap(inFile, (p.frames ?? []).map((data) => ({ data }))));
      }
      const outFile = path.join(dir, `out${i}.pcap`);
      // The pcap PMD splits its devargs on ',' and '=': such a path cannot be passed.
      for (const f of [inFile, outFile]) if (/[,=]/.test(f)) throw new NfRunError(`runNf: pcap path '${f}' contains ',' or '='`, '', '', null);
      outputPcaps.push(outFile);
      vdevs.push(`net_pcap${i},rx_pcap=${inFile},tx_pcap=${outFile}`);
    });
    const extra = o.config ?? {};
    const eal = { ...((extra.eal as Record<string, unknown> | undefined) ?? {}), vdevs, filePrefix: filePrefix('nf') };
    const cfg = {
      statsIntervalMs: 50,
      ...extra,
      eal,
      ports: o.ports.map((p, i) => ({ ...(p.config ?? {}), name: `net_pcap${i}` })),
      shards: o.shards ?? extra.shards ?? 1,
      app: o.settings ?? extra.app ?? {},
    };
    const cfgFile = path.join(dir, 'config.json');
    fs.writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));

    const settleMs = o.settleMs ?? 250;
    const until = o.until ?? ((() => {
      let key = '', since = 0;
      return (p: NfProgress): boolean => {
        const k = JSON.stringify([p.ports, p.app, p.held]);
        const now = Date.now();
        if (k !== key) { key = k; since = now; }
        return p.ports.every((q, i) => q.rx >= p.input[i]) && now - since >= settleMs;
      };
    })());

    const cli = startCli(['run', o.app, '-c', cfgFile, '--stats', '--json'], { cwd });
    try {
      await waitFor(() => {
        if (!cli.running()) return true;
        const s = lastStats(cli.stdout()) as (ReturnType<typeof lastStats> & { app?: Record<string, number> }) | null;
        if (!s) return false;
        return until({ ports: s.ports.map((q) => ({ rx: q.rx, tx: q.tx, drops: q.drops })), held: s.held, app: s.app ?? {}, input });
      }, { timeoutMs: o.timeoutMs ?? 60000, intervalMs: 20, what: `${o.app} to process its input (${input.join(' + ')} frames)` });
    } catch (e) {
      await cli.stop({ timeoutMs: 10000 });
      const s = lastStats(cli.stdout());
      throw new NfRunError(`${(e as Error).message}; last STATS: ${s ? JSON.stringify({ ports: s.ports.map((q) => ({ rx: q.rx, tx: q.tx, drops: q.drops })), held: s.held }) : 'none'}\n${tail(cli.stderr())}`, cli.stdout(), cli.stderr(), cli.exitInfo()?.code ?? null);
    }
    const r = await cli.stop({ timeoutMs: 15000 });
    if (r.killed) throw new NfRunError(`${o.app} did not exit within 15 s of SIGINT (killed)\n${tail(cli.output())}`, cli.stdout(), cli.stderr(), null);
    let summary: Summary;
    try {
      summary = summaryOf(cli.stdout());
    } catch {
      throw new NfRunError(`${o.app} ended without a summary (exit code ${r.code}${r.signal ? `, signal ${r.signal}` : ''}):\n${tail(cli.stderr() || cli.stdout())}`, cli.stdout(), cli.stderr(), r.code);
    }
    return {
      output: outputPcaps.map((f) => (fs.existsSync(f) ? readPcap(f).map((rec) => rec.data) : [])),
      ports: summary.ports.map((p) => ({ name: p.name, rx: p.rx, tx: p.tx, dropped: p.dropped, txDropped: p.txDropped })),
      counters: summary.app,
      mbufs: { held: summary.heldAtClose, leaked: summary.leaked },
      exitCode: summary.exitCode,
      outputPcaps,
      summary,
      stdout: cli.stdout(),
      stderr: cli.stderr(),
    };
  } finally {
    if (!o.outDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}
