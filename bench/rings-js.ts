// Benchmark of reactor/msgring: cross-thread throughput of small messages over a MsgRing against
// postMessage (the reference), request/reply round trip, and the v8 vs JSON codec cost.
// This file is also its own worker script (the `ringsJsBench` workerData marker selects the role).
import { Worker, isMainThread, parentPort, workerData } from 'worker_threads';
import { CodecFormat, Message, MessageCodec, MsgRing, RingMatrix, RingMatrixInit } from '../reactor/msgring';

export interface MsgRingBench {
  /** Producer worker -> consumer (this thread), 16-byte payloads, flushed every 16: ns per message. */
  nsPerMessage: number;
  messagesPerSecond: number;
  /** The same messages (16-byte Uint8Array) with postMessage, for reference. */
  postMessageNsPerMessage: number;
  /** One request and its reply over two rings, both sides spinning: ns per round trip. */
  roundTripNs: number;
  /** Encode -> ring -> drain -> decode of a small request and its reply, one thread, ns per message.
   *  Plain JSON data, so `auto` takes the JSON path (plus the walk that decides it). */
  codecNs: Record<CodecFormat, number>;
}

const PAYLOAD = 16;

type Job =
  | { ringsJsBench: 'produce'; init: RingMatrixInit; count: number }
  | { ringsJsBench: 'post'; count: number }
  | { ringsJsBench: 'echo'; init: RingMatrixInit; rounds: number };

function startWorker(job: Job): { worker: Worker; done: Promise<void> } {
  const worker = new Worker(__filename, { workerData: job });
  const done = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
  return { worker, done };
}

async function ringThroughput(count: number): Promise<number> {
  const m = RingMatrix.create(2, 1 << 16);
  const ring = m.ring(1, 0);
  const { worker, done } = startWorker({ ringsJsBench: 'produce', init: m.init, count });
  let sum = 0;
  const onMsg = (b: Uint8Array, off: number): void => {
    sum += b[off]; // touch the payload, as a real consumer would
  };
  // Wait for the first message so worker start-up is not measured, then spin like a polling shard.
  const limit = Date.now() + 60_000;
  while (ring.isEmpty) {
    if (Date.now() > limit) throw new Error('producer did not start');
    await new Promise((r) => setImmediate(r));
  }
  const t0 = process.hrtime.bigint();
  let got = 0;
  while (got < count) {
    got += ring.drain(onMsg, 256);
    if ((got & 0xffff) === 0 && Date.now() > limit) throw new Error(`ring bench stuck at ${got}`);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  await worker.terminate();
  await done;
  if (sum < 0) throw new Error('unreachable');
  return ns / count;
}

async function postMessageThroughput(count: number): Promise<number> {
  const { worker, done } = startWorker({ ringsJsBench: 'post', count });
  let got = 0;
  let t0 = 0n;
  const ns = await new Promise<number>((resolve, reject) => {
    worker.on('message', (m: Uint8Array | 'start') => {
      if (m === 'start') {
        t0 = process.hrtime.bigint();
        return;
      }
      if (++got === count) resolve(Number(process.hrtime.bigint() - t0));
    });
    worker.once('error', reject);
  });
  await worker.terminate();
  await done;
  return ns / count;
}

async function roundTrip(rounds: number): Promise<number> {
  const m = RingMatrix.create(2, 1 << 12);
  const out = m.ring(0, 1);
  const inRing = m.ring(1, 0);
  const { worker, done } = startWorker({ ringsJsBench: 'echo', init: m.init, rounds });
  const msg = new Uint8Array(PAYLOAD);
  const limit = Date.now() + 60_000;
  let got = 0;
  const onReply = (): void => {
    got++;
  };
  // Warm-up round trip (covers worker start-up).
  while (!out.tryWrite(msg));
  while (inRing.drain(onReply) === 0) await new Promise((r) => setImmediate(r));
  const t0 = process.hrtime.bigint();
  for (let i = 1; i < rounds; i++) {
    out.tryWrite(msg);
    while (inRing.drain(onReply) === 0) if (Date.now() > limit) throw new Error('echo stuck');
  }
  const ns = Number(process.hrtime.bigint() - t0);
  await worker.terminate();
  await done;
  return ns / (rounds - 1);
}

function codecCost(format: CodecFormat, count: number): number {
  const codec = new MessageCodec(format);
  const ring = MsgRing.create(1 << 16);
  let sink = 0;
  const onMsg = (b: Uint8Array, off: number, len: number): void => {
    const m = codec.decode(b, off, len);
    sink += m.id;
  };
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const req: Message = { kind: 'request', id: i, name: 'get', args: [i, `key-${i & 1023}`] };
      const rep: Message = { kind: 'reply', id: i, ok: true, value: { found: true, value: `value-${i & 1023}` } };
      if (!codec.encodeInto(ring, req) || !codec.encodeInto(ring, rep)) throw new Error('codec bench ring full');
      ring.drain(onMsg);
    }
  };
  run(Math.min(count, 20_000)); // warm-up: let V8 optimise both paths before timing
  const t0 = process.hrtime.bigint();
  run(count);
  const ns = Number(process.hrtime.bigint() - t0);
  if (sink < 0) throw new Error('unreachable');
  return ns / (2 * count);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * Runs each measurement three times and reports the medians (two spinning threads on a small shared host
 * are at the mercy of whatever else runs; one unlucky run should not be the figure). Takes ~15 s.
 */
