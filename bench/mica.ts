// `bench mica`: mica-server on one core loaded by mica-client on the other, two processes joined by
// net_memif (no kernel in the path), GET/SET with 8-byte keys and 8- and 64-byte values at 90 % and 50 % GET;
// beside redis-server on the same core loaded by redis-benchmark -P 32 over loopback (GET and SET runs,
// combined into the same mixes: time per op = g/GETrate + (1-g)/SETrate). Mops, medians of the seconds.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, execFileSync } from 'child_process';
import { BenchResult, CLI, median, printTable, runFor, finish } from './common';

interface Mix { value: number; get: number }
const MIXES: Mix[] = [{ value: 8, get: 0.9 }, { value: 8, get: 0.5 }, { value: 64, get: 0.9 }, { value: 64, get: 0.5 }];

async function ours(dir: string, m: Mix, seconds: number, core: number, round: string): Promise<number> {
  const sock = path.join(dir, `memif-${round}.sock`);
  const other = core === 0 ? 1 : 0;
  const srvCfg = path.join(dir, `srv-${round}.json`), cliCfg = path.join(dir, `cli-${round}.json`);
  fs.writeFileSync(srvCfg, JSON.stringify({
    eal: { vdevs: [`net_memif0,role=server,socket=${sock},mac=02:00:00:00:30:02`], filePrefix: `nsbms${process.pid}${round}`, mainCore: other },
    pool: { size: 16383 }, shards: 1, cores: [core], statsIntervalMs: 1000, idleMaxSleepMs: 1,
    ports: [{ name: 'net_memif0', stack: { address: '198.18.30.2/24', closedPorts: 'nf' } }],
    app: { udpPort: 9000, partitions: 1, memoryMb: 256, mode: 'store' },
  }));
  fs.writeFileSync(cliCfg, JSON.stringify({
    eal: { vdevs: [`net_memif0,role=client,socket=${sock},mac=02:00:00:00:30:01`], filePrefix: `nsbmc${process.pid}${round}`, mainCore: core },
    pool: { size: 16383 }, shards: 1, cores: [other], statsIntervalMs: 1000, idleMaxSleepMs: 1,
    ports: [{ name: 'net_memif0', stack: { address: '198.18.30.1/24', closedPorts: 'nf' } }],
    app: {
      mode: 'load', servers: [{ ip: '198.18.30.2', udpPort: 9000, partitions: 1, mac: '02:00:00:00:30:02' }],
      keys: 100000, keySize: 8, valueSize: m.value, getRatio: m.get, concurrency: 1024, maxOutstanding: 2048, timeoutMs: 100, retries: 3,
    },
  }));
  const srv = spawn(process.execPath, [CLI, 'run', 'mica-server', '-c', srvCfg, '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let srvOut = '';
  srv.stdout.on('data', (d: Buffer) => { srvOut += d.toString(); });
  srv.stderr.on('data', (d: Buffer) => { srvOut += d.toString(); });
  await new Promise((r) => setTimeout(r, 3000));
  const samples: number[] = [];
  let prev = -1, prevT = 0, filled = false;
  const r = await runFor(process.execPath, [CLI, 'run', 'mica-client', '-c', cliCfg, '--stats', '-q', '-d', String(seconds + 6)], seconds + 40, (l) => {
    if (!l.startsWith('STATS ')) return;
    const s = JSON.parse(l.slice(6)) as { t: number; app: { ops: number; done: number; timeouts: number } };
    if (s.app.done === 1 && !filled) { filled = true; prev = s.app.ops; prevT = s.t; return; }
    if (filled && prev >= 0) { samples.push((s.app.ops - prev) / ((s.t - prevT) / 1000)); prev = s.app.ops; prevT = s.t; }
  });
  srv.kill('SIGINT');
  await new Promise<void>((res) => {
    const t = setTimeout(() => { srv.kill('SIGKILL'); res(); }, 15000);
    srv.once('exit', () => { clearTimeout(t); res(); });
  });
  if (samples.length < 3) throw new Error(`mica-client gave too few samples (exit ${r.code}):\n${r.out.slice(-2000)}\nserver:\n${srvOut.slice(-1000)}`);
  return median(samples.slice(1)) / 1e6;
}

async function redisRates(dir: string, value: number, seconds: number, core: number): Promise<{ get: number; set: number }> {
  // a port per run (the previous server may still be exiting)
  const port = 20000 + ((process.pid + value * 7 + Math.floor(Math.random() * 1000)) % 20000);
  const other = core === 0 ? 1 : 0;
  const srv = spawn('taskset', ['-c', String(core), 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 50; i++) {
      try { execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' }); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
    }
    const rate = (test: string): number => {
      // a fixed request count (redis-benchmark has no duration): 60,000 per second asked, at least 300,000
      const out = execFileSync('taskset', ['-c', String(other), 'redis-benchmark', '-p', String(port), '-P', '32', '-c', '50', '-t', test, '-d', String(value), '-r', '100000', '-n', String(Math.max(300000, seconds * 60000)), '--csv'], { encoding: 'utf8', timeout: 180000 });
      const line = out.trim().split('\n').find((l) => l.toUpperCase().startsWith(`"${test.toUpperCase()}"`));
      if (!line) throw new Error(`redis-benchmark output not understood:\n${out}`);
      return Number(line.split(',')[1].replace(/"/g, '')) / 1e6;
    };
    rate('set'); // fill the key space first
    return { get: rate('get'), set: rate('set') };
  } finally {
    srv.kill('SIGTERM');
    await new Promise<void>((res) => {
      const t = setTimeout(() => { srv.kill('SIGKILL'); res(); }, 10000);
      srv.once('exit', () => { clearTimeout(t); res(); });
    });
  }
}

export async function benchMica(o: { rounds: number; seconds: number; json: boolean; core: number }): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-mica-'));
  try {
    const rows: string[][] = [['value, GET share', 'netstar mica Mops', 'redis -P 32 Mops', 'ratio']];
    const results: { m: Mix; ours: number; ref: number }[] = [];
    const redisBy = new Map<number, { get: number; set: number }[]>();
    for (let r = 0; r < o.rounds; r++) {
      for (const v of [8, 64]) {
        const x = await redisRates(dir, v, o.seconds, o.core);
        redisBy.set(v, [...(redisBy.get(v) ?? []), x]);
      }
    }
    for (const m of MIXES) {
      const us: number[] = [];
      for (let r = 0; r < o.rounds; r++) us.push(await ours(dir, m, o.seconds, o.core, `${m.value}${m.get * 100}r${r}`));
      const rr = redisBy.get(m.value)!.map((x) => 1 / (m.get / x.get + (1 - m.get) / x.set));
      const res = { m, ours: median(us), ref: median(rr) };
      results.push(res);
      rows.push([`${m.value} B, ${m.get * 100}% GET`, res.ours.toFixed(3), res.ref.toFixed(3), (res.ours / res.ref).toFixed(2)]);
      if (!o.json) process.stdout.write(`${rows[rows.length - 1].join('  ')}\n`);
    }
    printTable(rows);
    process.stdout.write(`(mica-server on core ${o.core}, mica-client on the other, net_memif between the processes; redis-server on core ${o.core}, redis-benchmark -P 32 -c 50 on the other over loopback; ${o.rounds} round(s) of ${o.seconds} s)\n`);
    const head = results[0];
    const out: BenchResult = { bench: 'mica', ours: +head.ours.toFixed(3), ref: +head.ref.toFixed(3), unit: 'Mops', ratio: +(head.ours / head.ref).toFixed(3) };
    finish(out, o.json);
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
