// Tests for reactor/timers on a hand-driven clock: deadline order, FIFO ties, drift-free intervals, cancel,
// error counting, no starvation from zero-delay re-arming, sleep, and the low-resolution clock.
import { LowresClock, Timer, Timers } from '../../reactor/timers';
import { Prng } from '../wire/prng';

function setup(start = 0): { clock: LowresClock; timers: Timers; log: string[] } {
  const clock = new LowresClock(start);
  return { clock, timers: new Timers(clock), log: [] };
}

/** Moves the fake clock to `t` and runs the timers there, as the reactor loop does. */
function advance(clock: LowresClock, timers: Timers, t: number): number {
  clock.update(t);
  return timers.run(clock.now());
}

describe('LowresClock', () => {
  test('reads what the loop last stored and never goes backwards', () => {
    const c = new LowresClock(10);
    expect(c.now()).toBe(10);
    expect(c.update(25)).toBe(25);
    expect(c.update(20)).toBe(25);
    expect(c.now()).toBe(25);
    const real = new LowresClock();
    expect(real.update()).toBeGreaterThan(0); // default source: performance.now()
  });
});

describe('Timers', () => {
  test('fire in deadline order, equal deadlines in arm order, each once', () => {
    const { clock, timers, log } = setup();
    timers.setTimeout(() => log.push('c30'), 30);
    timers.setTimeout(() => log.push('a10'), 10);
    timers.setTimeout(() => log.push('b20-1'), 20);
    timers.setTimeout(() => log.push('b20-2'), 20);
    timers.setTimeout(() => log.push('a10-2'), 10);
    clock.update(5);
    timers.setTimeout(() => log.push('b20-3'), 15); // same deadline (20), armed later
    expect(timers.active).toBe(6);
    expect(timers.nextDeadline()).toBe(10);
    expect(advance(clock, timers, 9)).toBe(0);
    expect(advance(clock, timers, 20)).toBe(5);
    expect(log).toEqual(['a10', 'a10-2', 'b20-1', 'b20-2', 'b20-3']);
    expect(timers.nextDeadline()).toBe(30);
    expect(advance(clock, timers, 100)).toBe(1);
    expect(advance(clock, timers, 200)).toBe(0);
    expect(log.at(-1)).toBe('c30');
    expect(timers.nextDeadline()).toBe(Infinity);
    expect(timers.active).toBe(0);
    expect(timers.fired).toBe(6);
  });

  test('many random timers come out sorted by (deadline, arm order)', () => {
    const { clock, timers } = setup();
    const prng = new Prng(11);
    const got: number[] = [];
    const want: { d: number; i: number }[] = [];
    const handles: Timer[] = [];
    for (let i = 0; i < 20000; i++) {
      const d = prng.below(500);
      handles.push(timers.setTimeout(() => got.push(i), d));
      want.push({ d, i });
    }
    // Cancel a random third, including heap-interior ones.
    const cancelled = new Set<number>();
    for (let k = 0; k < 7000; k++) {
      const i = prng.below(handles.length);
      expect(timers.cancel(handles[i])).toBe(!cancelled.has(i));
      cancelled.add(i);
    }
    expect(timers.active).toBe(20000 - cancelled.size);
    for (let t = 0; t <= 500; t += 1 + prng.below(40)) advance(clock, timers, t);
    advance(clock, timers, 500);
    const expected = want.filter((w) => !cancelled.has(w.i)).sort((a, b) => a.d - b.d || a.i - b.i).map((w) => w.i);
    expect(got).toEqual(expected);
    expect(timers.active).toBe(0);
  });

  test('an interval keeps to its grid: late runs do not accumulate drift, missed periods are skipped', () => {
    const { clock, timers } = setup(1000);
    const at: number[] = [];
    const t = timers.setInterval(() => at.push(clock.now()), 10);
    expect(timers.nextDeadline()).toBe(1010);
    advance(clock, timers, 1013); // 3 ms late
    expect(timers.nextDeadline()).toBe(1020); // not 1023
    advance(clock, timers, 1020);
    advance(clock, timers, 1039); // 19 ms late, period 1030 missed partially: fires once
    expect(timers.nextDeadline()).toBe(1040);
    advance(clock, timers, 1095); // 1040..1090 all due: fires once, next on the grid after now
    expect(timers.nextDeadline()).toBe(1100);
    advance(clock, timers, 1100); // exactly on a grid point
    expect(at).toEqual([1013, 1020, 1039, 1095, 1100]);
    expect(timers.nextDeadline()).toBe(1110);
    // 10000 periods later, still on the grid.
    for (let k = 0; k < 10000; k++) advance(clock, timers, clock.now() + 10 + (k % 3));
    expect((timers.nextDeadline() - 1000) % 10).toBe(0);
    expect(t.active).toBe(true);
    expect(timers.active).toBe(1);
    expect(timers.cancel(t)).toBe(true);
    expect(t.active).toBe(false);
    expect(timers.nextDeadline()).toBe(Infinity);
  });

  test('fractional periods stay on the grid too', () => {
    const { clock, timers } = setup();
    let n = 0;
    timers.setInterval(() => n++, 0.1);
    for (let k = 1; k <= 1000; k++) advance(clock, timers, k * 0.1);
    // Deadlines are computed as origin + k * period, so they equal the clock's k * 0.1 exactly: repeated
    // addition of 0.1 would have drifted off by then and missed some.
    expect(n).toBe(1000);
    expect(timers.nextDeadline()).toBe(1001 * 0.1);
  });

  test('cancel before firing, from another callback in the same run, and from its own callback', () => {
    const { clock, timers, log } = setup();
    const a = timers.setTimeout(() => log.push('a'), 10);
    expect(timers.cancel(a)).toBe(true);
    expect(timers.cancel(a)).toBe(false);
    let b: Timer | undefined;
    timers.setTimeout(() => {
      log.push('killer');
      if (b) timers.cancel(b);
    }, 20);
    b = timers.setTimeout(() => log.push('b'), 20); // due in the same run, after the killer
    const self: Timer = timers.setInterval(() => {
      log.push('self');
      timers.cancel(self);
    }, 5);
    expect(advance(clock, timers, 50)).toBe(2);
    expect(log).toEqual(['self', 'killer']);
    expect(advance(clock, timers, 100)).toBe(0);
    expect(timers.active).toBe(0);
    expect(() => timers.setInterval(() => undefined, 0)).toThrow(RangeError);
    expect(() => timers.setInterval(() => undefined, NaN)).toThrow(RangeError);
  });

  test('a throwing callback is counted and does not stop the others; async rejections count too', async () => {
    const seen: unknown[] = [];
    const clock = new LowresClock();
    const timers = new Timers(clock, {
      onError: (e) => {
        seen.push(e);
        throw new Error('handler broke too');
      },
    });
    const log: number[] = [];
    timers.setTimeout(() => log.push(1), 1);
    timers.setTimeout(() => {
      throw new Error('boom');
    }, 1);
    timers.setTimeout(() => log.push(3), 1);
    timers.setTimeout(() => Promise.reject(new Error('later')), 1);
    const iv = timers.setInterval(() => {
      throw new Error('every time');
    }, 1);
    expect(advance(clock, timers, 1)).toBe(5);
    expect(log).toEqual([1, 3]);
    expect(timers.errors).toBe(2); // the rejection is counted when it settles
    await Promise.resolve();
    await Promise.resolve();
    expect(timers.errors).toBe(3);
    expect(iv.active).toBe(true); // an interval survives its callback throwing
    expect(advance(clock, timers, 2)).toBe(1);
    expect(timers.errors).toBe(4);
    expect(timers.fired).toBe(6);
    expect(seen.map((e) => (e as Error).message)).toEqual(['boom', 'every time', 'later', 'every time']);
  });

  test('zero-delay re-arming from a callback waits for the next run (no starvation)', () => {
    const { timers } = setup(100); // the clock stays at 100 while run() is given later times
    let spins = 0;
    const rearm = (): void => {
      spins++;
      timers.setTimeout(rearm, 0);
    };
    timers.setTimeout(rearm, 0);
    let other = 0;
    timers.setTimeout(() => other++, 0);
    expect(timers.run(100)).toBe(2);
    expect(spins).toBe(1);
    expect(other).toBe(1);
    // Even with the clock lagging behind `now` (new deadlines earlier than old due ones) each run fires once.
    for (let k = 1; k <= 100; k++) expect(timers.run(100 + k)).toBe(1);
    expect(spins).toBe(101);
    expect(timers.nextDeadline()).toBe(100);
    expect(timers.active).toBe(1);
  });

  test('run is not reentrant', () => {
    const { clock, timers } = setup();
    let err: unknown;
    timers.setTimeout(() => {
      try {
        timers.run(1000);
      } catch (e) {
        err = e;
      }
    }, 1);
    advance(clock, timers, 1);
    expect(String(err)).toMatch(/not reentrant/);
  });

  test('sleep resolves at the first run at or after its deadline', async () => {
    const { clock, timers } = setup();
    let done = false;
    const p = timers.sleep(50).then(() => {
      done = true;
    });
    advance(clock, timers, 49);
    await Promise.resolve();
    expect(done).toBe(false);
    advance(clock, timers, 60);
    await p;
    expect(done).toBe(true);
    const q = timers.sleep(-5); // negative counts as 0
    expect(timers.nextDeadline()).toBe(60);
    advance(clock, timers, 60);
    await expect(q).resolves.toBeUndefined();
  });
});
