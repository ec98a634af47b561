// `bench forward`: one shard sending everything it receives, against two shards where every packet is
// forwarded to the other shard before it is sent. net_null (2 RX queues) into net_null (no RX); total TX Mpps.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BenchResult, median, oursTxPps, printTable, finish } from './common';

export async function benchForward(o: { rounds: number; seconds: number; json: boolean }): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-'));
  const app = path.join(__dirname, 'apps', 'xfwd.js');
  try {
    const cfg = (shards: number, round: number): string => {
      const f = path.join(dir, `fwd${shards}.json`);
      fs.writeFileSync(f, JSON.stringify({
        eal: { vdevs: ['net_null0', 'net_null1,no-rx=1'], filePrefix: `nsbf${process.pid}s${shards}r${round}` },
        pool: { size: 16383, cacheSize: 256 }, ports: [{ name: 'net_null0' }, { name: 'net_null1' }],
        shards, cores: shards === 1 ? [1] : [0, 1], backpressure: 'retry', app: {},
      }));
      return f;
    };
    const one: number[] = [], two: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const a = median(await oursTxPps(app, cfg(1, r), 1, o.seconds)) / 1e6;
      const b = median(await oursTxPps(app, cfg(2, r), 1, o.seconds)) / 1e6;
      one.push(a);
      two.push(b);
      if (!o.json) process.stdout.write(`round ${r + 1}: 1 shard ${a.toFixed(2)} Mpps, 2 shards forwarding every packet ${b.toFixed(2)} Mpps\n`);
    }
    const res: BenchResult = { bench: 'forward', ours: +median(two).toFixed(3), ref: +median(one).toFixed(3), unit: 'Mpps', ratio: 0 };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    printTable([
      ['', '2 shards, all forwarded', '1 shard, none', 'ratio'],
      ['median Mpps', res.ours.toFixed(2), res.ref.toFixed(2), res.ratio.toFixed(2)],
    ]);
    process.stdout.write('(net_null0 -> app -> net_null1, per-packet handler; with 2 shards every packet crosses a cross-shard ring)\n');
    finish(res, o.json);
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
