// MessageCodec: requests and replies of cross-shard calls to bytes and back (JSON when exact, else v8
// structured clone), written straight into a MsgRing where possible.
import * as v8 from 'v8';
import type { MsgRing } from './ring';

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
