// Named counters in a Float64Array: hot paths bump `v[index]` (an object with many keys built in a loop
// falls into V8's dictionary mode, making every `c[name]++` a hash lookup), reports get names.

export class CounterSet<K extends string> {
  readonly v: Float64Array;
  private readonly at = new Map<string, number>();

  constructor(readonly names: readonly K[]) {
    this.v = new Float64Array(names.length);
    names.forEach((n, i) => this.at.set(n, i));
  }

  /** The index of a counter (resolve once, outside the packet path). */
  index(name: K): number {
    const i = this.at.get(name);
    if (i === undefined) throw new RangeError(`no counter '${name}'`);
    return i;
  }

  get(name: K): number {
    return this.v[this.index(name)];
  }

  /** Adds every counter to `into` as prefix + name. */
  snapshot(into: Record<string, number> = {}, prefix = ''): Record<string, number> {
    const v = this.v;
    this.names.forEach((n, i) => {
      into[prefix + n] = v[i];
    });
    return into;
  }
}
