// l2fwd against dpdk-testpmd --forward-mode=mac on the same devices: net_pcap (1,024 UDP flows,
// infinite_rx) into net_null, one forwarding core each, alternating runs; medians of per-second Mpps.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { generateUdpFlowsPcap } from '../tools/pcapgen';
import { BenchResult, roundsOf, median, oursTxPps, printTable, testpmdTxPps, finish } from './common';

export interface L2fwdBenchOptions { rounds: number; seconds: number; json: boolean; core: number }

export async function benchL2fwd(o: L2fwdBenchOptions): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-'));
  try {
    const pcap = path.join(dir, 'flows.pcap');
    generateUdpFlowsPcap(pcap, { flows: 1024, frameSize: 64 });
    const vdevs = [`net_pcap0,rx_pcap=${pcap},infinite_rx=1`, 'net_null0,no-rx=1'];
    const mainCore = o.core === 0 ? 1 : 0;
    const cfgFile = path.join(dir, 'l2fwd.json');
    // Each run gets its own EAL file prefix: a run's runtime files may outlive it by a moment.
    const writeConfig = (round: number): void => fs.writeFileSync(cfgFile, JSON.stringify({
      eal: { vdevs, mainCore, filePrefix: `nsb${process.pid}r${round}` },
      pool: { size: 16383, cacheSize: 256 },
      ports: [{ name: 'net_pcap0' }, { name: 'net_null0' }],
      shards: 1, cores: [o.core], app: { mode: 'mac' },
    }));
    const ealArgs = (round: number): string[] => ['-l', `${mainCore},${o.core}`, '--main-lcore', String(mainCore), '--no-pci', '--no-huge', '-m', '512',
      `--file-prefix=tpb${process.pid}r${round}`, '--log-level=error', ...vdevs.map((v) => `--vdev=${v}`)];
    // Each side at its best burst: testpmd's default 32 (it is slower at 64 here), ours 64 (our default).
    const pmdArgs = ['--forward-mode=mac', '--nb-cores=1', '--total-num-mbufs=16384', '--mbcache=256', '--burst=32'];
    const ours: number[] = [], ref: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const t = median(await testpmdTxPps(ealArgs(r), pmdArgs, 1, o.seconds));
      writeConfig(r);
      const u = median(await oursTxPps('l2fwd', cfgFile, 1, o.seconds));
      ref.push(t / 1e6);
      ours.push(u / 1e6);
      if (!o.json) process.stdout.write(`round ${r + 1}: testpmd ${(t / 1e6).toFixed(2)} Mpps, netstar l2fwd ${(u / 1e6).toFixed(2)} Mpps\n`);
    }
    const res: BenchResult = { bench: 'l2fwd', ours: +median(ours).toFixed(3), ref: +median(ref).toFixed(3), unit: 'Mpps', ratio: 0, rounds: roundsOf(ours, ref), labels: { ours: 'netstar l2fwd', ref: 'testpmd mac' } };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    printTable([
      ['', 'netstar l2fwd', 'testpmd mac', 'ratio'],
      ['median Mpps', res.ours.toFixed(2), res.ref.toFixed(2), res.ratio.toFixed(2)],
      ['rounds', ours.map((x) => x.toFixed(2)).join(' '), ref.map((x) => x.toFixed(2)).join(' '), ''],
    ]);
    process.stdout.write(`(net_pcap 1,024 UDP flows of 64 B, infinite_rx -> net_null; one forwarding core (${o.core}) each, burst 32 testpmd / 64 ours (each its best); ${o.rounds} alternating rounds of ${o.seconds} s)\n`);
    finish(res, o.json);
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
