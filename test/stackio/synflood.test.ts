// A SYN flood at our stack from a Linux host (hping3) while the same host's curl keeps fetching: the
// half-open queue stays bounded, the overflow is answered with SYN cookies, and ≥ 99 % of the requests
// succeed. The flood uses the client's own address with changing source ports; the client's kernel would
// reset every SYN-ACK it did not ask for (and so empty our queue), so its outgoing resets are dropped.
import * as fs from 'fs';
import { withTopology } from '../../tools/netns';
import { buildStackTopology } from '../../tools/stacktopo';
import { CLI_PATH } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { filePrefix, summaryOf, tmpDir, writeJson } from '../../tools/netstar';

describe('SYN flood against our stack (hping3)', () => {
  const dir = tmpDir('synflood');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('bounded half-open state, SYN cookies, curl keeps ≥ 99 % success, every mbuf back', async () => {
    await withTopology('sf', async (topo) => {
      const t = await buildStackTopology(topo, filePrefix('sf'));
      const cfg = t.serverConfig({ port: 80 });
      (cfg.ports as { stack: Record<string, unknown> }[])[0].stack.tcp = { synBacklog: 64 };
      const srv = topo.spawn('srv', process.execPath, [CLI_PATH, 'run', 'httpd', '-c', writeJson(dir, 'h.json', cfg), '--stats', '--json']);
      await srv.waitForOutput(/^STATS /m, 20000);
      await waitFor(async () => (await topo.exec('cli', 'ping', ['-c', '1', '-W', '1', t.serverIp])).code === 0, { timeoutMs: 15000, what: 'ping our stack' });
      expect((await topo.exec('cli', 'iptables', ['-A', 'OUTPUT', '-p', 'tcp', '--tcp-flags', 'RST', 'RST', '-j', 'DROP'])).code).toBe(0);
      // 30,000 SYNs at about 10 kpps from source ports counting up from 2000: the flood stops by itself.
      const flood = topo.spawn('cli', 'hping3', ['-S', '-p', '80', '-s', '2000', '-c', '30000', '-i', 'u100', '-q', t.serverIp]);
      let ok = 0, tries = 0;
      const t0 = Date.now();
      while (flood.running() || tries < 50) {
        tries++;
        const r = await topo.exec('cli', 'curl', ['-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://${t.serverIp}/bytes/1000`], { timeoutMs: 10000 });
        if (r.code === 0 && r.stdout.trim() === '200') ok++;
        if (Date.now() - t0 > 120_000) break;
      }
      await flood.stop({ timeoutMs: 10000 });
      await srv.stop({ timeoutMs: 15000 });
      const s = summaryOf(srv.stdout());
      // httpd reports its stack's TCP counters as stack.tcp….
      expect(ok / tries).toBeGreaterThanOrEqual(0.99);
      expect(tries).toBeGreaterThanOrEqual(50);
      expect(s.app['stack.tcpSynCookiesSent']).toBeGreaterThan(1000);
      expect(s.app['stack.tcpSynQueueOverflow']).toBe(0);
      expect(s.leaked).toBe(0);
    });
  }, 240_000);
});
