// Tests for reactor/msgring: SPSC ring order and contents (one thread, with wrap of positions and counters),
// backpressure without corruption, ~1e6 messages across threads, no lost wakeups, codec and matrix.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { MessageCodec, Message, MsgRing, RemoteError, ReplyMessage, RingMatrix, Waker } from '../../reactor/msgring';
import { Prng } from '../wire/prng';
import { waitFor } from '../../tools/wait';
import { C, STOP_SEQ, WorkerJob, WorkerReport, fnv1a, mix, payloadByte, payloadLen } from './msgring.worker';

const WORKER = path.join(__dirname, 'msgring.worker.js');

/** Starts a test worker; `report` settles with its final message, or rejects if it errors or exits first. */
function startWorker(job: WorkerJob): { worker: Worker; report: Promise<WorkerReport>; failed: () => unknown } {
  const worker = new Worker(WORKER, { workerData: job });
  let failure: unknown;
  const report = new Promise<WorkerReport>((resolve, reject) => {
    worker.once('message', (r: WorkerReport) => resolve(r));
    worker.once('error', (e) => {
      failure = e;
      reject(e);
    });
    worker.once('exit', (code) => {
      failure ??= new Error(`worker exited with ${code} before reporting`);
      reject(failure);
    });
  });
  report.catch(() => undefined); // observed by the test; avoid an unhandled rejection before it awaits
  return { worker, report, failed: () => failure };
}

