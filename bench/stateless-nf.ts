// `bench stateless-nf`: stateless-nf (SNAT with its flow state in MICA) against ovs-nat on the same traffic:
// net_pcap replaying 1,024 UDP flows (64 B, infinite_rx) into net_null, one core; stateless-nf's store is a
// mica-server process on the other core, joined by net_memif. Throughput: medians of per-second Mpps of the
// output port. Latency added to a flow's first packet: the NF's own lookup time (held from the first packet
// until the store answered), p50/p99 as it reports them. Later packets hit the local cache.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { generateUdpFlowsPcap } from '../tools/pcapgen';
import { ovsNatConfig } from './ovs-nat';
import { BenchResult, CLI, finish, median, printTable, runFor } from './common';

async function run(app: string, cfg: string, seconds: number, skip = 2): Promise<{ pps: number[]; app: Record<string, number> }> {
  const pps: number[] = [];
  let last: Record<string, number> = {};
  const r = await runFor(process.execPath, [CLI, 'run', app, '-c', cfg, '--stats', '-q', '-d', String(seconds)], seconds + 30, (l) => {
    if (!l.startsWith('STATS ')) return;
    const s = JSON.parse(l.slice(6)) as { ports: { txPps: number }[]; app: Record<string, number> };
    pps.push(s.ports[1].txPps);
    last = s.app;
  });
  if (pps.length <= skip) throw new Error(`${app} gave no statistics (exit ${r.code}):\n${r.out.slice(-2000)}`);
  return { pps: pps.slice(skip), app: last };
}

export async function benchStatelessNf(o: { rounds: number; seconds: number; json: boolean; core: number }): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-snf-'));
  try {
    const pcap = path.join(dir, 'flows.pcap');
    generateUdpFlowsPcap(pcap, { flows: 1024, frameSize: 64 });
    const vdevs = [`net_pcap0,rx_pcap=${pcap},infinite_rx=1`, 'net_null0,no-rx=1'];
    const other = o.core === 0 ? 1 : 0;
    const ours: number[] = [], ref: number[] = [];
    const p50: number[] = [], p99: number[] = [];
    const missMpps: number[] = [], missP50: number[] = [], missP99: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const ovsCfg = path.join(dir, `ovs${r}.json`);
      fs.writeFileSync(ovsCfg, JSON.stringify(ovsNatConfig(vdevs, o.core, other, `nsbsno${process.pid}r${r}`, false)));
      const t = median((await run('ovs-nat', ovsCfg, o.seconds)).pps) / 1e6;
      const sock = path.join(dir, `m${r}.sock`);
      const storeCfg = path.join(dir, `store${r}.json`), nfCfg = path.join(dir, `nf${r}.json`);
      fs.writeFileSync(storeCfg, JSON.stringify({
        eal: { vdevs: [`net_memif0,role=server,socket=${sock},mac=02:00:00:00:31:02`], filePrefix: `nsbsns${process.pid}r${r}`, mainCore: o.core },
        pool: { size: 8191 }, shards: 1, cores: [other], idleMaxSleepMs: 1,
        ports: [{ name: 'net_memif0', stack: { address: '198.51.99.2/24', closedPorts: 'nf' } }],
        app: { udpPort: 9000, partitions: 1, memoryMb: 64 },
      }));
      const nfConfig = (cacheSize: number): string => JSON.stringify({
        eal: { vdevs: [...vdevs, `net_memif0,role=client,socket=${sock},mac=02:00:00:00:31:01`], filePrefix: `nsbsnn${process.pid}r${r}`, mainCore: other },
        pool: { size: 16383, cacheSize: 256 }, shards: 1, cores: [o.core], idleMaxSleepMs: 1,
        ports: [
          { name: 'net_pcap0', stack: { address: '198.18.255.254/16', closedPorts: 'nf' } },
          { name: 'net_null0', stack: { address: '203.0.113.1/24', closedPorts: 'nf' } },
          { name: 'net_memif0', stack: { address: '198.51.99.1/24', closedPorts: 'nf' } },
        ],
        app: {
          outsideGateway: '203.0.113.2', neighbors: [{ ip: '203.0.113.2', mac: '02:00:00:00:00:fe' }], portRange: [1024, 65535],
          backend: 'mica', mica: { portIndex: 2, servers: [{ ip: '198.51.99.2', udpPort: 9000, partitions: 1, mac: '02:00:00:00:31:02' }], timeoutMs: 50, retries: 5 },
          cacheSize,
        },
      });
      fs.writeFileSync(nfCfg, nfConfig(65536));
      const store = spawn(process.execPath, [CLI, 'run', 'mica-server', '-c', storeCfg, '-q'], { stdio: 'ignore' });
      await new Promise((res) => setTimeout(res, 3000));
      try {
        const u = await run('stateless-nf', nfCfg, o.seconds);
        ours.push(median(u.pps) / 1e6);
        p50.push(u.app.lookupP50Us ?? NaN);
        p99.push(u.app.lookupP99Us ?? NaN);
        // lookup-bound: a 64-flow local cache for 1,024 flows, so packets keep missing and wait for the store
        // (what every packet of an unknown flow costs, e.g. after failover); its latency sample is steady state
        fs.writeFileSync(nfCfg, nfConfig(64));
        const m = await run('stateless-nf', nfCfg, o.seconds);
        missMpps.push(median(m.pps) / 1e6);
        missP50.push(m.app.lookupP50Us ?? NaN);
        missP99.push(m.app.lookupP99Us ?? NaN);
      } finally {
        store.kill('SIGINT');
        await new Promise<void>((res) => { const t2 = setTimeout(() => { store.kill('SIGKILL'); res(); }, 15000); store.once('exit', () => { clearTimeout(t2); res(); }); });
      }
      ref.push(t);
      if (!o.json) process.stdout.write(`round ${r + 1}: ovs-nat ${t.toFixed(3)} Mpps, stateless-nf ${ours[r].toFixed(3)} Mpps, first-packet lookup p50 ${p50[r]} µs p99 ${p99[r]} µs; lookup-bound ${missMpps[r].toFixed(3)} Mpps, lookup p50 ${missP50[r]} µs p99 ${missP99[r]} µs\n`);
    }
    const res: BenchResult = { bench: 'stateless-nf', ours: +median(ours).toFixed(3), ref: +median(ref).toFixed(3), unit: 'Mpps', ratio: 0 };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    printTable([
      ['', 'stateless-nf (MICA)', 'ovs-nat (no offload)', 'ratio'],
      ['median Mpps', res.ours.toFixed(3), res.ref.toFixed(3), res.ratio.toFixed(2)],
      ['first-packet lookup p50/p99 µs (start-up burst)', `${median(p50)} / ${median(p99)}`, '-', ''],
      ['lookup-bound run: Mpps', median(missMpps).toFixed(3), '-', ''],
      ['lookup-bound run: lookup p50/p99 µs', `${median(missP50)} / ${median(missP99)}`, '-', ''],
    ]);
    process.stdout.write(`(net_pcap 1,024 UDP flows -> net_null, core ${o.core}; the MICA store on the other core over net_memif; ${o.rounds} round(s) of ${o.seconds} s)\n`);
    finish(res, o.json);
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
