// `bench httpd`: our httpd (user-space stack over net_af_packet) against Node http and nginx (one worker) on
// the kernel stack, each server on the same core, loaded by one wrk thread on the other core across veth
// pairs, in two modes: keep-alive without pipelining (per-request cost, latency) and pipelined, depth 16
// (capacity). Beside req/s it reports what each side's core did, and fails when the load generator, not
// the server, was the limit. `--profile` adds a V8 profile of our shard thread (where a request's time goes).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Topology } from '../tools/netns';
import type { ManagedProcess } from '../tools/proc';
import { waitFor } from '../tools/wait';
import { BenchResult, CLI, median, printTable, finish } from './common';
import { formatSummary, shardProfile, summarize } from './cpuprofile';

interface WrkResult { rps: number; requests: number; p50: number; p90: number; p99: number; wrkCpuSec: number; errors: number }

function ms(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

/** wrk's report plus the `times` line of the shell that ran it (children's user and system time). */
export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const reqs = /(\d+) requests in/.exec(out);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    return m ? ms(m[1], m[2]) : NaN;
  };
  if (!rps || !reqs) throw new Error(`could not parse wrk output:\n${out}`);
  const times = [...out.matchAll(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/gm)];
  // `times` prints the shell's own line, then its children's: the last one is wrk's.
  const t = times[times.length - 1];
  const wrkCpuSec = t ? Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]) : NaN;
  const err = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = (err ? Number(err[1]) : 0) + (sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) : 0);
  const res = { rps: Number(rps[1]), requests: Number(reqs[1]), p50: pct('50'), p90: pct('90'), p99: pct('99'), wrkCpuSec, errors };
  // wrk has been seen to print a 0.00 99th percentile under pipelining: not a latency, say so
  for (const k of ['p90', 'p99'] as const) {
    if (res[k] === 0 && res.p50 > 0) {
      process.stderr.write(`bench httpd: wrk reported ${k} = 0 with p50 ${res.p50} ms (shown as n/a); its distribution:\n${(/Latency Distribution[\s\S]*?(?=\n\s*\d+ requests in)/.exec(out) ?? [''])[0]}\n`);
      res[k] = NaN;
    }
  }
  return res;
}

const CLK_TCK = 100;

const f2 = (x: number): string => (Number.isNaN(x) ? 'n/a' : x.toFixed(2));

