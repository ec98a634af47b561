// The C++↔TS layouts: the built addon's `layout` equals native/layout.ts, the load-time check names the
// field of any difference (either side, or the flow-table hash), and the TS flow-table hash is the native one.
import fc from 'fast-check';
import { native, checkLayout, NetstarError, LAYOUT, flowKeyHash } from '../../native';
import type { LayoutTable } from '../../native/layout';

function failure(fn: () => void): NetstarError {
  try {
    fn();
  } catch (e) {
    if (e instanceof NetstarError) return e;
    throw e;
  }
  throw new Error('no error thrown');
}

function withField(group: string, field: string, value: number | undefined): LayoutTable {
  const t = JSON.parse(JSON.stringify(LAYOUT)) as Record<string, Record<string, number>>;
  if (value === undefined) delete t[group][field];
  else t[group][field] = value;
  return t;
}

describe('native layout', () => {
  test('the built addon exports every table and they equal the TS constants', () => {
    const l = native.layout as unknown as Record<string, unknown>;
    for (const g of Object.keys(LAYOUT)) expect(l[g]).toEqual((LAYOUT as unknown as Record<string, unknown>)[g]);
    expect(() => checkLayout(native.layout)).not.toThrow();
  });

  test('a wrong RX descriptor word is caught and named', () => {
    const e = failure(() => checkLayout(native.layout, withField('rxDesc', 'dataLen', 5)));
    expect(e.code).toBe('ERR_LAYOUT');
    expect(e.message).toContain('rxDesc.dataLen: TS 5, native 4');
  });

  test('a wrong burst limit, fast-call word, port stats word and offload flag are each named', () => {
    for (const [g, f, v, n] of [['burst', 'max', 256, 512], ['fast', 'handled', 6, 5], ['portStats', 'txBytes', 4, 5], ['offloadFlags', 'native', 64, 32], ['offloadEntry', 'nlast', 22, 20]] as const) {
      const e = failure(() => checkLayout(native.layout, withField(g, f, v)));
      expect(e.message).toContain(`${g}.${f}: TS ${v}, native ${n}`);
    }
  });

  test('a word the C++ side has and TS lacks is caught', () => {
    const e = failure(() => checkLayout(native.layout, withField('offloadEntry', 'mark', undefined)));
    expect(e.message).toContain('offloadEntry.mark: native 21, missing in TS');
  });

  test('a flow-table hash that differs from the native one is caught', () => {
    const e = failure(() => checkLayout(native.layout, LAYOUT, (p, lo, hi, ports) => (flowKeyHash(p, lo, hi, ports) ^ 1) >>> 0));
    expect(e.message).toMatch(/flowTable hash\(0, 0, 0, 0\): TS \d+, native \d+/);
  });

  test('an addon without a layout (a stale build) is caught', () => {
    expect(failure(() => checkLayout(undefined)).message).toContain('exports no `layout` object');
  });

  test('the TS flow-table hash equals the native executor\'s for any key', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), u32, u32, u32, (p, lo, hi, ports) => flowKeyHash(p, lo, hi, ports) === native.layout.flowHash(p, lo, hi, ports)), { numRuns: 2000 });
  });
});