/** Rejects if `p` has not settled within `ms` (a hung cross-thread protocol fails the test, not jest). */
async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`deadline of ${ms} ms passed waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// Alias: a global lookup costs ~0.3 µs under jest's vm context, too much inside spin loops.
const A = Atomics;

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

// ----------------------------------------------------------------------------------------------------------

describe('MsgRing, one thread', () => {
  /** Mixed sizes: mostly small, some medium, a few up to the ring's maximum (forces padding at the end). */
  function sizeOf(seq: number, maxMessage: number): number {
    const h = mix(seq ^ 0x5bd1e995);
    const r = h % 100;
    return r < 85 ? h % 49 : r < 99 ? h % 700 : h % (maxMessage + 1);
  }

  function mixedRun(initialCounter: number, seed: number, total: number): { pads: number; rejected: number } {
    const ring = MsgRing.create(4096, { initialCounter });
    const prng = new Prng(seed);
    let wseq = 0;
    let rseq = 0;
    let bad = 0;
    let firstBad = '';
    let pads = 0;
    const verify = (b: Uint8Array, off: number, len: number): void => {
      const want = sizeOf(rseq, ring.maxMessage);
      let ok = len === want;
      for (let i = 0; ok && i < len; i++) ok = b[off + i] === payloadByte(rseq, i);
      if (!ok && bad++ === 0) firstBad = `message ${rseq}: len ${len}, want ${want}`;
      rseq++;
    };
    while (rseq < total) {
      let k = prng.below(64);
      while (k-- > 0 && wseq < total) {
        const len = sizeOf(wseq, ring.maxMessage);
        const mode = prng.below(4);
        const before = ring.size + ring.staged;
        let ok: boolean;
        if (mode <= 1) {
          const p = new Uint8Array(len);
          for (let i = 0; i < len; i++) p[i] = payloadByte(wseq, i);
          ok = ring.tryWrite(p, mode === 0);
        } else {
          // Reserve more than needed (mode 3) and commit the real length: the encode-in-place pattern.
          const extra = mode === 3 ? Math.min(prng.below(64), ring.maxMessage - len) : 0;
          const off = ring.tryReserve(len + extra);
          ok = off >= 0;
          if (ok) {
            if (off + len + extra > ring.capacity) throw new Error('reservation crosses the end of the ring');
            for (let i = 0; i < len; i++) ring.bytes[off + i] = payloadByte(wseq, i);
            ring.commit(len, prng.below(2) === 0);
          }
        }
        if (!ok) {
          ring.flush();
          break;
        }
        const grew = ring.size + ring.staged - before;
        if (grew > ((len + 7) & ~3)) pads++;
        wseq++;
      }
      if (wseq === total || prng.below(4) === 0) ring.flush();
      if (prng.below(16) === 0) {
        const one = ring.read();
        if (one !== null) verifyCopy(one);
      } else {
        ring.drain(verify, 1 + prng.below(64));
      }
    }
    function verifyCopy(one: Uint8Array): void {
      expect(one.buffer).not.toBeInstanceOf(SharedArrayBuffer);
      verify(one, 0, one.length);
    }
    expect(firstBad).toBe('');
    expect(bad).toBe(0);
    expect(rseq).toBe(total);
    expect(ring.isEmpty).toBe(true);
    expect(ring.size).toBe(0);
    expect(ring.read()).toBeNull();
    return { pads, rejected: ring.rejected };
  }

  test('FIFO order and exact contents over 2e6 mixed-size messages with wrap-around', () => {
    const r = mixedRun(0, 1, 2_000_000);
    expect(r.pads).toBeGreaterThan(1000); // the end-of-ring pad path ran many times
    expect(r.rejected).toBeGreaterThan(1000); // and so did backpressure
  });

  test('counters wrap past 2^31 and 2^32 without losing track', () => {
    mixedRun(0x7fffffff - 40_000 + 1, 2, 200_000); // (2^31 - 40000) crosses the signed wrap
    mixedRun(-40_000, 3, 200_000); // crosses the unsigned wrap (0xffffffff -> 0)
  });

  test('full ring rejects without changing anything, then accepts again once drained', () => {
    const ring = MsgRing.create(256);
    expect(ring.capacity).toBe(256);
    const msg = (i: number): Uint8Array => new Uint8Array(10).fill(i + 1);
    let n = 0;
    while (ring.tryWrite(msg(n))) n++;
    expect(n).toBe(256 / 16); // 4-byte length + 10 bytes, padded to 16
    expect(ring.size).toBe(256);
    const snapshot = ring.bytes.slice();
    expect(ring.tryWrite(new Uint8Array(0))).toBe(false);
    expect(ring.tryReserve(1)).toBe(-1);
    expect(ring.rejected).toBe(3);
    expect(ring.bytes).toEqual(snapshot);
    // Consumer frees one record: exactly one more fits.
    const first = ring.read();
    expect(first).toEqual(msg(0));
    expect(ring.tryWrite(msg(n))).toBe(true);
    expect(ring.tryWrite(msg(n + 1))).toBe(false);
    const got: number[] = [];
    ring.drain((b, off, len) => {
      expect(len).toBe(10);
      got.push(b[off]);
    });
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i + 2));
  });

  test('a write that needs the end-of-ring pad but does not fit leaves the ring untouched', () => {
    const ring = MsgRing.create(256);
    expect(ring.maxMessage).toBe(124);
    // Position 120, one 120-byte record held (120..240): 16 bytes before the end, 136 free in total.
    expect(ring.tryWrite(new Uint8Array(116))).toBe(true);
    expect(ring.read()).not.toBeNull();
    expect(ring.tryWrite(new Uint8Array(116).fill(5))).toBe(true);
    // A 128-byte record fits the free space but not with the 16-byte pad in front of it.
    const big = new Uint8Array(124).fill(9);
    const snapshot = ring.bytes.slice();
    expect(ring.tryWrite(big)).toBe(false);
    expect(ring.bytes).toEqual(snapshot);
    expect(ring.size).toBe(120);
    expect(ring.read()).toEqual(new Uint8Array(116).fill(5));
    expect(ring.tryWrite(big)).toBe(true);
    expect(ring.size).toBe(16 + 128);
    expect(ring.read()).toEqual(big);
    expect(ring.isEmpty).toBe(true);
  });

  test('maxMessage fits into an empty ring at every position; larger messages throw', () => {
    const cap = 256;
    for (let p = 0; p < cap; p += 4) {
      const ring = MsgRing.create(cap);
      // Advance the position to p with records that never exceed maxMessage.
      let pos = 0;
      while (pos < p) {
        const step = Math.min(p - pos, ring.maxMessage + 4);
        expect(ring.tryWrite(new Uint8Array(step - 4))).toBe(true);
        expect(ring.read()).not.toBeNull();
        pos += step;
      }
      const big = new Uint8Array(ring.maxMessage).fill(p & 255);
      expect(ring.tryWrite(big)).toBe(true);
      expect(ring.read()).toEqual(big);
      expect(() => ring.tryWrite(new Uint8Array(ring.maxMessage + 1))).toThrow(RangeError);
    }
  });

  test('drain honours max, keeps the message a throwing callback was given as consumed', () => {
    const ring = MsgRing.create(1024);
    for (let i = 0; i < 10; i++) expect(ring.tryWrite(Uint8Array.of(i))).toBe(true);
    const seen: number[] = [];
    expect(ring.drain((b, off) => seen.push(b[off]), 3)).toBe(3);
    expect(() =>
      ring.drain((b, off) => {
        seen.push(b[off]);
        if (b[off] === 4) throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(ring.drain((b, off) => seen.push(b[off]))).toBe(5);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('staged records are invisible until flush; reserve/commit misuse throws', () => {
    const ring = MsgRing.create(1024);
    expect(ring.tryWrite(Uint8Array.of(1), false)).toBe(true);
    expect(ring.isEmpty).toBe(true);
    expect(ring.staged).toBe(8);
    ring.flush();
    expect(ring.isEmpty).toBe(false);
    expect(() => ring.commit()).toThrow(/without tryReserve/);
    expect(ring.tryReserve(8)).toBeGreaterThanOrEqual(0);
    expect(() => ring.tryReserve(8)).toThrow(/not committed/);
    expect(() => ring.commit(9)).toThrow(RangeError);
    ring.commit(2);
    expect(ring.read()).toEqual(Uint8Array.of(1));
    expect(ring.read()?.length).toBe(2);
  });

  test('attach sees the same ring; a region without a ring is refused', () => {
    const a = MsgRing.create(512);
    const b = MsgRing.attach(a.sab);
    expect(b.capacity).toBe(512);
    expect(a.tryWrite(Uint8Array.of(7, 8, 9))).toBe(true);
    expect(b.read()).toEqual(Uint8Array.of(7, 8, 9));
    expect(a.isEmpty).toBe(true);
    expect(() => MsgRing.attach(new SharedArrayBuffer(1024))).toThrow(/no MsgRing/);
    expect(() => MsgRing.attach(a.sab, 32)).toThrow(/multiple of 64/);
    expect(() => MsgRing.create(1024, { initialCounter: 2 })).toThrow(/multiple of 4/);
  });
});

// ----------------------------------------------------------------------------------------------------------

describe('RingMatrix', () => {
  test('N×N rings in one buffer, opened again from init (as a worker would)', () => {
    const m = RingMatrix.create(3, 1000);
    expect(m.init.capacity).toBe(1024);
    const other = RingMatrix.attach(m.init);
    for (let f = 0; f < 3; f++) {
      for (let t = 0; t < 3; t++) {
        if (f === t) {
          expect(() => m.ring(f, t)).toThrow(RangeError);
          continue;
        }
        expect(m.ring(f, t)).toBe(m.ring(f, t));
        expect(m.ring(f, t).tryWrite(Uint8Array.of(f, t))).toBe(true);
      }
    }
    expect(() => m.ring(0, 3)).toThrow(RangeError);
    for (let t = 0; t < 3; t++) {
      expect(other.hasIncoming(t)).toBe(true);
      for (let f = 0; f < 3; f++) if (f !== t) expect(other.ring(f, t).read()).toEqual(Uint8Array.of(f, t));
      expect(other.hasIncoming(t)).toBe(false);
    }
  });
});

// ----------------------------------------------------------------------------------------------------------

describe('MessageCodec', () => {
  const request = (args: unknown[]): Message => ({ kind: 'request', id: 42, name: 'task', args });

  test('v8 round-trips structured-clone values', () => {
    const codec = new MessageCodec('v8');
    const cyclic: { self?: unknown; n: number } = { n: 1 };
    cyclic.self = cyclic;
    const args = [undefined, null, 1.5, -0, 2n ** 70n, 'héllo', [1, [2, 3]], new Map([[1, { a: 2 }]]), new Set(['x']), new Date(5), Uint8Array.of(1, 2, 3), cyclic];
    const out = codec.decode(codec.encode(request(args)));
    expect(out.kind).toBe('request');
    if (out.kind !== 'request') return;
    // v8.deserialize builds Maps, Dates… in Node's realm, not in jest's sandbox realm: compare by content.
    const a = out.args;
    expect(a.length).toBe(args.length);
    expect(a.slice(0, 7)).toEqual(args.slice(0, 7));
    expect(Object.is(a[3], -0)).toBe(true);
    const tag = (v: unknown): string => Object.prototype.toString.call(v);
    expect(tag(a[7])).toBe('[object Map]');
    expect(Array.from(a[7] as Map<number, { a: number }>)).toEqual([[1, { a: 2 }]]);
    expect(tag(a[8])).toBe('[object Set]');
    expect(Array.from(a[8] as Set<string>)).toEqual(['x']);
    expect(tag(a[9])).toBe('[object Date]');
    expect((a[9] as Date).getTime()).toBe(5);
    expect(tag(a[10])).toBe('[object Uint8Array]');
    expect(Array.from(a[10] as Uint8Array)).toEqual([1, 2, 3]);
    const c = a[11] as { self: unknown; n: number };
    expect(c.n).toBe(1);
    expect(c.self).toBe(c);
  });

  test('auto sends JSON only when JSON carries the value exactly, v8 otherwise; every format decodes both', () => {
    const auto = new MessageCodec();
    expect(auto.format).toBe('auto');
    class Point {
      constructor(readonly x: number) {}
    }
    const deep: unknown[] = [];
    let d: unknown[] = deep;
    for (let i = 0; i < 40; i++) d = d[0] = [] as unknown[];
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    const nullProto = Object.create(null) as Record<string, unknown>;
    nullProto.a = 1;
    const plain: unknown[][] = [[], [1, 'two', true, null, { a: [1.5, { b: 'c' }] }], [nullProto], [-1e300, 0, 'ü\u{1F600}\ud800']];
    const rich: unknown[][] = [[undefined], [NaN], [Infinity], [-0], [1n], [[1, , 3]], [{ a: undefined }], [new Date(0)], [new Map()], [Uint8Array.of(1)], [new Point(1)], [deep], [cyclic]];
    const uncloneable: unknown[][] = [[() => 1], [{ toJSON: () => 1 }]];
    for (const args of plain) {
      const m: Message = { kind: 'request', id: 1, name: 'n', args };
      expect(auto.usesJson(m)).toBe(true);
      const b = auto.encode(m);
      expect(b[0]).toBe('{'.charCodeAt(0));
      expect(auto.decode(b)).toEqual(m);
    }
    for (const args of rich) {
      const m: Message = { kind: 'request', id: 1, name: 'n', args };
      expect(auto.usesJson(m)).toBe(false);
      const b = auto.encode(m);
      expect(b[0]).toBe(0xff);
      const out = auto.decode(b);
      expect(out.kind === 'request' && out.args.length).toBe(1);
    }
    for (const args of uncloneable) {
      // Functions cannot cross threads: not silently dropped (JSON) or called (toJSON), but an error.
      const m: Message = { kind: 'request', id: 1, name: 'n', args };
      expect(auto.usesJson(m)).toBe(false);
      expect(() => auto.encode(m)).toThrow(/could not be cloned/);
    }
    // A void task's reply (value undefined) and error replies stay on the JSON path.
    const voidReply: Message = { kind: 'reply', id: 3, ok: true, value: undefined };
    expect(auto.usesJson(voidReply)).toBe(true);
    const back = auto.decode(auto.encode(voidReply));
    expect(back.kind === 'reply' && back.ok && back.value).toBeUndefined();
    expect(auto.usesJson(MessageCodec.errorReply(4, new Error('x')))).toBe(true);
    // Decoding does not depend on the decoder's format.
    const req: Message = { kind: 'request', id: 9, name: 'x', args: [1, 'a'] };
    for (const enc of ['auto', 'v8', 'json'] as const) {
      for (const dec of ['auto', 'v8', 'json'] as const) expect(new MessageCodec(dec).decode(new MessageCodec(enc).encode(req))).toEqual(req);
    }
  });

  test('errors cross as plain data and come back throwable', () => {
    class QuotaError extends Error {
      constructor(m: string) {
        super(m);
        this.name = 'QuotaError';
      }
    }
    for (const format of ['auto', 'v8', 'json'] as const) {
      const codec = new MessageCodec(format);
      const thrown = new QuotaError('over quota');
      const r = codec.decode(codec.encode(MessageCodec.errorReply(7, thrown))) as ReplyMessage;
      expect(r).toMatchObject({ kind: 'reply', id: 7, ok: false, error: { name: 'QuotaError', message: 'over quota' } });
      if (r.ok) return;
      expect(r.error.stack).toContain('over quota');
      const e = MessageCodec.toError(r.error);
      expect(e).toBeInstanceOf(RemoteError);
      expect(e).toBeInstanceOf(Error);
      expect(e.message).toBe('over quota');
      expect(e.remoteName).toBe('QuotaError');
      expect(e.stack).toContain('on the remote shard');
      const s = codec.decode(codec.encode(MessageCodec.errorReply(8, 'just a string'))) as ReplyMessage;
      expect(s).toMatchObject({ ok: false, error: { name: 'Error', message: 'just a string' } });
      const ok = codec.decode(codec.encode({ kind: 'reply', id: 9, ok: true, value: { a: [1, 'b'] } }));
      expect(ok).toEqual({ kind: 'reply', id: 9, ok: true, value: { a: [1, 'b'] } });
    }
  });

  test('json carries plain data, refuses BigInt; garbage does not decode', () => {
    const codec = new MessageCodec('json');
    expect(codec.decode(codec.encode(request([1, 'x', { y: [true, null] }])))).toEqual(request([1, 'x', { y: [true, null] }]));
    expect(() => codec.encode(request([1n]))).toThrow(TypeError);
    expect(() => codec.decode(Buffer.from('{"kind":"nope"}'))).toThrow(/not a request or reply/);
    expect(() => new MessageCodec('v8').decode(new MessageCodec('v8').encode({ x: 1 } as unknown as Message))).toThrow(/not a request/);
  });

  test('encodeInto writes one ring message per call in every format, false when full', () => {
    for (const format of ['auto', 'v8', 'json'] as const) {
      const codec = new MessageCodec(format);
      const ring = MsgRing.create(1024);
      let n = 0;
      while (codec.encodeInto(ring, request([n, 'ünïcode', { k: n }]))) n++;
      expect(n).toBeGreaterThan(5);
      const got: Message[] = [];
      expect(ring.drain((b, off, len) => got.push(codec.decode(b, off, len)))).toBe(n);
      got.forEach((m, i) => expect(m).toEqual(request([i, 'ünïcode', { k: i }])));
      expect(() => codec.encodeInto(ring, request(['x'.repeat(1000)]))).toThrow(RangeError);
    }
  });
});

// ----------------------------------------------------------------------------------------------------------

describe('Waker, one thread', () => {
  test('a wake after prepareSleep makes sleep return at once; wake of an awake shard is a no-op', async () => {
    const w0 = Waker.create(2, 0);
    const w1 = Waker.attach(w0.sab, 0, 2, 1);
    expect(w1.wake(0)).toBe(false);
    w0.prepareSleep();
    expect(w1.isSleeping(0)).toBe(true);
    expect(w1.wake(0)).toBe(true);
    expect(w1.wake(0)).toBe(false); // only the first producer pays for the notify
    expect(await w0.sleep(600_000)).toBe('woken');
    expect(w1.isSleeping(0)).toBe(false);
    expect(() => w0.sleep(1)).toThrow(/without prepareSleep/);
    expect(await w0.sleepUnless(() => true, 600_000)).toBe('woken');
    expect(w0.isSleeping(0)).toBe(false);
  });

  test('sleep times out when nobody wakes it, and wakes from a later notify', async () => {
    const w0 = Waker.create(2, 0);
    const w1 = Waker.attach(w0.sab, 0, 2, 1);
    expect(await w0.sleepUnless(() => false, 5)).toBe('timeout');
    expect(w0.timeouts).toBe(1);
    const sleeping = w0.sleepUnless(() => false, 600_000);
    setImmediate(() => w1.wake(0));
    expect(await withDeadline(sleeping, 20_000, 'wake')).toBe('woken');
    expect(w0.wakeups).toBe(1);
  });
});

// ----------------------------------------------------------------------------------------------------------

describe('MsgRing across threads', () => {
  test('1e6 numbered, checksummed messages from a worker arrive exactly once, in order, intact', async () => {
    const N = 1_000_000;
    const MAXP = 40;
    const m = RingMatrix.create(2, 1 << 16);
    const { worker, report, failed } = startWorker({ mode: 'produce', init: m.init, count: N, maxPayload: MAXP, batch: 16 });
    try {
      const ring = m.ring(1, 0);
      const waker = m.waker(0);
      let expected = 0;
      let bad = 0;
      let firstBad = '';
      const check = (b: Uint8Array, off: number, len: number): void => {
        const seq = ring.view.getUint32(off, true);
        const sum = ring.view.getUint32(off + 4, true);
        const plen = len - 8;
        let ok = seq === expected && plen === payloadLen(seq, MAXP) && fnv1a(b, off + 8, plen) === sum;
        for (let i = 0; ok && i < plen; i++) ok = b[off + 8 + i] === payloadByte(seq, i);
        if (!ok && bad++ === 0) firstBad = `got seq ${seq} len ${len}, expected seq ${expected}`;
        expected = seq + 1;
      };
      const deadline = Date.now() + 90_000;
      let received = 0;
      let iter = 0;
      while (received < N) {
        if (Date.now() > deadline) throw new Error(`deadline: ${received} of ${N} messages`);
        if (failed() !== undefined) throw failed();
        const n = ring.drain(check, 4096);
        received += n;
        if (n === 0) await waker.sleepUnless(() => !ring.isEmpty, 100);
        else if ((++iter & 63) === 0) await tick();
      }
      const r = await withDeadline(report, 30_000, 'producer report');
      expect(r.produced).toBe(N);
      expect(firstBad).toBe('');
      expect(bad).toBe(0);
      expect(received).toBe(N);
      expect(expected).toBe(N);
      expect(ring.isEmpty).toBe(true);
    } finally {
      await worker.terminate();
    }
  });

  test('no lost wakeup: a consumer sleeping with a 10-minute timeout takes every sporadic message', async () => {
    const N = 4000;
    const m = RingMatrix.create(2, 4096);
    const counters = new SharedArrayBuffer(64);
    const c = new Int32Array(counters);
    const { worker, report } = startWorker({ mode: 'sleepy-consumer', init: m.init, counters, sleepMs: 600_000 });
    try {
      const ring = m.ring(0, 1);
      const waker = m.waker(0);
      const prng = new Prng(7);
      const send = (seq: number): void => {
        const off = ring.tryReserve(4);
        if (off < 0) throw new Error('ring full in the wakeup test');
        ring.view.setUint32(off, seq, true);
        ring.commit();
        waker.wake(1);
      };
      // Each wait below has a deadline far shorter than the consumer's sleep: a lost wakeup fails it.
      const waitConsumed = async (n: number): Promise<void> => {
        const until = Date.now() + 20_000;
        for (let spins = 0; A.load(c, C.consumed) < n; spins++) {
          if ((spins & 1023) === 0 && Date.now() > until) throw new Error(`consumer stuck at ${A.load(c, C.consumed)} of ${n}`);
        }
      };
      let sawSleeping = 0;
      for (let seq = 0; seq < N; seq++) {
        if (waker.isSleeping(1)) sawSleeping++;
        send(seq);
        const mode = prng.below(10);
        if (mode < 4) {
          // Next write lands right as the consumer finds the ring empty and goes to sleep: the racy window.
          await waitConsumed(seq + 1);
          for (let spin = prng.below(2000); spin > 0; spin--) A.load(c, C.consumed);
        } else if (mode < 7) {
          // Bursts: several messages before the consumer catches up.
        } else if (mode < 9) {
          await waitConsumed(seq + 1);
          await tick();
        } else {
          // Long enough for the consumer to be truly asleep in waitAsync.
          await waitConsumed(seq + 1);
          await new Promise((r) => setTimeout(r, 1 + prng.below(3)));
        }
      }
      await waitFor(() => A.load(c, C.consumed) === N, { timeoutMs: 20_000, intervalMs: 1, what: 'all messages consumed' });
      expect(A.load(c, C.lastSeq)).toBe(N - 1);
      send(STOP_SEQ);
      const r = await withDeadline(report, 20_000, 'consumer report');
      expect(r.errors).toEqual([]);
      expect(r.consumed).toBe(N);
      expect(r.timeouts).toBe(0);
      expect(r.wakeups).toBeGreaterThan(100); // the sleep path really ran
      expect(sawSleeping).toBeGreaterThan(100);
    } finally {
      await worker.terminate();
    }
  });

  test.each(['auto', 'v8', 'json'] as const)('request/reply ping-pong with both sides sleeping (%s codec)', async (format) => {
    const m = RingMatrix.create(2, 1 << 16);
    const { worker, report } = startWorker({ mode: 'echo', init: m.init, format, sleepMs: 600_000 });
    const codec = new MessageCodec(format);
    const out = m.ring(0, 1);
    const inRing = m.ring(1, 0);
    const waker = m.waker(0);
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
    let nextId = 1;
    let stopPump = false;
    const call = (name: string, args: unknown[]): Promise<unknown> => {
      const id = nextId++;
      if (!codec.encodeInto(out, { kind: 'request', id, name, args })) throw new Error('request ring full');
      waker.wake(1);
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    };
    const onReply = (b: Uint8Array, off: number, len: number): void => {
      const r = codec.decode(b, off, len);
      const p = r.kind === 'reply' ? pending.get(r.id) : undefined;
      if (r.kind !== 'reply' || p === undefined) throw new Error(`unexpected message ${JSON.stringify(r)}`);
      pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
      else p.reject(MessageCodec.toError(r.error));
    };
    // This thread's side of the reactor: drain replies, sleep when idle (timeouts must stay 0).
    const pump = (async (): Promise<void> => {
      while (!stopPump) {
        if (inRing.drain(onReply, 64) === 0) await waker.sleepUnless(() => !inRing.isEmpty || stopPump, 600_000);
      }
    })();
    try {
      await withDeadline(
        (async () => {
          for (let i = 0; i < 5000; i++) expect(await call('add', [i, 1])).toBe(i + 1);
          const batch = Array.from({ length: 200 }, (_, i) => (i % 10 === 0 ? call('fail', [i]).catch((e: unknown) => e) : call('echo', [i, 'x', [i]])));
          const res = await Promise.all(batch);
          res.forEach((v, i) => {
            if (i % 10 === 0) {
              expect(v).toBeInstanceOf(RemoteError);
              expect((v as RemoteError).remoteName).toBe('RangeError');
              expect((v as RemoteError).message).toBe(`fail ${i}`);
            } else {
              expect(v).toEqual([i, 'x', [i]]);
            }
          });
          await expect(call('missing', [])).rejects.toThrow('no task missing');
        })(),
        60_000,
        'round trips',
      );
      expect(pending.size).toBe(0);
      codec.encodeInto(out, { kind: 'request', id: 0, name: 'stop', args: [] });
      waker.wake(1);
      const r = await withDeadline(report, 20_000, 'echo report');
      expect(r.errors).toEqual([]);
      expect(r.consumed).toBe(5000 + 200 + 1 + 1);
      expect(r.timeouts).toBe(0);
      expect(waker.timeouts).toBe(0);
      expect(r.wakeups + waker.wakeups).toBeGreaterThan(100);
    } finally {
      stopPump = true;
      waker.wake(0);
      await withDeadline(pump, 20_000, 'pump to stop');
      await worker.terminate();
    }
  });
});
