// stateless-nf between Linux hosts with its state in a store in another namespace (MICA, then Redis): a
// download through the NAT (sha256), UDP flows; the NAT killed with SIGKILL mid-transfer and a replacement
// started after it: the transfer completes intact and no RST crosses either link (tcpdump + tshark); two
// instances sharing the store never hand out the same external port.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { withTopology, type Topology } from '../../tools/netns';
import { CLI_PATH, type ManagedProcess } from '../../tools/proc';
import { appCounters, filePrefix, stopChecked, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { waitFor } from '../../tools/wait';

const PY = '/usr/bin/python3';

interface Net { inNs: string; outNs: string; nfNs: string; inIp: string; outIp: string; gwIn: string; ext: string }

/** in (198.18.20.x) <-> nf <-> out (198.18.21.1), nf <-> store ns (198.18.22.2); `k` varies the subnets. */
async function buildNat(topo: Topology, k: number, store: 'mica' | 'redis'): Promise<Net> {
  const n = (x: string): string => `${x}${k}`;
  for (const x of ['in', 'out', 'nf']) await topo.ns(n(x));
  await topo.veth(n('in'), 'vi', n('nf'), 'nin', { disableOffloads: true });
  await topo.veth(n('out'), 'vo', n('nf'), 'nout', { disableOffloads: true });
  for (const [ns, i] of [[n('in'), 'vi'], [n('out'), 'vo'], [n('nf'), 'nin'], [n('nf'), 'nout']]) await topo.sysctl(ns, `net.ipv6.conf.${i}.disable_ipv6`, '1');
  await topo.addr(n('in'), 'vi', `198.18.${20 + 4 * k}.1/24`);
  await topo.ip(n('in'), ['route', 'add', 'default', 'via', `198.18.${20 + 4 * k}.254`]);
  await topo.addr(n('out'), 'vo', `198.18.${21 + 4 * k}.1/24`);
  void store;
  return { inNs: n('in'), outNs: n('out'), nfNs: n('nf'), inIp: `198.18.${20 + 4 * k}.1`, outIp: `198.18.${21 + 4 * k}.1`, gwIn: `198.18.${20 + 4 * k}.254`, ext: `198.18.${21 + 4 * k}.254` };
}

async function nfConfig(topo: Topology, net: Net, label: string, backend: Record<string, unknown>, storePort: boolean, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const k = Number(net.nfNs.slice(2));
  const vdevs = ['net_af_packet0,iface=nin', 'net_af_packet1,iface=nout'];
  const ports: Record<string, unknown>[] = [
    { name: 'net_af_packet0', stack: { address: `${net.gwIn}/24`, closedPorts: 'nf' } },
    { name: 'net_af_packet1', stack: { address: `${net.ext}/24`, closedPorts: 'nf' } },
  ];
  if (storePort) {
    vdevs.push('net_af_packet2,iface=nst');
    ports.push({ name: 'net_af_packet2', stack: { address: `198.18.22.${10 + k}/24`, closedPorts: 'nf' } });
  }
  return {
    eal: { vdevs, filePrefix: filePrefix(label) }, pool: { size: 8191 }, ports, statsIntervalMs: 200,
    app: {
      neighbors: [{ ip: net.inIp, mac: await topo.mac(net.inNs, 'vi') }, { ip: net.outIp, mac: await topo.mac(net.outNs, 'vo') }],
      ...backend, ...extra,
    },
  };
}

async function startNf(topo: Topology, ns: string, cfg: string): Promise<ManagedProcess> {
  const p = topo.spawn(ns, process.execPath, [CLI_PATH, 'run', 'stateless-nf', '-c', cfg, '--stats', '--json']);
  await p.waitForOutput(/^STATS /m, 20000);
  return p;
}

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

async function failoverTransfer(topo: Topology, dir: string, net: Net, cfg: () => Promise<string>, label: string): Promise<void> {
  // the outside host serves a file; the inside host downloads it slowly through the NAT
  const www = path.join(dir, `www-${label}`);
  fs.mkdirSync(www, { recursive: true });
  const data = crypto.randomBytes(3 << 20);
  fs.writeFileSync(path.join(www, 'f.bin'), data);
  const http = topo.spawn(net.outNs, PY, ['-m', 'http.server', '8080', '--bind', net.outIp, '--directory', www]);
  await http.waitForOutput(/Serving HTTP/, 10000);
  const caps = [path.join(dir, `${label}-in.pcap`), path.join(dir, `${label}-out.pcap`)];
  const dumps = [topo.spawn(net.inNs, 'tcpdump', ['--immediate-mode', '-U', '-n', '-i', 'vi', '-w', caps[0], 'tcp']),
    topo.spawn(net.outNs, 'tcpdump', ['--immediate-mode', '-U', '-n', '-i', 'vo', '-w', caps[1], 'tcp'])];
  for (const d of dumps) await d.waitForOutput(/listening on/, 20000);
  let nf = await startNf(topo, net.nfNs, await cfg());
  // UDP through the NAT first: a Python echo on the outside host, 20 datagrams from the inside
  const echo = topo.spawn(net.outNs, PY, ['-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${net.outIp}', 5353))
print('ready', flush=True)
while True:
    d, a = s.recvfrom(2048); s.sendto(d + b'|%s:%d' % (a[0].encode(), a[1]), a)
`]);
  await echo.waitForOutput(/ready/, 10000);
  const u = await topo.exec(net.inNs, PY, ['-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
got = []
for i in range(20):
    for t in range(5):
        s.sendto(b'ping%d' % i, ('${net.outIp}', 5353))
        try:
            got.append(s.recvfrom(2048)[0].decode()); break
        except socket.timeout:
            pass
print('\\n'.join(got))
`], { timeoutMs: 30000 });
  const lines = u.stdout.trim().split('\n');
  expect(lines.length).toBe(20);
  // the outside host saw the external address, one external port for the flow
  expect(new Set(lines.map((l) => l.split('|')[1])).size).toBe(1);
  expect(lines[0]).toMatch(new RegExp(`^ping0\\|${net.ext.replace(/\./g, '\\.')}:\\d+$`));
  echo.kill();

  const out = path.join(dir, `${label}.bin`);
  const curl = topo.spawn(net.inNs, 'curl', ['-s', '-m', '120', '--limit-rate', '600k', '-o', out, `http://${net.outIp}:8080/f.bin`]);
  await waitFor(() => fs.existsSync(out) && fs.statSync(out).size > 600 << 10, { timeoutMs: 30000, what: 'transfer under way' });
  const before = appCounters(nf);
  expect(before.allocated).toBeGreaterThanOrEqual(2); // the UDP flow and the TCP connection
  nf.kill();
  await new Promise((r) => setTimeout(r, 300));
  // the replacement starts with empty caches: every flow it meets is looked up in the store
  nf = await startNf(topo, net.nfNs, await cfg());
  await waitFor(() => !curl.running(), { timeoutMs: 120000, what: 'the transfer ends' });
  expect(curl.exitInfo()?.code).toBe(0);
  expect(sha(fs.readFileSync(out))).toBe(sha(data));
  const after = appCounters(nf);
  expect(after.storeHits).toBeGreaterThanOrEqual(1);
  expect(after.allocated).toBe(0); // nothing new: the connection's mapping came from the store
  await stopChecked(nf);
  for (const d of dumps) await d.stop({ timeoutMs: 10000 });
  http.kill();
  for (const c of caps) {
    const rst = execFileSync('tshark', ['-r', c, '-Y', 'tcp.flags.reset == 1', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' }).trim();
    expect(rst).toBe('');
    const n = execFileSync('tshark', ['-r', c, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' }).trim().split('\n').length;
    expect(n).toBeGreaterThan(500);
  }
}

describe('stateless-nf', () => {
  const dir = tmpDir('snf');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('MICA store: UDP and a download through the NAT; SIGKILL mid-transfer and a replacement: intact, no RST', async () => {
    await withTopology('snfm', async (topo) => {
      const net = await buildNat(topo, 0, 'mica');
      await topo.ns('st');
      await topo.veth('st', 'vs', net.nfNs, 'nst', { disableOffloads: true });
      await topo.sysctl('st', 'net.ipv6.conf.vs.disable_ipv6', '1');
      await topo.sysctl(net.nfNs, 'net.ipv6.conf.nst.disable_ipv6', '1');
      const storeCfg = writeJson(dir, 'store.json', {
        eal: { vdevs: ['net_af_packet0,iface=vs'], filePrefix: filePrefix('snst') }, pool: { size: 4095 },
        ports: [{ name: 'net_af_packet0', stack: { address: '198.18.22.2/24', closedPorts: 'nf' } }],
        statsIntervalMs: 200, app: { udpPort: 9000, partitions: 2, memoryMb: 8 },
      });
      const store = topo.spawn('st', process.execPath, [CLI_PATH, 'run', 'mica-server', '-c', storeCfg, '--stats', '--json']);
      await store.waitForOutput(/^STATS /m, 20000);
      const backend = { backend: 'mica', mica: { portIndex: 2, servers: [{ ip: '198.18.22.2', udpPort: 9000, partitions: 2, mac: await topo.mac('st', 'vs') }], timeoutMs: 200, retries: 5 } };
      let n = 0;
      await failoverTransfer(topo, dir, net, async () => writeJson(dir, `nf${n++}.json`, await nfConfig(topo, net, `snf${n}`, backend, true)), 'mica');
      const st = await stopChecked(store);
      expect(st.app.store_items).toBeGreaterThanOrEqual(4); // two flows: a port lease and a mapping each
    });
  });
});

/** A bridge in namespace `st` (198.18.23.2/24) where Redis listens; each NF namespace gets a kernel link to it. */
async function redisNet(topo: Topology, nfs: string[]): Promise<void> {
  await topo.ns('st');
  await topo.ip('st', ['link', 'add', 'br0', 'type', 'bridge']);
  await topo.addr('st', 'br0', '198.18.23.2/24');
  await topo.ip('st', ['link', 'set', 'br0', 'up']);
  for (let i = 0; i < nfs.length; i++) {
    await topo.veth(nfs[i], 'kr', 'st', `b${i}`, { disableOffloads: true });
    await topo.ip('st', ['link', 'set', `b${i}`, 'master', 'br0']);
    await topo.addr(nfs[i], 'kr', `198.18.23.${10 + i}/24`);
  }
}

/** redis-server processes in `st`, each with its own config and data directory; a cluster of them when asked. */
async function startRedis(topo: Topology, dir: string, ports: number[], cluster: boolean): Promise<ManagedProcess[]> {
  const procs: ManagedProcess[] = [];
  for (const p of ports) {
    const d = path.join(dir, `redis-${p}`);
    fs.mkdirSync(d, { recursive: true });
    const conf = path.join(d, 'redis.conf');
    fs.writeFileSync(conf, [`bind 198.18.23.2`, `port ${p}`, `dir ${d}`, 'save ""', 'appendonly no', 'protected-mode no', 'daemonize no',
      ...(cluster ? ['cluster-enabled yes', `cluster-config-file ${path.join(d, 'nodes.conf')}`, 'cluster-node-timeout 5000'] : [])].join('\n') + '\n');
    const r = topo.spawn('st', 'redis-server', [conf]);
    await r.waitForOutput(/Ready to accept connections/, 20000);
    procs.push(r);
  }
  if (cluster) {
    const c = await topo.exec('st', 'redis-cli', ['--cluster', 'create', ...ports.map((p) => `198.18.23.2:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeoutMs: 60000 });
    expect(c.code).toBe(0);
    await waitFor(async () => (await topo.exec('st', 'redis-cli', ['-h', '198.18.23.2', '-p', String(ports[0]), 'cluster', 'info'])).stdout.includes('cluster_state:ok'), { timeoutMs: 30000, what: 'redis cluster ok' });
  }
  return procs;
}

describe('stateless-nf on Redis', () => {
  const dir = tmpDir('snfr');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('one redis-server: UDP and a download; SIGKILL mid-transfer and a replacement: intact, no RST', async () => {
    await withTopology('snfr', async (topo) => {
      const net = await buildNat(topo, 0, 'redis');
      await redisNet(topo, [net.nfNs]);
      const redis = await startRedis(topo, dir, [6379], false);
      const backend = { backend: 'redis', redis: { nodes: [{ host: '198.18.23.2', port: 6379 }] } };
      let n = 0;
      await failoverTransfer(topo, dir, net, async () => writeJson(dir, `rnf${n++}.json`, await nfConfig(topo, net, `snr${n}`, backend, false)), 'redis');
      const keys = await topo.exec('st', 'redis-cli', ['-h', '198.18.23.2', 'dbsize']);
      expect(Number(keys.stdout.trim())).toBeGreaterThanOrEqual(4);
      for (const r of redis) await r.stop({ timeoutMs: 10000 });
    });
  });

  test('a Redis Cluster of three nodes shared by two NAT instances: no external port handed out twice', async () => {
    await withTopology('snfc', async (topo) => {
      const nets = [await buildNat(topo, 0, 'redis'), await buildNat(topo, 1, 'redis')];
      await redisNet(topo, nets.map((x) => x.nfNs));
      const redis = await startRedis(topo, dir, [7000, 7001, 7002], true);
      const backend = { backend: 'redis', redis: { nodes: [7000, 7001, 7002].map((port) => ({ host: '198.18.23.2', port })), cluster: true } };
      const nfs: ManagedProcess[] = [];
      for (let i = 0; i < 2; i++)
        nfs.push(await startNf(topo, nets[i].nfNs, writeJson(dir, `c${i}.json`, await nfConfig(topo, nets[i], `snc${i}`, backend, false, { portRange: [20000, 20023] }))));
      // each outside host echoes the source it sees; each inside host opens 10 UDP flows (10 source ports), both at once
      const echoes = nets.map((net) => topo.spawn(net.outNs, PY, ['-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${net.outIp}', 5353))
print('ready', flush=True)
while True:
    d, a = s.recvfrom(2048); s.sendto(b'%d' % a[1], a)
`]));
      for (const e of echoes) await e.waitForOutput(/ready/, 10000);
      const runs = nets.map((net) => topo.exec(net.inNs, PY, ['-c', `
import socket
ports = []
for i in range(10):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    for t in range(5):
        s.sendto(b'x', ('${net.outIp}', 5353))
        try:
            ports.append(s.recvfrom(100)[0].decode()); break
        except socket.timeout:
            pass
print(' '.join(ports))
`], { timeoutMs: 60000 }));
      const seen = (await Promise.all(runs)).map((r) => r.stdout.trim().split(' ').filter(Boolean).map(Number));
      for (const ports of seen) {
        expect(ports.length).toBe(10);
        expect(new Set(ports).size).toBe(10);
        for (const p of ports) expect(p >= 20000 && p <= 20023).toBe(true);
      }
      // the two instances' external ports are disjoint: the store's atomic add gave each port to one flow
      expect(seen[0].filter((p) => seen[1].includes(p))).toEqual([]);
      await waitFor(() => nfs.reduce((a, p) => a + (appCounters(p).allocated ?? 0), 0) >= 20, { timeoutMs: 5000, what: 'counters reported' });
      const c = nfs.map((p) => appCounters(p));
      expect(c[0].allocated + c[1].allocated).toBe(20);
      expect(c[0].portCollisions + c[1].portCollisions).toBeGreaterThan(0);
      for (const e of echoes) e.kill();
      for (const p of nfs) await stopChecked(p);
      for (const r of redis) await r.stop({ timeoutMs: 10000 });
      void summaryOf;
    });
  });
});

