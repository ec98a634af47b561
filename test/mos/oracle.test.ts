// The monitor against independent oracles on the same pcaps: REXMIT per packet against tshark's
// tcp.analysis flags (a segment carrying sequence space already seen: tshark splits it by timing and ACKs
// into retransmission / spurious / fast retransmission / out-of-order; the monitor, like mOS, has one
// event), and each direction's reassembled bytes against tcpflow's streams.
import * as fs from 'fs';
import * as path from 'path';
import { scapyPcap } from './harness';
import { checkAgainstOracles } from './oracle-check';

const dir = fs.mkdtempSync('/tmp/mos-oracle-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('monitor vs tshark and tcpflow', () => {
  test.each([1, 2, 3])('scapy flows, seed %i: REXMIT frames = tshark, streams = tcpflow', async (seed) => {
    const f = path.join(dir, `oracle${seed}.pcap`);
    scapyPcap('oracle', f, seed);
    const r = await checkAgainstOracles(f, dir);
    expect(r.flows).toBe(40);
    expect(r.rexmits).toBeGreaterThan(20);
    expect(r.bytes).toBeGreaterThan(40 * 1000);
  });
  test('the hand-made scenarios too', async () => {
    for (const name of ['basic', 'wrap']) {
      const f = path.join(dir, `${name}.pcap`);
      scapyPcap(name, f);
      await checkAgainstOracles(f, dir);
    }
  });
});
