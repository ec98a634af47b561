// halfback proxy between Linux hosts: curl in `cli` fetches through the proxy (netstar, two stacks) from a
// Python HTTP server in `srv`, with linkem (25 ms each way, loss) between the client and the proxy. Bodies
// arrive intact (sha256); on the client's wire (tshark) the proxy's proactive retransmissions show as
// retransmitted segments that go from the tail of the response backward; the default sender shows none.
//   [cli] vc 198.18.7.1 <-> la [mid: linkem] lb <-> p0 [prx: halfback 198.18.7.2 | 198.18.8.2] p1 <-> vs 198.18.8.1 [srv]
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { withTopology, type Topology } from '../../tools/netns';
import { hopConfig } from '../../tools/hop';
import { CLI_PATH } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { filePrefix, stopChecked, tmpDir, writeJson } from '../../tools/netstar';

const dir = tmpDir('halfback');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

export async function buildHalfbackTopology(topo: Topology, prefix: string, sender: 'halfback' | 'default', loss: number, app: Record<string, unknown> = {}) {
  for (const n of ['cli', 'mid', 'prx', 'srv']) await topo.ns(n);
  await topo.veth('cli', 'vc', 'mid', 'la', { disableOffloads: true });
  await topo.veth('mid', 'lb', 'prx', 'p0', { disableOffloads: true });
  await topo.veth('prx', 'p1', 'srv', 'vs', { disableOffloads: true });
  for (const [ns, i] of [['cli', 'vc'], ['mid', 'la'], ['mid', 'lb'], ['prx', 'p0'], ['prx', 'p1'], ['srv', 'vs']]) await topo.sysctl(ns, `net.ipv6.conf.${i}.disable_ipv6`, '1');
  await topo.addr('cli', 'vc', '198.18.7.1/24');
  await topo.addr('srv', 'vs', '198.18.8.1/24');
  const dirn = { delayMs: 25, loss, limit: 20000 };
  const em = topo.spawn('mid', process.execPath, [CLI_PATH, 'run', 'linkem', '-c', writeJson(dir, `${prefix}-em.json`, hopConfig(`${prefix}m`, 'la', 'lb', { ab: dirn, ba: dirn, seed: 11 })), '--stats', '--json']);
  await em.waitForOutput(/^STATS /m, 20000);
  const af = (i: string) => `net_af_packet${i === 'p0' ? 0 : 1},iface=${i},framesz=8192,blocksz=8192,framecnt=512`;
  const px = topo.spawn('prx', process.execPath, [CLI_PATH, 'run', 'halfback', '-c', writeJson(dir, `${prefix}-px.json`, {
    eal: { vdevs: [af('p0'), af('p1')], filePrefix: `${prefix}p` },
    pool: { size: 8191, dataRoom: 8192 + 128 },
    ports: [{ name: 'net_af_packet0', stack: { address: '198.18.7.2/24' } }, { name: 'net_af_packet1', stack: { address: '198.18.8.2/24' } }],
    statsIntervalMs: 200,
    app: { listen: { port: 0, tcpPort: 8080 }, upstream: { port: 1, address: '198.18.8.1', tcpPort: 8080 }, sender, defaultRttMs: 50, ...app },
  }), '--stats', '--json']);
  await px.waitForOutput(/^STATS /m, 20000);
  return { em, px };
}

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

