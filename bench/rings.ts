// `bench rings`: objects moved between two cores through our cross-shard ring path (JS fast calls on both
// ends, descriptors included) against dpdk-test ring_perf_autotest's two-core SP/SC bulk-32 figure, run in
// the same invocation and converted from TSC cycles per element to objects per second.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { BenchResult, roundsOf, median, printTable, finish } from './common';

function refCyclesPerObject(): number {
  const r = spawnSync('dpdk-test', ['--no-huge', '-m', '256', '--no-pci', '-l', '0,1', `--file-prefix=brt${process.pid}`, '--log-level=error'],
    { input: 'ring_perf_autotest\n', encoding: 'utf8', timeout: 180000 });
  const out = r.stdout ?? '';
  const sec = out.split('### Testing using two physical cores ###')[1] ?? '';
  const m = /legacy APIs: SP\/SC: bulk \(size: 32\): ([\d.]+)/.exec(sec);
  if (!m) throw new Error(`could not read ring_perf_autotest output:\n${out.slice(-1500)}`);
  return Number(m[1]);
}

export async function benchRings(o: { rounds: number; seconds: number; json: boolean }): Promise<BenchResult> {
  const ours: number[] = [], ref: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const c = spawnSync(process.execPath, [path.join(__dirname, 'rings.child.js'), String(o.seconds * 1000), '0,1'], { encoding: 'utf8', timeout: 120000 });
    const line = (c.stdout ?? '').trim().split('\n').pop() ?? '';
    if (c.status !== 0 || !line.startsWith('{')) throw new Error(`rings child failed:\n${c.stdout}\n${c.stderr}`);
    const j = JSON.parse(line) as { objectsPerSec: number; tscHz: number; inUse: number };
    if (j.inUse !== 0) throw new Error(`rings child leaked ${j.inUse} mbufs`);
    const cycles = refCyclesPerObject();
    ours.push(j.objectsPerSec / 1e6);
    ref.push(j.tscHz / cycles / 1e6);
    if (!o.json) process.stdout.write(`round ${r + 1}: ours ${(j.objectsPerSec / 1e6).toFixed(1)} Mobj/s (${(1e9 / j.objectsPerSec).toFixed(1)} ns/obj); ring_perf ${cycles} cycles/obj = ${(j.tscHz / cycles / 1e6).toFixed(1)} Mobj/s\n`);
  }
  const res: BenchResult = { bench: 'rings', ours: +median(ours).toFixed(2), ref: +median(ref).toFixed(2), unit: 'Mobj/s', ratio: 0, rounds: roundsOf(ours, ref), labels: { ours: 'netstar cross-shard ring (JS)', ref: 'rte_ring SP/SC bulk 32' } };
  res.ratio = +(res.ours / res.ref).toFixed(3);
  printTable([
    ['', 'netstar cross-shard ring (from JS)', 'rte_ring SP/SC bulk 32 (ring_perf_autotest)', 'ratio'],
    ['median Mobj/s', res.ours.toFixed(1), res.ref.toFixed(1), res.ratio.toFixed(2)],
  ]);
  process.stdout.write('(two threads pinned to cores 0 and 1; ours circulates 512 mbufs A->B->A in bursts of up to 32)\n');
  finish(res, o.json);
  return res;
}
