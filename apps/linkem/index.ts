// linkem: a netem-like link emulator between two ports. Per direction: fixed delay with jitter, random and
// burst (Gilbert-Elliott) loss, reordering, duplication, a rate limit (token bucket) and a bounded queue,
// each with counters. Packets wait in a departure heap in native memory (by slot) until their time.
import { z } from 'zod';
import { NetstarError, Verdict, appSettings, type AppModule, type Packet, type ShardApp, type ShardContext } from '../../index';

const prob = z.number().min(0).max(1);
export const directionSchema = z.object({
  delayMs: z.number().min(0).max(10000).default(0),
  jitterMs: z.number().min(0).max(10000).default(0),
  /** independent random loss probability */
  loss: prob.default(0),
  /** Gilbert-Elliott burst loss: p = P(good->bad), r = P(bad->good), lossBad = loss probability in bad state */
  burst: z.object({ p: prob, r: prob, lossBad: prob.default(1) }).strict().optional(),
  /** probability a packet skips the delay (sent ahead of earlier ones), as netem's reorder */
  reorder: prob.default(0),
  duplicate: prob.default(0),
  /** rate limit in Mbit/s (0 = none) */
  rateMbps: z.number().min(0).max(400000).default(0),
  /** packets queued per direction at most; beyond it they are dropped (counted) */
  limit: z.number().int().min(1).max(1 << 20).default(10000),
}).strict();
export type DirectionSettings = z.infer<typeof directionSchema>;

const schema = z.object({
  /** port 0 -> port 1 */
  ab: directionSchema.default({}),
  /** port 1 -> port 0 */
  ba: directionSchema.default({}),
  seed: z.number().int().default(1),
}).strict();
export type LinkemSettings = z.infer<typeof schema>;
const parseSettings = appSettings('linkem', schema);

export const COUNTERS = ['in', 'out', 'lost', 'burstLost', 'duplicated', 'dupFailed', 'reordered', 'queueDropped', 'delayed'] as const;
export type Counter = (typeof COUNTERS)[number];

/** xorshift128+ style generator: deterministic per seed, uniform in [0, 1). */
class Rng {
  private a: number;
  private b: number;
  constructor(seed: number) {
    this.a = (seed * 2654435761) >>> 0 || 1;
    this.b = (seed ^ 0x9e3779b9) >>> 0 || 2;
  }
  next(): number {
    let x = this.a;
    const y = this.b;
    this.a = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    this.b = x >>> 0;
    return ((this.a + this.b) >>> 0) / 4294967296;
  }
}

