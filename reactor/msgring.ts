// Cross-shard messaging without postMessage: lock-free SPSC byte rings over SharedArrayBuffer, an N×N matrix
// of them for `submitTo`, a request/reply codec, and a per-shard wake word so an idle shard can sleep.
import * as v8 from 'v8';

// Module-level alias: under a vm context (jest runs tests in one) every global lookup goes through an
// interceptor costing ~0.3 µs, which made Atomics.* 20x slower there; a local binding costs nothing anywhere.
const A = Atomics;

// ---------------------------------------------------------------------------------------------------------
// MsgRing
// ---------------------------------------------------------------------------------------------------------

/*
 * Layout of one ring region (byteOffset must be a multiple of 64):
 *
 *   line 0  [magic, capacity]            written once by whoever formats the region
 *   line 1  [head]                       written only by the producer (bytes ever published)
 *   line 2  [tail]                       written only by the consumer (bytes ever released)
 *   data    capacity bytes (power of two)
 *
 * head and tail sit on their own 64-byte lines so that a store by one side does not steal the line the other
 * side is writing (false sharing). The producer keeps a private copy of tail and re-reads the shared one only
 * when the copy says full; the consumer reads head once per `drain` batch: the cross-core traffic is per
 * batch, not per message, as in Seastar's queues.
 *
 * The counters are Int32 that wrap modulo 2^32, not BigInt64: Atomics on a BigInt64Array return a BigInt,
 * which is a heap allocation per load on the hot path. With capacity <= 2^30, `(head - tail) | 0` is the
 * exact number of used bytes even across the 2^32 wrap, and `counter & mask` is the position in the data.
 *
 * Records are [u32 payload length][payload], padded to 4 bytes (so payloads start 4-aligned: Int32Array views
 * over `bytes.buffer` work on them; 8 would waste 4 more bytes per small message for little use). A record never straddles the end of the data
 * area: when it does not fit before the end, the producer writes a PAD word there and the record starts at
 * position 0. Chosen over a split copy because then every payload is contiguous, which is what makes
 * `tryReserve`/`commit` (encode straight into the ring) and the zero-copy `drain` callback possible; the cost
 * is at most one record's worth of wasted space per lap, and a bound on record size (capacity / 2, so that
 * any record fits into an empty ring whatever the position: see `maxMessage`).
 *
 * Memory ordering: the producer writes the payload and length with plain stores, then publishes the new head
 * with Atomics.store; the consumer reads head with Atomics.load before reading records. Atomics are
 * sequentially consistent, so the payload writes happen-before the consumer's reads. The same holds in
 * reverse for tail: the producer never reuses bytes the consumer has not released with Atomics.store.
 */

const LINE_I32 = 16; // 64 bytes
const MAGIC = 0x4d534752; // 'MSGR'
const H_MAGIC = 0;
const H_CAPACITY = 1;
const H_HEAD = LINE_I32;
const H_TAIL = 2 * LINE_I32;
/** Bytes of header in front of each ring's data area. */
export const RING_HEADER_BYTES = 3 * 64;
const PAD = 0xffffffff;
const MIN_CAPACITY = 64;
const MAX_CAPACITY = 1 << 30;

/** Called by {@link MsgRing.drain} for each message; the payload is `bytes[offset, offset + length)`. */
export type DrainFn = (bytes: Uint8Array, offset: number, length: number) => void;

/** Options for {@link MsgRing.create} and {@link MsgRing.format}. */
export interface MsgRingOptions {
  /**
   * Initial value of both counters. Only for tests: starting near 2^31 or 2^32 exercises the counter wrap
   * that a long-running ring reaches after 4 GiB of traffic.
   */
  initialCounter?: number;
}

function roundUpPow2(n: number): number {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}

/**
 * A single-producer/single-consumer ring of variable-length messages in shared memory. One thread calls the
 * producer methods (`tryWrite`, `tryReserve`, `commit`, `flush`), one thread calls the consumer methods
 * (`drain`, `read`); each side holds its own `MsgRing` object from {@link MsgRing.attach} (one object may
 * play both roles in a single thread). Full means "no": nothing is ever overwritten.
 */
export class MsgRing {
  /** The data area; payload offsets given by `drain`/`tryReserve` index into it. */
  readonly bytes: Uint8Array;
  /** DataView over the same data area, for reading and writing numbers at payload offsets. */
  readonly view: DataView;
  /** Data area size in bytes (a power of two). */
  readonly capacity: number;
  /** Largest payload that can ever be written (a larger one throws instead of returning false). */
  readonly maxMessage: number;

