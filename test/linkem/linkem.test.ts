// linkem between two Linux hosts: delay shows in ping RTTs, loss/reordering/duplication show in its counters
// and in tshark's TCP analysis on the host side, and transfers still complete intact.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { withTopology } from '../../tools/netns';
import { buildL2Topology } from '../../tools/l2topo';
import { CLI_PATH } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { filePrefix, summaryOf, tmpDir, writeJson } from '../../tools/netstar';

describe('linkem between Linux hosts', () => {
  const dir = tmpDir('linkem');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('20 ms delay each way and 3 % loss: RTTs, retransmissions, counters; an 8 MB download stays intact', async () => {
    await withTopology('lk', async (topo) => {
      const t = await buildL2Topology(topo, filePrefix('lk'));
      const dirn = { delayMs: 20, jitterMs: 1, loss: 0.03, limit: 20000 };
      const cfg = writeJson(dir, 'cfg.json', { ...t.config({ statsIntervalMs: 200 }), app: { ab: dirn, ba: dirn, seed: 42 } });
      const em = topo.spawn('fw', process.execPath, [CLI_PATH, 'run', 'linkem', '-c', cfg, '--stats', '--json']);
      await em.waitForOutput(/^STATS /m, 20000);
      await waitFor(async () => (await topo.exec('ha', 'ping', ['-c', '1', '-W', '1', t.ipB])).code === 0, { timeoutMs: 20000, what: 'first ping through linkem' });
      const ping = await topo.exec('ha', 'ping', ['-c', '30', '-i', '0.05', '-W', '1', t.ipB], { timeoutMs: 30000 });
      const rtts = [...ping.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
      expect(rtts.length).toBeGreaterThan(15);
      expect(Math.min(...rtts)).toBeGreaterThanOrEqual(38); // 2 x (20 - 1 jitter)

      const cap = path.join(dir, 'a.pcap');
      const shark = topo.spawn('ha', 'tshark', ['-i', 'veta', '-w', cap, '-f', 'tcp port 8080']);
      await shark.waitForOutput(/Capturing on/, 20000);
      const www = path.join(dir, 'www');
      fs.mkdirSync(www, { recursive: true });
      const blob = crypto.randomBytes(8 << 20);
      fs.writeFileSync(path.join(www, 'b.bin'), blob);
      const http = topo.spawn('hb', 'python3', ['-m', 'http.server', '8080', '--bind', t.ipB, '--directory', www]);
      await waitFor(async () => (await topo.exec('ha', 'curl', ['-s', '-o', '/dev/null', '-m', '3', `http://${t.ipB}:8080/`])).code === 0, { timeoutMs: 20000, what: 'HTTP server' });
      const got = path.join(dir, 'got.bin');
      const curl = await topo.exec('ha', 'curl', ['-s', '-m', '120', '-o', got, `http://${t.ipB}:8080/b.bin`], { timeoutMs: 130000 });
      expect(curl.code).toBe(0);
      const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
      expect(sha(fs.readFileSync(got))).toBe(sha(blob));
      await http.stop();
      await shark.stop({ timeoutMs: 10000 });

      // The kernel really saw an impaired path: retransmissions in tshark's TCP analysis.
      const rex = execFileSync('tshark', ['-r', cap, '-Y', 'tcp.analysis.retransmission or tcp.analysis.fast_retransmission', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
      expect(rex.trim().split('\n').filter(Boolean).length).toBeGreaterThan(0);

      const stop = await em.stop({ timeoutMs: 15000 });
      expect(stop.code).toBe(0);
      const s = summaryOf(em.stdout());
      expect(s.app['ab.lost']).toBeGreaterThan(0);
      expect(s.app['ba.lost']).toBeGreaterThan(0);
      expect(s.app['ab.delayed']).toBeGreaterThan(1000);
      // loss rate near the setting (3 %) over thousands of packets
      const rate = (s.app['ab.lost'] + s.app['ba.lost']) / (s.app['ab.in'] + s.app['ba.in']);
      expect(rate).toBeGreaterThan(0.015);
      expect(rate).toBeLessThan(0.05);
      expect(s.leaked).toBe(0);
    });
  });

  test('reordering and duplication: tshark sees them, the transfer is intact', async () => {
    await withTopology('lr', async (topo) => {
      const t = await buildL2Topology(topo, filePrefix('lr'));
      const dirn = { delayMs: 5, reorder: 0.05, duplicate: 0.02 };
      const cfg = writeJson(dir, 'cfg2.json', { ...t.config({ statsIntervalMs: 200 }), app: { ab: dirn, ba: dirn, seed: 7 } });
      const em = topo.spawn('fw', process.execPath, [CLI_PATH, 'run', 'linkem', '-c', cfg, '--stats', '--json']);
      await em.waitForOutput(/^STATS /m, 20000);
      await waitFor(async () => (await topo.exec('ha', 'ping', ['-c', '1', '-W', '1', t.ipB])).code === 0, { timeoutMs: 20000, what: 'first ping' });
      const cap = path.join(dir, 'r.pcap');
      const shark = topo.spawn('hb', 'tshark', ['-i', 'vetb', '-w', cap, '-f', 'tcp port 5201']);
      await shark.waitForOutput(/Capturing on/, 20000);
      const srv = topo.spawn('hb', 'iperf3', ['-s', '-1', '--forceflush', '-B', t.ipB]);
      await srv.waitForOutput(/Server listening/, 10000);
      const ip = await topo.exec('ha', 'iperf3', ['-c', t.ipB, '-n', '4M', '-J'], { timeoutMs: 60000 });
      expect(ip.code).toBe(0);
      await shark.stop({ timeoutMs: 10000 });
      const ooo = execFileSync('tshark', ['-r', cap, '-Y', 'tcp.analysis.out_of_order or tcp.analysis.duplicate_ack or tcp.analysis.retransmission', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
      expect(ooo.trim().split('\n').filter(Boolean).length).toBeGreaterThan(0);
      const stop = await em.stop({ timeoutMs: 15000 });
      expect(stop.code).toBe(0);
      const s = summaryOf(em.stdout());
      expect(s.app['ab.reordered']).toBeGreaterThan(0);
      expect(s.app['ab.duplicated']).toBeGreaterThan(0);
      expect(s.leaked).toBe(0);
    });
  });
});
