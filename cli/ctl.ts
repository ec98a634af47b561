// `netstar ls`, `netstar ctl <instance> <command>` and `netstar top <instance>`: clients of a running
// instance's control socket (reactor/control.ts). top is a plain-ANSI full-screen view refreshed every interval.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { COMMANDS, listInstances, request, type StatsSnapshot } from '../reactor/control-socket';
import { NetstarError } from '../native';

function rate(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

function table(rows: string[][]): string[] {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ').trimEnd());
}

/** One screen of `netstar top`: rates from the difference of two snapshots (totals alone on the first). */
export function renderTop(prev: StatsSnapshot | null, cur: StatsSnapshot, width = 120): string {
  const dt = prev ? (cur.t - prev.t) / 1000 : 0;
  const per = (a: number, b: number | undefined): number => (prev && dt > 0 && b !== undefined ? (a - b) / dt : NaN);
  const up = ((cur.t - cur.startedAt) / 1000).toFixed(1);
  const out: string[] = [];
  out.push(`netstar top - ${cur.instance} (${cur.app}, pid ${cur.pid}), up ${up} s${prev ? `, rates over ${dt.toFixed(1)} s` : ''}    q: quit`);
  out.push('');
  out.push(...table([
    ['PORT', 'RX pps', 'TX pps', 'RX Mbit/s', 'TX Mbit/s', 'RX total', 'TX total', 'DROPPED', 'TX-DROP', 'IMISSED', 'NOMBUF'],
    ...cur.ports.map((p, i) => {
      const q = prev?.ports[i];
      return [p.name, rate(per(p.rx, q?.rx)), rate(per(p.tx, q?.tx)), rate((per(p.device.ibytes, q?.device.ibytes) * 8) / 1e6), rate((per(p.device.obytes, q?.device.obytes) * 8) / 1e6),
        String(p.rx), String(p.tx), String(p.dropped), String(p.txDropped), String(p.device.imissed), String(p.device.rxNombuf)];
    }),
  ]));
  out.push('');
  out.push(...table([
    ['SHARD', 'CORE', 'BUSY %', 'LOOPS/s', 'SLEEPS/s', 'HELD', 'FWD IN/s', 'FWD OUT/s', 'FWD DROPS', 'APP ERRORS'],
    ...cur.shards.map((s, i) => {
      const q = prev?.shards[i];
      const busy = q ? s.busyMs - q.busyMs : s.busyMs, idle = q ? s.idleMs - q.idleMs : s.idleMs;
      return [String(s.id), String(s.core), busy + idle > 0 ? ((100 * busy) / (busy + idle)).toFixed(1) : '-', rate(per(s.loops, q?.loops)), rate(per(s.sleeps, q?.sleeps)),
        String(s.held), rate(per(s.fwdIn, q?.fwdIn)), rate(per(s.fwdOut, q?.fwdOut)), String(s.fwdDropped), String(s.appErrors)];
    }),
  ]));
  out.push('');
  out.push(...table([['POOL', 'IN USE', 'FREE', 'SIZE'], ...cur.pools.map((p) => [p.name, String(p.inUse), String(p.available), String(p.size)])]));
  const keys = Object.keys(cur.counters);
  if (keys.length) {
    out.push('');
    out.push(...table([['APP COUNTER', 'PER SECOND', 'TOTAL'], ...keys.map((k) => [k, rate(per(cur.counters[k], prev?.counters[k])), String(cur.counters[k])])]));
  }
  return out.map((l) => (l.length > width ? l.slice(0, width) : l)).join('\n');
}

function positiveMs(v: string): number {
  const n = Number(v);
  if (!(n >= 0.1)) throw new InvalidArgumentError('must be at least 0.1 (seconds)');
  return Math.round(n * 1000);
}

async function top(instance: string, intervalMs: number, iterations?: number): Promise<number> {
  const tty = process.stdout.isTTY === true;
  let prev: StatsSnapshot | null = null;
  let done = false;
  let wake: () => void = () => undefined;
  const restore = (): void => {
    if (tty) process.stdout.write('\x1b[?25h\x1b[?1049l');
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    process.stdin.pause();
  };
  const quit = (): void => { done = true; wake(); };
  if (tty) process.stdout.write('\x1b[?1049h\x1b[?25l');
  if (process.stdin.isTTY) {
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.on('data', (d: Buffer) => {
      const k = d.toString();
      if (k === 'q' || k === 'Q' || k === '\x03' || k === '\x1b') quit();
    });
  }
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
  let n = 0;
  try {
    while (!done) {
      let cur: StatsSnapshot;
      try {
        cur = (await request(instance, 'stats')) as StatsSnapshot;
      } catch (e) {
        restore();
        process.stderr.write(`netstar top: ${(e as Error).message}\n`);
        return 1;
      }
      const frame = renderTop(prev, cur, tty ? process.stdout.columns ?? 120 : 200);
      process.stdout.write(tty ? `\x1b[H\x1b[J${frame}` : `${frame}\n\n`);
      prev = cur;
      if (iterations !== undefined && ++n >= iterations) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, intervalMs);
        wake = () => { clearTimeout(t); resolve(); };
      });
    }
  } finally {
    process.off('SIGINT', quit);
    process.off('SIGTERM', quit);
  }
  restore();
  return 0;
}

/** Adds ls, ctl and top to the CLI. */
export function registerControlCommands(program: Command): void {
  program
    .command('ls')
    .description('list the running instances (their control sockets)')
    .option('--json', 'one JSON line')
    .action(async (opts: { json?: boolean }) => {
      const list = await listInstances();
      if (opts.json) {
        process.stdout.write(JSON.stringify(list.map((x) => ({ instance: x.instance, app: x.info.app, pid: x.info.pid, uptimeMs: x.info.uptimeMs, socket: x.path }))) + '\n');
        return;
      }
      if (list.length === 0) {
        process.stdout.write('no running instances\n');
        return;
      }
      process.stdout.write(table([['INSTANCE', 'APP', 'PID', 'UPTIME s', 'SOCKET'],
        ...list.map((x) => [x.instance, x.info.app, String(x.info.pid), (x.info.uptimeMs / 1000).toFixed(0), x.path])]).join('\n') + '\n');
    });
  program
    .command('ctl')
    .description(`ask a running instance: ${Object.keys(COMMANDS).join(', ')}`)
    .argument('<instance>', 'instance name (netstar ls) or socket path')
    .argument('<command>', 'command')
    .argument('[args]', 'JSON object of arguments')
    .action(async (instance: string, cmd: string, args?: string) => {
      let a: Record<string, unknown> = {};
      if (args) {
        try {
          a = JSON.parse(args) as Record<string, unknown>;
        } catch {
          throw new NetstarError('ERR_CONFIG', `ctl: arguments must be a JSON object, got '${args}'`);
        }
      }
      const r = await request(instance, cmd, a);
      process.stdout.write((typeof r === 'string' ? r : JSON.stringify(r, null, 2)) + '\n');
    });
  program
    .command('top')
    .description('live view of a running instance: ports, shards, pools, app counters')
    .argument('<instance>', 'instance name (netstar ls) or socket path')
    .option('-i, --interval <seconds>', 'refresh interval', positiveMs, 1000)
    .option('-n, --iterations <n>', 'stop after this many screens', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
      return n;
    })
    .action(async (instance: string, opts: { interval: number; iterations?: number }) => {
      process.exit(await top(instance, opts.interval, opts.iterations));
    });
}