  private readonly hdr: Int32Array;
  private readonly words: Uint32Array;
  private readonly mask: number;

  // Producer-local state. `head` includes staged (unpublished) records; `cachedTail` is the last tail seen,
  // refreshed from shared memory only when it says "full" (saves a cache miss on most writes).
  private head: number;
  private published: number;
  private cachedTail: number;
  private resHead = 0; // head after the pad (if any) of the current reservation
  private resPos = -1; // data position of the reserved record's length word; -1 when none
  private resLen = 0;
  /** Producer side: writes refused because the ring was full (backpressure events). */
  rejected = 0;

  // Consumer-local state.
  private tail: number;

  private constructor(readonly sab: SharedArrayBuffer, readonly byteOffset: number) {
    if (byteOffset % 64 !== 0) throw new RangeError(`ring byteOffset ${byteOffset} is not a multiple of 64`);
    this.hdr = new Int32Array(sab, byteOffset, RING_HEADER_BYTES / 4);
    if (A.load(this.hdr, H_MAGIC) !== MAGIC) throw new Error(`no MsgRing at byte ${byteOffset} of this SharedArrayBuffer`);
    const cap = A.load(this.hdr, H_CAPACITY);
    if (cap < MIN_CAPACITY || cap > MAX_CAPACITY || (cap & (cap - 1)) !== 0 || byteOffset + RING_HEADER_BYTES + cap > sab.byteLength) {
      throw new Error(`corrupt MsgRing header at byte ${byteOffset}: capacity ${cap}`);
    }
    this.capacity = cap;
    this.mask = cap - 1;
    this.maxMessage = cap / 2 - 4;
    const data = byteOffset + RING_HEADER_BYTES;
    this.bytes = new Uint8Array(sab, data, cap);
    this.view = new DataView(sab, data, cap);
    this.words = new Uint32Array(sab, data, cap / 4);
    this.head = this.published = A.load(this.hdr, H_HEAD);
    this.tail = this.cachedTail = A.load(this.hdr, H_TAIL);
  }

  /** Bytes a ring of `capacityBytes` (rounded up to a power of two, at least 64) occupies in a buffer. */
  static bytesFor(capacityBytes: number): number {
    return RING_HEADER_BYTES + roundUpPow2(capacityBytes);
  }

  /** Writes an empty ring's header into `sab` at `byteOffset`; returns the capacity used. */
  static format(sab: SharedArrayBuffer, byteOffset: number, capacityBytes: number, opts: MsgRingOptions = {}): number {
    if (!(capacityBytes > 0) || capacityBytes > MAX_CAPACITY) throw new RangeError(`ring capacity ${capacityBytes} out of range (1..2^30)`);
    const cap = roundUpPow2(capacityBytes);
    const hdr = new Int32Array(sab, byteOffset, RING_HEADER_BYTES / 4);
    const start = (opts.initialCounter ?? 0) | 0;
    if ((start & 3) !== 0) throw new RangeError(`initialCounter ${start} is not a multiple of 4`);
    A.store(hdr, H_CAPACITY, cap);
    A.store(hdr, H_HEAD, start);
    A.store(hdr, H_TAIL, start);
    A.store(hdr, H_MAGIC, MAGIC); // last: attach() trusts the rest once it sees the magic
    return cap;
  }

  /** Allocates a new ring (data area rounded up to a power of two) in its own SharedArrayBuffer. */
  static create(capacityBytes: number, opts: MsgRingOptions = {}): MsgRing {
    const sab = new SharedArrayBuffer(MsgRing.bytesFor(capacityBytes));
    MsgRing.format(sab, 0, capacityBytes, opts);
    return new MsgRing(sab, 0);
  }

  /** Opens a ring formatted by another thread (or this one) at `byteOffset` of `sab`. */
  static attach(sab: SharedArrayBuffer, byteOffset = 0): MsgRing {
    return new MsgRing(sab, byteOffset);
  }

  // --- producer ------------------------------------------------------------------------------------------

