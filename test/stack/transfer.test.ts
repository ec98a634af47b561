// Whole transfers between two stacks over an impaired in-memory link (seeded loss, duplication,
// reordering, delay), on a simulated clock: data must arrive intact (SHA-256) both ways.

import { createHash } from 'node:crypto';
import { SocketError, Stack, TcpConfig, TcpSocket } from '../../net/stack';
import { Prng } from './helpers';
import { B_IP, Impairment, Sim } from './sim';

const PORT = 5001;

function pattern(seed: number, n: number): Uint8Array {
  const r = new Prng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = r.u32();
    out[i] = v;
    out[i + 1] = v >>> 8;
    out[i + 2] = v >>> 16;
    out[i + 3] = v >>> 24;
  }
  return out;
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Write `data` in chunks, then half-close. */
async function sendAll(s: TcpSocket, data: Uint8Array, chunk = 16384): Promise<void> {
  for (let off = 0; off < data.length; off += chunk) await s.write(data.subarray(off, off + chunk));
  s.end();
}

/** Read to EOF, hashing as it goes. */
async function readAll(s: TcpSocket): Promise<{ hash: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of s) {
    h.update(chunk);
    bytes += chunk.length;
  }
  return { hash: h.digest('hex'), bytes };
}

interface Result {
  sim: Sim;
  upHash: string;
  downHash: string;
  up: number;
  down: number;
}

/** A (client) sends `upBytes` to B (server) while B sends `downBytes` back; both hashed. */
async function transfer(seed: number, imp: Impairment, upBytes: number, downBytes: number, tcpA: TcpConfig = {}, tcpB: TcpConfig = tcpA): Promise<Result> {
  const sim = new Sim(seed, imp, tcpA, tcpB);
  const up = pattern(seed + 1, upBytes);
  const down = pattern(seed + 2, downBytes);
  const listener = sim.b.tcpListen(PORT);
  let finished = false;
  let failure: unknown = null;
  const result = { upHash: '', downHash: '', up: 0, down: 0 };

  const server = (async () => {
    const s = await listener.accept();
    const [r] = await Promise.all([readAll(s), sendAll(s, down)]);
    result.upHash = r.hash;
    result.up = r.bytes;
    await s.closed;
  })();
  const client = (async () => {
    const s = await sim.a.tcpConnect(B_IP, PORT);
    const [r] = await Promise.all([readAll(s), sendAll(s, up)]);
    result.downHash = r.hash;
    result.down = r.bytes;
    await s.closed;
  })();
  Promise.all([server, client]).then(
    () => (finished = true),
    (e) => {
      failure = e;
      finished = true;
    },
  );
  await sim.run(() => finished);
  if (failure) throw failure;
  expect(result.up).toBe(upBytes);
  expect(result.down).toBe(downBytes);
  expect(result.upHash).toBe(sha(up));
  expect(result.downHash).toBe(sha(down));
  for (const st of sim.stacks) expect(st.counters.rxExceptions).toBe(0);
  return { sim, ...result };
}

function summary(sim: Sim): string {
  const c = (s: Stack) => s.counters;
  const a = c(sim.a);
  const b = c(sim.b);
  return (
    `t=${sim.now.toFixed(0)}ms frames=${sim.framesSent} lost=${sim.framesLost} dup=${sim.framesDuplicated} ` +
    `rexmit=${a.tcpRetransmits + b.tcpRetransmits} rto=${a.tcpRtoExpired + b.tcpRtoExpired} ` +
    `fast=${a.tcpFastRetransmits + b.tcpFastRetransmits} ooo=${a.tcpOutOfOrder + b.tcpOutOfOrder} iters=${sim.iterations}`
  );
}

const MB = 1 << 20;
const full: TcpConfig = { sack: true, timestamps: true, windowScale: true, sendBuffer: 256 * 1024, recvBuffer: 256 * 1024 };
const plain: TcpConfig = { sack: false, timestamps: false, windowScale: false };

