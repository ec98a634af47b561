// Cross-shard messaging without postMessage: the N×N matrix of MsgRings for `submitTo` with the shards' wake
// words in one SharedArrayBuffer. The ring, the codec and the waker live in ring.ts, codec.ts and waker.ts;
// they are re-exported here so existing imports keep working.
import { MsgRing, RING_HEADER_BYTES } from './ring';
import { Waker, wakerBytes } from './waker';

export { MsgRing, RING_HEADER_BYTES, type DrainFn, type MsgRingOptions } from './ring';
export { MessageCodec, RemoteError, type CodecFormat, type Message, type ReplyMessage, type RequestMessage, type RemoteErrorInfo } from './codec';
export { Waker, wakerBytes, type WakeResult } from './waker';

/** What a worker needs to open the matrix; structured-cloneable, so it travels in `workerData`. */
export interface RingMatrixInit {
  sab: SharedArrayBuffer;
  shards: number;
  /** Data bytes per ring (a power of two). */
  capacity: number;
}

/**
 * The N×N SPSC rings between N shards (ring(from, to) is written only by `from`, read only by `to`; no ring
 * on the diagonal) plus the shards' wake words, all in one SharedArrayBuffer. Created on the main thread,
 * `init` passed to workers, opened there with {@link RingMatrix.attach}.
 */
export class RingMatrix {
  private readonly rings: (MsgRing | undefined)[];
  private readonly ringBytes: number;

  private constructor(readonly init: RingMatrixInit) {
    this.ringBytes = RING_HEADER_BYTES + init.capacity;
    this.rings = new Array<MsgRing | undefined>(init.shards * init.shards).fill(undefined);
  }

  get shards(): number {
    return this.init.shards;
  }

  /** Allocates and formats the matrix: rings of `capacityBytes` (rounded up to a power of two) each. */
  static create(shards: number, capacityBytes: number): RingMatrix {
    if (!(Number.isInteger(shards) && shards >= 1)) throw new RangeError(`shards ${shards}`);
    const ringBytes = MsgRing.bytesFor(capacityBytes);
    const capacity = ringBytes - RING_HEADER_BYTES;
    const sab = new SharedArrayBuffer(wakerBytes(shards) + shards * (shards - 1) * ringBytes);
    const m = new RingMatrix({ sab, shards, capacity });
    for (let f = 0; f < shards; f++) {
      for (let t = 0; t < shards; t++) if (f !== t) MsgRing.format(sab, m.offsetOf(f, t), capacity);
    }
    return m;
  }

  static attach(init: RingMatrixInit): RingMatrix {
    return new RingMatrix(init);
  }

  /** The ring `from` writes to and `to` reads from (one object per pair and thread, made on first use). */
  ring(from: number, to: number): MsgRing {
    const n = this.init.shards;
    if (!(from >= 0 && from < n && to >= 0 && to < n) || from === to) throw new RangeError(`no ring ${from} -> ${to} among ${n} shards`);
    const i = from * n + to;
    let r = this.rings[i];
    if (r === undefined) {
      r = MsgRing.attach(this.init.sab, this.offsetOf(from, to));
      this.rings[i] = r;
    }
    return r;
  }

  /** Shard `me`'s waker (its own wake word; `wake(j)` for any j). A new object per call: keep the one. */
  waker(me: number): Waker {
    return Waker.attach(this.init.sab, 0, this.init.shards, me);
  }

  /** Whether any ring into `to` holds a message (the re-check between prepareSleep and sleep). */
  hasIncoming(to: number): boolean {
    for (let f = 0; f < this.init.shards; f++) if (f !== to && !this.ring(f, to).isEmpty) return true;
    return false;
  }

  private offsetOf(from: number, to: number): number {
    const n = this.init.shards;
    const k = from * (n - 1) + (to < from ? to : to - 1);
    return wakerBytes(n) + k * this.ringBytes;
  }
}
