// Waker: per-shard wake words so an idle shard sleeps (Atomics.waitAsync) without losing a wakeup; the one
// sleep/wake protocol of the runtime (the poll loop, the message rings and the main thread's stop use it).

// Module-level alias: under a vm context (jest runs tests in one) every global lookup goes through an
// interceptor costing ~0.3 µs, which made Atomics.* 20x slower there; a local binding costs nothing anywhere.
const A = Atomics;
const LINE_I32 = 16; // 64 bytes

/*
 * One 64-byte line per shard: [seq, sleeping]. Protocol (no lost wakeup):
 *
 *   consumer                                   producer
 *   S1 store sleeping = 1   (prepareSleep)     P1 publish message (Atomics.store head)
 *   L1 seq0 = load seq      (prepareSleep)     P2 CAS sleeping 1 -> 0  (wake)
 *   L2 re-check rings: work? cancelSleep       P3 seq += 1; notify     (only if P2 won)
 *   W  waitAsync(seq, seq0) (sleep)
 *
 * Atomics are sequentially consistent. If P2 comes before S1, then P1 < S1 < L2 and the re-check sees the
 * message. If P2 comes after S1, it wins the CAS and bumps seq: if the bump precedes L1, then P1 < L2 and the
 * re-check sees the message; otherwise seq != seq0 at W, and waitAsync either returns 'not-equal' at once
 * or is already queued when notify runs (its compare-and-enqueue is atomic with respect to notify).
 * The CAS makes only the first of many producers pay for a notify while the consumer wakes up. A producer
 * whose CAS fails found the flag cleared, after S1, by another producer, whose bump keeps the consumer from
 * blocking this round (it sees that message at L2 or a changed seq at W); it will go through S1..L2 again
 * before it can block, and that re-check sees the failed producer's message.
 */
const W_SEQ = 0;
const W_SLEEPING = 1;
/** Bytes of wake words for `shards` shards. */
export function wakerBytes(shards: number): number {
  return shards * 64;
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
// Atomics.waitAsync is in Node 20 (V8 >= 8.7) but not in the ES2022 lib this project compiles against.
const waitAsync = (Atomics as unknown as {
  waitAsync(ta: Int32Array, index: number, value: number, timeoutMs?: number): WaitAsyncResult;
}).waitAsync;

// A pending waitAsync does not keep Node's event loop alive: a worker whose only pending work is a sleep
// would exit. One shared, normally unref'd interval is ref'd while any sleep is pending.
let keepAliveHandle: NodeJS.Timeout | undefined;
let keepAliveCount = 0;
function keepAlive(on: boolean): void {
  if (keepAliveHandle === undefined) {
    keepAliveHandle = setInterval(() => undefined, 1 << 30);
    keepAliveHandle.unref();
  }
  if (on) {
    if (keepAliveCount++ === 0) keepAliveHandle.ref();
  } else if (--keepAliveCount === 0) {
    keepAliveHandle.unref();
  }
}

export type WakeResult = 'woken' | 'timeout';

/**
 * Per-shard wake words: a consumer announces that it is going to sleep, re-checks its sources, then awaits
 * `Atomics.waitAsync` (which, unlike Atomics.wait, leaves the worker's event loop running); a producer that
 * has published to a sleeping shard notifies it. Each shard owns one `Waker` for its own index `me`.
 */
export class Waker {
  private readonly words: Int32Array;
  private seq0 = 0;
  private prepared = false;
  /** Sleeps that ended by timeout / by a wake (counted by this shard). */
  timeouts = 0;
  wakeups = 0;

  private constructor(readonly sab: SharedArrayBuffer, readonly byteOffset: number, readonly shards: number, readonly me: number) {
    // me = -1: a producer only (the main thread waking shards); it cannot sleep.
    if (!(me >= -1 && me < shards && Number.isInteger(me))) throw new RangeError(`shard ${me} not in 0..${shards - 1}`);
    this.words = new Int32Array(sab, byteOffset, shards * LINE_I32);
  }

  /** Allocates zeroed wake words for `shards` shards and returns shard `me`'s Waker. */
  static create(shards: number, me = 0): Waker {
    return new Waker(new SharedArrayBuffer(wakerBytes(shards)), 0, shards, me);
  }

  /** Opens wake words in `sab` at `byteOffset` (zeroed memory is a valid initial state). */
  static attach(sab: SharedArrayBuffer, byteOffset: number, shards: number, me: number): Waker {
    return new Waker(sab, byteOffset, shards, me);
  }

  /** Wake words in `sab` at `byteOffset` for a thread that only wakes shards (it never sleeps on them). */
  static producer(sab: SharedArrayBuffer, byteOffset: number, shards: number): Waker {
    return new Waker(sab, byteOffset, shards, -1);
  }

  /** Step 1 of going idle: announce it. Then re-check every source; call `cancelSleep` or `sleep`. */
  prepareSleep(): void {
    if (this.me < 0) throw new Error('a producer-only Waker cannot sleep');
    const b = this.me * LINE_I32;
    A.store(this.words, b + W_SLEEPING, 1);
    this.seq0 = A.load(this.words, b + W_SEQ);
    this.prepared = true;
  }

  /** The re-check after `prepareSleep` found work: stay awake. */
  cancelSleep(): void {
    A.store(this.words, this.me * LINE_I32 + W_SLEEPING, 0);
    this.prepared = false;
  }

  /**
   * Step 3: waits until a producer wakes this shard or `timeoutMs` passes. Resolves 'woken' at once if a wake
   * came after `prepareSleep`. Never blocks the thread.
   */
  sleep(timeoutMs: number): Promise<WakeResult> {
    if (!this.prepared) throw new Error('Waker.sleep without prepareSleep (a wakeup could be lost)');
    this.prepared = false;
    const r = waitAsync(this.words, this.me * LINE_I32 + W_SEQ, this.seq0, Math.max(0, timeoutMs));
    if (!r.async) return Promise.resolve(this.done(r.value === 'not-equal' ? 'woken' : 'timeout'));
    keepAlive(true);
    return r.value.then((v) => {
      keepAlive(false);
      return this.done(v === 'ok' ? 'woken' : 'timeout');
    });
  }

  /**
   * The whole idle step: announce, ask `hasWork` (the re-check), sleep if it says no. Resolves 'woken' at
   * once when there is work.
   */
  sleepUnless(hasWork: () => boolean, timeoutMs: number): Promise<WakeResult> {
    this.prepareSleep();
    if (hasWork()) {
      this.cancelSleep();
      return Promise.resolve('woken');
    }
    return this.sleep(timeoutMs);
  }

  /** Producer side, after publishing to `shard`: wakes it if it sleeps. Cheap (one load) when it does not. */
  wake(shard: number): boolean {
    const b = shard * LINE_I32;
    if (A.load(this.words, b + W_SLEEPING) === 0) return false;
    if (A.compareExchange(this.words, b + W_SLEEPING, 1, 0) !== 1) return false;
    A.add(this.words, b + W_SEQ, 1);
    A.notify(this.words, b + W_SEQ, 1);
    return true;
  }

  /** Whether `shard` has announced it is going to sleep (for metrics and tests). */
  isSleeping(shard: number): boolean {
    return A.load(this.words, shard * LINE_I32 + W_SLEEPING) !== 0;
  }

  private done(r: WakeResult): WakeResult {
    A.store(this.words, this.me * LINE_I32 + W_SLEEPING, 0);
    if (r === 'woken') this.wakeups++;
    else this.timeouts++;
    return r;
  }
}