export async function benchMsgRing(): Promise<MsgRingBench> {
  const ring: number[] = [];
  const post: number[] = [];
  const rtt: number[] = [];
  const codec: Record<CodecFormat, number[]> = { v8: [], json: [], auto: [] };
  for (let i = 0; i < 3; i++) {
    ring.push(await ringThroughput(2_000_000));
    post.push(await postMessageThroughput(200_000));
    rtt.push(await roundTrip(50_000));
    for (const f of ['v8', 'json', 'auto'] as const) codec[f].push(codecCost(f, 50_000));
  }
  const nsPerMessage = median(ring);
  return {
    nsPerMessage,
    messagesPerSecond: 1e9 / nsPerMessage,
    postMessageNsPerMessage: median(post),
    roundTripNs: median(rtt),
    codecNs: { v8: median(codec.v8), json: median(codec.json), auto: median(codec.auto) },
  };
}

// --- worker side ---------------------------------------------------------------------------------------------

function produce(init: RingMatrixInit, count: number): void {
  const ring = RingMatrix.attach(init).ring(1, 0);
  const msg = new Uint8Array(PAYLOAD);
  for (let i = 0; i < count; i++) {
    msg[0] = i;
    const publish = (i & 15) === 15;
    while (!ring.tryWrite(msg, publish)) ring.flush(); // full: publish what is staged and spin
  }
  ring.flush();
}

function post(count: number): void {
  const port = parentPort;
  if (port === null) return;
  port.postMessage('start');
  const msg = new Uint8Array(PAYLOAD);
  for (let i = 0; i < count; i++) {
    msg[0] = i;
    port.postMessage(msg);
  }
}

function echo(init: RingMatrixInit, rounds: number): void {
  const m = RingMatrix.attach(init);
  const inRing = m.ring(0, 1);
  const out = m.ring(1, 0);
  let n = 0;
  const onMsg = (b: Uint8Array, off: number, len: number): void => {
    n++;
    while (!out.tryWrite(b.subarray(off, off + len)));
  };
  while (n < rounds) inRing.drain(onMsg);
}

if (!isMainThread && typeof workerData === 'object' && workerData !== null && 'ringsJsBench' in workerData) {
  const job = workerData as Job;
  if (job.ringsJsBench === 'produce') produce(job.init, job.count);
  else if (job.ringsJsBench === 'post') post(job.count);
  else echo(job.init, job.rounds);
}

if (require.main === module) {
  benchMsgRing().then((r) => console.log(JSON.stringify(r, null, 2)), (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