/** A min-heap of queued packets by departure time, FIFO among equal times (sequence number). */
class DepartureHeap {
  private readonly due: Float64Array;
  private readonly seq: Float64Array;
  private readonly slot: Uint32Array;
  private readonly off: Uint32Array;
  private readonly len: Uint32Array;
  size = 0;
  private counter = 0;
  constructor(readonly capacity: number) {
    this.due = new Float64Array(capacity);
    this.seq = new Float64Array(capacity);
    this.slot = new Uint32Array(capacity);
    this.off = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
  }
  private less(i: number, j: number): boolean {
    return this.due[i] < this.due[j] || (this.due[i] === this.due[j] && this.seq[i] < this.seq[j]);
  }
  private swap(i: number, j: number): void {
    const d = this.due[i]; this.due[i] = this.due[j]; this.due[j] = d;
    const q = this.seq[i]; this.seq[i] = this.seq[j]; this.seq[j] = q;
    const s = this.slot[i]; this.slot[i] = this.slot[j]; this.slot[j] = s;
    const o = this.off[i]; this.off[i] = this.off[j]; this.off[j] = o;
    const l = this.len[i]; this.len[i] = this.len[j]; this.len[j] = l;
  }
  push(due: number, slot: number, off: number, len: number): void {
    let i = this.size++;
    this.due[i] = due; this.seq[i] = this.counter++; this.slot[i] = slot; this.off[i] = off; this.len[i] = len;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  peekDue(): number {
    return this.size ? this.due[0] : Infinity;
  }
  /** Removes the first entry into out[0..2] = slot, off, len. */
  pop(out: Uint32Array): void {
    out[0] = this.slot[0]; out[1] = this.off[0]; out[2] = this.len[0];
    const last = --this.size;
    if (last > 0) {
      this.due[0] = this.due[last]; this.seq[0] = this.seq[last]; this.slot[0] = this.slot[last]; this.off[0] = this.off[last]; this.len[0] = this.len[last];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < last && this.less(l, m)) m = l;
        if (r < last && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
  }
}

class Direction {
  readonly heap: DepartureHeap;
  readonly counters = new Float64Array(COUNTERS.length);
  private bad = false;
  /** rate limiter: the time the link is busy until (serialization of queued bytes) */
  private linkFreeAt = 0;
  private readonly bytesPerMs: number;
  constructor(readonly s: DirectionSettings, readonly out: number, private readonly rng: Rng) {
    this.heap = new DepartureHeap(s.limit);
    this.bytesPerMs = s.rateMbps > 0 ? (s.rateMbps * 1e6) / 8 / 1000 : 0;
  }
  count(c: Counter, n = 1): void {
    this.counters[COUNTERS.indexOf(c)] += n;
  }
  /** true if the packet is lost */
  lose(): boolean {
    const s = this.s, rng = this.rng;
    if (s.burst) {
      this.bad = this.bad ? rng.next() >= s.burst.r : rng.next() < s.burst.p;
      if (this.bad && rng.next() < s.burst.lossBad) {
        this.count('burstLost');
        return true;
      }
    }
    if (s.loss > 0 && rng.next() < s.loss) {
      this.count('lost');
      return true;
    }
    return false;
  }
  /** Departure time for a packet of `len` bytes arriving at `now`. */
  departure(now: number, len: number): number {
    const s = this.s;
    let t = now;
    if (this.bytesPerMs > 0) {
      const start = Math.max(now, this.linkFreeAt);
      this.linkFreeAt = start + len / this.bytesPerMs;
      t = this.linkFreeAt;
    }
    if (s.reorder > 0 && this.rng.next() < s.reorder) {
      this.count('reordered');
      return t;
    }
    let d = s.delayMs;
    if (s.jitterMs > 0) d += (this.rng.next() * 2 - 1) * s.jitterMs;
    if (d < 0) d = 0;
    if (d > 0) this.count('delayed');
    t += d;
    return t;
  }
}

const app: AppModule<LinkemSettings> = {
  name: 'linkem',
  description: 'link emulator between two ports: delay, jitter, loss, burst loss, reordering, duplication, rate limit',
  settingsSchema: schema,
  settings: (config) => {
    if (config.ports.length !== 2) throw new NetstarError('ERR_CONFIG', `linkem needs exactly 2 ports, config has ${config.ports.length}`);
    return parseSettings(config);
  },
  createShard(ctx: ShardContext, s: LinkemSettings): ShardApp {
    const rng = new Rng(s.seed + ctx.id * 7919);
    const dirs = [new Direction(s.ab, 1, rng), new Direction(s.ba, 0, rng)];
    const copied = new Uint32Array(3);
    const out = new Uint32Array(3);
    const qps = ctx.qps;
    const enqueue = (d: Direction, now: number, slot: number, dataOff: number, len: number, portIndex: number): void => {
      if (d.heap.size >= d.heap.capacity) {
        d.count('queueDropped');
        ctx.dropSlot(slot, portIndex);
        return;
      }
      d.heap.push(d.departure(now, len), slot, dataOff, len);
    };
    return {
      onPacket(p: Packet, portIndex: number): Verdict {
        const d = dirs[portIndex];
        if (!d) return Verdict.DROP;
        d.count('in');
        if (d.lose()) return Verdict.DROP;
        const now = performance.now();
        if (d.s.duplicate > 0 && rng.next() < d.s.duplicate) {
          if (ctx.copySlot(p, copied)) {
            d.count('duplicated');
            enqueue(d, now, copied[0], copied[1], copied[2], portIndex);
          } else d.count('dupFailed');
        }
        if (d.s.delayMs === 0 && d.s.jitterMs === 0 && d.s.rateMbps === 0 && d.heap.size === 0) {
          d.count('out');
          return Verdict.port(d.out);
        }
        enqueue(d, now, p.slot, p.offset - p.bufStart, p.length, portIndex);
        return Verdict.STOLEN;
      },
      afterBurst(): void {
        if (dirs[0].heap.size === 0 && dirs[1].heap.size === 0) return;
        const now = performance.now();
        for (const d of dirs) {
          let n = 0;
          while (d.heap.size > 0 && d.heap.peekDue() <= now) {
            d.heap.pop(out);
            qps[d.out].sendSlot(out[0], out[1], out[2]);
            n++;
          }
          if (n) d.count('out', n);
        }
      },
      pollAt(): number {
        return Math.min(dirs[0].heap.peekDue(), dirs[1].heap.peekDue());
      },
      counters(): Record<string, number> {
        const r: Record<string, number> = {};
        for (const [i, d] of dirs.entries())
          for (const [k, c] of COUNTERS.entries()) r[`${i === 0 ? 'ab' : 'ba'}.${c}`] = d.counters[k];
        r['ab.queued'] = dirs[0].heap.size;
        r['ba.queued'] = dirs[1].heap.size;
        return r;
      },
    };
  },
};

export default app;
