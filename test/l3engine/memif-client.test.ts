// The TS memif client (no EAL) as an l3engine client: it completes the memif handshake with the engine's DPDK
// memif server, reflects datagrams from a Linux host (5-tuple swapped) so they come back intact, is refused with
// the server's reason on a wrong secret, and leaves the engine without a leaked mbuf.
import * as fs from 'fs';
import { withTopology, type Topology } from '../../tools/netns';
import { appCounters, filePrefix, startAppIn, stopChecked, tmpDir, writeJson } from '../../tools/netstar';
import { waitFor } from '../../tools/wait';
import { MemifClient } from '../../apps/l3engine/memif/client';
import { swap5 } from '../../apps/l3engine/reflect';
import { TP_IP, buildL3Topology, engineConfig, sockPath, udpProbe } from './topo';

const PY = '/usr/bin/python3';

describe('TS memif client (no EAL)', () => {
  const dir = tmpDir('l3m');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('handshake with DPDK net_memif, datagrams reflected intact both ways, wrong secret refused; no leak', async () => {
    await withTopology('l3m', async (topo: Topology) => {
      await buildL3Topology(topo, []);
      const ecfg = engineConfig(dir, filePrefix('l3m'), [{ name: 'ts', addresses: [TP_IP], ports: [9999], mac: '02:c0:00:00:00:44' }], {
        services: [{ name: 'refl', instances: ['ts'] }],
        routes: [{ prefix: `${TP_IP}/32`, proto: 'udp', service: 'refl' }],
      });
      (ecfg.eal as { vdevs: string[] }).vdevs[1] += ',secret=ts-secret';
      const eng = await startAppIn(topo, 'eng', 'l3engine', writeJson(dir, 'engm.json', ecfg));
      await expect(MemifClient.connect({ socket: sockPath(dir, 'ts'), secret: 'wrong' })).rejects.toThrow(/Incorrect secret/);
      const c = await MemifClient.connect({ socket: sockPath(dir, 'ts'), secret: 'ts-secret' });
      let reflected = 0;
      const timer = setInterval(() => {
        for (const f of c.receive()) {
          swap5(new DataView(f.buffer, f.byteOffset, f.length), 0, f.length);
          if (c.send(f)) reflected++;
        }
      }, 1);
      try {
        const r = JSON.parse((await topo.exec('h', PY, udpProbe(TP_IP, 9999, 45000, 40, 2), { timeoutMs: 60000 })).stdout) as { sent: number; ok: number; bad: number };
        expect(r).toEqual({ sent: 40, ok: 40, bad: 0 });
        expect(reflected).toBe(40);
        await waitFor(() => appCounters(eng)['client.ts.rx'] === 40, { timeoutMs: 5000, what: 'engine counters' });
        expect(appCounters(eng)['client.ts.tx']).toBe(40);
        expect(c.poll()).toBe(true);
      } finally {
        clearInterval(timer);
        c.close();
      }
      await stopChecked(eng);
    });
  }, 120000);
});