  /**
   * Reserves room for a `len`-byte payload and returns its offset in {@link bytes}, or -1 when the ring is
   * full. Write the payload there, then call {@link commit}. Throws if `len` exceeds {@link maxMessage}.
   */
  tryReserve(len: number): number {
    if (this.resPos >= 0) throw new Error('MsgRing.tryReserve: previous reservation not committed');
    if (!(len >= 0 && len <= this.maxMessage)) throw new RangeError(`message of ${len} bytes exceeds ring limit ${this.maxMessage}`);
    const need = (len + 7) & ~3; // 4-byte length word + payload, padded to 4
    const pos = this.head & this.mask;
    const toEnd = this.capacity - pos;
    const total = need <= toEnd ? need : toEnd + need;
    if (((this.head - this.cachedTail) | 0) + total > this.capacity) {
      this.cachedTail = A.load(this.hdr, H_TAIL);
      if (((this.head - this.cachedTail) | 0) + total > this.capacity) {
        this.rejected++;
        return -1;
      }
    }
    if (need <= toEnd) {
      this.resHead = this.head;
      this.resPos = pos;
    } else {
      // Not yet visible to the consumer: head only moves past the pad at commit.
      this.words[pos >> 2] = PAD;
      this.resHead = (this.head + toEnd) | 0;
      this.resPos = 0;
    }
    this.resLen = len;
    return this.resPos + 4;
  }

  /**
   * Completes the reservation with the payload's final length (at most what was reserved: encode into a
   * worst-case reservation, commit what was used). With `publish` false the record stays invisible to the
   * consumer until {@link flush}, so a batch costs one shared store (Seastar flushes its queues per loop).
   */
  commit(len: number = this.resLen, publish = true): void {
    const pos = this.resPos;
    if (pos < 0) throw new Error('MsgRing.commit without tryReserve');
    if (!(len >= 0 && len <= this.resLen)) throw new RangeError(`commit(${len}) larger than reservation ${this.resLen}`);
    this.words[pos >> 2] = len;
    this.head = (this.resHead + ((len + 7) & ~3)) | 0;
    this.resPos = -1;
    if (publish) {
      this.published = this.head;
      A.store(this.hdr, H_HEAD, this.head);
    }
  }

  /** Copies `bytes` into the ring as one message; false (and nothing written) when it does not fit now. */
  tryWrite(bytes: Uint8Array, publish = true): boolean {
    const off = this.tryReserve(bytes.length);
    if (off < 0) return false;
    this.bytes.set(bytes, off);
    this.commit(bytes.length, publish);
    return true;
  }

  /** Publishes records committed with `publish = false`. */
  flush(): void {
    if (this.published !== this.head) {
      this.published = this.head;
      A.store(this.hdr, H_HEAD, this.head);
    }
  }

  /** Producer side: bytes committed but not yet flushed. */
  get staged(): number {
    return (this.head - this.published) | 0;
  }

  // --- consumer ------------------------------------------------------------------------------------------

  /**
   * Hands up to `max` published messages to `fn` in order and releases their space; returns how many.
   * Allocation-free: `fn` sees the ring's own bytes and must copy what it keeps, because the producer may
   * reuse them as soon as drain returns. Only messages published before the call are considered, so one call
   * is bounded even against a fast producer. If `fn` throws, the message it was given counts as consumed and
   * the error propagates.
   */
  drain(fn: DrainFn, max = Infinity): number {
    let tail = this.tail;
    const head = A.load(this.hdr, H_HEAD);
    if (tail === head) return 0;
    let n = 0;
    try {
      while (n < max && tail !== head) {
        const pos = tail & this.mask;
        const len = this.words[pos >> 2];
        if (len === PAD) {
          tail = (tail + this.capacity - pos) | 0;
          continue;
        }
        // A length the producer cannot have written means the region is shared with something else.
        if (len > this.maxMessage) throw new Error(`corrupt MsgRing record: length ${len} at ${pos}`);
        tail = (tail + ((len + 7) & ~3)) | 0;
        n++;
        fn(this.bytes, pos + 4, len);
      }
    } finally {
      this.tail = tail;
      A.store(this.hdr, H_TAIL, tail);
    }
    return n;
  }

  /** Takes one message as a copy (allocates: prefer {@link drain} on hot paths); null when empty. */
  read(): Uint8Array | null {
    let out: Uint8Array | null = null;
    this.drain((b, off, len) => {
      out = b.slice(off, off + len);
    }, 1);
    return out;
  }

  /** Bytes published and not yet released (records, padding and length words included). */
  get size(): number {
    return (A.load(this.hdr, H_HEAD) - A.load(this.hdr, H_TAIL)) | 0;
  }

