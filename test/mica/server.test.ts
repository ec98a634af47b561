// mica-server as a real process between Linux hosts: a Python client on a kernel UDP socket (an encoder
// independent of mica/) runs every operation on every partition, multi-frame responses and malformed
// datagrams; partitions land on their owner shard through the steering rules (rte_flow refused by
// net_af_packet, so the software path), nothing leaks.
import * as fs from 'fs';
import * as path from 'path';
import { withTopology } from '../../tools/netns';
import { buildStackTopology } from '../../tools/stacktopo';
import { CLI_PATH } from '../../tools/proc';
import { filePrefix, lastStats, summaryOf, tmpDir, writeJson } from '../../tools/netstar';

const CLIENT = path.resolve(__dirname, '..', '..', '..', 'test', 'mica', 'mica_udp_client.py');

interface ClientOut { sent: number; checks: number; failures: string[]; frames: number; partitionsUsed: number[]; bigBatchFrames?: number }

describe('mica-server with a Linux UDP client', () => {
  const dir = tmpDir('mica');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('every operation on 4 partitions over 2 shards, multi-frame responses, malformed datagrams', async () => {
    await withTopology('mica', async (topo) => {
      const t = await buildStackTopology(topo, filePrefix('mica'));
      const cfg = t.serverConfig({ udpPort: 9000, partitions: 4, memoryMb: 4 }, {
        shards: 2,
        eal: { vdevs: ['net_af_packet0,iface=vs,qpairs=2'], filePrefix: filePrefix('mica') },
        ports: [{ name: 'net_af_packet0', stack: { address: '198.18.6.2/24', closedPorts: 'nf' } }],
        pool: { size: 4095 },
      });
      const file = writeJson(dir, 'server.json', cfg);
      const srv = topo.spawn('srv', process.execPath, [CLI_PATH, 'run', 'mica-server', '-c', file, '--stats', '--json']);
      try {
        await srv.waitForOutput(/^STATS /m, 20000);
        const r = await topo.exec('cli', '/usr/bin/python3', [CLIENT, t.serverIp, '9000', '4'], { timeoutMs: 60000 });
        expect(r.stderr).toBe('');
        const out = JSON.parse(r.stdout) as ClientOut;
        expect(out.failures).toEqual([]);
        expect(out.checks).toBeGreaterThan(150);
        expect(out.partitionsUsed).toEqual([0, 1, 2, 3]);
        expect(out.bigBatchFrames).toBeGreaterThan(1);
        // let a STATS line carry the final counters
        await srv.waitForOutput(/"opGet":\d+/, 5000);
        await new Promise((res) => setTimeout(res, 500));
        const st = lastStats(srv.output()) as unknown as { shards: { steeredByRule: number }[]; app: Record<string, number> };
        // 2 shards read one queue each; every datagram to a partition port matched a rule on the shard that read it
        expect(st.shards.reduce((a, s) => a + s.steeredByRule, 0)).toBe(out.sent);
        expect(st.app.handedOff).toBe(0);
        // count too high, count too low, a value that overruns, a truncated one; and many of the 400 random ones
        expect(st.app.frameBadCount).toBeGreaterThanOrEqual(3);
        expect(st.app.frameTruncated).toBeGreaterThanOrEqual(1);
        expect(st.app.frameBadCount + st.app.frameTruncated + st.app.batches).toBe(out.sent - 2); // the bad magic and the response are the other two
      } finally {
        await srv.stop({ timeoutMs: 15000 });
      }
      const s = summaryOf(srv.stdout()) as unknown as ReturnType<typeof summaryOf> & { steering: { rteFlow: number; software: number; rules: { path: string; reason?: string; shard: number; udpDst: number }[] } };
      expect(s.leaked).toBe(0);
      expect(s.heldAtClose).toBe(0);
      expect(s.exitCode).toBe(0);
      expect(s.steering.software).toBe(4);
      expect(s.steering.rteFlow).toBe(0);
      expect(s.steering.rules.map((x) => [x.udpDst, x.shard])).toEqual([[9000, 0], [9001, 1], [9002, 0], [9003, 1]]);
      for (const rule of s.steering.rules) expect(rule.reason).toMatch(/rte_flow_validate/);
      expect(s.app.frameBadMagic).toBe(1);
      expect(s.app.notRequest).toBe(1);
      expect(s.app.badPort).toBe(1);
      expect(s.app.unknownOp).toBeGreaterThanOrEqual(1);
      expect(s.app.wrongPartition).toBeGreaterThanOrEqual(1);
    });
  });
});
