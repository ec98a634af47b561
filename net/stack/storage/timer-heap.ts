// Binary min-heap of (deadline, item) used for per-connection timers: poll() pops what is due and
// pollAt() peeks, so neither walks every connection.

/**
 * Entries are never removed early; the owner keeps its own deadlines and ignores an entry that no
 * longer matches (lazy deletion). Push only when a deadline moves earlier than what is queued for
 * the item, and the heap stays near one entry per item.
 */
export class TimerHeap<T> {
  private deadlines: number[] = [];
  private items: T[] = [];

  get size(): number {
    return this.deadlines.length;
  }

  /** Earliest deadline, Infinity when empty. */
  peek(): number {
    return this.deadlines.length > 0 ? this.deadlines[0] : Infinity;
  }

  push(deadline: number, item: T): void {
    const d = this.deadlines;
    const it = this.items;
    let i = d.length;
    d.push(deadline);
    it.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (d[parent] <= deadline) break;
      d[i] = d[parent];
      it[i] = it[parent];
      i = parent;
    }
    d[i] = deadline;
    it[i] = item;
  }

  /** The item with the earliest deadline, undefined when empty. */
  peekItem(): T | undefined {
    return this.items.length > 0 ? this.items[0] : undefined;
  }

  /** Deadline of the entry popDue() returned last. */
  poppedDeadline = Infinity;

  /**
   * Remove and return the earliest item if its deadline is at or before `now`, else undefined;
   * its deadline is left in poppedDeadline (so the owner can tell a stale entry).
   */
  popDue(now: number): T | undefined {
    if (this.deadlines.length === 0 || this.deadlines[0] > now) return undefined;
    this.poppedDeadline = this.deadlines[0];
    return this.pop();
  }

  /** Remove the earliest entry whatever its deadline (dropping stale entries). */
  popAny(): T | undefined {
    if (this.deadlines.length === 0) return undefined;
    this.poppedDeadline = this.deadlines[0];
    return this.pop();
  }

  private pop(): T {
    const d = this.deadlines;
    const it = this.items;
    const top = it[0];
    const lastD = d.pop() as number;
    const lastI = it.pop() as T;
    const n = d.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && d[r] < d[l] ? r : l;
        if (d[c] >= lastD) break;
        d[i] = d[c];
        it[i] = it[c];
        i = c;
      }
      d[i] = lastD;
      it[i] = lastI;
    }
    return top;
  }

  clear(): void {
    this.deadlines.length = 0;
    this.items.length = 0;
  }
}