  /** True when no published message is waiting (a cheap "pure poll" for the consumer). */
  get isEmpty(): boolean {
    return A.load(this.hdr, H_HEAD) === A.load(this.hdr, H_TAIL);
  }
}

// ---------------------------------------------------------------------------------------------------------
// MessageCodec
// ---------------------------------------------------------------------------------------------------------

/** What crosses shards for a thrown error: plain data, since an Error does not survive serialization intact. */
export interface RemoteErrorInfo {
  message: string;
  name: string;
  stack?: string;
}

/** A call of task `name` on another shard; `id` pairs it with its reply on the same ring pair. */
export interface RequestMessage {
  kind: 'request';
  id: number;
  name: string;
  args: unknown[];
}

export type ReplyMessage =
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: RemoteErrorInfo };

export type Message = RequestMessage | ReplyMessage;

/** An error re-thrown on the calling shard; `remoteName` and `remoteStack` are the original's. */
export class RemoteError extends Error {
  readonly remoteName: string;
  readonly remoteStack: string | undefined;
  constructor(info: RemoteErrorInfo) {
    super(info.message);
    this.name = 'RemoteError';
    this.remoteName = info.name;
    this.remoteStack = info.stack;
    if (info.stack !== undefined) this.stack = `${this.stack ?? ''}\n    --- on the remote shard ---\n${info.stack}`;
  }
}

/**
 * Encodings. `v8` is structured clone (undefined, NaN, -0, BigInt, Map, Set, Date, typed arrays and cycles
 * survive); `json` is narrower (those become null, vanish, flatten or throw); `auto` (the default) sends JSON
 * when the message is plain JSON data, which it can carry exactly, and v8 otherwise.
 */
export type CodecFormat = 'auto' | 'v8' | 'json';

/** First byte of every v8.serialize output (the version tag); JSON text of an object starts with '{'. */
const V8_TAG = 0xff;

/**
 * Encodes requests and replies to bytes and back.
 *
 * Why `auto`: measured with bench/rings-js.ts (Node 20 on the 2-core dev VM, medians of 3; a request
 * `{kind, id, name: 'get', args: [i, 'key-i']}` and a reply `{found, value}`, encode → ring → drain →
 * decode, per message): v8 ≈ 6.9–7.0 µs, JSON ≈ 2.6 µs, auto ≈ 2.5–2.8 µs. v8.serialize alone is ~5 µs for
 * a tiny object (a serializer object, a header and a fresh Buffer per call) against ~0.8 µs for
 * JSON.stringify, and JSON can be written straight into the ring. But `submitTo` arguments are arbitrary
 * user values, and structured clone is what users expect from worker_threads, so JSON alone would be
 * silently lossy. `auto` walks the arguments (or return value) first — cheap for the small values that make
 * up most cross-shard calls — and uses JSON only when it round-trips exactly: strings, booleans, null,
 * finite numbers other than -0, arrays without holes and plain objects of those. The decoder
 * tells the two apart by the first byte, so any format decodes anything this codec encodes.
 */
export class MessageCodec {
  constructor(readonly format: CodecFormat = 'auto') {}

  /** Plain-data form of anything thrown (non-Errors keep their String() as message). */
  static errorInfo(err: unknown): RemoteErrorInfo {
    if (err instanceof Error) {
      const info: RemoteErrorInfo = { message: String(err.message), name: String(err.name) };
      if (typeof err.stack === 'string') info.stack = err.stack;
      return info;
    }
    return { message: String(err), name: 'Error' };
  }

  /** The reply for a task that threw `err`. */
  static errorReply(id: number, err: unknown): ReplyMessage {
    return { kind: 'reply', id, ok: false, error: MessageCodec.errorInfo(err) };
  }

  /** Rebuilds a throwable error from a failed reply. */
  static toError(info: RemoteErrorInfo): RemoteError {
    return new RemoteError(info);
  }

  /** Whether `msg` goes out as JSON with this codec's format. */
  usesJson(msg: Message): boolean {
    if (this.format !== 'auto') return this.format === 'json';
    // Everything but the user's payload is ours and plain; a missing reply value decodes as undefined too.
    if (msg.kind === 'request') return jsonExact(msg.args);
    return !msg.ok || msg.value === undefined || jsonExact(msg.value);
  }

  /** Encodes into a new byte array (throws a DataCloneError/TypeError for values the format cannot carry). */
  encode(msg: Message): Uint8Array {
    if (!this.usesJson(msg)) return v8.serialize(msg);
    return Buffer.from(JSON.stringify(msg), 'utf8');
  }

