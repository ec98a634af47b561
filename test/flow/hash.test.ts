// The one flow hash: hashProtoAddrsPorts (arguments in its name's order) is what flowHash gives a frame, is
// symmetric, and the two older names (net/steer.ts and net/flow tupleHash, other argument orders) equal it.
import fc from 'fast-check';
import { flowHash, hashProtoAddrsPorts, tupleHash as steerTupleHash } from '../../net/steer';
import { tupleHash, protoHasPorts } from '../../net/flow';

function frame(proto: number, src: number, dst: number, sport: number, dport: number): DataView {
  const b = new DataView(new ArrayBuffer(14 + 20 + 8));
  b.setUint16(12, 0x0800);
  b.setUint8(14, 0x45);
  b.setUint16(16, 28);
  b.setUint8(23, proto);
  b.setUint32(26, src);
  b.setUint32(30, dst);
  b.setUint16(34, sport);
  b.setUint16(36, dport);
  return b;
}

test('hashProtoAddrsPorts = flowHash of the frame = both tupleHash aliases, either direction', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff }), u16 = fc.integer({ min: 0, max: 0xffff });
  fc.assert(fc.property(fc.constantFrom(1, 6, 17, 47), u32, u32, u16, u16, (p, a, b, pa, pb) => {
    const h = hashProtoAddrsPorts(p, a, b, pa, pb, protoHasPorts(p));
    return h === flowHash(frame(p, a, b, pa, pb), 0, 42)
      && h === hashProtoAddrsPorts(p, b, a, pb, pa, protoHasPorts(p))
      && h === tupleHash(p, a, b, pa, pb, protoHasPorts(p))
      && h === steerTupleHash(a, b, p, pa, pb);
  }), { numRuns: 3000 });
});