describe('stateless-nf on MICA: two instances', () => {
  const dir = tmpDir('snf2');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('two NAT instances sharing one mica-server never hand out the same external port', async () => {
    await withTopology('snf2', async (topo) => {
      const nets = [await buildNat(topo, 0, 'mica'), await buildNat(topo, 1, 'mica')];
      // the MICA server and both NATs' store ports on one bridge
      await topo.ns('sw');
      await topo.ns('st');
      await topo.ip('sw', ['link', 'add', 'br0', 'type', 'bridge']);
      await topo.ip('sw', ['link', 'set', 'br0', 'up']);
      for (const [ns, a, b] of [['st', 'vs', 'ps'], [nets[0].nfNs, 'nst', 'p0'], [nets[1].nfNs, 'nst', 'p1']] as const) {
        await topo.veth(ns, a, 'sw', b, { disableOffloads: true });
        await topo.ip('sw', ['link', 'set', b, 'master', 'br0']);
        await topo.sysctl(ns, `net.ipv6.conf.${a}.disable_ipv6`, '1');
      }
      const store = topo.spawn('st', process.execPath, [CLI_PATH, 'run', 'mica-server', '-c', writeJson(dir, 'store.json', {
        eal: { vdevs: ['net_af_packet0,iface=vs'], filePrefix: filePrefix('sn2s') }, pool: { size: 4095 },
        ports: [{ name: 'net_af_packet0', stack: { address: '198.18.22.2/24', closedPorts: 'nf' } }],
        statsIntervalMs: 200, app: { udpPort: 9000, partitions: 2, memoryMb: 8 },
      }), '--stats', '--json']);
      await store.waitForOutput(/^STATS /m, 20000);
      const backend = { backend: 'mica', mica: { portIndex: 2, servers: [{ ip: '198.18.22.2', udpPort: 9000, partitions: 2, mac: await topo.mac('st', 'vs') }], timeoutMs: 200, retries: 5 } };
      const nfs: ManagedProcess[] = [];
      for (let i = 0; i < 2; i++)
        nfs.push(await startNf(topo, nets[i].nfNs, writeJson(dir, `m${i}.json`, await nfConfig(topo, nets[i], `sn2${i}`, backend, true, { portRange: [20000, 20023] }))));
      const echoes = nets.map((net) => topo.spawn(net.outNs, PY, ['-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${net.outIp}', 5353))
print('ready', flush=True)
while True:
    d, a = s.recvfrom(2048); s.sendto(b'%d' % a[1], a)
`]));
      for (const e of echoes) await e.waitForOutput(/ready/, 10000);
      const runs = nets.map((net) => topo.exec(net.inNs, PY, ['-c', `
import socket
ports = []
for i in range(10):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    for t in range(5):
        s.sendto(b'x', ('${net.outIp}', 5353))
        try:
            ports.append(s.recvfrom(100)[0].decode()); break
        except socket.timeout:
            pass
print(' '.join(ports))
`], { timeoutMs: 60000 }));
      const seen = (await Promise.all(runs)).map((r) => r.stdout.trim().split(' ').filter(Boolean).map(Number));
      for (const ports of seen) {
        expect(ports.length).toBe(10);
        expect(new Set(ports).size).toBe(10);
      }
      expect(seen[0].filter((p) => seen[1].includes(p))).toEqual([]);
      await waitFor(() => nfs.reduce((a, p) => a + (appCounters(p).allocated ?? 0), 0) >= 20, { timeoutMs: 5000, what: 'counters reported' });
      const c = nfs.map((p) => appCounters(p));
      expect(c[0].allocated + c[1].allocated).toBe(20);
      expect(c[0].portCollisions + c[1].portCollisions).toBeGreaterThan(0);
      for (const e of echoes) e.kill();
      for (const p of nfs) await stopChecked(p);
      await stopChecked(store);
    });
  });
});
