// Child for `bench rings`: mbufs circulate between two pinned threads through two of our cross-shard rings
// (A->B, B->A) using the same fast calls as the shards' forward path. Prints one JSON line.
import { Worker, isMainThread, parentPort, workerData } from 'worker_threads';
import { native, RX_DESC_WORDS, TX_DESC_WORDS } from '../native';

interface Init { pool: number; ringIn: number; ringOut: number; core: number; ms: number; seed: boolean; start: SharedArrayBuffer }

if (isMainThread) {
  const ms = Number(process.argv[2] ?? 3000);
  const cores = (process.argv[3] ?? '0,1').split(',').map(Number);
  native.eal.init(['--no-pci', '--no-huge', '-m', '256', `--file-prefix=brg${process.pid}`, '-l', '0', '--log-level=error']);
  const pool = native.pool.create('rb', { size: 4095, cacheSize: 64 });
  const ab = native.ring.create('rab', 1024), ba = native.ring.create('rba', 1024);
  const start = new SharedArrayBuffer(8);
  const results: { moved: number; ms: number }[] = [];
  const inits: Init[] = [
    { pool, ringIn: ba, ringOut: ab, core: cores[0], ms, seed: true, start },
    { pool, ringIn: ab, ringOut: ba, core: cores[1], ms, seed: false, start },
  ];
  let done = 0;
  for (const init of inits) {
    const w = new Worker(__filename, { workerData: init });
    w.on('message', (m: { moved: number; ms: number }) => results.push(m));
    w.on('error', (e) => { process.stderr.write(String(e) + '\n'); process.exit(1); });
    w.on('exit', () => {
      if (++done < 2) return;
      // Both threads stopped: free what is still in the rings.
      const lc = new native.Lcore({ capacity: 64 });
      const area = lc.fastArea(1);
      const P = new Uint32Array(area, 0, native.FAST_PARAM_WORDS);
      for (const r of [ab, ba]) { P[0] = r; P[2] = 1 << 30; native.fast.ringDrain(); }
      lc.close();
      const moved = results.reduce((a, r) => a + r.moved, 0);
      const secs = Math.max(...results.map((r) => r.ms)) / 1000;
      process.stdout.write(JSON.stringify({ objectsPerSec: moved / secs, tscHz: native.eal.tscHz(), inUse: native.pool.inUse(pool) }) + '\n');
    });
  }
} else {
  const init = workerData as Init;
  const lc = new native.Lcore({ capacity: 2048 });
  lc.pin(init.core);
  const area = lc.fastArea(2);
  const P = new Uint32Array(area, 0, native.FAST_PARAM_WORDS);
  const rx = new Uint32Array(area, native.FAST_PARAM_WORDS * 4, native.FAST_REGION_WORDS);
  const tx = new Uint32Array(area, (native.FAST_PARAM_WORDS + native.FAST_REGION_WORDS) * 4, native.FAST_REGION_WORDS);
  const fast = native.fast;
  const flag = new Int32Array(init.start);
  if (init.seed) {
    // 512 mbufs start on side A.
    for (let k = 0; k < 16; k++) {
      const n = lc.alloc(init.pool, rx, 32);
      for (let i = 0; i < n; i++) { tx[i * TX_DESC_WORDS] = rx[i * RX_DESC_WORDS]; tx[i * TX_DESC_WORDS + 1] = rx[i * RX_DESC_WORDS + 3]; tx[i * TX_DESC_WORDS + 2] = 64; tx[i * TX_DESC_WORDS + 3] = 0; }
      P[0] = init.ringOut; P[2] = n; P[3] = 1;
      fast.ringPut();
    }
  }
  Atomics.add(flag, 0, 1);
  while (Atomics.load(flag, 0) < 2) { /* both threads up */ }
  let moved = 0;
  const t0 = performance.now();
  let t = t0;
  for (let it = 0; ; it++) {
    P[0] = init.ringIn; P[2] = 32; P[3] = 0;
    const n = fast.ringGet();
    if (n > 0) {
      for (let i = 0; i < n; i++) { const b = i * RX_DESC_WORDS, o = i * TX_DESC_WORDS; tx[o] = rx[b]; tx[o + 1] = rx[b + 3]; tx[o + 2] = rx[b + 4]; tx[o + 3] = 0; }
      let off = 0;
      while (off < n) {
        P[0] = init.ringOut; P[2] = n - off; P[3] = 1;
        const k = fast.ringPut();
        if (k < n - off) tx.copyWithin(0, (off + k) * TX_DESC_WORDS, n * TX_DESC_WORDS);
        off += k;
        if (Atomics.load(flag, 1) !== 0) break;
      }
      moved += n;
    }
    if ((it & 255) === 0) {
      t = performance.now();
      if (t - t0 >= init.ms || Atomics.load(flag, 1) !== 0) break;
    }
  }
  Atomics.store(flag, 1, 1);
  parentPort!.postMessage({ moved, ms: t - t0 });
  lc.close();
}
