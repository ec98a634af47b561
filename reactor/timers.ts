// Per-shard timers driven by the reactor loop: a binary min-heap keyed by (deadline, arm order), fired by
// `run(now)`, plus the cheap low-resolution clock the loop updates once per iteration.

/** A source of "now" in milliseconds (monotonic). */
export interface Clock {
  now(): number;
}

/**
 * A clock read from a field: the reactor loop calls `update` once per iteration and everything else reads
 * `now()` for free instead of calling performance.now() per packet (Seastar's lowres_clock). Never goes
 * backwards. Tests drive it by hand as a fake clock.
 */
export class LowresClock implements Clock {
  private t: number;
  constructor(start = 0) {
    this.t = start;
  }
  /** Sets the time (default: performance.now()); an earlier value than the current one is ignored. */
  update(now: number = performance.now()): number {
    if (now > this.t) this.t = now;
    return this.t;
  }
  now(): number {
    return this.t;
  }
}

/** Timer state: armed (in the heap), firing (its callback is running), or done (fired once / cancelled). */
const ARMED = 0;
const FIRING = 1;
const DONE = 2;

/** A handle returned by {@link Timers.setTimeout} / {@link Timers.setInterval}; pass it to `cancel`. */
export class Timer {
  // The fields below are the scheduler's bookkeeping: read them, do not write them.
  /** Absolute deadline in clock milliseconds (for an interval: the next one). */
  deadline = 0;
  /** Arm order: breaks deadline ties so equal deadlines fire first-armed first. */
  seq = 0;
  /** Position in the heap, -1 when not in it (lets cancel remove in O(log n)). */
  index = -1;
  state = DONE;
  /** Interval grid: deadline k is origin + k * period, computed, not accumulated (no float drift). */
  origin = 0;
  ticks = 0;
  constructor(
    readonly fn: () => unknown,
    /** 0 for a one-shot timer. */
    readonly period: number,
  ) {}

  /** True while the timer will still fire (armed, or an interval whose callback is running). */
  get active(): boolean {
    return this.state !== DONE;
  }
}

export interface TimersOptions {
  /** Receives errors thrown (or rejected) by callbacks, after they are counted; default: none. */
  onError?: (err: unknown, timer: Timer) => void;
}

function before(a: Timer, b: Timer): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}

/**
 * The timers of one shard. Nothing fires by itself: the reactor loop calls `run(clock.now())` and uses
 * `nextDeadline()` to bound its idle sleep. Allocation per arm is the Timer handle only; the heap and the
 * list of due timers are reused arrays.
 */
export class Timers {
  /** Callbacks invoked (including those that threw). */
  fired = 0;
  /** Callbacks that threw or returned a rejected promise. */
  errors = 0;

  private readonly heap: Timer[] = [];
  private readonly due: Timer[] = [];
  private seq = 0;
  private running = false;

  constructor(
    readonly clock: Clock,
    private readonly opts: TimersOptions = {},
  ) {}

  /** Timers that will still fire (intervals count until cancelled). */
  get active(): number {
    let n = this.heap.length;
    // Intervals popped for the current run are out of the heap but still active.
    for (let i = 0; i < this.due.length; i++) if (this.due[i].period > 0 && this.due[i].state !== DONE) n++;
    return n;
  }

  /** Calls `fn` once, `ms` (>= 0; negative or NaN count as 0) after the clock's now. */
  setTimeout(fn: () => unknown, ms: number): Timer {
    const t = new Timer(fn, 0);
    this.arm(t, this.clock.now() + (ms > 0 ? ms : 0));
    return t;
  }

  /**
   * Calls `fn` every `ms` (> 0) milliseconds, first at now + ms. Deadlines are computed from the previous
   * deadline, not from when the callback ran, so lateness does not accumulate; periods that passed entirely
   * while the shard was busy are skipped (one call, not a burst of catch-up calls).
   */
  setInterval(fn: () => unknown, ms: number): Timer {
    if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`interval period must be a positive finite number of ms, got ${ms}`);
    const t = new Timer(fn, ms);
    t.origin = this.clock.now();
    t.ticks = 1;
    this.arm(t, t.origin + ms);
    return t;
  }

  /** Stops `timer`; true if it was still active. Safe from inside any callback, including its own. */
  cancel(timer: Timer): boolean {
    if (timer.state === DONE) return false;
    if (timer.index >= 0) this.removeAt(timer.index);
    timer.state = DONE;
    return true;
  }

  /** A promise resolved by a timer `ms` from now (i.e. at the first `run` at or after the deadline). */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.setTimeout(resolve, ms);
    });
  }

  /** Deadline of the earliest armed timer, Infinity if none. */
  nextDeadline(): number {
    return this.heap.length > 0 ? this.heap[0].deadline : Infinity;
  }

  /**
   * Fires every timer due at `now` in deadline order (arm order for ties) and returns how many fired. The
   * due set is taken before any callback runs, so timers armed by callbacks (even with 0 delay, even with a
   * clock behind `now`) wait for the next run: a callback that re-arms itself cannot starve the loop.
   */
  run(now: number): number {
    if (this.running) throw new Error('Timers.run is not reentrant');
    const heap = this.heap;
    if (heap.length === 0 || heap[0].deadline > now) return 0;
    const due = this.due;
    while (heap.length > 0 && heap[0].deadline <= now) {
      const t = heap[0];
      this.removeAt(0);
      t.state = FIRING;
      due.push(t);
    }
    this.running = true;
    let count = 0;
    try {
      for (let i = 0; i < due.length; i++) {
        const t = due[i];
        if (t.state !== FIRING) continue; // cancelled by an earlier callback of this run
        count++;
        this.fired++;
        try {
          const r = t.fn();
          if (r instanceof Promise) r.catch((e: unknown) => this.fail(e, t));
        } catch (e) {
          this.fail(e, t);
        }
        if (t.state !== FIRING) continue; // cancelled by its own callback
        if (t.period > 0) {
          // Next grid point after the one that fired; if that is already past, skip the missed periods
          // (one call per run, not a catch-up burst) but stay on the original grid.
          let k = t.ticks + 1;
          if (t.origin + k * t.period <= now) {
            k = Math.floor((now - t.origin) / t.period) + 1;
            if (t.origin + k * t.period <= now) k++; // floating-point rounding at the boundary
          }
          t.ticks = k;
          this.arm(t, t.origin + k * t.period);
        } else {
          t.state = DONE;
        }
      }
    } finally {
      due.length = 0;
      this.running = false;
    }
    return count;
  }

  private fail(e: unknown, t: Timer): void {
    this.errors++;
    const h = this.opts.onError;
    if (h === undefined) return;
    try {
      h(e, t);
    } catch {
      // An error handler that throws must not stop the other due timers either.
    }
  }

  private arm(t: Timer, deadline: number): void {
    t.deadline = deadline;
    t.seq = this.seq++;
    t.state = ARMED;
    const heap = this.heap;
    t.index = heap.length;
    heap.push(t);
    this.up(t.index);
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    const t = heap[i];
    const last = heap.pop() as Timer;
    t.index = -1;
    if (i < heap.length) {
      heap[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
  }

  private up(i: number): void {
    const heap = this.heap;
    const t = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = heap[p];
      if (!before(t, pt)) break;
      heap[i] = pt;
      pt.index = i;
      i = p;
    }
    heap[i] = t;
    t.index = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const t = heap[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && before(heap[c + 1], heap[c])) c++;
      if (!before(heap[c], t)) break;
      heap[i] = heap[c];
      heap[i].index = i;
      i = c;
    }
    heap[i] = t;
    t.index = i;
  }
}
