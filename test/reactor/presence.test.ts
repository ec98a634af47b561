// The known-flow presence maps that steer a new-flow flood away from existing flows at a busy cross-shard ring
// (net/presence.ts): what the owner marks, what a steering shard let through, and when either stops counting.
import { FlowPresence, PRESENCE_BYTES, presenceTick } from '../../net/presence';

function pair(ttlMs = 3000): [FlowPresence, FlowPresence] {
  const bufs = [new SharedArrayBuffer(PRESENCE_BYTES), new SharedArrayBuffer(PRESENCE_BYTES)];
  return [new FlowPresence(bufs, 0, ttlMs), new FlowPresence(bufs, 1, ttlMs)];
}

test('a shard that never marks is not active; its first mark makes it active for the others', () => {
  const [a, b] = pair();
  expect(a.active(1)).toBe(false);
  b.mark(0x12345678);
  expect(a.active(1)).toBe(true);
  expect(a.active(0)).toBe(false);
  // Or declared before any traffic (MetaFlow does when built).
  a.declare();
  expect(b.active(0)).toBe(true);
});

test('an owner mark is known to the other shard within the TTL and not after it', () => {
  const [a, b] = pair(3000);
  a.setTick(1000); b.setTick(1000);
  b.mark(0xdeadbeef);
  expect(a.known(1, 0xdeadbeef)).toBe(true);
  expect(a.known(1, 0xdeadbeee)).toBe(false);
  a.setTick(1003);
  expect(a.known(1, 0xdeadbeef)).toBe(true);
  a.setTick(1004);
  expect(a.known(1, 0xdeadbeef)).toBe(false);
  // A new accepted packet renews it.
  b.setTick(1004);
  b.mark(0xdeadbeef);
  expect(a.known(1, 0xdeadbeef)).toBe(true);
});

test('a flow this shard let through is known to it for 2 s, by its whole hash (a shared bucket is not enough)', () => {
  const [a] = pair(3000);
  a.setTick(500);
  a.sentTo(1, 0x0001abcd);
  expect(a.known(1, 0x0001abcd)).toBe(true);
  expect(a.known(1, 0x0002abcd)).toBe(false); // same low 16 bits, another flow
  expect(a.known(0, 0x0001abcd)).toBe(false); // another destination
  a.setTick(502);
  expect(a.known(1, 0x0001abcd)).toBe(true);
  a.setTick(503);
  expect(a.known(1, 0x0001abcd)).toBe(false);
});

test('ticks are wall-clock seconds, the same in every thread', () => {
  const t = presenceTick(performance.now());
  expect(Math.abs(t - Math.floor(Date.now() / 1000))).toBeLessThanOrEqual(1);
});

test('bad maps are refused', () => {
  expect(() => new FlowPresence([new SharedArrayBuffer(16)], 0, 1000)).toThrow(/bytes/);
  expect(() => new FlowPresence([new SharedArrayBuffer(PRESENCE_BYTES)], 1, 1000)).toThrow(/no map for shard 1/);
});
