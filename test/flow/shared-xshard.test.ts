// SharedService across shards: two shards, packets steered over both; every flow handler awaits a call to a
// service owned by shard 0. All calls arrive, none overlaps another on the owner, and no mbuf leaks.
import * as fs from 'fs';
import * as path from 'path';
import { generateUdpFlowsPcap } from '../../tools/pcapgen';
import { filePrefix, runUntilSent, tmpDir, writeJson } from '../../tools/netstar';

describe('SharedService across shards (submitTo)', () => {
  const dir = tmpDir('sharedsvc');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('200 flows on two shards: 200 serialized calls on shard 0, half of them from shard 1', async () => {
    const inPcap = path.join(dir, 'in.pcap');
    generateUdpFlowsPcap(inPcap, { flows: 200, frameSize: 64 });
    const cfg = writeJson(dir, 'cfg.json', {
      eal: { vdevs: [`net_pcap0,rx_pcap=${inPcap}`, 'net_null0,no-rx=1'], filePrefix: filePrefix('ss') },
      ports: [{ name: 'net_pcap0' }, { name: 'net_null0' }],
      shards: 2,
      statsIntervalMs: 100,
      app: { outDir: dir },
    });
    const appPath = path.resolve(__dirname, 'apps', 'sharedcount.js');
    const s = await runUntilSent(appPath, cfg, 1, 200, '200 packets through the shared service');
    expect(s.leaked).toBe(0);
    expect(s.heldAtClose).toBe(0);
    const sh = [0, 1].map((i) => JSON.parse(fs.readFileSync(path.join(dir, `shard${i}.json`), 'utf8')) as {
      answered: number; failed: number; stats: { remoteCalls: number; calls: number }; own: { total: number; maxActive: number; byShard: number[] } | null;
    });
    expect(sh[0].answered + sh[1].answered).toBe(200);
    expect(sh[0].failed + sh[1].failed).toBe(0);
    expect(sh[1].stats.remoteCalls).toBe(sh[1].answered);
    expect(sh[1].answered).toBeGreaterThan(50);
    expect(sh[0].own!.total).toBe(200);
    expect(sh[0].own!.maxActive).toBe(1);
    expect(sh[0].own!.byShard.slice(0, 2)).toEqual([sh[0].answered, sh[1].answered]);
  });
});