  /**
   * Encodes straight into `ring` as one message: false when the ring is full (nothing written). Throws
   * RangeError when the encoding is larger than the ring's `maxMessage`.
   */
  encodeInto(ring: MsgRing, msg: Message, publish = true): boolean {
    if (!this.usesJson(msg)) return ring.tryWrite(v8.serialize(msg), publish);
    // Exact UTF-8 length first so the reservation is exact, then write the string in place (no copy).
    const s = JSON.stringify(msg);
    const len = Buffer.byteLength(s, 'utf8');
    const off = ring.tryReserve(len);
    if (off < 0) return false;
    ringBuffer(ring).write(s, off, len, 'utf8');
    ring.commit(len, publish);
    return true;
  }

  /** Decodes a message (either encoding) from `bytes[offset, offset + length)`, e.g. inside `drain`. */
  decode(bytes: Uint8Array, offset = 0, length = bytes.length - offset): Message {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset + offset, length);
    const msg: unknown = length > 0 && buf[0] === V8_TAG ? v8.deserialize(buf) : JSON.parse(buf.toString('utf8'));
    return checkMessage(msg);
  }
}

// Walk budget for jsonExact: big or deep values go to v8 rather than being walked twice (and v8 handles
// cycles, which a depth limit turns into "not plain").
const WALK_NODES = 256;
const WALK_DEPTH = 16;
let walkBudget = 0;
const isArray = Array.isArray;
const getProto = Object.getPrototypeOf;
const isFinite_ = Number.isFinite;

/** True when JSON.parse(JSON.stringify(v)) is deep-equal to v, types and -0 included. */
function jsonExact(v: unknown): boolean {
  walkBudget = WALK_NODES;
  return exact(v, 0);
}

function exact(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return isFinite_(v) && (v !== 0 || 1 / v > 0);
    case 'object': {
      if (v === null) return true;
      if (--walkBudget < 0 || depth >= WALK_DEPTH) return false;
      if (isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!exact(v[i], depth + 1)) return false; // a hole reads undefined
        return true;
      }
      // Plain objects only (this realm's or another's Object.prototype, or none): class instances, Map,
      // Date, typed arrays… all have a longer prototype chain.
      const p: unknown = getProto(v);
      if (p !== null && getProto(p) !== null) return false;
      // A function-valued key (toJSON included) fails below: functions are not data, and v8 refuses them.
      const o = v as Record<string, unknown>;
      for (const k in o) if (!exact(o[k], depth + 1)) return false;
      return true;
    }
    default:
      return false; // undefined, bigint, symbol, function
  }
}

// A Buffer over each ring's data area, made once: Buffer.write encodes UTF-8 in place.
const ringBuffers = new WeakMap<MsgRing, Buffer>();
function ringBuffer(ring: MsgRing): Buffer {
  let b = ringBuffers.get(ring);
  if (b === undefined) {
    b = Buffer.from(ring.bytes.buffer, ring.bytes.byteOffset, ring.bytes.byteLength);
    ringBuffers.set(ring, b);
  }
  return b;
}

// Shape check on decode: the bytes come from another thread of this process, but a mismatched codec format
// or a stray writer should fail here with a clear message rather than deep inside submitTo.
function checkMessage(m: unknown): Message {
  if (typeof m === 'object' && m !== null) {
    const o = m as Record<string, unknown>;
    if (typeof o.id === 'number') {
      if (o.kind === 'request' && typeof o.name === 'string' && Array.isArray(o.args)) return o as unknown as RequestMessage;
      if (o.kind === 'reply' && (o.ok === true || (o.ok === false && typeof o.error === 'object' && o.error !== null))) {
        return o as unknown as ReplyMessage;
      }
    }
  }
  throw new TypeError('MessageCodec.decode: not a request or reply');
}

// ---------------------------------------------------------------------------------------------------------
// Waker
// ---------------------------------------------------------------------------------------------------------

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
    if (!(me >= 0 && me < shards)) throw new RangeError(`shard ${me} not in 0..${shards - 1}`);
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

  /** Step 1 of going idle: announce it. Then re-check every source; call `cancelSleep` or `sleep`. */
  prepareSleep(): void {
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

// ---------------------------------------------------------------------------------------------------------
// RingMatrix
// ---------------------------------------------------------------------------------------------------------

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
