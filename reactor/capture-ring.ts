// The capture queue from one shard to the capture writer thread: a single-producer single-consumer byte ring
// in a SharedArrayBuffer. The shard never waits: a record that does not fit is dropped and counted (per
// interface), so capture can fall behind but never stalls forwarding.
import { z } from 'zod';

/** Header words (Int32): positions and counters; per-interface drops from H.ifDrops. */
export const H = { head: 0, tail: 1, captured: 2, dropped: 3, ifDrops: 16 } as const;
export const MAX_IFS = 32;
const HEADER_BYTES = (H.ifDrops + MAX_IFS) * 4;
const REC_HEADER = 24;
const WRAP = 0xffffffff;

/** `capture` in the config: what to capture, where, and how much. */
export const captureSchema = z.object({
  /** the pcapng file; with `files` > 1, files are named <stem>-0001.pcapng, <stem>-0002.pcapng, … */
  file: z.string().min(1),
  /** port indexes (positions in config.ports) to capture; default all */
  ports: z.array(z.number().int().min(0).max(MAX_IFS - 1)).optional(),
  direction: z.enum(['rx', 'tx', 'both']).default('both'),
  /** a filter expression (net/filter.ts), e.g. "udp and port 53", "not arp", "host 198.18.0.1" */
  filter: z.string().default(''),
  /** a JS module whose default export is a predicate (bytes, offset, length, portIndex, direction 1 in / 2 out) => boolean, ANDed with filter */
  filterModule: z.string().min(1).optional(),
  /** bytes kept of each packet */
  snaplen: z.number().int().min(16).max(65535).default(65535),
  /** ring of files: start a new file past this size (0 = never) … */
  fileBytes: z.number().int().min(0).default(0),
  /** … keeping at most this many (the oldest is deleted) */
  files: z.number().int().min(1).max(10000).default(1),
  /** capture from the start, or only after `netstar ctl <instance> capture '{"action":"start"}'` */
  start: z.boolean().default(true),
  /** bytes of the queue from each shard to the writer thread (a power of two) */
  queueBytes: z.number().int().min(1 << 16).max(1 << 30).refine((n) => (n & (n - 1)) === 0, 'a power of two').default(1 << 22),
}).strict();
export type CaptureConfig = z.infer<typeof captureSchema>;

/** The control words shared by all shards and the writer: [0] capturing (0/1), [1] closing. */
export const CTL = { active: 0, closing: 1 } as const;

export function newRing(dataBytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + dataBytes);
}

/** Producer side (a shard). */
export class RingWriter {
  private readonly h: Int32Array;
  private readonly data: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly mask: number;

  constructor(sab: SharedArrayBuffer) {
    this.h = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.data = new Uint8Array(sab, HEADER_BYTES);
    // records start on 4-byte boundaries: the header is written as words (host order, read by the same host)
    this.u32 = new Uint32Array(sab, HEADER_BYTES);
    this.mask = this.data.length - 1;
  }

  /** Queues one record; false (and counted) when the ring is full. */
  put(ifIndex: number, dir: number, sec: number, nsec: number, b: Uint8Array, off: number, caplen: number, origLen: number): boolean {
    const size = this.data.length;
    const need = REC_HEADER + ((caplen + 3) & ~3);
    let head = this.h[H.head];
    const tail = Atomics.load(this.h, H.tail);
    const free = size - ((head - tail) | 0);
    const pos = head & this.mask;
    const contiguous = size - pos;
    const skip = contiguous < need ? contiguous : 0;
    if (free < need + skip) {
      this.h[H.dropped]++;
      this.h[H.ifDrops + ifIndex]++;
      return false;
    }
    const u = this.u32;
    if (skip) {
      u[pos >>> 2] = WRAP;
      head = (head + skip) | 0;
    }
    const p = head & this.mask, k = p >>> 2;
    u[k] = need;
    u[k + 1] = ifIndex | (dir << 16);
    u[k + 2] = sec;
    u[k + 3] = nsec;
    u[k + 4] = origLen;
    u[k + 5] = caplen;
    // set() of a subarray (one small allocation) measured twice as fast as a byte loop even for 64 bytes
    this.data.set(b.subarray(off, off + caplen), p + REC_HEADER);
    this.h[H.captured]++;
    Atomics.store(this.h, H.head, (head + need) | 0);
    return true;
  }

  get captured(): number { return this.h[H.captured]; }
  get dropped(): number { return this.h[H.dropped]; }
}

export interface RingRecord { ifIndex: number; dir: number; sec: number; nsec: number; origLen: number; caplen: number; data: Uint8Array; off: number }

/** Consumer side (the writer thread). */
export class RingReader {
  readonly h: Int32Array;
  private readonly data: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly mask: number;

  constructor(sab: SharedArrayBuffer) {
    this.h = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.data = new Uint8Array(sab, HEADER_BYTES);
    this.u32 = new Uint32Array(sab, HEADER_BYTES);
    this.mask = this.data.length - 1;
  }

  /** Hands every queued record to `fn` (the bytes are valid during the call); returns how many. */
  drain(fn: (r: RingRecord) => void, max = 1 << 30): number {
    const head = Atomics.load(this.h, H.head);
    let tail = this.h[H.tail];
    let n = 0;
    const rec: RingRecord = { ifIndex: 0, dir: 0, sec: 0, nsec: 0, origLen: 0, caplen: 0, data: this.data, off: 0 };
    while (tail !== head && n < max) {
      const p = tail & this.mask, k = p >>> 2, u = this.u32;
      const len = u[k];
      if (len === WRAP) {
        tail = (tail + (this.data.length - p)) | 0;
        continue;
      }
      rec.ifIndex = u[k + 1] & 0xffff;
      rec.dir = u[k + 1] >>> 16;
      rec.sec = u[k + 2];
      rec.nsec = u[k + 3];
      rec.origLen = u[k + 4];
      rec.caplen = u[k + 5];
      rec.off = p + REC_HEADER;
      fn(rec);
      tail = (tail + len) | 0;
      n++;
    }
    Atomics.store(this.h, H.tail, tail);
    return n;
  }

  ifDrops(ifIndex: number): number { return this.h[H.ifDrops + ifIndex]; }
}
