// Flow-table exhaustion at ovs-nat (issue 9, floods): with the connection table full, a flood of new flows is
// refused and counted while every packet of the flows that already exist keeps passing, and the table never
// grows past its bound. One shard: the cross-shard ring under a new-flow flood on two shards is issue 9 item 9.
import { runNf } from '../../tools/harness';
import { buildUdpFrame } from '../../tools/pcapgen';

const EXISTING = 32, NEW_PER_ROUND = 200, ROUNDS = 20, TABLE = 64;
const MARK_EXISTING = 0x4545, MARK_NEW = 0x4e4e;

function udp(srcPort: number, mark: number): Uint8Array {
  return buildUdpFrame({
    srcMac: '02:aa:00:00:00:01', dstMac: '02:00:00:00:00:10', srcIp: '198.18.1.7', dstIp: '198.19.0.9',
    srcPort, dstPort: 53, ipId: mark, frameSize: 80,
  });
}

test('ovs-nat with a full table: 4,000 new flows refused and counted, all 672 packets of the 32 existing flows pass', async () => {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < EXISTING; i++) frames.push(udp(1000 + i, MARK_EXISTING));
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < NEW_PER_ROUND; j++) {
      frames.push(udp(20000 + r * NEW_PER_ROUND + j, MARK_NEW));
      if (j < EXISTING) frames.push(udp(1000 + j, MARK_EXISTING)); // interleaved with the flood
    }
  }
  const existingSent = frames.filter((f) => ((f[18] << 8) | f[19]) === MARK_EXISTING).length;
  const newSent = frames.length - existingSent;
  const r = await runNf({
    app: 'ovs-nat',
    settings: {
      inside: { port: 0, address: '198.18.255.254/16' },
      outside: { port: 1, address: '198.19.255.254/24', gateway: '198.19.255.1' },
      neighbors: [{ ip: '198.19.255.1', mac: '02:00:00:00:00:fe' }],
      checkDstMac: false,
      snat: [{ src: '198.18.0.0/16', addresses: '198.19.255.254', ports: '1024-65535' }],
      maxConnsPerShard: TABLE,
    },
    ports: [{ frames }, {}],
    timeoutMs: 90_000,
  });
  const out = r.output[1];
  const existingOut = out.filter((f) => ((f[18] << 8) | f[19]) === MARK_EXISTING).length;
  const newOut = out.length - existingOut;
  expect(existingSent).toBe(EXISTING + EXISTING * ROUNDS);
  // Every packet of an existing flow came out; new flows got only the table's free slots.
  expect(existingOut).toBe(existingSent);
  expect(newOut).toBeLessThanOrEqual(TABLE - EXISTING);
  // What was refused is counted, and everything received is accounted for.
  expect(r.counters['flow.tableFull']).toBe(newSent - newOut);
  expect(r.counters['flow.flowsCreated']).toBe(EXISTING + newOut);
  expect(r.ports[0].rx).toBe(frames.length);
  expect(r.ports[0].dropped + out.length).toBe(frames.length);
  expect(r.mbufs).toEqual({ held: 0, leaked: 0 });
  expect(r.exitCode).toBe(0);
}, 120_000);