/** CPU seconds (user + system) of a process and all its threads. */
function procCpuSec(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // fields 14 and 15 (utime, stime) are at 11 and 12 after the state field
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** Busy and total jiffies of one core from /proc/stat (busy = all but idle and iowait). */
function coreTimes(core: number): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `));
  if (!line) throw new Error(`no cpu${core} in /proc/stat`);
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - v[4], total };
}

interface Server {
  name: string;
  url: string;
  proc: ManagedProcess;
  /** our shard's busy and idle ms so far (from its STATS lines); kernel servers: null */
  shardMs?: () => { busy: number; idle: number } | null;
}

interface Sample extends WrkResult {
  server: string; mode: Mode;
  /** server's own CPU: our shard's busy share; kernel servers: process CPU time / wall time */
  serverUtil: number;
  /** the server core's busy share from /proc/stat (everything on it: server, softirq, other tenants) */
  serverCoreUtil: number;
  /** wrk's CPU time / wall time */
  clientUtil: number;
  clientCoreUtil: number;
  /** requests per CPU-second of the server: process (or shard) CPU */
  reqPerServerCpuSec: number;
}

type Mode = 'keep-alive' | 'pipelined';
const DEPTH = 16;

const PIPELINE_LUA = `-- wrk: send ${DEPTH}-deep pipelined GETs per connection (depth from the first script argument)
init = function(args)
  local depth = tonumber(args[1]) or 1
  local r = {}
  for i = 1, depth do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function()
  return req
end
`;

function nginxConf(dir: string, listen: string): string {
  return `worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server {
    listen ${listen} reuseport backlog=4096;
    location / { default_type text/plain; return 200 "hello from nginx\\n"; }
  }
}
`;
}

export interface HttpdBenchOptions { rounds: number; seconds: number; json: boolean; core: number; connections?: number; profile?: boolean }

export async function benchHttpd(o: HttpdBenchOptions): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-'));
  const topo = await Topology.create('hb');
  const clientCore = o.core === 0 ? 1 : 0;
  const conns = o.connections ?? 64;
  const say = (s: string): void => { if (!o.json) process.stdout.write(s + '\n'); };
  try {
    await topo.ns('cli'); await topo.ns('us'); await topo.ns('kern');
    // client has two interfaces: one to our server, one to the kernel servers (Node on :80, nginx on :8080)
    await topo.veth('cli', 'c1', 'us', 'u1', { disableOffloads: true });
    await topo.veth('cli', 'c2', 'kern', 'k1', { disableOffloads: true });
    await topo.addr('cli', 'c1', '198.18.4.1/24');
    await topo.addr('cli', 'c2', '198.18.5.1/24');
    await topo.addr('kern', 'k1', '198.18.5.2/24');
    await topo.sysctl('us', 'net.ipv6.conf.u1.disable_ipv6', '1');
    const cfg = path.join(dir, 'httpd.json');
    fs.writeFileSync(cfg, JSON.stringify({
      eal: { vdevs: ['net_af_packet0,iface=u1,framecnt=4096'], mainCore: clientCore, filePrefix: `nsbh${process.pid}` },
      ports: [{ name: 'net_af_packet0', stack: { address: '198.18.4.2/24' } }],
      shards: 1, cores: [o.core], statsIntervalMs: 200, app: { port: 80, routes: { '/': 'hello from netstar\n' } },
    }));
    const lua = path.join(dir, 'pipeline.lua');
    fs.writeFileSync(lua, PIPELINE_LUA);
    fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(dir, '198.18.5.2:8080'));

    const startOurs = (extraNode: string[] = []): Server => {
      const proc = topo.spawn('us', process.execPath, [...extraNode, CLI, 'run', 'httpd', '-c', cfg, '--stats', '--log-level', 'warn']);
      return {
        name: 'netstar httpd', url: 'http://198.18.4.2/', proc,
        shardMs: () => {
          const lines = proc.stdout().split('\n').filter((l) => l.startsWith('STATS '));
          if (!lines.length) return null;
          const s = JSON.parse(lines[lines.length - 1].slice(6)) as { busyMs: number; idleMs: number };
          return { busy: s.busyMs, idle: s.idleMs };
        },
      };
    };
    const servers: Server[] = [
      startOurs(),
      { name: 'node http', url: 'http://198.18.5.2/', proc: topo.spawn('kern', 'taskset', ['-c', String(o.core), process.execPath, '-e',
        "require('http').createServer((q, s) => { s.setHeader('Content-Type', 'text/plain'); s.end('hello from node\\n'); }).listen(80, '198.18.5.2')"]) },
      { name: 'nginx (1 worker)', url: 'http://198.18.5.2:8080/', proc: topo.spawn('kern', 'taskset', ['-c', String(o.core), 'nginx', '-p', dir, '-c', path.join(dir, 'nginx.conf')]) },
    ];
    const ready = async (s: Server): Promise<void> =>
      waitFor(async () => (await topo.exec('cli', 'curl', ['-s', '-o', '/dev/null', '-m', '2', '-w', '%{http_code}', s.url])).stdout === '200', { timeoutMs: 20000, what: `${s.name} at ${s.url}` });
    for (const s of servers) await ready(s);

    const measure = async (s: Server, mode: Mode, seconds = o.seconds): Promise<Sample> => {
      const script = mode === 'pipelined' ? `-s ${lua} ${s.url} -- ${DEPTH}` : s.url;
      const sc0 = coreTimes(o.core), cc0 = coreTimes(clientCore), cpu0 = procCpuSec(s.proc.pid), sh0 = s.shardMs?.() ?? null, t0 = performance.now();
      const r = await topo.exec('cli', 'bash', ['-c', `taskset -c ${clientCore} wrk -t1 -c${conns} -d${seconds}s --timeout 10s --latency ${script}; times`], { timeoutMs: (seconds + 30) * 1000 });
      // our STATS lines come every 200 ms: wait for one from after the run
      if (s.shardMs) await new Promise((res) => setTimeout(res, 250));
      const wall = (performance.now() - t0) / 1000;
      const sc1 = coreTimes(o.core), cc1 = coreTimes(clientCore), cpu1 = procCpuSec(s.proc.pid), sh1 = s.shardMs?.() ?? null;
      const w = parseWrk(r.stdout);
      const serverCpu = sh0 && sh1 ? (sh1.busy - sh0.busy) / 1000 : cpu1 - cpu0;
      const serverUtil = sh0 && sh1 ? (sh1.busy - sh0.busy) / Math.max(1, (sh1.busy - sh0.busy) + (sh1.idle - sh0.idle)) : serverCpu / wall;
      return {
        ...w, server: s.name, mode,
        serverUtil,
        serverCoreUtil: (sc1.busy - sc0.busy) / Math.max(1, sc1.total - sc0.total),
        clientUtil: w.wrkCpuSec / seconds,
        clientCoreUtil: (cc1.busy - cc0.busy) / Math.max(1, cc1.total - cc0.total),
        reqPerServerCpuSec: w.requests / Math.max(1e-6, serverCpu),
      };
    };

    const samples: Sample[] = [];
    const perRound: { ours: number; ref: number }[] = [];
    for (let r = 0; r < o.rounds; r++) {
      for (const mode of ['keep-alive', 'pipelined'] as Mode[]) {
        for (const s of servers) {
          const x = await measure(s, mode);
          samples.push(x);
          say(`round ${r + 1} ${mode.padEnd(10)} ${s.name.padEnd(17)} ${x.rps.toFixed(0).padStart(7)} req/s  p50 ${f2(x.p50)} ms  p99 ${f2(x.p99)} ms  server ${(100 * x.serverUtil).toFixed(0)} % (core ${(100 * x.serverCoreUtil).toFixed(0)} %)  wrk ${(100 * x.clientUtil).toFixed(0)} % (core ${(100 * x.clientCoreUtil).toFixed(0)} %)${x.errors ? `  ${x.errors} errors` : ''}`);
        }
      }
      const k = samples.slice(-6);
      perRound.push({ ours: k[0].rps, ref: k[1].rps });
    }
    for (const s of servers) await s.proc.stop({ timeoutMs: 10000 });

    let profileText = '';
    if (o.profile) {
      // One more keep-alive run with V8 profiling of every thread; the shard's profile shows where a request goes.
      const profDir = path.join(dir, 'prof');
      const prof = startOurs(['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
      await ready(prof);
      const x = await measure(prof, 'keep-alive');
      await prof.proc.stop({ timeoutMs: 20000 });
      const f = fs.existsSync(profDir) ? shardProfile(profDir) : null;
      profileText = f
        ? `\nkeep-alive run under --cpu-prof: ${x.rps.toFixed(0)} req/s, ${x.requests} requests\n${formatSummary(summarize(f), x.requests)}\n`
        : '\n(no shard profile was written)\n';
      const keep = path.join(os.tmpdir(), `netstar-httpd-shard-${process.pid}.cpuprofile`);
      if (f) fs.copyFileSync(f, keep);
      if (f) profileText += `(profile kept at ${keep}; open it in Chrome DevTools)\n`;
    }

    const med = (server: string, mode: Mode, k: keyof Sample): number => median(samples.filter((x) => x.server === server && x.mode === mode).map((x) => x[k] as number).filter((v) => !Number.isNaN(v)));
    const rows: string[][] = [['mode', 'server', 'req/s', 'p50 ms', 'p99 ms', 'server CPU %', 'server core %', 'wrk CPU %', 'client core %', 'req per server CPU-s', 'vs node', 'vs nginx']];
    const limited: string[] = [], unsaturated: string[] = [];
    for (const mode of ['keep-alive', 'pipelined'] as Mode[]) {
      const node = med('node http', mode, 'rps'), nginx = med('nginx (1 worker)', mode, 'rps');
      for (const s of servers) {
        const rps = med(s.name, mode, 'rps');
        const su = med(s.name, mode, 'serverUtil'), cu = med(s.name, mode, 'clientUtil');
        rows.push([mode, s.name, rps.toFixed(0), f2(med(s.name, mode, 'p50')), f2(med(s.name, mode, 'p99')),
          (100 * su).toFixed(0), (100 * med(s.name, mode, 'serverCoreUtil')).toFixed(0), (100 * cu).toFixed(0), (100 * med(s.name, mode, 'clientCoreUtil')).toFixed(0),
          med(s.name, mode, 'reqPerServerCpuSec').toFixed(0), (rps / node).toFixed(2), (rps / nginx).toFixed(2)]);
        // The measurement says nothing about the server when wrk ran out of CPU first.
        if (cu >= 0.95 && su < 0.9) limited.push(`${mode} ${s.name}: wrk used ${(100 * cu).toFixed(0)} % of its core while the server used ${(100 * su).toFixed(0)} %`);
        // Neither side at its limit: the figure is bound by latency (wake-ups, sleeps) or by other load on the cores.
        else if (cu < 0.95 && su < 0.9) unsaturated.push(`${mode} ${s.name} (server ${(100 * su).toFixed(0)} %, wrk ${(100 * cu).toFixed(0)} %)`);
      }
    }
    if (!o.json) {
      printTable(rows);
      process.stdout.write(`(wrk -t1 -c${conns} --timeout 10s (latencies up to 10 s are recorded) on core ${clientCore}, pipelined: depth ${DEPTH} by a wrk Lua script; every server on core ${o.core}; medians of ${o.rounds} rounds of ${o.seconds} s.\n` +
        ` server CPU: our shard's busy share of its loop time / a kernel server's process CPU time per wall second (softirq work done on the client core is not in it);\n` +
        ` server core: /proc/stat busy share of that core, whatever ran there)\n`);
      if (unsaturated.length)
        process.stdout.write(`note: neither the server nor wrk saturated its core in: ${unsaturated.join('; ')}; those figures are bound by latency or by other load on the machine (load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}), not by capacity\n`);
      if (profileText) process.stdout.write(profileText);
    }
    const res: BenchResult = {
      bench: 'httpd', ours: Math.round(med('netstar httpd', 'keep-alive', 'rps')), ref: Math.round(med('node http', 'keep-alive', 'rps')), unit: 'req/s', ratio: 0, rounds: perRound,
      labels: { ours: 'netstar httpd, keep-alive', ref: 'node http, keep-alive' },
      extraSeries: [
        { name: 'nginx, keep-alive', values: samples.filter((x) => x.server === 'nginx (1 worker)' && x.mode === 'keep-alive').map((x) => x.rps) },
        ...servers.map((s) => ({ name: `${s.name.replace(' (1 worker)', '')}, pipelined ${DEPTH}`, values: samples.filter((x) => x.server === s.name && x.mode === 'pipelined').map((x) => x.rps) })),
      ],
    };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    if (limited.length) {
      process.stderr.write(`bench httpd: the load generator, not the server, was the limit (the figures do not measure the server):\n  ${limited.join('\n  ')}\n`);
      finish(res, o.json);
      throw new Error('httpd benchmark invalid: load generator saturated before the server');
    }
    finish(res, o.json);
    return res;
  } finally {
    await topo.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
