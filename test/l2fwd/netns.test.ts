// Two Linux hosts talk through l2fwd over net_af_packet: ping, and an HTTP transfer whose bytes are checked.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { withTopology } from '../../tools/netns';
import { buildL2Topology } from '../../tools/l2topo';
import { CLI_PATH } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { filePrefix, summaryOf, tmpDir, writeJson } from '../../tools/netstar';

describe('l2fwd between Linux hosts over af_packet', () => {
  const dir = tmpDir('l2ns');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('ping, curl of 8 MB with matching sha256 and iperf3 pass through; all mbufs come back', async () => {
    await withTopology('l2', async (topo) => {
      const t = await buildL2Topology(topo, filePrefix('ns'));
      const cfg = writeJson(dir, 'cfg.json', t.config());
      const fwd = topo.spawn('fw', process.execPath, [CLI_PATH, 'run', 'l2fwd', '-c', cfg, '--stats', '--json']);
      await fwd.waitForOutput(/^STATS /m, 20000);

      // ping (the first one also resolves ARP through the forwarder)
      await waitFor(async () => (await topo.exec('ha', 'ping', ['-c', '1', '-W', '1', t.ipB])).code === 0, { timeoutMs: 15000, what: 'first ping through l2fwd' });
      const ping = await topo.exec('ha', 'ping', ['-c', '20', '-i', '0.05', '-W', '1', t.ipB], { timeoutMs: 15000 });
      expect(ping.stdout).toMatch(/20 packets transmitted, 20 received/);

      // HTTP transfer: random file served by Python in B, fetched by curl in A, compared by sha256.
      const www = path.join(dir, 'www');
      fs.mkdirSync(www, { recursive: true });
      const data = crypto.randomBytes(8 << 20);
      fs.writeFileSync(path.join(www, 'blob.bin'), data);
      const server = topo.spawn('hb', 'python3', ['-m', 'http.server', '8080', '--bind', t.ipB, '--directory', www]);
      await waitFor(async () => (await topo.exec('ha', 'curl', ['-s', '-o', '/dev/null', '-m', '2', `http://${t.ipB}:8080/`])).code === 0, { timeoutMs: 15000, what: 'HTTP server reachable' });
      const out = path.join(dir, 'got.bin');
      const curl = await topo.exec('ha', 'curl', ['-s', '-m', '60', '-o', out, `http://${t.ipB}:8080/blob.bin`], { timeoutMs: 70000 });
      expect(curl.code).toBe(0);
      const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
      expect(sha(fs.readFileSync(out))).toBe(sha(data));
      await server.stop();

      // iperf3: a bounded transfer (8 MB) completes.
      const iperfSrv = topo.spawn('hb', 'iperf3', ['-s', '-1', '--forceflush', '-B', t.ipB]);
      await iperfSrv.waitForOutput(/Server listening/, 10000);
      const ip = await topo.exec('ha', 'iperf3', ['-c', t.ipB, '-n', '8M', '-J'], { timeoutMs: 60000 });
      expect(ip.code).toBe(0);
      // (the receiver's count is sampled when the sender finishes, so it may lag; curl above checks the bytes)
      const report = JSON.parse(ip.stdout) as { error?: string; end: { sum_sent: { bytes: number }; sum_received: { bytes: number } } };
      expect(report.error).toBeUndefined();
      expect(report.end.sum_sent.bytes).toBeGreaterThanOrEqual(8 << 20);
      expect(report.end.sum_received.bytes).toBeGreaterThan(0);

      const stop = await fwd.stop({ timeoutMs: 15000 });
      expect(stop.killed).toBe(false);
      expect(stop.code).toBe(0);
      const s = summaryOf(fwd.stdout());
      expect(s.ports[0].rx).toBeGreaterThan(5000);
      expect(s.ports[1].tx).toBeGreaterThan(5000);
      expect(s.leaked).toBe(0);
      expect(s.heldAtClose).toBe(0);
    });
  });
});
