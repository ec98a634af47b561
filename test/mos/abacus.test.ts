// abacus's accounting on crafted flows (scapy): genuine retransmissions charged per policy and never
// flagged; free-riding (a "retransmission" with other bytes, data beyond the window) flagged or dropped with
// exact byte counts; usage inflation (acknowledged data sent again towards the subscriber) never charged.
import * as fs from 'fs';
import * as path from 'path';
import { Monitor } from '../../mos';
import { Verdict } from '../../reactor/app';
import { Accounting, type AbacusPolicy } from '../../apps/abacus/accounting';
import { FakeSink, feed, scapyPcap } from './harness';

const dir = fs.mkdtempSync('/tmp/mos-abacus-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(p: Partial<AbacusPolicy>) {
  const sink = new FakeSink();
  const mon = new Monitor<null>({ sink, createContext: () => null });
  const acc = new Accounting({ subscribers: ['198.18.0.0/24'], chargeRetransmissions: false, freeRiding: 'flag', inflation: 'flag', ...p });
  acc.attach(mon, [1, 0], false);
  const recs = scapyPcap('abacus', path.join(dir, 'abacus.pcap'));
  const fed = await feed(mon, sink, recs);
  return { acc, fed, u: acc.usage.get(0xc6120001)!.toJSON() };
}

describe('abacus accounting', () => {
  test('flag policy, retransmissions not charged: exact counts and alerts', async () => {
    const { acc, u } = await run({});
    expect(u).toMatchObject({ up: 100, tcpRexmit: 1000, freeRide: 1100, inflation: 1000 });
    // down: 3000 (flow 1) + 1000 + 1000 + 100 (flow 2, free-riding charged when flagged) + 1000 (flow 3)
    expect(u.down).toBe(6100);
    expect(acc.alerts.map((a) => `${a.alert}/${a.kind}/${a.client.split(':')[1]}@${a.offset}:${a.bytes}/${a.differing}`)).toEqual([
      'freeRiding/conflictingRetransmission/41002@0:1000/600',
      'freeRiding/outOfWindow/41002@5000:100/0',
      'inflation/ackedRetransmission/41003@0:1000/0',
    ]);
  });

  test('retransmissions charged: the genuine one counts, inflation still does not', async () => {
    const { u } = await run({ chargeRetransmissions: true });
    expect(u.down).toBe(7100);
    expect(u.inflation).toBe(1000);
  });

  test('drop policy: free-riding and inflating segments dropped inline, not charged', async () => {
    const { u, fed, acc } = await run({ freeRiding: 'drop', inflation: 'drop' });
    expect(u.down).toBe(5000);
    expect(fed.verdicts.filter((v) => v === Verdict.DROP)).toHaveLength(3);
    expect(acc.alerts.map((a) => a.action)).toEqual(['drop', 'drop', 'drop']);
  });
});
