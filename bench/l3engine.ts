// l3engine over net_memif against testpmd on the same path: net_pcap (1,024 UDP flows, infinite_rx) → engine
// (route to a service, checks, memif) → a client that sends every packet back (5-tuple swapped) → engine (ACL,
// route out) → net_null. Reference: testpmd as the engine (io, chained ports pcap → memif → null) and testpmd as
// the client (5tswap) over the same memif pair. Engine and client on their own cores, alternating rounds;
// medians of per-second Mpps at net_null. Then N = 1, 2, 4 clients of ours sharing the client core.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, type ChildProcess } from 'child_process';
import { generateUdpFlowsPcap } from '../tools/pcapgen';
import { BenchResult, CLI, finish, median, printTable } from './common';

export interface L3engineBenchOptions { rounds: number; seconds: number; json: boolean; core: number }

const ENGINE_MEMIF_MAC = (i: number): string => `02:e0:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`;
const CLIENT_MAC = (i: number): string => `02:c0:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`;
const memif = (i: number, role: string, sock: string, mac: string): string => `net_memif${i},role=${role},socket=${sock},id=0,socket-abstract=no,mac=${mac}`;

/**
 * Runs the measured process and reads one pps sample per line that `sample` recognises. Clients connect a few
 * seconds after the engine starts (two EALs start on a loaded machine), so measuring begins at the first
 * non-zero sample taken once `ready()` (every client up): that one and the next are warm-up, then `seconds`
 * samples are kept and the process gets SIGINT.
 */
function measure(cmd: string, args: string[], sample: (line: string) => number | null, seconds: number, timeoutS = 90, ready: () => boolean = () => true): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const kept: number[] = [];
    let seen = 0, out = '', buf = '', done = false;
    const finishWith = (err: Error | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGINT');
      const hard = setTimeout(() => child.kill('SIGKILL'), 15000);
      child.once('exit', () => {
        clearTimeout(hard);
        if (err) reject(err);
        else resolve(kept);
      });
    };
    const timer = setTimeout(() => finishWith(new Error(`no traffic measured within ${timeoutS} s:\n${out.slice(-2000)}`)), timeoutS * 1000);
    const feed = (d: Buffer): void => {
      const t = d.toString();
      out = (out + t).slice(-20000);
      buf += t;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const v = sample(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (v === null || done) continue;
        if (seen === 0 && (v === 0 || !ready())) continue;
        if (++seen > 2) kept.push(v);
        if (kept.length >= seconds) finishWith(null);
      }
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    child.on('exit', (code) => {
      if (!done) finishWith(new Error(`${cmd} exited (${code}) before the measurement ended:\n${out.slice(-2000)}`));
    });
  });
}

/** Our CLI's STATS line: TX pps of port `port`. */
const oursSample = (port: number) => (l: string): number | null => {
  if (!l.startsWith('STATS ')) return null;
  return (JSON.parse(l.slice(6)) as { ports: { txPps: number }[] }).ports[port].txPps;
};

/** testpmd --stats-period 1: Tx-pps of `port`. */
const testpmdSample = (port: number): ((l: string) => number | null) => {
  let current = -1;
  return (l: string) => {
    const m = /NIC statistics for port (\d+)/.exec(l);
    if (m) current = Number(m[1]);
    const t = /Tx-pps:\s+(\d+)/.exec(l);
    return t && current === port ? Number(t[1]) : null;
  };
};

/** A helper process with its output in `log` (read when a run measures nothing). */
function startBackground(cmd: string, args: string[], log: string): ChildProcess {
  const fd = fs.openSync(log, 'w');
  const c = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  return c;
}

/**
 * Waits (bounded) for a memif server's socket file, then a second more: the file exists from the vdev's probe,
 * before the port is started, and a client connecting in between made testpmd's interrupt thread panic
 * ("Error adding fd … epoll_ctl, Bad file descriptor") in 22.11.
 */