describe('transfers over an impaired link', () => {
  // rate: bytes per ms; 12500 is 100 Mbit/s. Without a rate a whole flight arrives at one instant.
  const R = 12500;
  const matrix: Array<[string, Impairment, number, number, TcpConfig]> = [
    ['clean, 5 MB up and 5 MB down, all options, unlimited rate', { delay: 1 }, 5 * MB, 5 * MB, full],
    ['clean, 100 Mbit/s, CUBIC', { delay: 5, rate: R }, 2 * MB, 2 * MB, { ...full, congestion: 'cubic' }],
    ['1% loss, SACK + timestamps', { delay: 1, loss: 0.01, rate: R }, 2 * MB, 2 * MB, full],
    ['1% loss, no options (NewReno, Karn)', { delay: 1, loss: 0.01, rate: R }, 1 * MB, 1 * MB, plain],
    ['5% loss, SACK + timestamps, 5 MB one way', { delay: 1, loss: 0.05, rate: R }, 5 * MB, 0, full],
    ['5% loss, unlimited rate', { delay: 1, loss: 0.05 }, 1 * MB, 1 * MB, full],
    ['5% loss, no options, both ways', { delay: 1, loss: 0.05, rate: R }, 1 * MB, 1 * MB, plain],
    ['5% loss, CUBIC', { delay: 2, loss: 0.05, rate: R }, 1 * MB, 1 * MB, { ...full, congestion: 'cubic' }],
    ['reordering 5% + jitter', { delay: 2, reorder: 0.05, jitter: 0.5, rate: R }, 2 * MB, 2 * MB, full],
    ['duplication 5%', { delay: 1, dup: 0.05, rate: R }, 2 * MB, 2 * MB, full],
    ['everything: 2% loss, 2% dup, 3% reorder, jitter', { delay: 2, loss: 0.02, dup: 0.02, reorder: 0.03, jitter: 1, rate: R }, 2 * MB, 2 * MB, full],
    ['everything, no options, small buffers', { delay: 2, loss: 0.02, dup: 0.02, reorder: 0.03, jitter: 1, rate: R }, 1 * MB, 1 * MB, { ...plain, sendBuffer: 16384, recvBuffer: 8192 }],
    ['nagle on, delayed ACK off', { delay: 1, loss: 0.01, rate: R }, 1 * MB, 1 * MB, { ...full, noDelay: false, delayedAck: 0 }],
  ];
  test.each(matrix)('%s', async (_name, imp, up, down, tcp) => {
    const seed = 12345;
    const r = await transfer(seed, imp, up, down, tcp);
    console.log(`${_name}: ${summary(r.sim)}`);
  });

  test('mixed options: one side offers nothing', async () => {
    const r = await transfer(7, { delay: 1, loss: 0.01 }, 1 * MB, 1 * MB, full, plain);
    for (const s of r.sim.stacks) expect(s.counters.tcpChallengeAcks).toBe(0);
  });

  test('a slow reader: the window closes, persist probes, window updates reopen it', async () => {
    const tcp: TcpConfig = { recvBuffer: 16384, sendBuffer: 65536 };
    const sim = new Sim(11, { delay: 1, loss: 0.01, rate: 12500 }, tcp, tcp);
    const data = pattern(5, 512 * 1024);
    const listener = sim.b.tcpListen(PORT);
    let got = '';
    let done = false;
    void (async () => {
      const s = await listener.accept();
      const h = createHash('sha256');
      for (;;) {
        // Read one chunk every 300 ms: longer than the RTO, so the sender probes the closed window.
        await sim.sleep(300);
        const c = await s.read();
        if (c === null) break;
        h.update(c);
      }
      got = h.digest('hex');
      s.end();
    })();
    void (async () => {
      const s = await sim.a.tcpConnect(B_IP, PORT);
      await sendAll(s, data);
      await s.closed;
      done = true;
    })();
    await sim.run(() => done && got !== '');
    expect(got).toBe(sha(data));
    expect(sim.a.counters.tcpPersistProbes).toBeGreaterThan(0);
    console.log(`slow reader: ${summary(sim)} probes=${sim.a.counters.tcpPersistProbes}`);
  });

  test('several seeds at 3% loss with reordering', async () => {
    for (const seed of [1, 2, 3, 4]) {
      await transfer(seed, { delay: 1, loss: 0.03, reorder: 0.02, jitter: 0.3 }, 256 * 1024, 256 * 1024, seed % 2 ? full : plain);
    }
  });
});

describe('many connections', () => {
  test('1000 concurrent connections each echo 8 KiB, with 1% loss', async () => {
    const N = 1000;
    const tcp: TcpConfig = { sendBuffer: 16384, recvBuffer: 16384, synBacklog: 1024 };
    const sim = new Sim(99, { delay: 1, loss: 0.01, jitter: 0.2 }, tcp, tcp);
    const listener = sim.b.tcpListen(PORT, { backlog: 2048 });
    let serverDone = 0;
    let clientDone = 0;
    let failure: unknown = null;
    (async () => {
      for await (const s of listener) {
        (async () => {
          // Echo until EOF, then close our side.
          for await (const chunk of s) await s.write(chunk);
          s.end();
          await s.closed;
          serverDone++;
        })().catch((e) => (failure = e));
      }
    })().catch((e) => (failure = e));
    for (let i = 0; i < N; i++) {
      (async () => {
        const s = await sim.a.tcpConnect(B_IP, PORT);
        const data = pattern(i, 8192);
        const [echo] = await Promise.all([readAll(s), sendAll(s, data, 4096)]);
        if (echo.hash !== sha(data)) throw new Error(`connection ${i}: echo differs`);
        await s.closed;
        clientDone++;
      })().catch((e) => (failure = e));
    }
    await sim.run(() => failure !== null || (serverDone === N && clientDone === N));
    if (failure) throw failure instanceof SocketError ? new Error(`${failure.code}: ${failure.message}`) : failure;
    expect(clientDone).toBe(N);
    // Everything drains: TIME-WAIT ends, tables empty.
    await sim.run(() => sim.a.tcp.connections === 0 && sim.b.tcp.connections === 0);
    expect(sim.a.counters.tcpEstablished).toBe(N);
    expect(sim.b.counters.tcpEstablished).toBe(N);
    console.log(`1000 connections: ${summary(sim)} arpQueueDrop=${sim.a.counters.arpQueueDrop}`);
  });
});
