// Maglev: every slot is filled, shares follow weights, and removing (or adding) one of N backends moves about
// 1/N of the table — the slots of the one removed plus a little (the paper's "near-minimal disruption").
import { MAGLEV_M, buildMaglev, maglevSlot } from '../../apps/load-balancer/maglev';

const names = (n: number): { name: string; weight: number }[] =>
  Array.from({ length: n }, (_, i) => ({ name: `198.18.2.${10 + i}:8080`, weight: 1 }));

function shares(t: Int32Array, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const x of t) c[x]++;
  return c.map((k) => k / t.length);
}

describe('Maglev', () => {
  test('M = 65537, every slot filled, equal weights give equal shares (within 1 %)', () => {
    const t = buildMaglev(names(5));
    expect(t.length).toBe(MAGLEV_M);
    expect(t.every((x) => x >= 0 && x < 5)).toBe(true);
    for (const s of shares(t, 5)) expect(Math.abs(s - 0.2)).toBeLessThan(0.01);
  });

  test('weights 1:2:3 give shares 1/6, 2/6, 3/6; weight 0 gets nothing', () => {
    const t = buildMaglev([{ name: 'a', weight: 1 }, { name: 'b', weight: 2 }, { name: 'c', weight: 3 }, { name: 'd', weight: 0 }]);
    const s = shares(t, 4);
    expect(s[0]).toBeCloseTo(1 / 6, 2);
    expect(s[1]).toBeCloseTo(2 / 6, 2);
    expect(s[2]).toBeCloseTo(3 / 6, 2);
    expect(s[3]).toBe(0);
  });

  test.each([3, 5, 10, 20])('removing one of %i backends moves about 1/N of the table', (n) => {
    const all = names(n);
    const before = buildMaglev(all);
    const removed = Math.floor(n / 2);
    const rest = all.filter((_, i) => i !== removed);
    const after = buildMaglev(rest);
    // Compare by backend name (indices shift when one is removed).
    let moved = 0, ofRemoved = 0;
    for (let i = 0; i < MAGLEV_M; i++) {
      const a = all[before[i]].name, b = rest[after[i]].name;
      if (a !== b) moved++;
      if (before[i] === removed) ofRemoved++;
    }
    const frac = moved / MAGLEV_M;
    // The removed backend's slots must move; the rest mostly stay (the paper measures a few percent extra).
    expect(moved).toBeGreaterThanOrEqual(ofRemoved);
    expect(frac).toBeGreaterThan(0.9 / n);
    expect(frac).toBeLessThan(1.5 / n);
  });

  test('adding a backend moves about 1/(N+1) of the table, all of it to the new one mostly', () => {
    const all = names(6);
    const before = buildMaglev(all.slice(0, 5));
    const after = buildMaglev(all);
    let moved = 0, toNew = 0;
    for (let i = 0; i < MAGLEV_M; i++) {
      if (all[before[i]].name !== all[after[i]].name) moved++;
      if (after[i] === 5) toNew++;
    }
    expect(moved / MAGLEV_M).toBeLessThan(1.5 / 6);
    expect(toNew / moved).toBeGreaterThan(0.8);
  });

  test('flow slots spread evenly over the table', () => {
    const t = buildMaglev(names(3));
    const c = [0, 0, 0];
    for (let p = 0; p < 30000; p++) c[t[maglevSlot(6, 0xc612010a, 0xc6120164, 20000 + p, 80)]]++;
    for (const k of c) expect(Math.abs(k / 30000 - 1 / 3)).toBeLessThan(0.02);
  });
});
