// MicaClient against mica-server, both real processes on af_packet: two servers behind a bridge (routing by
// key hash, every operation, batching, responses steered to the issuing shard), a lossy path through linkem
// (retries succeed), a server killed (typed timeouts within the budget, never a hang) and restarted (service
// resumes). Every process ends with all mbufs back.
import * as fs from 'fs';
import { withTopology, type Topology } from '../../tools/netns';
import { CLI_PATH, type ManagedProcess } from '../../tools/proc';
import { appCounters, filePrefix, stopChecked, tmpDir, writeJson, lastStats } from '../../tools/netstar';
import { waitFor } from '../../tools/wait';
import { hopConfig } from '../../tools/hop';

function nodeCfg(iface: string, address: string, shards: number, app: Record<string, unknown>, label: string): Record<string, unknown> {
  return {
    eal: { vdevs: [`net_af_packet0,iface=${iface}${shards > 1 ? `,qpairs=${shards}` : ''}`], filePrefix: filePrefix(label) },
    pool: { size: 4095 },
    ports: [{ name: 'net_af_packet0', stack: { address, closedPorts: 'nf' } }],
    shards, statsIntervalMs: 200, app,
  };
}

async function start(topo: Topology, ns: string, app: string, cfg: string): Promise<ManagedProcess> {
  const p = topo.spawn(ns, process.execPath, [CLI_PATH, 'run', app, '-c', cfg, '--stats', '--json']);
  await p.waitForOutput(/^STATS /m, 20000);
  return p;
}

