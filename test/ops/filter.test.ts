// Capture filter expressions: what each term matches on frames built by hand, precedence, errors, and no
// throw on truncated or hostile frames.
import fc from 'fast-check';
import { compileFilter, FilterError } from '../../net/filter';

function frame(o: { type?: number; vlan?: boolean; proto?: number; src?: number[]; dst?: number[]; sport?: number; dport?: number; frag?: number; ihl?: number } = {}): Uint8Array {
  const b: number[] = new Array(12).fill(0);
  if (o.vlan) b.push(0x81, 0x00, 0, 5);
  const type = o.type ?? 0x0800;
  b.push(type >> 8, type & 255);
  if (type === 0x0800) {
    const ihl = o.ihl ?? 5;
    const ip = new Array(ihl * 4).fill(0);
    ip[0] = 0x40 | ihl;
    ip[6] = ((o.frag ?? 0) >> 8) & 0x1f;
    ip[7] = (o.frag ?? 0) & 255;
    ip[9] = o.proto ?? 17;
    ip.splice(12, 4, ...(o.src ?? [198, 18, 0, 1]));
    ip.splice(16, 4, ...(o.dst ?? [198, 19, 0, 1]));
    b.push(...ip, (o.sport ?? 1024) >> 8, (o.sport ?? 1024) & 255, (o.dport ?? 9) >> 8, (o.dport ?? 9) & 255, 0, 8, 0, 0);
  } else b.push(...new Array(28).fill(0));
  return Uint8Array.from(b);
}
const m = (expr: string, f: Uint8Array): boolean => compileFilter(expr)(f, 0, f.length);

describe('capture filter', () => {
  test('terms', () => {
    const udp = frame();
    expect(m('udp', udp)).toBe(true);
    expect(m('tcp', udp)).toBe(false);
    expect(m('tcp', frame({ proto: 6 }))).toBe(true);
    expect(m('icmp', frame({ proto: 1 }))).toBe(true);
    expect(m('arp', frame({ type: 0x0806 }))).toBe(true);
    expect(m('ip', frame({ type: 0x0806 }))).toBe(false);
    expect(m('host 198.19.0.1', udp)).toBe(true);
    expect(m('src host 198.19.0.1', udp)).toBe(false);
    expect(m('dst host 198.19.0.1', udp)).toBe(true);
    expect(m('net 198.18.0.0/15', frame({ src: [10, 0, 0, 1], dst: [198, 19, 7, 7] }))).toBe(true);
    expect(m('src net 198.18.0.0/15', frame({ src: [10, 0, 0, 1], dst: [198, 19, 7, 7] }))).toBe(false);
    expect(m('port 9', udp)).toBe(true);
    expect(m('src port 9', udp)).toBe(false);
    expect(m('dst port 9', udp)).toBe(true);
    expect(m('udp and port 9', frame({ vlan: true }))).toBe(true);
    expect(m('port 9', frame({ frag: 100 }))).toBe(false); // a later fragment has no ports
    expect(m('udp', frame({ frag: 100 }))).toBe(true);
    expect(m('port 1024', frame({ ihl: 6, sport: 1024 }))).toBe(true);
    expect(m(`len > ${udp.length - 1}`, udp)).toBe(true);
    expect(m(`len < ${udp.length}`, udp)).toBe(false);
    expect(m('', udp)).toBe(true);
  });

  test('precedence: not > and > or; parentheses', () => {
    const udp = frame();
    expect(m('tcp or udp and port 9', udp)).toBe(true);
    expect(m('(tcp or udp) and port 10', udp)).toBe(false);
    expect(m('not tcp and not arp', udp)).toBe(true);
    expect(m('! udp || port 9', udp)).toBe(true);
    expect(m('not (udp && port 9)', udp)).toBe(false);
  });

  test.each([
    ['udp and', /a term expected at the end/],
    ['port 70000', /a port number expected, got '70000'/],
    ['host 300.1.1.1', /'300\.1\.1\.1' is not an IPv4 address/],
    ['net 10.0.0.0/33', /is not a prefix/],
    ['(udp', /'\)' expected/],
    ['udp tcp', /unexpected 'tcp'/],
    ['src udp', /'src udp' is not a term/],
    ['len ~ 5', /unknown term|comparison/],
  ])('%s is refused', (expr, msg) => {
    expect(() => compileFilter(expr)).toThrow(FilterError);
    expect(() => compileFilter(expr)).toThrow(msg);
  });

  test('never throws or reads out of bounds on hostile frames', () => {
    const exprs = ['udp and port 9', 'host 198.19.0.1', 'net 198.18.0.0/15', 'arp or icmp', 'len > 10'].map(compileFilter);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(20), (bytes, cut) => {
      // a frame that claims more than it has: the predicate sees only len bytes of a larger buffer
      const len = Math.max(0, bytes.length - cut);
      const buf = new Uint8Array(bytes.length + 64).fill(0xff);
      buf.set(bytes);
      for (const f of exprs) {
        const a = f(buf, 0, len);
        const b = f(bytes.subarray(0, len), 0, len);
        if (a !== b) return false; // bytes past len must not matter
      }
      return true;
    }), { numRuns: 3000 });
  });
});
