// Two stacks back to back through an in-memory link with seeded impairments (loss, duplication,
// reordering, delay, jitter), driven by a simulated clock: no wall-clock sleeps, reproducible runs.

import { Stack, StackConfig, TcpConfig } from '../../net/stack';
import { Prng, tick } from './helpers';

export interface Impairment {
  /** Probability a frame is lost. */
  loss?: number;
  /** Probability a frame is delivered twice. */
  dup?: number;
  /** Probability a frame is held back by an extra 1..4 x delay (reordering). */
  reorder?: number;
  /** One-way delay (ms). */
  delay?: number;
  /** Uniform extra delay 0..jitter (ms); reorders too. */
  jitter?: number;
  /** Link rate in bytes per ms (serialisation delay, a queue per direction); Infinity for none. */
  rate?: number;
}

interface InFlight {
  at: number;
  order: number;
  to: 0 | 1;
  frame: Uint8Array;
}

/** Min-heap on (at, order) so simultaneous frames keep their send order. */
class EventQueue {
  private items: InFlight[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): InFlight | undefined {
    return this.items[0];
  }
  private less(a: InFlight, b: InFlight): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }
  push(x: InFlight): void {
    const it = this.items;
    it.push(x);
    let i = it.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(it[i], it[p])) break;
      [it[i], it[p]] = [it[p], it[i]];
      i = p;
    }
  }
  pop(): InFlight | undefined {
    const it = this.items;
    if (it.length === 0) return undefined;
    const top = it[0];
    const last = it.pop() as InFlight;
    if (it.length > 0) {
      it[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < it.length && this.less(it[l], it[m])) m = l;
        if (r < it.length && this.less(it[r], it[m])) m = r;
        if (m === i) break;
        [it[i], it[m]] = [it[m], it[i]];
        i = m;
      }
    }
    return top;
  }
}

export const A_IP = '198.18.1.1';
export const B_IP = '198.18.1.2';

export function simConfig(which: 0 | 1, rng: Prng, tcp: TcpConfig = {}, over: Partial<StackConfig> = {}): StackConfig {
  return {
    mac: which === 0 ? '02:00:00:00:01:01' : '02:00:00:00:01:02',
    addresses: [{ address: which === 0 ? A_IP : B_IP, prefix: 24 }],
    random: () => rng.next(),
    ...over,
    // TIME-WAIT (2 MSL) must outlast a few RTO backoffs of the peer, or a lost last ACK leaves it retrying.
    tcp: { msl: 2000, ...tcp },
  };
}

export class Sim {
  now = 0;
  readonly stacks: [Stack, Stack];
  readonly rng: Prng;
  private readonly q = new EventQueue();
  private order = 0;
  private readonly busyUntil = [0, 0];
  /** Application sleeps on the simulated clock: [wake time, resolve]. */
  private sleepers: Array<[number, () => void]> = [];
  framesSent = 0;
  framesLost = 0;
  framesDuplicated = 0;
  iterations = 0;
  /** Frames the classifier sent to the (absent) NF pipeline. */
  notForStack = 0;

  constructor(
    seed: number,
    readonly imp: Impairment,
    tcpA: TcpConfig = {},
    tcpB: TcpConfig = {},
  ) {
    this.rng = new Prng(seed);
    const stackRng = new Prng(seed ^ 0x5eed);
    this.stacks = [
      new Stack(simConfig(0, stackRng, tcpA), { transmit: (f) => this.send(0, f) }),
      new Stack(simConfig(1, stackRng, tcpB), { transmit: (f) => this.send(1, f) }),
    ];
  }

  /** Resolves once the simulated clock reaches now + ms. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.sleepers.push([this.now + ms, resolve]));
  }

  private wakeSleepers(): void {
    if (this.sleepers.length === 0) return;
    const due = this.sleepers.filter(([t]) => t <= this.now);
    if (due.length === 0) return;
    this.sleepers = this.sleepers.filter(([t]) => t > this.now);
    for (const [, resolve] of due) resolve();
  }

  get a(): Stack {
    return this.stacks[0];
  }
  get b(): Stack {
    return this.stacks[1];
  }

  private send(from: 0 | 1, frame: Uint8Array): void {
    this.framesSent++;
    const imp = this.imp;
    const r = this.rng;
    if (r.next() < (imp.loss ?? 0)) {
      this.framesLost++;
      return;
    }
    const copies = r.next() < (imp.dup ?? 0) ? 2 : 1;
    if (copies === 2) this.framesDuplicated++;
    const delay = imp.delay ?? 1;
    let start = this.now;
    const rate = imp.rate ?? Infinity;
    if (rate !== Infinity) {
      // One transmit queue per direction: a frame leaves after the previous one.
      start = Math.max(this.now, this.busyUntil[from]) + frame.length / rate;
      this.busyUntil[from] = start;
    }
    for (let c = 0; c < copies; c++) {
      let d = delay + r.next() * (imp.jitter ?? 0);
      if (r.next() < (imp.reorder ?? 0)) d += delay * (1 + r.next() * 3);
      this.q.push({ at: start + d, order: this.order++, to: from === 0 ? 1 : 0, frame: frame.slice() });
    }
  }

  /**
   * Run until `done()` or `limit` ms of simulated time. Each step delivers what is due, polls the
   * stacks, and lets promise continuations (the applications) run before time moves on.
   */
  async run(done: () => boolean, limit = 600000): Promise<void> {
    const [a, b] = this.stacks;
    while (!done()) {
      if (this.now > limit) throw new Error(`simulation passed ${limit} ms without finishing`);
      this.iterations++;
      this.wakeSleepers();
      let ev: InFlight | undefined;
      while ((ev = this.q.peek()) !== undefined && ev.at <= this.now) {
        this.q.pop();
        const s = this.stacks[ev.to];
        // The framework would ask the classifier first; so do we (the stack sees only its frames).
        if (s.accepts(ev.frame, 0, ev.frame.length)) s.receive(ev.frame, 0, ev.frame.length, this.now);
        else this.notForStack++;
      }
      for (let i = 0; i < 4; i++) {
        let worked = false;
        if (a.pollAt() <= this.now) {
          a.poll(this.now);
          worked = true;
        }
        if (b.pollAt() <= this.now) {
          b.poll(this.now);
          worked = true;
        }
        await tick();
        if (!worked && a.pollAt() > this.now && b.pollAt() > this.now) break;
      }
      if (done()) break;
      const sleeper = this.sleepers.reduce((m, [t]) => Math.min(m, t), Infinity);
      const next = Math.min(this.q.peek()?.at ?? Infinity, a.pollAt(), b.pollAt(), sleeper);
      if (next === Infinity) {
        // Nothing scheduled anywhere: give the applications one more chance, then it is a hang.
        await tick();
        if (done()) break;
        if (Math.min(a.pollAt(), b.pollAt()) === Infinity && this.q.size === 0 && this.sleepers.length === 0) {
          throw new Error('simulation idle before done');
        }
        continue;
      }
      this.now = Math.max(this.now, next);
    }
  }
}