describe('halfback proxy', () => {
  // Without loss every connection shows the proactive run (tail first, then each segment before it); with
  // loss, the receiver SACKs the tail segments after a hole and Halfback rightly skips them: the run shows
  // on most connections, and every retransmission the proxy counted is on the wire.
  test.each([[0, 0.5], [0.02, 0.3]])('curl through the proxy, loss %f: bodies intact; proactive retransmissions on the wire, tail first', async (loss, share) => {
    await withTopology('hb', async (topo) => {
      const { em, px } = await buildHalfbackTopology(topo, filePrefix('hb'), 'halfback', loss);
      const www = path.join(dir, 'www');
      fs.mkdirSync(www, { recursive: true });
      const blob = crypto.randomBytes(100 * 1024);
      fs.writeFileSync(path.join(www, 'f.bin'), blob);
      const http = topo.spawn('srv', 'python3', ['-m', 'http.server', '8080', '--bind', '198.18.8.1', '--directory', www]);
      const cap = path.join(dir, 'hb.pcap');
      const shark = topo.spawn('cli', 'tshark', ['-i', 'vc', '-w', cap, '-f', 'tcp port 8080']);
      await shark.waitForOutput(/Capturing on/, 20000);
      try {
        await waitFor(async () => (await topo.exec('cli', 'curl', ['-s', '-o', '/dev/null', '-m', '3', 'http://198.18.7.2:8080/f.bin'])).code === 0, { timeoutMs: 30000, what: 'a first fetch through the proxy' });
      } catch (e) {
        if (process.env.HB_DEBUG) {
          const sc = topo.spawn('srv', 'tshark', ['-i', 'vs', '-c', '40']);
          await sc.waitForOutput(/Capturing on/, 20000);
          await topo.exec('cli', 'curl', ['-s', '-o', '/dev/null', '-m', '3', 'http://198.18.7.2:8080/f.bin']);
          await sc.stop({ timeoutMs: 5000 });
          process.stderr.write(`SRV WIRE:\n${sc.stdout()}\n`);
          const v = await topo.exec('cli', 'curl', ['-v', '-o', '/dev/null', '-m', '3', 'http://198.18.7.2:8080/f.bin']);
          const d = await topo.exec('prx', 'curl', ['-v', '-o', '/dev/null', '-m', '3', 'http://198.18.8.1:8080/f.bin']);
          process.stderr.write(`curl: ${v.stderr}\nprx->srv: ${d.stderr}\nproxy: ${px.output().split("\n").filter((l) => l.startsWith("STATS")).slice(-1)[0]}\nerr: ${px.stderr().slice(-2000)}\nlinkem: ${em.output().slice(-1500)}\n`);
        }
        throw e;
      }
      const N = 10;
      for (let i = 0; i < N; i++) {
        const got = path.join(dir, `got${i}.bin`);
        const r = await topo.exec('cli', 'curl', ['-s', '-m', '60', '-o', got, 'http://198.18.7.2:8080/f.bin'], { timeoutMs: 70000 });
        expect(r.code).toBe(0);
        expect(sha(fs.readFileSync(got))).toBe(sha(blob));
      }
      await shark.stop({ timeoutMs: 10000 });
      await http.stop();
      const s = await stopChecked(px);
      await em.stop({ timeoutMs: 15000 });
      expect(s.app['hb.halfbackFlows']).toBe(N + 1);
      expect(s.app['hb.shortFlows']).toBe(N + 1);
      expect(s.app['hb.proactive']).toBeGreaterThan(N);
      expect(s.app['hb.errors']).toBe(0);
      // On the wire (tshark's decode of the client's capture): per connection, the proxy's data segments in
      // sending order; a segment is sent again when it ends at or below the highest end seen before. The
      // first ones after the paced flight are the proactive ones: from the last segment backward.
      const data = execFileSync('tshark', ['-r', cap, '-Y', 'tcp.srcport == 8080 and tcp.len > 0', '-T', 'fields', '-e', 'tcp.stream', '-e', 'tcp.seq', '-e', 'tcp.len'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .trim().split('\n').filter(Boolean).map((l) => l.split('\t').map(Number));
      const again = new Map<number, number[]>();
      const maxEnd = new Map<number, number>();
      for (const [st, seq, len] of data) {
        const m = maxEnd.get(st) ?? 0;
        if (seq + len <= m) again.set(st, [...(again.get(st) ?? []), seq]);
        else maxEnd.set(st, seq + len);
      }
      // A proactive run: the tail segment (highest seq) sent again, then the one before it.
      const tail = new Map<number, number>();
      for (const [st, seq] of data) tail.set(st, Math.max(tail.get(st) ?? 0, seq));
      let runs = 0;
      for (const [st, seqs] of again) {
        const i = seqs.indexOf(tail.get(st)!);
        if (i >= 0 && i + 1 < seqs.length && seqs[i + 1] < seqs[i]) runs++;
        else if (process.env.HB_DEBUG) process.stderr.write(`stream ${st} tail ${tail.get(st)}: ${seqs.join(' ')}\n`);
      }
      if (loss === 0) {
        // Nothing was lost: every segment sent again is a proactive one, and they go strictly backward.
        const notFalling = [...again].filter(([, seqs]) => seqs.some((x, i) => i > 0 && x >= seqs[i - 1]));
        expect(notFalling).toEqual([]);
        // and there are no others: at most what the proxy sent proactively (tshark-side count not exact: see README)
        const onWire = [...again.values()].reduce((n, l) => n + l.length, 0);
        expect(onWire).toBeLessThanOrEqual(s.app['hb.proactiveSent']);
        expect(onWire).toBeGreaterThanOrEqual(s.app['hb.proactiveSent'] / 2);
      }
      expect(runs).toBeGreaterThanOrEqual(Math.floor((N + 1) * share));
    });
  });
});
