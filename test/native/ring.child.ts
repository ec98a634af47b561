// Child process for native tests: EAL on net_ring + net_null; bytes through net_ring come back exactly,
// argument checks throw typed errors, every mbuf returns. Prints one JSON result line.
import { native, NetstarError, RX_DESC_WORDS } from '../../native';
import * as crypto from 'crypto';

const out: Record<string, unknown> = {};
native.eal.init(['--no-pci', '--no-huge', '-m', '256', `--file-prefix=tring${process.pid}`, '-l', '0', '--log-level=error', '--vdev=net_ring0', '--vdev=net_null0']);
const pool = native.pool.create('tp', { size: 2047, cacheSize: 32 });
const ringPort = native.port.byName('net_ring0')!, nullPort = native.port.byName('net_null0')!;
out.ports = native.port.count();
out.ringInfo = native.port.info(ringPort).driver;
for (const p of [ringPort, nullPort]) { native.port.configure(p, { pool }); native.port.start(p); }
const lc = new native.Lcore({ capacity: 1024 });
const chunks = lc.chunks(pool).map((b) => new Uint8Array(b));
out.sameChunks = lc.chunks(pool) === lc.chunks(pool);
const d = new Uint32Array(64 * RX_DESC_WORDS), t = new Uint32Array(64 * 4);
const sent: Buffer[] = [];
const n = lc.alloc(pool, d, 32);
for (let i = 0; i < n; i++) {
  const b = i * RX_DESC_WORDS, len = 60 + i * 37;
  const data = crypto.randomBytes(len);
  const off = d[b + 2] + d[b + 3];
  chunks[d[b + 1] & 0xffff].set(data, off);
  sent.push(data);
  t[i * 4] = d[b]; t[i * 4 + 1] = d[b + 3]; t[i * 4 + 2] = len; t[i * 4 + 3] = 0;
}
out.heldBeforeTx = lc.held();
out.txSent = lc.tx(ringPort, 0, t, n);
out.heldAfterTx = lc.held();
const got: Buffer[] = [];
let r = 0;
const deadline = Date.now() + 2000;
while (got.length < n && Date.now() < deadline) {
  r = lc.rx(ringPort, 0, d, 64);
  const slots = new Uint32Array(r);
  for (let i = 0; i < r; i++) {
    const b = i * RX_DESC_WORDS, off = d[b + 2] + d[b + 3];
    got.push(Buffer.from(chunks[d[b + 1] & 0xffff].subarray(off, off + d[b + 4])));
    slots[i] = d[b];
  }
  lc.free(slots, r);
}
out.received = got.length;
out.identical = got.length === sent.length && got.every((g, i) => g.equals(sent[i]));

// Argument checks: each must throw a typed error, none may crash.
const errors: Record<string, string> = {};
const tryErr = (name: string, f: () => unknown): void => {
  try { f(); errors[name] = 'no error'; } catch (e) { errors[name] = (e as { code?: string }).code ?? String(e); }
};
const one = lc.alloc(pool, d, 1);
const slot = d[0];
tryErr('txUnknownSlot', () => lc.tx(nullPort, 0, new Uint32Array([999, 128, 60, 0]), 1));
tryErr('txOutside', () => lc.tx(nullPort, 0, new Uint32Array([slot, 2100, 200, 0]), 1));
tryErr('txZeroLen', () => lc.tx(nullPort, 0, new Uint32Array([slot, 128, 0, 0]), 1));
tryErr('txDuplicate', () => lc.tx(nullPort, 0, new Uint32Array([slot, 128, 60, 0, slot, 128, 60, 0]), 2));
tryErr('txShortArray', () => lc.tx(nullPort, 0, new Uint32Array(4), 2));
tryErr('txBadQueue', () => lc.tx(nullPort, 5, t, 0));
tryErr('rxBadPort', () => lc.rx(77, 0, d, 1));
tryErr('rxNotTyped', () => lc.rx(nullPort, 0, [1, 2] as unknown as Uint32Array, 1));
tryErr('freeTwice', () => { lc.free(new Uint32Array([slot]), 1); lc.free(new Uint32Array([slot]), 1); });
tryErr('copyBad', () => lc.copy(12345, 0, 10, d, 0));
tryErr('poolBad', () => native.pool.info(99));
tryErr('configureStarted', () => native.port.configure(nullPort, { pool }));
native.port.stop(ringPort);
tryErr('configureBadQueues', () => native.port.configure(ringPort, { pool, rxQueues: 0 }));
tryErr('configureTooManyQueues', () => native.port.configure(ringPort, { pool, rxQueues: 1000 }));
tryErr('rxStoppedPort', () => lc.rx(ringPort, 0, d, 1));
tryErr('portBad', () => native.port.info(40));
tryErr('ealTwice', () => native.eal.init(['--no-huge']));
out.errors = errors;
out.errorsTyped = (() => { try { native.port.info(40); return false; } catch (e) { return e instanceof NetstarError; } })();
out.allocOne = one;
out.heldAtEnd = lc.held();
out.stats = lc.stats();
lc.close();
for (const p of [ringPort, nullPort]) native.port.close(p);
out.inUse = native.pool.inUse(pool);
process.stdout.write(JSON.stringify(out) + '\n');
