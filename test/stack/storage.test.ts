// Storage and congestion control units: ring buffer (wrap-around, unallocated writes), assembler
// (merging, bounds, shifting), timer heap ordering, NewReno and CUBIC window evolution.

import { Assembler, Cubic, NewReno, RingBuffer, TimerHeap } from '../../net/stack';
import { Prng } from './helpers';

describe('RingBuffer', () => {
  test('FIFO across the wrap-around, with a model', () => {
    const rb = new RingBuffer(97);
    const model: number[] = [];
    const r = new Prng(1);
    let next = 0;
    for (let i = 0; i < 5000; i++) {
      if (r.next() < 0.5) {
        const n = r.below(60);
        const src = new Uint8Array(n).map(() => next++ & 0xff);
        const k = rb.enqueue(src);
        if (k !== Math.min(n, 97 - model.length)) throw new Error(`enqueue took ${k} at step ${i}`);
        for (let j = 0; j < k; j++) model.push(src[j]);
      } else {
        const out = new Uint8Array(r.below(60));
        const k = rb.dequeue(out, 0, out.length);
        const want = model.splice(0, k);
        for (let j = 0; j < k; j++) if (out[j] !== want[j]) throw new Error(`byte ${j} differs at step ${i}`);
      }
      if (rb.length !== model.length) throw new Error(`length ${rb.length} != ${model.length} at step ${i}`);
    }
    expect(rb.length).toBe(model.length);
  });

  test('unallocated writes land after the data and survive a full drain', () => {
    const rb = new RingBuffer(16);
    rb.enqueue(new Uint8Array([1, 2, 3]));
    expect(rb.writeUnallocated(2, new Uint8Array([9, 9]), 0, 2)).toBe(2);
    const out = new Uint8Array(3);
    rb.dequeue(out, 0, 3);
    expect(rb.length).toBe(0);
    expect(rb.writeUnallocated(0, new Uint8Array([7, 8]), 0, 2)).toBe(2);
    expect(rb.enqueueUnallocated(4)).toBe(4);
    const all = rb.dequeueBytes(10);
    expect(Array.from(all)).toEqual([7, 8, 9, 9]);
    expect(rb.writeUnallocated(15, new Uint8Array([1, 2, 3]), 0, 3)).toBe(1);
  });

  test('storage is allocated on first use only', () => {
    const rb = new RingBuffer(1 << 20);
    expect(rb.window).toBe(1 << 20);
    expect(rb.dequeueBytes(10).length).toBe(0);
  });
});

describe('Assembler', () => {
  test('merges touching and overlapping ranges; front removal shifts offsets', () => {
    const a = new Assembler(4);
    expect(a.add(10, 5)).toBe(true);
    expect(a.add(20, 5)).toBe(true);
    expect(a.add(15, 5)).toBe(true);
    expect([a.count, a.start(0), a.end(0)]).toEqual([1, 10, 25]);
    expect(a.frontLength).toBe(0);
    expect(a.add(0, 12)).toBe(true);
    expect(a.removeFront()).toBe(25);
    expect(a.isEmpty()).toBe(true);
  });

  test('refuses a new range beyond maxRanges, still accepts merges', () => {
    const a = new Assembler(2);
    a.add(0, 1);
    a.add(10, 1);
    expect(a.add(20, 1)).toBe(false);
    expect(a.count).toBe(2);
    expect(a.add(1, 9)).toBe(true);
    expect(a.count).toBe(1);
    expect(a.covered).toBe(11);
  });

  test('random adds match a bitmap model', () => {
    const r = new Prng(3);
    for (let round = 0; round < 50; round++) {
      const a = new Assembler(64);
      const bits = new Uint8Array(300);
      for (let i = 0; i < 40; i++) {
        const off = r.below(280);
        const n = 1 + r.below(20);
        if (a.add(off, n)) bits.fill(1, off, off + n);
      }
      for (let x = 0; x < 300; x++) if (a.find(x) >= 0 !== (bits[x] === 1)) throw new Error(`offset ${x} in round ${round}`);
      let front = 0;
      while (front < 300 && bits[front]) front++;
      expect(a.frontLength).toBe(front);
    }
  });

  test('shift forgets what falls before the origin', () => {
    const a = new Assembler();
    a.add(5, 5);
    a.add(20, 5);
    a.shift(7);
    expect([a.start(0), a.end(0), a.start(1), a.end(1)]).toEqual([0, 3, 13, 18]);
    a.shift(10);
    expect([a.count, a.start(0), a.end(0)]).toEqual([1, 3, 8]);
  });
});

describe('TimerHeap', () => {
  test('pops in deadline order, only what is due', () => {
    const h = new TimerHeap<string>();
    const r = new Prng(9);
    const ds: number[] = [];
    for (let i = 0; i < 200; i++) {
      const d = r.below(1000);
      ds.push(d);
      h.push(d, `x${d}`);
    }
    ds.sort((x, y) => x - y);
    expect(h.peek()).toBe(ds[0]);
    const got: number[] = [];
    while (h.popDue(500) !== undefined) got.push(h.poppedDeadline);
    expect(got).toEqual(ds.filter((d) => d <= 500));
    expect(h.peek()).toBeGreaterThan(500);
  });
});

describe('congestion control', () => {
  const MSS = 1000;
  test('NewReno: slow start, congestion avoidance one MSS per window, halving', () => {
    const cc = new NewReno(10 * MSS);
    cc.onAck(5 * MSS, MSS);
    expect(cc.cwnd).toBe(15 * MSS);
    cc.onCongestion(20 * MSS, MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    cc.cwnd = cc.ssthresh;
    for (let i = 0; i < 10; i++) cc.onAck(MSS, MSS);
    expect(cc.cwnd).toBe(11 * MSS);
    cc.onTimeout(8 * MSS, MSS);
    expect([cc.cwnd, cc.ssthresh]).toEqual([MSS, 4 * MSS]);
  });

  test('CUBIC: beta 0.7, concave approach to W_max, then convex probing beyond it', () => {
    const cc = new Cubic(100 * MSS);
    cc.onCongestion(100 * MSS, MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    cc.cwnd = cc.ssthresh;
    // Long enough an RTT for the cubic curve to be above the Reno-friendly estimate (RFC 9438 4.3).
    const rtt = 200;
    const samples: number[] = [];
    for (let t = 0; t <= 10000; t += rtt) {
      // One window of ACKs per RTT.
      const acks = Math.floor(cc.cwnd / MSS);
      for (let i = 0; i < acks; i++) cc.onAck(MSS, MSS, t, rtt);
      samples.push(cc.cwnd / MSS);
    }
    const k = Math.cbrt((100 - 70) / 0.4);
    const atK = samples[Math.round((k * 1000) / rtt)];
    expect(atK).toBeGreaterThan(95);
    expect(atK).toBeLessThan(110);
    // Growth slows near W_max (concave) and speeds up after (convex).
    const d1 = samples[10] - samples[5];
    const d2 = samples[Math.round((k * 1000) / rtt)] - samples[Math.round((k * 1000) / rtt) - 5];
    const d3 = samples[samples.length - 1] - samples[samples.length - 6];
    expect(d2).toBeLessThan(d1);
    expect(d3).toBeGreaterThan(d2);
  });
});
