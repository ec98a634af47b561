// `bench forward`: one shard sending everything it receives, against two shards where every packet is
// forwarded to the other shard before it is sent. net_null (2 RX queues) into net_null (no RX); total TX Mpps.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BenchResult, roundsOf, median, oursTxPps, printTable, finish } from './common';

export async function benchForward(o: { rounds: number; seconds: number; json: boolean }): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-'));
  const app = path.join(__dirname, 'apps', 'xfwd.js');
  try {
    const cfg = (shards: number, round: number, burst: boolean): string => {
      const f = path.join(dir, `fwd${shards}${burst ? 'b' : 'p'}.json`);
      fs.writeFileSync(f, JSON.stringify({
        eal: { vdevs: ['net_null0', 'net_null1,no-rx=1'], filePrefix: `nsbf${process.pid}s${shards}r${round}` },
        pool: { size: 16383, cacheSize: 256 }, ports: [{ name: 'net_null0' }, { name: 'net_null1' }],
        shards, cores: shards === 1 ? [1] : [0, 1], backpressure: 'retry', app: { burst },
      }));
      return f;
    };
    const one: number[] = [], two: number[] = [], oneP: number[] = [], twoP: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const a = median(await oursTxPps(app, cfg(1, r, true), 1, o.seconds)) / 1e6;
      const b = median(await oursTxPps(app, cfg(2, r, true), 1, o.seconds)) / 1e6;
      const ap = median(await oursTxPps(app, cfg(1, r, false), 1, o.seconds)) / 1e6;
      const bp = median(await oursTxPps(app, cfg(2, r, false), 1, o.seconds)) / 1e6;
      one.push(a); two.push(b); oneP.push(ap); twoP.push(bp);
      if (!o.json) process.stdout.write(`round ${r + 1}: burst handlers: 1 shard ${a.toFixed(2)}, 2 shards forwarding all ${b.toFixed(2)} Mpps; per-packet handlers: ${ap.toFixed(2)}, ${bp.toFixed(2)} Mpps\n`);
    }
    const res: BenchResult = { bench: 'forward', ours: +median(two).toFixed(3), ref: +median(one).toFixed(3), unit: 'Mpps', ratio: 0, rounds: roundsOf(two, one), labels: { ours: '2 shards, all forwarded', ref: '1 shard, none forwarded' } };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    printTable([
      ['', '2 shards, all forwarded', '1 shard, none', 'ratio'],
      ['burst handlers (median Mpps)', res.ours.toFixed(2), res.ref.toFixed(2), res.ratio.toFixed(2)],
      ['per-packet handlers', median(twoP).toFixed(2), median(oneP).toFixed(2), (median(twoP) / median(oneP)).toFixed(2)],
    ]);
    process.stdout.write('(net_null0 -> app -> net_null1; with 2 shards every packet crosses a cross-shard ring; the JSON line reports burst handlers)\n');
    finish(res, o.json);
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
