// The control block the main thread and the shards share: the stop protocol's words and every shard's wake
// words (the one sleep/wake protocol, reactor/waker.ts), in one SharedArrayBuffer made by the engine.
import { Waker, wakerBytes } from './waker';

/** Int32 words of the stop protocol (the first 64-byte line of the block). */
export const CTRL = {
  /** set by the main thread: stop */
  stop: 0,
  /** shards that stopped RX and flushed (phase 1) */
  quiesced: 1,
  /** shards that finished the drop-only phase (phase 2) */
  settled: 2,
  /** shards that finished */
  done: 3,
  /** set by the main thread on a second stop request: drop held packets now instead of waiting for handlers */
  hurry: 4,
  /**
   * shards whose app is built: none reads its devices before all are (a packet steered to a shard still loading
   * would wait in a ring that fills meanwhile — and that shard's declarations, e.g. marksFlows, are not made yet)
   */
  ready: 5,
} as const;

/** Byte offset of the wake words (one 64-byte line per shard) in the block. */
const WAKER_OFFSET = 64;

export function controlBytes(shards: number): number {
  return WAKER_OFFSET + wakerBytes(shards);
}

/** One thread's view of the control block: the stop words and a Waker (a shard's own, or producer-only). */
export class Control {
  readonly words: Int32Array;
  readonly waker: Waker;

  constructor(readonly sab: SharedArrayBuffer, readonly shards: number, me: number) {
    this.words = new Int32Array(sab, 0, WAKER_OFFSET / 4);
    this.waker = me < 0 ? Waker.producer(sab, WAKER_OFFSET, shards) : Waker.attach(sab, WAKER_OFFSET, shards, me);
  }

  /** A zeroed block for `shards` shards (zero is every word's initial state). */
  static create(shards: number): Control {
    return new Control(new SharedArrayBuffer(controlBytes(shards)), shards, -1);
  }

  get(word: number): number {
    return Atomics.load(this.words, word);
  }

  /** Adds to a stop-protocol word, then wakes every sleeping shard so it sees the change. */
  bump(word: number, by = 1): void {
    Atomics.add(this.words, word, by);
    this.wakeAll();
  }

  /** Sets a word (stop, hurry) and wakes every sleeping shard. */
  raise(word: number): void {
    Atomics.store(this.words, word, 1);
    this.wakeAll();
  }

  wakeAll(): void {
    for (let s = 0; s < this.shards; s++) this.waker.wake(s);
  }

  /**
   * A number that changes whenever a stop-protocol word does (they only grow): a shard compares it before
   * sleeping with the value it last acted on, so a change made while it went to sleep is never missed.
   */
  progress(): number {
    const w = this.words;
    return Atomics.load(w, CTRL.stop) + Atomics.load(w, CTRL.quiesced) + Atomics.load(w, CTRL.settled) + Atomics.load(w, CTRL.hurry);
  }
}
