// `bench capture`: what capturing costs at full rate. l2fwd from net_pcap (1,024 UDP flows, infinite_rx) to
// net_null on one core: without capture (reference), with capture configured but stopped (the per-packet
// path it forces), and capturing both directions to a bounded ring of pcapng files (ours). Beside the Mpps,
// the share of packets the capture queue had to drop.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { generateUdpFlowsPcap } from '../tools/pcapgen';
import { BenchResult, CLI, finish, median, printTable, roundsOf, runFor } from './common';

interface Run { pps: number[]; captured: number; dropped: number }

async function run(cfg: string, seconds: number, skip = 2): Promise<Run> {
  const pps: number[] = [];
  let app: Record<string, number> = {};
  const r = await runFor(process.execPath, [CLI, 'run', 'l2fwd', '-c', cfg, '--stats', '-q', '-d', String(seconds + skip)], seconds + skip + 30, (l) => {
    if (!l.startsWith('STATS ')) return;
    const s = JSON.parse(l.slice(6)) as { ports: { txPps: number }[]; app: Record<string, number> };
    pps.push(s.ports[1].txPps);
    app = s.app;
  });
  if (r.code !== 0 || pps.length <= skip) throw new Error(`netstar exited with ${r.code}:\n${r.out.slice(-2000)}`);
  return { pps: pps.slice(skip), captured: app['capture.captured'] ?? 0, dropped: app['capture.dropped'] ?? 0 };
}

export async function benchCapture(o: { rounds: number; seconds: number; json: boolean; core: number }): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-cap-'));
  try {
    const pcap = path.join(dir, 'flows.pcap');
    generateUdpFlowsPcap(pcap, { flows: 1024, frameSize: 64 });
    const mainCore = o.core === 0 ? 1 : 0;
    const cfg = (label: string, round: number, capture?: Record<string, unknown>): string => {
      const f = path.join(dir, `${label}.json`);
      fs.writeFileSync(f, JSON.stringify({
        eal: { vdevs: [`net_pcap0,rx_pcap=${pcap},infinite_rx=1`, 'net_null0,no-rx=1'], mainCore, filePrefix: `nsbc${process.pid}${label}${round}` },
        pool: { size: 16383, cacheSize: 256 }, ports: [{ name: 'net_pcap0' }, { name: 'net_null0' }],
        shards: 1, cores: [o.core], statsIntervalMs: 1000, control: { enabled: false }, app: { mode: 'mac' },
        ...(capture ? { capture } : {}),
      }));
      return f;
    };
    // a bounded ring of files: at full rate capture writes hundreds of MB/s
    const capture = { file: path.join(dir, 'cap.pcapng'), fileBytes: 64 << 20, files: 2 };
    const off: number[] = [], idle: number[] = [], on: number[] = [], dropShare: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const a = await run(cfg('off', r), o.seconds);
      const b = await run(cfg('idle', r, { ...capture, start: false }), o.seconds);
      const c = await run(cfg('on', r, capture), o.seconds);
      off.push(median(a.pps) / 1e6);
      idle.push(median(b.pps) / 1e6);
      on.push(median(c.pps) / 1e6);
      dropShare.push(c.captured + c.dropped > 0 ? c.dropped / (c.captured + c.dropped) : 0);
      if (!o.json) process.stdout.write(`round ${r + 1}: no capture ${off[r].toFixed(2)} Mpps, capture stopped ${idle[r].toFixed(2)}, capturing ${on[r].toFixed(2)} Mpps (queue dropped ${(100 * dropShare[r]).toFixed(1)} % of the packets to capture)\n`);
    }
    const res: BenchResult = {
      bench: 'capture', ours: +median(on).toFixed(3), ref: +median(off).toFixed(3), unit: 'Mpps', ratio: 0, rounds: roundsOf(on, off),
      labels: { ours: 'l2fwd capturing both directions', ref: 'l2fwd without capture' }, extraSeries: [{ name: 'l2fwd, capture configured but stopped', values: idle }],
    };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    if (!o.json) {
      printTable([
        ['', 'Mpps (median)', 'vs no capture', 'capture queue drops'],
        ['no capture', res.ref.toFixed(2), '1.00', ''],
        ['capture configured, stopped', median(idle).toFixed(2), (median(idle) / res.ref).toFixed(2), ''],
        ['capturing rx + tx to pcapng', res.ours.toFixed(2), res.ratio.toFixed(2), `${(100 * median(dropShare)).toFixed(1)} %`],
      ]);
      process.stdout.write(`(net_pcap 1,024 UDP flows of 64 B, infinite_rx -> l2fwd -> net_null; one shard on core ${o.core}, writer thread and main on core ${mainCore}; ${o.rounds} rounds of ${o.seconds} s)\n`);
    }
    finish(res, o.json);
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
