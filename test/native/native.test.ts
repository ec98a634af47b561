// The native layer through real DPDK drivers, each case in its own process (one EAL per process).
import { execFileSync } from 'child_process';
import * as path from 'path';

function runChild(name: string): Record<string, any> {
  const out = execFileSync(process.execPath, [path.join(__dirname, `${name}.child.js`)], { timeout: 60000, encoding: 'utf8' });
  const line = out.trim().split('\n').pop()!;
  return JSON.parse(line);
}

describe('native addon', () => {
  test('loads and reports the DPDK version', () => {
    const { native } = require('../../native');
    expect(native.eal.version()).toMatch(/^DPDK 22\.11/);
    expect(native.eal.running()).toBe(false);
  });

  describe('EAL on net_ring and net_null', () => {
    let r: Record<string, any>;
    beforeAll(() => { r = runChild('ring'); });

    test('bytes sent through net_ring come back exactly', () => {
      expect(r.ports).toBe(2);
      expect(r.ringInfo).toBe('net_ring');
      expect(r.txSent).toBe(32);
      expect(r.heldBeforeTx).toBe(32);
      expect(r.heldAfterTx).toBe(0);
      expect(r.received).toBe(32);
      expect(r.identical).toBe(true);
      expect(r.sameChunks).toBe(true);
    });

    test('bad arguments raise typed errors and never touch memory outside a packet', () => {
      expect(r.errors).toEqual({
        txUnknownSlot: 'ERR_BAD_PACKET', txOutside: 'ERR_BAD_PACKET', txZeroLen: 'ERR_BAD_PACKET',
        txDuplicate: 'ERR_BAD_PACKET', txShortArray: 'ERR_INVALID_ARG', txBadQueue: 'ERR_INVALID_ARG',
        rxBadPort: 'ERR_INVALID_ARG', rxNotTyped: 'ERR_INVALID_ARG', freeTwice: 'ERR_BAD_PACKET',
        copyBad: 'ERR_BAD_PACKET', poolBad: 'ERR_INVALID_ARG', configureStarted: 'ERR_PORT_STATE', configureBadQueues: 'ERR_INVALID_ARG',
        configureTooManyQueues: 'ERR_PORT_CONFIG', rxStoppedPort: 'ERR_PORT_STATE',
        portBad: 'ERR_PORT', ealTwice: 'ERR_EAL_STATE',
      });
      expect(r.errorsTyped).toBe(true);
    });

    test('a failed burst leaves the packet held, and every mbuf returns to the pool', () => {
      // the slot from the failed bursts was still held until freeTwice freed it once
      expect(r.allocOne).toBe(1);
      expect(r.heldAtEnd).toBe(0);
      expect(r.inUse).toBe(0);
    });
  });

  test('Lcores in several worker threads map pool memory and forward at once; nothing leaks', () => {
    const r = runChild('workers');
    expect(r.results).toHaveLength(3);
    const lcores = new Set(r.results.map((x: any) => x.lcore));
    expect(lcores.size).toBe(3);
    for (const w of r.results) {
      expect(w.chunkBytes).toBeGreaterThan(4095 * 2048);
      expect(w.fwd).toBeGreaterThan(1000);
      expect(w.held).toBe(0);
      expect(w.closeHeld).toBe(0);
    }
    expect(r.inUse).toBe(0);
  });
});
