// load-balancer between Linux hosts: thousands of connections spread over three backends within ±10 %, the
// backends see the LB's address (full NAT); a long transfer keeps its backend while the backend set changes
// (the backends file is rewritten: its own backend removed, another added); a dead backend gets no new flows
// after the health interval, and comes back. No mbuf leaks.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { withTopology, type Topology } from '../../tools/netns';
import type { ManagedProcess } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { appCounters, filePrefix, startAppIn, stopChecked, tmpDir, writeJson } from '../../tools/netstar';
import { BACKENDS, COUNT_CLIENT, PY, VIP, buildLbTopology, startBackend, type LbTopology } from './topo';

interface CountResult { counts: Record<string, number>; peers: string[]; errors: number }

function startLb(topo: Topology, t: LbTopology, dir: string, name: string, app: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<ManagedProcess> {
  return startAppIn(topo, 'lb', 'load-balancer', writeJson(dir, `${name}.json`, t.config(app, extra)));
}

const stopLb = stopChecked;

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

  test('UDP VIP: 30 flows of 20 request/response pairs each stick to one backend, arrive intact, and are offloaded after the first exchanges', async () => {
    await withTopology('lbu', async (topo) => {
      const t = await buildLbTopology(topo, filePrefix('lbu'));
      // Each backend echoes with its own address and the peer it saw appended.
      const echoes = BACKENDS.slice(0, 3).map((ip) => topo.spawn('bk', PY, ['-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${ip}', 5353)); print('listening', flush=True)
while True:
    d, a = s.recvfrom(2048); s.sendto(d + ('|${ip}|%s' % a[0]).encode(), a)
`]));
      for (const e of echoes) await e.waitForOutput(/listening/, 10000);
      const lb = await startLb(topo, t, dir, 'lbu', {
        vips: [{ vip: VIP, port: 53, proto: 'udp', backends: BACKENDS.slice(0, 3).map((ip) => ({ ip, port: 5353 })) }],
        health: { enabled: false },
      });
      const r = await topo.exec('cl', PY, ['-c', `
import socket, json
out = {'flows': [], 'bad': 0, 'peers': set()}
for f in range(30):
    # distinct source ports: an ephemeral port may repeat, joining an earlier flow's live connection
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 42000 + f)); s.settimeout(2); s.connect(('${VIP}', 53))
    used = set()
    for i in range(20):
        msg = ('%d-%d-' % (f, i)).encode() + bytes(range(256))[: (f * 20 + i) % 200]
        s.send(msg)
        body, backend, peer = s.recv(4096).rsplit(b'|', 2)
        backend, peer = backend.decode(), peer.decode()
        if body != msg: out['bad'] += 1
        used.add(backend); out['peers'].add(peer)
    out['flows'].append(sorted(used)); s.close()
out['peers'] = sorted(out['peers'])
print(json.dumps(out), flush=True)
`], { timeoutMs: 60000 });
      expect(r.stderr).toBe('');
      const res = JSON.parse(r.stdout) as { flows: string[][]; bad: number; peers: string[] };
      expect(res.bad).toBe(0);
      // Every flow stayed on one backend; the backends saw only the LB's address (full NAT); more than one
      // backend served flows.
      expect(res.flows.every((u) => u.length === 1)).toBe(true);
      expect(res.peers).toEqual(['198.18.2.1']);
      expect(new Set(res.flows.map((u) => u[0])).size).toBeGreaterThan(1);
      // Per flow: datagram 1, its reply (steady from then on) and datagram 2 went through the handler, the
      // other 37 of 40 through the offloaded entries.
      await waitFor(() => (appCounters(lb)['flow.offloaded'] ?? 0) >= 30 * 37, { timeoutMs: 3000, what: 'offload counters' });
      expect(appCounters(lb)['flow.offloaded']).toBe(30 * 37);
      // Health checks are off, so both ports are the native executor's: it took every offloaded datagram.
      expect(appCounters(lb)['flow.offloadedNative']).toBe(30 * 37);
      for (const e of echoes) e.kill();
      const s = await stopLb(lb);
      expect(s.app['ct.rpl']).toBe(30 * 20);
    });
  });

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
