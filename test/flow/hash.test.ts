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

/** An ICMP echo request from `src` to `dst` with identifier `id`. */
function echo(src: number, dst: number, id: number): DataView {
  const b = frame(1, src, dst, 0x0800, 0);
  b.setUint16(38, id);
  return b;
}

test('ICMP echo: the identifier stands in the ports\' place (request and reply alike); other ICMP hashes no ports', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff }), u16 = fc.integer({ min: 0, max: 0xffff });
  fc.assert(fc.property(u32, u32, u16, (a, b, id) => {
    const h = hashProtoAddrsPorts(1, a, b, id, id, false);
    const reply = echo(b, a, id);
    reply.setUint8(34, 0);
    return h === flowHash(echo(a, b, id), 0, 42) && h === flowHash(reply, 0, 42)
      && h === hashProtoAddrsPorts(1, b, a, id, id, false) && h === tupleHash(1, a, b, id, id, false)
      && flowHash(frame(1, a, b, 0x0303, id), 0, 42) === hashProtoAddrsPorts(1, a, b, 0, 0, false);
  }), { numRuns: 3000 });
});

test('hashProtoAddrsPorts = flowHash of the frame = both tupleHash aliases, either direction', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff }), u16 = fc.integer({ min: 0, max: 0xffff });
  fc.assert(fc.property(fc.constantFrom(6, 17, 47), u32, u32, u16, u16, (p, a, b, pa, pb) => {
    const h = hashProtoAddrsPorts(p, a, b, pa, pb, protoHasPorts(p));
    return h === flowHash(frame(p, a, b, pa, pb), 0, 42)
      && h === hashProtoAddrsPorts(p, b, a, pb, pa, protoHasPorts(p))
      && h === tupleHash(p, a, b, pa, pb, protoHasPorts(p))
      && h === steerTupleHash(a, b, p, pa, pb);
  }), { numRuns: 3000 });
});