async function socketReady(file: string, timeoutMs = 20000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (Date.now() > end) throw new Error(`memif socket ${file} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 1000));
}

async function stopBackground(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGINT');
  const t = setTimeout(() => c.kill('SIGKILL'), 15000);
  await done;
  clearTimeout(t);
}

export async function benchL3engine(o: L3engineBenchOptions): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-l3e-'));
  const engineCore = o.core, clientCore = o.core === 0 ? 1 : 0;
  const kids: ChildProcess[] = [];
  try {
    const pcap = path.join(dir, 'flows.pcap');
    // 198.18.x.x → 198.19.x.x; broadcast destination MAC: the engine accepts it whatever its port's MAC is.
    generateUdpFlowsPcap(pcap, { flows: 1024, frameSize: 64, dstMac: 'ff:ff:ff:ff:ff:ff' });
    const sock = (i: number, r: number, tag: string): string => path.join(dir, `${tag}${r}-${i}.sock`);

    /** `active`: how many of the n clients are instances of the service (the others are connected and idle) */
    const engineCfg = (r: number, n: number, active = n): string => {
      const f = path.join(dir, `eng${r}-${n}.json`);
      // statsIntervalMs 1000: one sample a second, as testpmd's --stats-period 1
      const clients = Array.from({ length: n }, (_, i) => ({
        name: `c${i}`, port: 2 + i, address: '198.19.255.254/16', addresses: [`198.19.255.${i + 1}`, '198.19.0.0/16'], mac: CLIENT_MAC(i),
      }));
      fs.writeFileSync(f, JSON.stringify({
        eal: { vdevs: [`net_pcap0,rx_pcap=${pcap},infinite_rx=1`, 'net_null0,no-rx=1', ...clients.map((_, i) => memif(i, 'server', sock(i, r, 'o'), ENGINE_MEMIF_MAC(i)))], mainCore: engineCore, filePrefix: `nsbe${process.pid}r${r}n${n}` },
        pool: { size: 16383, cacheSize: 256 },
        ports: [{ name: 'net_pcap0' }, { name: 'net_null0' }, ...clients.map((_, i) => ({ name: `net_memif${i}` }))],
        shards: 1, cores: [engineCore], statsIntervalMs: 1000,
        app: {
          nics: [
            { port: 0, address: '198.17.1.1/24' },
            { port: 1, address: '198.17.2.1/24', gateway: '198.17.2.2', neighbors: [{ ip: '198.17.2.2', mac: '02:00:00:00:00:99' }] },
          ],
          clients,
          services: [{ name: 'sink', instances: clients.slice(0, active).map((c) => c.name) }],
          routes: [{ prefix: '198.19.0.0/16', proto: 'udp', port: 9, service: 'sink' }],
        },
      }));
      return f;
    };
    const clientCfg = (r: number, i: number): string => {
      const f = path.join(dir, `cl${r}-${i}.json`);
      fs.writeFileSync(f, JSON.stringify({
        eal: { vdevs: [memif(0, 'client', sock(i, r, 'o'), CLIENT_MAC(i))], mainCore: clientCore, memoryMb: 256, filePrefix: `nsbc${process.pid}r${r}c${i}` },
        pool: { size: 4095, cacheSize: 256 },
        ports: [{ name: 'net_memif0' }],
        // idle clients wake every 50 ms at most (the reactor's adaptive idle sleep; memif RX interrupts are not used)
        shards: 1, cores: [clientCore], idleMaxSleepMs: 50, app: {},
      }));
      return f;
    };
    // The engine first: DPDK's memif client fails its port start when the server's socket does not exist yet.
    // Measuring starts once every client runs (its first STATS line): clients still starting an EAL would take
    // the client core from the ones already forwarding.
    const runOurs = async (r: number, n: number, active = n): Promise<number> => {
      const logs = Array.from({ length: n }, (_, i) => path.join(dir, `cl${r}-${i}.log`));
      const allUp = (): boolean => logs.every((f) => fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('STATS '));
      const measuring = measure(process.execPath, [CLI, 'run', 'l3engine', '-c', engineCfg(r, n, active), '--stats', '-q'], oursSample(1), o.seconds, 120, allUp);
      const cs: ChildProcess[] = [];
      try {
        for (let i = 0; i < n; i++) {
          await socketReady(sock(i, r, 'o'));
          const c = startBackground(process.execPath, [CLI, 'run', 'l3reflect', '-c', clientCfg(r, i), '-q', '--stats'], logs[i]);
          cs.push(c);
          kids.push(c);
        }
        return median(await measuring);
      } finally {
        for (const c of cs) await stopBackground(c);
      }
    };
    const runRef = async (r: number): Promise<number> => {
      const s = sock(0, r, 't');
      const ealArgs = ['-l', `${clientCore},${engineCore}`, '--main-lcore', String(clientCore), '--no-pci', '--no-huge', '-m', '512', `--file-prefix=nsbte${process.pid}r${r}`, '--log-level=error',
        // port order pcap (0), memif (1), null (2): chained forwards 0 → 1 → 2
        `--vdev=net_pcap0,rx_pcap=${pcap},infinite_rx=1`, `--vdev=${memif(0, 'server', s, ENGINE_MEMIF_MAC(0))}`, '--vdev=net_null0,no-rx=1'];
      const pmdArgs = ['--forward-mode=io', '--port-topology=chained', '--nb-cores=1', '--total-num-mbufs=16384', '--mbcache=256', '--burst=32'];
      const measuring = measure('dpdk-testpmd', [...ealArgs, '--', ...pmdArgs, '--stats-period=1', '-a'], testpmdSample(2), o.seconds);
      await socketReady(s);
      const client = startBackground('dpdk-testpmd', ['-l', `${engineCore},${clientCore}`, '--main-lcore', String(engineCore), '--no-pci', '--no-huge', '-m', '256', `--file-prefix=nsbtc${process.pid}r${r}`, '--log-level=error',
        `--vdev=${memif(0, 'client', s, CLIENT_MAC(0))}`, '--', '--forward-mode=5tswap', '--total-num-mbufs=16384', '--stats-period=1', '-a'], path.join(dir, `tpc${r}.log`));
      // --stats-period keeps testpmd running: without it, -a waits for Enter on stdin, which is /dev/null here.
      // testpmd needs a forwarding lcore besides its main one: each testpmd forwards on its own core, its main lcore idles on the other.
      kids.push(client);
      try {
        return median(await measuring);
      } finally {
        await stopBackground(client);
      }
    };

    // The same path with the TS memif client (no EAL) as the reflecting client.
    const runTs = async (r: number): Promise<number> => {
      const measuring = measure(process.execPath, [CLI, 'run', 'l3engine', '-c', engineCfg(300 + r, 1), '--stats', '-q'], oursSample(1), o.seconds);
      await socketReady(sock(0, 300 + r, 'o'));
      // pinned to the client core as the EAL clients are
      const c = startBackground('taskset', ['-c', String(clientCore), process.execPath, path.resolve(__dirname, '..', 'apps', 'l3engine', 'memif', 'reflect-main.js'), sock(0, 300 + r, 'o')], path.join(dir, `ts${r}.log`));
      kids.push(c);
      try {
        return median(await measuring);
      } finally {
        await stopBackground(c);
      }
    };
    const ours: number[] = [], ref: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const t = await runRef(r);
      const u = await runOurs(r, 1);
      ref.push(t / 1e6);
      ours.push(u / 1e6);
      if (!o.json) process.stdout.write(`round ${r + 1}: testpmd engine+client ${(t / 1e6).toFixed(3)} Mpps, netstar l3engine+l3reflect ${(u / 1e6).toFixed(3)} Mpps\n`);
    }
    // 1, 2, 4, 8 clients on one core, all of them instances (flows spread over them), then one busy client beside
    // n - 1 connected idle ones (the openNetVM failure mode: idle NFs must not take the busy one's core).
    const tsClient: number[] = [];
    for (let r = 0; r < o.rounds; r++) tsClient.push((await runTs(r)) / 1e6);
    const scale: [number, number][] = [];
    for (const n of [1, 2, 4, 8]) scale.push([n, (await runOurs(100 + n, n)) / 1e6]);
    const idle: [number, number][] = [];
    for (const n of [2, 4, 8]) idle.push([n, (await runOurs(200 + n, n, 1)) / 1e6]);
    const res: BenchResult = { bench: 'l3engine', ours: +median(ours).toFixed(3), ref: +median(ref).toFixed(3), unit: 'Mpps', ratio: 0 };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    printTable([
      ['', 'netstar l3engine + l3reflect', 'testpmd io + testpmd 5tswap', 'ratio'],
      ['median Mpps', res.ours.toFixed(3), res.ref.toFixed(3), res.ratio.toFixed(2)],
      ['rounds', ours.map((x) => x.toFixed(3)).join(' '), ref.map((x) => x.toFixed(3)).join(' '), ''],
    ]);
    process.stdout.write(`TS memif client without an EAL as the reflector: median ${median(tsClient).toFixed(3)} Mpps (rounds ${tsClient.map((x) => x.toFixed(3)).join(' ')})\n`);
    printTable([
      ['clients sharing core ' + clientCore, ...scale.map(([n]) => String(n))],
      ['all busy: aggregate Mpps', ...scale.map(([, m]) => m.toFixed(3))],
      ['1 busy + n-1 idle: Mpps', scale[0][1].toFixed(3), ...idle.map(([, m]) => m.toFixed(3))],
    ]);
    process.stdout.write(`(net_pcap 1,024 UDP flows of 64 B, infinite_rx -> engine -> net_memif -> reflecting client -> engine -> net_null; engine on core ${engineCore}, client(s) on core ${clientCore}; ${o.rounds} alternating rounds of ${o.seconds} s; testpmd's engine runs its main lcore on the client core)\n`);
    finish(res, o.json);
    return res;
  } finally {
    for (const k of kids) await stopBackground(k);
    if (process.env.L3E_BENCH_KEEP) process.stderr.write(`bench files kept in ${dir}\n`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}
