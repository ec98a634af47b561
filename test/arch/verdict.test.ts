// Verdicts cannot be confused with port indexes at the type level, and cost nothing at run time: the brand is
// type-only (a Verdict is the plain number), Verdict.port is the identity. The @ts-expect-error lines are the
// type test: if a bare number became assignable to Verdict again, they would be unused and tsc would fail.
import { Verdict, type ShardApp } from '../../index';

describe('Verdict', () => {
  test('a bare number is not a Verdict; Verdict.port(i), DROP and STOLEN are, and are plain small integers', () => {
    // @ts-expect-error a port index is not a verdict without Verdict.port
    const bare: Verdict = 1;
    const app: ShardApp = {
      // @ts-expect-error onPacket must answer a Verdict, not a count or an index
      onPacket: () => 3,
    };
    const port: Verdict = Verdict.port(3);
    expect([bare, port, Verdict.DROP, Verdict.STOLEN]).toEqual([1, 3, -1, -2]);
    expect(typeof port).toBe('number');
    expect(Verdict.port(0)).toBe(0);
    expect(typeof app.onPacket).toBe('function');
    // Comparisons work as on numbers (the shard's dispatch: v >= 0 sends on port v).
    expect(port >= 0 && Verdict.DROP < 0 && Verdict.STOLEN < 0).toBe(true);
  });
});
