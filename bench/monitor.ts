// `bench monitor`: the mOS-style monitor's apps (midstat, ids) on one shard over net_pcap (infinite_rx) of a
// generated TCP pcap (10k flows, heavy-tailed response sizes, ~2 % of data segments sent twice) into
// net_null, against ndpiReader (libndpi-bin: flow tracking + DPI) on the same pcap on the same core, and
// testpmd's mac forwarding as the ceiling. Medians of per-second Mpps; the JSON line reports midstat.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { BenchResult, finish, median, oursTxPps, printTable, testpmdTxPps } from './common';
import { generateTcpFlowsPcap } from './tcpgen';

/** ndpiReader over the pcap pinned to `core`: its own "nDPI throughput" figure (Mpps). */
function ndpiMpps(pcap: string, core: number): number {
  const out = execFileSync('taskset', ['-c', String(core), 'ndpiReader', '-i', pcap, '-n', '1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  const m = /nDPI throughput:\s+([\d.]+)\s*([KM]?) pps/.exec(out);
  if (!m) throw new Error(`ndpiReader printed no throughput:\n${out.slice(-1500)}`);
  return Number(m[1]) * (m[2] === 'M' ? 1 : m[2] === 'K' ? 1e-3 : 1e-6);
}

export async function benchMonitor(o: { rounds: number; seconds: number; json: boolean; core: number }): Promise<BenchResult> {
  const say = (s: string): void => { if (!o.json) process.stdout.write(s); };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-mos-'));
  try {
    const pcap = path.join(dir, 'tcp.pcap');
    const g = generateTcpFlowsPcap(pcap, { flows: 10000, rexmit: 0.02, maxSegments: 16 });
    say(`pcap: ${g.flows} flows, ${g.packets} packets, ${(g.dataBytes / 1e6).toFixed(1)} MB of payload, ${g.rexmits} segments sent twice\n`);
    const pf = path.join(dir, 'patterns.txt');
    fs.writeFileSync(pf, ['GET /admin', 'cmd.exe', '|de ad be ef|', 'User-Agent: sqlmap', '/etc/passwd', 'union select', '<script>', 'EVILPATTERN'].join('\n') + '\n');
    const vdevs = [`net_pcap0,rx_pcap=${pcap},infinite_rx=1`, 'net_null0,no-rx=1'];
    const mainCore = o.core === 0 ? 1 : 0;
    const cfg = (app: string, round: number, extra: Record<string, unknown>): string => {
      const f = path.join(dir, `${app}.json`);
      fs.writeFileSync(f, JSON.stringify({
        eal: { vdevs, mainCore, filePrefix: `nsbm${process.pid}${app}r${round}`, memoryMb: 2048 },
        pool: { size: Math.max(16383, 2 ** Math.ceil(Math.log2(g.packets + 8192)) - 1), cacheSize: 256 },
        ports: [{ name: 'net_pcap0' }, { name: 'net_null0' }], shards: 1, cores: [o.core],
        app: { maxFlows: 65536, bufferBytes: 16384, ...extra },
      }));
      return f;
    };
    const ms: number[] = [], ids: number[] = [], ndpi: number[] = [], pmd: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const a = median(await oursTxPps('midstat', cfg('midstat', r, {}), 1, o.seconds)) / 1e6;
      const b = median(await oursTxPps('ids', cfg('ids', r, { patternFile: pf, alerts: path.join(dir, 'alerts.jsonl') }), 1, o.seconds)) / 1e6;
      const n = ndpiMpps(pcap, o.core);
      say(`round ${r + 1}: midstat ${a.toFixed(3)}, ids ${b.toFixed(3)}, ndpiReader ${n.toFixed(3)} Mpps\n`);
      // The ceiling is informative only: testpmd over a net_pcap this large may print no periodic statistics.
      const t = median(await testpmdTxPps(['--no-pci', '--no-huge', '-m', '2048', `--file-prefix=nsbmt${process.pid}r${r}`, '-l', `${mainCore},${o.core}`, ...vdevs.map((v) => `--vdev=${v}`)],
        ['--forward-mode=mac', '--nb-cores=1', '--total-num-mbufs=' + String(Math.max(16383, g.packets + 8192))], 1, o.seconds).catch(() => [NaN])) / 1e6;
      ms.push(a); ids.push(b); ndpi.push(n); pmd.push(t);
      say(`round ${r + 1}: testpmd mac ${t.toFixed(3)} Mpps\n`);
    }
    const res: BenchResult = { bench: 'monitor', ours: +median(ms).toFixed(3), ref: +median(ndpi).toFixed(3), unit: 'Mpps', ratio: 0 };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    printTable([
      ['', 'midstat', 'ids', 'ndpiReader', 'testpmd mac', 'midstat/ndpi'],
      ['median Mpps', res.ours.toFixed(3), median(ids).toFixed(3), res.ref.toFixed(3), median(pmd.filter((x) => !Number.isNaN(x))).toFixed(3), res.ratio.toFixed(2)],
    ]);
    say(`(net_pcap infinite_rx -> net_null, one shard on core ${o.core}; ndpiReader -n 1 pinned to the same core on the same file, its own throughput figure; target midstat >= 1x ndpiReader)\n`);
    finish(res, o.json);
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
