// Child process: Lcores in several worker threads at once, each registered with DPDK, each mapping pool
// memory and forwarding over its own net_null queue; all mbufs come back.
import { Worker, isMainThread, parentPort, workerData } from 'worker_threads';
import { native, RX_DESC_WORDS } from '../../native';

if (isMainThread) {
  native.eal.init(['--no-pci', '--no-huge', '-m', '256', `--file-prefix=twrk${process.pid}`, '-l', '0', '--log-level=error', '--vdev=net_null0']);
  const pool = native.pool.create('wp', { size: 4095, cacheSize: 64 });
  const port = native.port.byName('net_null0')!;
  const nWorkers = 3;
  native.port.configure(port, { pool, rxQueues: nWorkers, txQueues: nWorkers });
  native.port.start(port);
  const results: unknown[] = [];
  const sync = new SharedArrayBuffer(4);
  let done = 0;
  for (let q = 0; q < nWorkers; q++) {
    const w = new Worker(__filename, { workerData: { pool, port, q, nWorkers, sync } });
    w.on('message', (m) => results.push(m));
    w.on('error', (e) => { process.stdout.write(JSON.stringify({ error: String(e) }) + '\n'); process.exit(1); });
    w.on('exit', () => {
      if (++done === nWorkers) {
        native.port.close(port);
        process.stdout.write(JSON.stringify({ results, inUse: native.pool.inUse(pool) }) + '\n');
      }
    });
  }
} else {
  const { pool, port, q, nWorkers, sync } = workerData as { pool: number; port: number; q: number; nWorkers: number; sync: SharedArrayBuffer };
  const lc = new native.Lcore({ capacity: 512 });
  // Every worker registers before any finishes, so their lcore ids are live at the same time.
  const arrived = new Int32Array(sync);
  Atomics.add(arrived, 0, 1);
  const until = Date.now() + 10000;
  while (Atomics.load(arrived, 0) < nWorkers && Date.now() < until) Atomics.wait(arrived, 0, Atomics.load(arrived, 0), 50);
  const bufs = lc.chunks(pool);
  const d = new Uint32Array(32 * RX_DESC_WORDS), t = new Uint32Array(32 * 4);
  let fwd = 0;
  for (let it = 0; it < 2000; it++) {
    const n = lc.rx(port, q, d, 32);
    for (let i = 0; i < n; i++) { t[i * 4] = d[i * RX_DESC_WORDS]; t[i * 4 + 1] = d[i * RX_DESC_WORDS + 3]; t[i * 4 + 2] = d[i * RX_DESC_WORDS + 4]; }
    fwd += lc.tx(port, q, t, n);
  }
  const held = lc.held();
  parentPort!.postMessage({ q, lcore: lc.lcoreId, chunkBytes: bufs[0].byteLength, fwd, held, closeHeld: lc.close() });
}
