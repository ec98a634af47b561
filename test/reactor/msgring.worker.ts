// Worker side of the cross-thread MsgRing tests (run from dist/ by msgring.test.ts): a producer of numbered,
// checksummed messages, a consumer that sleeps on its Waker, and a request/reply server using MessageCodec.
import { isMainThread, parentPort, workerData } from 'worker_threads';
import { CodecFormat, MessageCodec, MsgRing, RingMatrix, RingMatrixInit } from '../../reactor/msgring';

// Alias: Math.imul looked up as a global costs ~0.2 µs under jest's vm context (this file also runs there).
const imul = Math.imul;

/** Deterministic payload length for message `seq` (0..max). */
export function payloadLen(seq: number, max: number): number {
  return mix(seq) % (max + 1);
}

/** Byte `i` of message `seq`'s payload. */
export function payloadByte(seq: number, i: number): number {
  return (mix(seq) + imul(i, 131)) & 255;
}

/** A 32-bit integer hash (deterministic "random" per sequence number). */
export function mix(x: number): number {
  x = imul(x ^ (x >>> 16), 0x45d9f3b);
  x = imul(x ^ (x >>> 16), 0x45d9f3b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** FNV-1a over `b[off, off + len)`. */
export function fnv1a(b: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < len; i++) h = imul(h ^ b[off + i], 0x01000193);
  return h >>> 0;
}

/** Writes message `seq`: [u32 seq][u32 fnv1a(payload)][payload]; false when the ring is full. */
export function writeNumbered(ring: MsgRing, seq: number, maxPayload: number, publish: boolean): boolean {
  const len = payloadLen(seq, maxPayload);
  const off = ring.tryReserve(8 + len);
  if (off < 0) return false;
  const b = ring.bytes;
  for (let i = 0; i < len; i++) b[off + 8 + i] = payloadByte(seq, i);
  ring.view.setUint32(off, seq, true);
  ring.view.setUint32(off + 4, fnv1a(b, off + 8, len), true);
  ring.commit(8 + len, publish);
  return true;
}

export type WorkerJob =
  | { mode: 'produce'; init: RingMatrixInit; count: number; maxPayload: number; batch: number }
  | { mode: 'sleepy-consumer'; init: RingMatrixInit; counters: SharedArrayBuffer; sleepMs: number }
  | { mode: 'echo'; init: RingMatrixInit; format: CodecFormat; sleepMs: number };

export interface WorkerReport {
  consumed?: number;
  produced?: number;
  rejected?: number;
  timeouts: number;
  wakeups: number;
  errors: string[];
}

/** Counter indexes in the sleepy consumer's `counters` SAB. */
export const C = { consumed: 0, lastSeq: 1 } as const;
/** Sequence number that tells the sleepy consumer to stop. */
export const STOP_SEQ = 0xffffffff;

// Shard 1 is the worker, shard 0 the test's main thread.
async function produce(job: Extract<WorkerJob, { mode: 'produce' }>): Promise<WorkerReport> {
  const m = RingMatrix.attach(job.init);
  const ring = m.ring(1, 0);
  const waker = m.waker(1);
  for (let seq = 0; seq < job.count; seq++) {
    const publish = (seq + 1) % job.batch === 0;
    while (!writeNumbered(ring, seq, job.maxPayload, publish)) {
      // Full: make what we have visible, wake the consumer and retry (our own thread, spinning is fine).
      ring.flush();
      waker.wake(0);
    }
    if (publish) waker.wake(0);
  }
  ring.flush();
  waker.wake(0);
  return { produced: job.count, rejected: ring.rejected, timeouts: 0, wakeups: 0, errors: [] };
}

async function sleepyConsumer(job: Extract<WorkerJob, { mode: 'sleepy-consumer' }>): Promise<WorkerReport> {
  const m = RingMatrix.attach(job.init);
  const ring = m.ring(0, 1);
  const waker = m.waker(1);
  const counters = new Int32Array(job.counters);
  const errors: string[] = [];
  let expected = 0;
  let stop = false;
  let consumed = 0;
  const onMsg = (_b: Uint8Array, off: number, len: number): void => {
    const seq = ring.view.getUint32(off, true);
    if (seq === STOP_SEQ) {
      stop = true;
      return;
    }
    if (seq !== expected && errors.length < 10) errors.push(`seq ${seq}, expected ${expected}`);
    if (len !== 4 && errors.length < 10) errors.push(`len ${len} for seq ${seq}`);
    expected = seq + 1;
    consumed++;
    Atomics.store(counters, C.lastSeq, seq);
    Atomics.store(counters, C.consumed, consumed);
    Atomics.notify(counters, C.consumed);
  };
  while (!stop) {
    if (ring.drain(onMsg, 64) > 0) continue;
    // Idle: announce, re-check, sleep. A lost wakeup shows as a timeout (the test makes sleepMs huge).
    await waker.sleepUnless(() => !ring.isEmpty, job.sleepMs);
  }
  return { consumed, timeouts: waker.timeouts, wakeups: waker.wakeups, errors };
}

async function echo(job: Extract<WorkerJob, { mode: 'echo' }>): Promise<WorkerReport> {
  const m = RingMatrix.attach(job.init);
  const inRing = m.ring(0, 1);
  const outRing = m.ring(1, 0);
  const waker = m.waker(1);
  const codec = new MessageCodec(job.format);
  const errors: string[] = [];
  let stop = false;
  let consumed = 0;
  const handle = (b: Uint8Array, off: number, len: number): void => {
    const msg = codec.decode(b, off, len);
    if (msg.kind !== 'request') {
      errors.push(`unexpected ${msg.kind}`);
      return;
    }
    consumed++;
    if (msg.name === 'stop') {
      stop = true;
      return;
    }
    let reply;
    try {
      if (msg.name === 'add') reply = { kind: 'reply' as const, id: msg.id, ok: true as const, value: (msg.args[0] as number) + (msg.args[1] as number) };
      else if (msg.name === 'echo') reply = { kind: 'reply' as const, id: msg.id, ok: true as const, value: msg.args };
      else if (msg.name === 'fail') throw new RangeError(`fail ${String(msg.args[0])}`);
      else throw new Error(`no task ${msg.name}`);
    } catch (e) {
      reply = MessageCodec.errorReply(msg.id, e);
    }
    // The caller bounds its requests in flight below the ring size, so a full ring here is a test failure.
    if (!codec.encodeInto(outRing, reply, false)) errors.push(`reply ring full at id ${msg.id}`);
  };
  while (!stop) {
    const n = inRing.drain(handle, 16);
    if (n > 0) {
      outRing.flush();
      waker.wake(0);
      continue;
    }
    await waker.sleepUnless(() => !inRing.isEmpty, job.sleepMs);
  }
  outRing.flush();
  waker.wake(0);
  return { consumed, timeouts: waker.timeouts, wakeups: waker.wakeups, errors };
}

if (!isMainThread && parentPort !== null && typeof workerData === 'object' && workerData !== null && 'mode' in workerData) {
  const job = workerData as WorkerJob;
  const port = parentPort;
  const run = job.mode === 'produce' ? produce(job) : job.mode === 'sleepy-consumer' ? sleepyConsumer(job) : echo(job);
  run.then(
    (r) => port.postMessage(r),
    (e: unknown) => port.postMessage({ timeouts: -1, wakeups: 0, errors: [String(e instanceof Error ? e.stack : e)] }),
  );
}