describe('MicaClient with mica-server processes', () => {
  const dir = tmpDir('micacl');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('two servers behind a bridge: every operation, routed by key hash, batched, answered on the issuing shard', async () => {
    await withTopology('micacl', async (topo) => {
      const sw = await topo.ns('sw');
      for (const n of ['cli', 's1', 's2']) await topo.ns(n);
      await topo.ip('sw', ['link', 'add', 'br0', 'type', 'bridge']);
      await topo.ip('sw', ['link', 'set', 'br0', 'up']);
      for (const [n, a, b] of [['cli', 'vc', 'pc'], ['s1', 'v1', 'p1'], ['s2', 'v2', 'p2']] as const) {
        await topo.veth(n, a, 'sw', b, { disableOffloads: true });
        await topo.ip('sw', ['link', 'set', b, 'master', 'br0']);
        await topo.sysctl(n, `net.ipv6.conf.${a}.disable_ipv6`, '1');
      }
      expect(sw).toBeTruthy();
      const servers = [{ ip: '198.18.7.2', udpPort: 9000, partitions: 2 }, { ip: '198.18.7.3', udpPort: 9100, partitions: 3 }];
      const s1 = await start(topo, 's1', 'mica-server', writeJson(dir, 's1.json', nodeCfg('v1', '198.18.7.2/24', 2, { udpPort: 9000, partitions: 2, memoryMb: 4 }, 'ms1')));
      const s2 = await start(topo, 's2', 'mica-server', writeJson(dir, 's2.json', nodeCfg('v2', '198.18.7.3/24', 1, { udpPort: 9100, partitions: 3, memoryMb: 4 }, 'ms2')));
      const keys = 60;
      const cl = await start(topo, 'cli', 'mica-client', writeJson(dir, 'c.json', nodeCfg('vc', '198.18.7.1/24', 2, { servers, keys, valueSize: 40, timeoutMs: 1000 }, 'mc')));
      await waitFor(() => (appCounters(cl).done ?? 0) === 2 || (appCounters(cl).otherErrors ?? 0) + (appCounters(cl).timeouts ?? 0) > 0, { timeoutMs: 30000, what: 'client checks done' });
      await new Promise((r) => setTimeout(r, 400));
      const c = appCounters(cl);
      expect(c.otherErrors).toBe(0);
      expect(c.timeouts).toBe(0);
      expect([c.checksFailed, c.firstFailed]).toEqual([0, 0]);
      // per shard: 6 checks per key, 3 for the counter, one per key for the parallel gets
      expect(c.checksOk).toBe(2 * (keys * 6 + 3 + keys));
      expect(c.responses).toBe(c.requests);
      expect(c.stale).toBe(0);
      expect(c.handedOff).toBe(0);
      // the sequential checks go one per datagram; the 50 increments and 60 gets per shard issued together share a few
      expect(c.requests - c.batchesSent).toBeGreaterThan(2 * (50 + 60) - 2 * 12);
      const st = lastStats(cl.output()) as unknown as { shards: { steeredByRule: number }[] };
      for (const sh of st.shards) expect(sh.steeredByRule).toBeGreaterThan(0);
      const a1 = appCounters(s1), a2 = appCounters(s2);
      expect(a1.opSet).toBeGreaterThan(20);
      expect(a2.opSet).toBeGreaterThan(20);
      expect(a1.wrongPartition + a2.wrongPartition).toBe(0);
      expect(a1.handedOff).toBe(0);
      for (const p of [cl, s1, s2]) await stopChecked(p);
    });
  });

  test('20% loss each way through linkem: retries make every check pass', async () => {
    await withTopology('micals', async (topo) => {
      for (const n of ['cli', 'mid', 'srv']) await topo.ns(n);
      await topo.veth('cli', 'vc', 'mid', 'la', { disableOffloads: true });
      await topo.veth('mid', 'lb', 'srv', 'vs', { disableOffloads: true });
      const srv = await start(topo, 'srv', 'mica-server', writeJson(dir, 'ls.json', nodeCfg('vs', '198.18.8.2/24', 1, { udpPort: 9000, partitions: 2, memoryMb: 4 }, 'lss')));
      const mid = await start(topo, 'mid', 'linkem', writeJson(dir, 'lm.json', hopConfig(filePrefix('lsm'), 'la', 'lb', { ab: { loss: 0.2 }, ba: { loss: 0.2 }, seed: 3 })));
      const keys = 40;
      const cl = await start(topo, 'cli', 'mica-client', writeJson(dir, 'lc.json', nodeCfg('vc', '198.18.8.1/24', 1,
        // the server's MAC given (as mica2's directory does): ARP through a lossy link takes the stack's 1 s retries
        { servers: [{ ip: '198.18.8.2', udpPort: 9000, partitions: 2, mac: await topo.mac('srv', 'vs') }], keys, timeoutMs: 20, retries: 12, idempotentOnly: true }, 'lsc')));
      await waitFor(() => (appCounters(cl).done ?? 0) === 1 || (appCounters(cl).otherErrors ?? 0) + (appCounters(cl).timeouts ?? 0) > 0, { timeoutMs: 60000, what: 'client checks done' });
      await new Promise((r) => setTimeout(r, 400));
      const c = appCounters(cl);
      if (c.timeouts) process.stderr.write(JSON.stringify(c) + '\n' + cl.output().slice(-3000));
      expect(c.timeouts).toBe(0);
      expect(c.otherErrors).toBe(0);
      expect(c.checksFailed).toBe(0);
      expect(c.checksOk).toBe(keys * 2 + keys);
      expect(c.retries).toBeGreaterThan(5);
      for (const p of [cl, mid, srv]) await stopChecked(p);
    });
  });

  test('server killed: typed timeouts within the budget, no hang; restarted: service resumes', async () => {
    await withTopology('micakl', async (topo) => {
      for (const n of ['cli', 'srv']) await topo.ns(n);
      await topo.veth('cli', 'vc', 'srv', 'vs', { disableOffloads: true });
      const srvCfg = (label: string): string => writeJson(dir, `${label}.json`, nodeCfg('vs', '198.18.9.2/24', 1, { udpPort: 9000, partitions: 1, memoryMb: 2 }, label));
      let srv = await start(topo, 'srv', 'mica-server', srvCfg('ks1'));
      const cl = await start(topo, 'cli', 'mica-client', writeJson(dir, 'kc.json', nodeCfg('vc', '198.18.9.1/24', 1,
        { servers: [{ ip: '198.18.9.2', udpPort: 9000, partitions: 1 }], mode: 'probe', intervalMs: 10, timeoutMs: 10, retries: 5 }, 'kc')));
      await waitFor(() => (appCounters(cl).ok ?? 0) >= 20, { timeoutMs: 15000, what: 'probes answered' });
      srv.kill();
      await waitFor(() => (appCounters(cl).timeouts ?? 0) >= 5, { timeoutMs: 15000, what: 'typed timeouts after the kill' });
      const dead = appCounters(cl);
      expect(dead.otherErrors).toBe(0);
      // 6 tries x 10 ms, found by a scan every 2.5 ms, on a loop that may sleep up to 5 ms (slack for a loaded machine)
      expect(dead.lastTimeoutAfterMs).toBeGreaterThanOrEqual(60);
      expect(dead.lastTimeoutAfterMs).toBeLessThan(250);
      expect(dead.inFlight).toBeLessThanOrEqual(1);
      srv = await start(topo, 'srv', 'mica-server', srvCfg('ks2'));
      const okBefore = appCounters(cl).ok;
      await waitFor(() => appCounters(cl).ok >= okBefore + 20, { timeoutMs: 15000, what: 'service resumed after restart' });
      for (const p of [cl, srv]) await stopChecked(p);
    });
  });
});
