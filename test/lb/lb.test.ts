// load-balancer between Linux hosts: thousands of connections spread over three backends within ±10 %, the
// backends see the LB's address (full NAT); a long transfer keeps its backend while the backend set changes
// (the backends file is rewritten: its own backend removed, another added); a dead backend gets no new flows
// after the health interval, and comes back. No mbuf leaks.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { withTopology, type Topology } from '../helpers/netns';
import { CLI_PATH, type ManagedProcess } from '../helpers/proc';
import { waitFor } from '../helpers/wait';
import { filePrefix, lastStats, summaryOf, tmpDir, writeJson, type Summary } from '../helpers/netstar';
import { BACKENDS, COUNT_CLIENT, PY, VIP, buildLbTopology, startBackend, type LbTopology } from './topo';

interface CountResult { counts: Record<string, number>; peers: string[]; errors: number }

function appCounters(p: ManagedProcess): Record<string, number> {
  return (lastStats(p.output()) as unknown as { app?: Record<string, number> } | null)?.app ?? {};
}

async function startLb(topo: Topology, t: LbTopology, dir: string, name: string, app: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<ManagedProcess> {
  const cfg = writeJson(dir, `${name}.json`, t.config(app, extra));
  const p = topo.spawn('lb', process.execPath, [CLI_PATH, 'run', 'load-balancer', '-c', cfg, '--stats', '--json']);
  await p.waitForOutput(/^STATS /m, 20000);
  return p;
}

async function stopLb(p: ManagedProcess): Promise<Summary> {
  const r = await p.stop({ timeoutMs: 15000 });
  expect(r.killed).toBe(false);
  const s = summaryOf(p.stdout());
  expect(s.leaked).toBe(0);
  expect(s.heldAtClose).toBe(0);
  expect(r.code).toBe(0);
  return s;
}

async function count(topo: Topology, dir: string, n: number): Promise<CountResult> {
  const script = path.join(dir, 'count.py');
  if (!fs.existsSync(script)) fs.writeFileSync(script, COUNT_CLIENT);
  const r = await topo.exec('cl', PY, [script, VIP, '80', String(n)], { timeoutMs: 120000 });
  return JSON.parse(r.stdout) as CountResult;
}

const vipWith = (ips: string[]): Record<string, unknown>[] => [{ vip: VIP, port: 80, backends: ips.map((ip) => ({ ip, port: 8080 })) }];

describe('load-balancer between Linux hosts', () => {
  const dir = tmpDir('lb');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each([1, 2])('3000 connections spread over 3 backends within ±10 %%; the backends see the LB address (full NAT); %i shard(s)', async (shards) => {
    await withTopology(`lb1s${shards}`, async (topo) => {
      const t = await buildLbTopology(topo, filePrefix('lb1'));
      const servers = await Promise.all(BACKENDS.slice(0, 3).map((ip) => startBackend(topo, dir, ip)));
      const lb = await startLb(topo, t, dir, `lb1s${shards}`, { vips: vipWith(BACKENDS.slice(0, 3)) }, { shards });
      await waitFor(async () => (await topo.exec('cl', 'curl', ['-s', '-m', '2', `http://${VIP}/`])).code === 0, { timeoutMs: 20000, what: 'first request through the LB' });
      const r = await count(topo, dir, 3000);
      expect(r.errors).toBe(0);
      expect(r.peers).toEqual(['198.18.2.1']);
      const total = Object.values(r.counts).reduce((a, b) => a + b, 0);
      expect(total).toBe(3000);
      for (const ip of BACKENDS.slice(0, 3)) {
        const share = (r.counts[ip] ?? 0) / total;
        expect(Math.abs(share - 1 / 3) / (1 / 3)).toBeLessThan(0.1);
      }
      for (const s of servers) await s.stop();
      const s = await stopLb(lb);
      // Every connection was new to conntrack (a client port reused while its old entry lingers in TCP_CLOSED
      // reopens that entry: ct.new, not a new flow — as in OVS).
      expect(s.app['ct.new']).toBeGreaterThanOrEqual(3000);
      // With two shards both took flows (replies came back to the shard that translated them).
      for (const sh of s.shards) expect((sh as unknown as { app: Record<string, number> }).app['flows.new']).toBeGreaterThan(0);
    });
  }, 180000);

  test('a long transfer keeps its backend while the set changes (backends file rewritten); new flows follow the new set', async () => {
    await withTopology('lb2', async (topo) => {
      const t = await buildLbTopology(topo, filePrefix('lb2'));
      const servers = await Promise.all(BACKENDS.map((ip) => startBackend(topo, dir, ip)));
      const file = path.join(dir, 'backends.json');
      fs.writeFileSync(file, JSON.stringify(vipWith(BACKENDS.slice(0, 3))));
      const lb = await startLb(topo, t, dir, 'lb2', { backendsFile: file, reloadMs: 100 });
      await waitFor(async () => (await topo.exec('cl', 'curl', ['-s', '-m', '2', `http://${VIP}/`])).code === 0, { timeoutMs: 20000, what: 'first request through the LB' });
      const hdr = path.join(dir, 'hdr.txt'), out = path.join(dir, 'big.bin');
      const big = topo.spawn('cl', 'curl', ['-s', '-m', '60', '-D', hdr, '-o', out, `http://${VIP}/big`]);
      let serving = '';
      await waitFor(() => {
        const m = fs.existsSync(hdr) ? /X-Backend: (\S+)/i.exec(fs.readFileSync(hdr, 'utf8')) : null;
        if (m) serving = m[1];
        return m !== null;
      }, { timeoutMs: 10000, what: 'the long transfer to start' });
      // Remove the backend serving it, add the fourth one.
      const next = BACKENDS.slice(0, 3).filter((ip) => ip !== serving).concat(BACKENDS[3]);
      fs.writeFileSync(file, JSON.stringify(vipWith(next)));
      await waitFor(() => (appCounters(lb).reloads ?? 0) >= 1, { timeoutMs: 5000, what: 'the backends file to be reloaded' });
      expect(big.running()).toBe(true);
      const r = await count(topo, dir, 300);
      expect(r.errors).toBe(0);
      expect(r.counts[serving] ?? 0).toBe(0);
      expect(r.counts[BACKENDS[3]] ?? 0).toBeGreaterThan(0);
      const done = await big.exited;
      expect(done.code).toBe(0);
      // The whole file, intact, from the backend that started it.
      const chunk = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const want = crypto.createHash('sha256').update(Buffer.concat(Array.from({ length: 128 * 256 }, () => chunk))).digest('hex');
      expect(crypto.createHash('sha256').update(fs.readFileSync(out)).digest('hex')).toBe(want);
      for (const s of servers) await s.stop();
      const s = await stopLb(lb);
      expect(s.app.reloads).toBeGreaterThanOrEqual(1);
    });
  }, 180000);

  test('a dead backend gets no new flows after the health interval, and comes back when it answers again', async () => {
    await withTopology('lb3', async (topo) => {
      const t = await buildLbTopology(topo, filePrefix('lb3'));
      const servers = await Promise.all(BACKENDS.slice(0, 3).map((ip) => startBackend(topo, dir, ip)));
      const lb = await startLb(topo, t, dir, 'lb3', { vips: vipWith(BACKENDS.slice(0, 3)) });
      await waitFor(() => (appCounters(lb)['health.ok'] ?? 0) >= 6, { timeoutMs: 20000, what: 'health checks to succeed' });
      const dead = BACKENDS[2];
      await servers[2].stop();
      // interval 200 ms, fall 2: down within about half a second of the kill.
      await waitFor(() => appCounters(lb)[`backend.${dead}:8080.up`] === 0, { timeoutMs: 3000, what: 'the dead backend to be marked down' });
      const r = await count(topo, dir, 300);
      expect(r.errors).toBe(0);
      expect(r.counts[dead] ?? 0).toBe(0);
      expect((r.counts[BACKENDS[0]] ?? 0) + (r.counts[BACKENDS[1]] ?? 0)).toBe(300);
      servers[2] = await startBackend(topo, dir, dead);
      await waitFor(() => appCounters(lb)[`backend.${dead}:8080.up`] === 1, { timeoutMs: 3000, what: 'the backend to come back' });
      const r2 = await count(topo, dir, 300);
      expect(r2.counts[dead] ?? 0).toBeGreaterThan(0);
      for (const s of servers) await s.stop();
      const s = await stopLb(lb);
      expect(s.app['health.failRst']).toBeGreaterThanOrEqual(2);
      expect(s.app['health.wentDown']).toBe(1);
      expect(s.app['health.cameUp']).toBe(1);
    });
  }, 180000);
});
