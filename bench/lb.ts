// `bench lb`: our load-balancer (Maglev, full NAT, connection tracking; UDP VIP with 3 backends, health
// checks off) against testpmd --forward-mode=mac on the same devices as the ceiling: net_pcap replaying
// 1,024 UDP flows to the VIP (infinite_rx) into net_null, one core each, alternating; medians of Mpps.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildUdpFrame } from '../tools/pcapgen';
import { writePcap } from '../tools/pcap';
import { BenchResult, roundsOf, median, oursTxPps, printTable, testpmdTxPps, finish } from './common';

export async function benchLb(o: { rounds: number; seconds: number; json: boolean; core: number }): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-'));
  try {
    const pcap = path.join(dir, 'vip.pcap');
    const frames = Array.from({ length: 1024 }, (_, i) => ({
      data: buildUdpFrame({
        srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02',
        srcIp: `198.18.${(i >> 8) & 255}.${(i & 255) || 1}`, dstIp: '198.19.0.1',
        srcPort: 1024 + i, dstPort: 9, ipId: i, frameSize: 64,
      }),
    }));
    writePcap(pcap, frames);
    const vdevs = [`net_pcap0,rx_pcap=${pcap},infinite_rx=1`, 'net_null0,no-rx=1'];
    const mainCore = o.core === 0 ? 1 : 0;
    const cfgFile = path.join(dir, 'lb.json');
    const writeConfig = (round: number): void => fs.writeFileSync(cfgFile, JSON.stringify({
      eal: { vdevs, mainCore, filePrefix: `nsblb${process.pid}r${round}` },
      pool: { size: 16383, cacheSize: 256 },
      ports: [{ name: 'net_pcap0' }, { name: 'net_null0' }],
      shards: 1, cores: [o.core],
      app: {
        client: { port: 0, address: '198.18.255.254/16' },
        backend: { port: 1, address: '203.0.113.1/24' },
        vips: [{ vip: '198.19.0.1', port: 9, proto: 'udp', backends: [10, 11, 12].map((h) => ({ ip: `203.0.113.${h}`, port: 9 })) }],
        neighbors: [10, 11, 12].map((h) => ({ ip: `203.0.113.${h}`, mac: `02:00:00:00:01:${h.toString(16).padStart(2, '0')}` })),
        health: { enabled: false },
        checkDstMac: false,
      },
    }));
    const ealArgs = (round: number): string[] => ['-l', `${mainCore},${o.core}`, '--main-lcore', String(mainCore), '--no-pci', '--no-huge', '-m', '512',
      `--file-prefix=tplb${process.pid}r${round}`, '--log-level=error', ...vdevs.map((v) => `--vdev=${v}`)];
    const pmdArgs = ['--forward-mode=mac', '--nb-cores=1', '--total-num-mbufs=16384', '--mbcache=256', '--burst=32'];
    const ours: number[] = [], ref: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const t = median(await testpmdTxPps(ealArgs(r), pmdArgs, 1, o.seconds));
      writeConfig(r);
      const u = median(await oursTxPps('load-balancer', cfgFile, 1, o.seconds));
      ref.push(t / 1e6);
      ours.push(u / 1e6);
      if (!o.json) process.stdout.write(`round ${r + 1}: testpmd mac ${(t / 1e6).toFixed(2)} Mpps, netstar load-balancer ${(u / 1e6).toFixed(2)} Mpps\n`);
    }
    const res: BenchResult = { bench: 'lb', ours: +median(ours).toFixed(3), ref: +median(ref).toFixed(3), unit: 'Mpps', ratio: 0, rounds: roundsOf(ours, ref), labels: { ours: 'netstar load-balancer', ref: 'testpmd mac (ceiling)' } };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    printTable([
      ['', 'netstar load-balancer', 'testpmd mac (ceiling)', 'ratio'],
      ['median Mpps', res.ours.toFixed(2), res.ref.toFixed(2), res.ratio.toFixed(2)],
    ]);
    process.stdout.write(`(net_pcap 1,024 UDP flows to one VIP, 3 backends, full NAT -> net_null; core ${o.core} each; ${o.rounds} alternating rounds of ${o.seconds} s)\n`);
    finish(res, o.json);
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
