// ovs-nat between Linux hosts in namespaces: curl through the NAT (the server sees the translated source),
// two clients with one source port get two translated ports, unsolicited inbound traffic is dropped, an ICMP
// port-unreachable comes back translated with good checksums (tshark), an exhausted port range fails new
// connections cleanly, UDP and TCP entries expire on time, the conntrack dump, and two shards. No mbuf leaks.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { withTopology, type Topology } from '../../tools/netns';
import type { ManagedProcess } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { appCounters, filePrefix, startAppIn, stopChecked, tmpDir, writeJson } from '../../tools/netstar';
import { buildNatTopology, PEER_SERVER, PY, type NatTopology } from '../../tools/nattopo';

function startNat(topo: Topology, t: NatTopology, dir: string, name: string, app: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<ManagedProcess> {
  return startAppIn(topo, 'nat', 'ovs-nat', writeJson(dir, `${name}.json`, t.config(app, extra)));
}

const stopNat = stopChecked;

async function startPeerServer(topo: Topology, dir: string, ip: string, port: number): Promise<ManagedProcess> {
  const script = path.join(dir, 'peer_server.py');
  fs.writeFileSync(script, PEER_SERVER);
  const srv = topo.spawn('sv', PY, [script, ip, String(port)]);
  await srv.waitForOutput(/listening/, 10000);
  return srv;
}

async function curl(topo: Topology, url: string, args: string[] = []): Promise<{ code: number; body: string }> {
  const r = await topo.exec('cl', 'curl', ['-s', '-m', '5', ...args, url], { timeoutMs: 10000 });
  return { code: r.code ?? -1, body: r.stdout.trim() };
}

describe('ovs-nat between Linux hosts', () => {
  const dir = tmpDir('nat');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('curl through the NAT; the server sees the translated source; two clients on one source port get two ports; unsolicited inbound is dropped; dump on SIGUSR2', async () => {
    await withTopology('nat1', async (topo) => {
      const t = await buildNatTopology(topo, filePrefix('nat1'));
      const dump = path.join(dir, 'ct1');
      const nat = await startNat(topo, t, dir, 'nat1', { dumpFile: dump });
      const srv = await startPeerServer(topo, dir, t.serverIp, 8080);
      await waitFor(async () => (await curl(topo, `http://${t.serverIp}:8080/`)).code === 0, { timeoutMs: 20000, what: 'first curl through the NAT' });
      const r = await curl(topo, `http://${t.serverIp}:8080/`);
      expect(r.code).toBe(0);
      expect(r.body.split(':')[0]).toBe(t.outsideIp);

      // Pings go through too (ICMP echo tracked and translated, replies mapped back).
      const ping1 = await topo.exec('cl', 'ping', ['-c', '2', '-i', '0.2', '-W', '2', t.serverIp]);
      expect(ping1.code).toBe(0);

      // Same source port from two client addresses: the second cannot keep it.
      const a = await curl(topo, `http://${t.serverIp}:8080/`, ['--interface', t.clientIps[0], '--local-port', '40000']);
      const b = await curl(topo, `http://${t.serverIp}:8080/`, ['--interface', t.clientIps[1], '--local-port', '40000']);
      expect(a.code).toBe(0);
      expect(b.code).toBe(0);
      const pa = Number(a.body.split(':')[1]), pb = Number(b.body.split(':')[1]);
      expect(a.body.split(':')[0]).toBe(t.outsideIp);
      expect(b.body.split(':')[0]).toBe(t.outsideIp);
      expect(pa).toBe(40000); // the original port is kept when free
      expect(pb).not.toBe(pa);

      // Unsolicited: a SYN and a UDP datagram from outside to the NAT's address and to the inside subnet.
      await topo.ip('sv', ['route', 'add', '198.18.1.0/24', 'via', t.outsideIp]);
      const before = appCounters(nat)['drop.unsolicited'] ?? 0;
      const listener = topo.spawn('cl', 'nc', ['-l', '-k', '-p', '7777']);
      const nc1 = await topo.exec('sv', 'nc', ['-z', '-w', '1', t.clientIps[0], '7777'], { timeoutMs: 5000 });
      const nc2 = await topo.exec('sv', 'nc', ['-z', '-w', '1', t.outsideIp, '7777'], { timeoutMs: 5000 });
      await topo.exec('sv', PY, ['-c', `import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('${t.clientIps[0]}', 7778))`]);
      expect(nc1.code).not.toBe(0);
      expect(nc2.code).not.toBe(0);
      await waitFor(() => (appCounters(nat)['drop.unsolicited'] ?? 0) >= before + 3, { timeoutMs: 5000, what: 'unsolicited drops counted' });
      listener.kill();

      // A ping to the NAT's outside address is answered by the NAT itself.
      const ping = await topo.exec('sv', 'ping', ['-c', '1', '-W', '2', t.outsideIp]);
      expect(ping.code).toBe(0);

      // Conntrack dump on SIGUSR2: the connections of the two clients are there, translated.
      nat.signal('SIGUSR2');
      await waitFor(() => fs.existsSync(`${dump}.0`), { timeoutMs: 5000, what: 'conntrack dump' });
      const text = fs.readFileSync(`${dump}.0`, 'utf8');
      expect(text).toMatch(new RegExp(`tcp,orig=\\(src=${t.clientIps[0].replace(/\./g, '\\.')},dst=${t.serverIp.replace(/\./g, '\\.')},sport=40000,dport=8080\\),reply=\\(src=${t.serverIp.replace(/\./g, '\\.')},dst=${t.outsideIp.replace(/\./g, '\\.')},sport=8080,dport=40000\\)`));
      expect(text).toContain(`sport=8080,dport=${pb})`);

      await srv.stop();
      const s = await stopNat(nat);
      expect(s.app['ct.snat']).toBeGreaterThanOrEqual(3);
      expect(s.app['drop.unsolicited']).toBeGreaterThanOrEqual(3);
      expect(s.app['l3.echoReplies']).toBeGreaterThanOrEqual(1);
    });
  });

  test('an ICMP port unreachable comes back translated; the client socket sees it; tshark finds no bad checksum', async () => {
    await withTopology('nat2', async (topo) => {
      const t = await buildNatTopology(topo, filePrefix('nat2'));
      const nat = await startNat(topo, t, dir, 'nat2');
      const cap = path.join(dir, 'icmp.pcap');
      // Immediate mode and -U: each packet is read and written at once, so stopping the capture loses nothing
      // (libpcap's default ring hands packets over in blocks, up to a second late).
      const shark = topo.spawn('cl', 'tcpdump', ['--immediate-mode', '-U', '-n', '-i', 'vcl', '-w', cap, 'icmp or udp']);
      await shark.waitForOutput(/listening on/, 20000);
      // A connected UDP socket learns of the port unreachable only if the error matches it exactly.
      const script = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('${t.clientIps[0]}', 45000))
s.connect(('${t.serverIp}', 9999))
s.settimeout(1)
for i in range(10):
    s.send(b'hello')
    try:
        s.recv(100)
    except ConnectionRefusedError:
        print('refused'); sys.exit(0)
    except socket.timeout:
        pass
print('no answer'); sys.exit(1)
`;
      const r = await topo.exec('cl', PY, ['-c', script], { timeoutMs: 20000 });
      expect(r.stdout.trim()).toBe('refused');
      await shark.stop({ timeoutMs: 10000 });
      const fields = execFileSync('tshark', ['-r', cap, '-Y', 'icmp.type == 3', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'icmp.code'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
      expect(fields.length).toBeGreaterThan(0);
      // Outer 198.18.2.2 -> client, inner client -> server: the quoted datagram is what the client sent.
      expect(fields[0].split('\t')).toEqual([`${t.serverIp},${t.clientIps[0]}`, `${t.clientIps[0]},${t.serverIp}`, '45000', '9999', '3']);
      // Checksum status: 0 bad, 1 good, 2 unverified. tshark checks ICMP checksums always, IP/UDP when asked.
      const sharkOpts = ['-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'];
      const bad = execFileSync('tshark', ['-r', cap, ...sharkOpts, '-Y', 'ip.checksum.status == 0 || udp.checksum.status == 0 || icmp.checksum.status == 0', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' }).trim();
      expect(bad).toBe('');
      // The error's outer IP and ICMP checksums and its quoted IP header checksum were verified good.
      const good = execFileSync('tshark', ['-r', cap, ...sharkOpts, '-Y', 'icmp.type == 3', '-T', 'fields', '-e', 'ip.checksum.status', '-e', 'icmp.checksum.status'], { encoding: 'utf8' }).trim().split('\n')[0];
      expect(good.split('\t')).toEqual(['1,1', '1']);
      const s = await stopNat(nat);
      expect(s.app['ct.rel']).toBeGreaterThan(0);
    });
  });

  test('an exhausted port range fails new connections cleanly (counted); existing ones keep working', async () => {
    await withTopology('nat3', async (topo) => {
      const t = await buildNatTopology(topo, filePrefix('nat3'));
      const nat = await startNat(topo, t, dir, 'nat3', { snat: [{ src: '198.18.1.0/24', addresses: '198.18.2.1', ports: '41000-41001' }] });
      const echo = topo.spawn('sv', PY, ['-c', `
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('${t.serverIp}', 7000)); l.listen(16)
print('listening', flush=True)
def serve(c):
    while True:
        d = c.recv(100)
        if not d: break
        c.sendall(d)
while True:
    c, a = l.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
`]);
      await echo.waitForOutput(/listening/, 10000);
      // Three connections held open through a two-port range: two work, the third cannot start.
      const client = await topo.exec('cl', PY, ['-c', `
import socket, time
socks = []
res = []
for i in range(3):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect(('${t.serverIp}', 7000)); s.sendall(b'x%d' % i); res.append(s.recv(10).decode()); socks.append(s)
    except Exception as e:
        res.append(type(e).__name__)
for s in socks:
    s.sendall(b'again'); res.append(s.recv(10).decode())
print(' '.join(res))
`], { timeoutMs: 30000 });
      expect(client.stdout.trim()).toBe('x0 x1 TimeoutError again again');
      const s = await stopNat(nat);
      expect(s.app['drop.natExhausted']).toBeGreaterThanOrEqual(1);
      await echo.stop();
    });
  });

  test('UDP and TCP entries expire on time (short configured timeouts)', async () => {
    await withTopology('nat4', async (topo) => {
      const t = await buildNatTopology(topo, filePrefix('nat4'));
      const timeouts = { udp_first: 1, udp_single: 1, udp_multiple: 1.5, tcp_syn_sent: 1, tcp_syn_recv: 1, tcp_established: 2, tcp_fin_wait: 1, tcp_time_wait: 1, tcp_close: 1 };
      const nat = await startNat(topo, t, dir, 'nat4', { timeouts }, { statsIntervalMs: 100 });
      const conns = (): number => appCounters(nat).conns ?? -1;
      // UDP one way: gone about 1 s after the datagram.
      await topo.exec('cl', PY, ['-c', `import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('${t.serverIp}', 5555))`]);
      await waitFor(() => conns() === 1, { timeoutMs: 3000, what: 'the UDP entry' });
      const t0 = Date.now();
      await waitFor(() => conns() === 0, { timeoutMs: 4000, intervalMs: 20, what: 'the UDP entry to expire' });
      const udpAge = Date.now() - t0;
      expect(udpAge).toBeLessThan(2000);
      expect(appCounters(nat)['expired.udp']).toBe(1);
      // TCP established and idle: gone about 2 s after its last packet; the connection was working.
      const echo = topo.spawn('sv', PY, ['-c', `
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('${t.serverIp}', 7001)); l.listen(4)
print('listening', flush=True)
c, a = l.accept(); c.sendall(c.recv(10)); import time; time.sleep(30)
`]);
      await echo.waitForOutput(/listening/, 10000);
      const cli = topo.spawn('cl', PY, ['-c', `
import socket, time
s = socket.create_connection(('${t.serverIp}', 7001), timeout=3); s.sendall(b'ping'); print(s.recv(10).decode(), flush=True); time.sleep(30)
`]);
      await cli.waitForOutput(/ping/, 10000);
      await waitFor(() => conns() === 1, { timeoutMs: 3000, intervalMs: 20, what: 'the TCP entry' });
      const t1 = Date.now();
      await waitFor(() => conns() === 0, { timeoutMs: 5000, intervalMs: 20, what: 'the idle TCP entry to expire' });
      const tcpAge = Date.now() - t1;
      // 2 s after the last packet; the STATS lines trail by up to ~0.3 s.
      expect(tcpAge).toBeGreaterThan(1200);
      expect(tcpAge).toBeLessThan(3000);
      expect(appCounters(nat)['expired.tcp']).toBe(1);
      cli.kill();
      echo.kill();
      await stopNat(nat);
    });
  });

  test('UDP request/response: both directions are offloaded after the first exchanges, 200 datagrams each way arrive intact, the entry still expires on time', async () => {
    await withTopology('nat7', async (topo) => {
      const t = await buildNatTopology(topo, filePrefix('nat7'));
      const nat = await startNat(topo, t, dir, 'nat7', { timeouts: { udp_first: 1, udp_single: 1, udp_multiple: 1.5 } }, { statsIntervalMs: 100 });
      const echo = topo.spawn('sv', PY, ['-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${t.serverIp}', 5601)); print('listening', flush=True)
while True:
    d, a = s.recvfrom(2048); s.sendto(d + ('|%s:%d' % a).encode(), a)
`]);
      await echo.waitForOutput(/listening/, 10000);
      // 200 datagrams of different sizes, each answered before the next; the client checks every reply.
      const r = await topo.exec('cl', PY, ['-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.connect(('${t.serverIp}', 5601))
ok = 0; seen = set()
for i in range(200):
    msg = (('%05d:' % i) + 'x' * (i * 7 % 1200)).encode()
    s.send(msg)
    d = s.recv(4096)
    body, _, peer = d.rpartition(b'|')
    if body == msg: ok += 1
    seen.add(peer.decode())
print('ok', ok, 'peers', ','.join(sorted(seen)), flush=True)
`], { timeoutMs: 30000 });
      expect(r.stdout.trim()).toMatch(/^ok 200 peers [\d.]+:\d+$/);
      // The server saw one translated source (the NAT's outside address), never the client's own.
      const peer = /peers ([\d.]+):/.exec(r.stdout)![1];
      expect(t.clientIps).not.toContain(peer);
      // Datagram 1 (new) and reply 1 (first reply: steady from then on, offloaded) and datagram 2 (steady:
      // offloaded) went through the handler; the other 397 through the offloaded entries.
      await waitFor(() => (appCounters(nat)['flow.offloaded'] ?? 0) >= 397, { timeoutMs: 3000, what: 'offload counters' });
      const c = appCounters(nat);
      expect({ offloaded: c['flow.offloaded'], installed: c['flow.offloadsInstalled'], new: c['ct.new'], est: c['ct.est'], rpl: c['ct.rpl'] })
        .toEqual({ offloaded: 397, installed: 2, new: 1, est: 399, rpl: 200 });
      // Over af_packet the native executor took them all, in the RX burst.
      expect(c['flow.offloadedNative']).toBe(397);
      // Offloaded packets keep the connection alive; once idle it expires as any other (udp_multiple 1.5 s).
      const t0 = Date.now();
      await waitFor(() => appCounters(nat).conns === 0, { timeoutMs: 5000, intervalMs: 20, what: 'the UDP entry to expire' });
      expect(Date.now() - t0).toBeLessThan(3000);
      echo.kill();
      await stopNat(nat);
    });
  });

  test('two shards: connections spread over both, replies reach the shard that translated them', async () => {
    await withTopology('nat5', async (topo) => {
      const t = await buildNatTopology(topo, filePrefix('nat5'));
      const nat = await startNat(topo, t, dir, 'nat5', {}, { shards: 2 });
      const srv = await startPeerServer(topo, dir, t.serverIp, 8080);
      await waitFor(async () => (await curl(topo, `http://${t.serverIp}:8080/`)).code === 0, { timeoutMs: 20000, what: 'first curl' });
      let ok = 0;
      for (let i = 0; i < 20; i++) if ((await curl(topo, `http://${t.serverIp}:8080/`)).code === 0) ok++;
      expect(ok).toBe(20);
      await srv.stop();
      const s = await stopNat(nat);
      // Both shards created connections.
      const created = s.shards.map((x) => (x as unknown as { app: Record<string, number> }).app['ct.snat'] ?? 0);
      expect(created.every((n) => n > 0)).toBe(true);
    });
  });

  test('two shards, ICMP echo under SNAT to one address: 40 echo identifiers from each of two clients all answered, spread over both shards (issue 9)', async () => {
    await withTopology('nat9', async (topo) => {
      const t = await buildNatTopology(topo, filePrefix('nat9'));
      const nat = await startNat(topo, t, dir, 'nat9', {}, { shards: 2 });
      // Echo requests with chosen identifiers from raw sockets bound to each client address; each must get its
      // reply (identifier translated back). Before the steering hashed the identifier, a reply's shard depended on
      // the addresses only, and every echo of a client whose requests hashed to the other shard than the replies
      // to the SNAT address (here 198.18.1.11's) was refused as natExhausted.
      const r = await topo.exec('cl', PY, ['-c', `
import socket, struct, time
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
total = 0
for src, base in (('${t.clientIps[0]}', 3000), ('${t.clientIps[1]}', 4000)):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.bind((src, 0)); s.settimeout(0.2)
    ok = set()
    for attempt in range(3):
        for ident in range(base, base + 40):
            if ident in ok: continue
            body = struct.pack('!BBHHH', 8, 0, 0, ident, attempt + 1) + b'netstar-icmp'
            s.sendto(struct.pack('!BBHHH', 8, 0, csum(body), ident, attempt + 1) + b'netstar-icmp', ('${t.serverIp}', 0))
        end = time.time() + 2
        while time.time() < end and len(ok) < 40:
            try: d = s.recv(2048)
            except socket.timeout: continue
            ihl = (d[0] & 15) * 4
            typ, _, _, ident, _ = struct.unpack('!BBHHH', d[ihl:ihl + 8])
            if typ == 0 and base <= ident < base + 40 and d[12:16] == socket.inet_aton('${t.serverIp}') and d[16:20] == socket.inet_aton(src) and d[ihl + 8:] == b'netstar-icmp': ok.add(ident)
        if len(ok) == 40: break
    s.close()
    total += len(ok)
print('ok', total, flush=True)
`], { timeoutMs: 60000 });
      expect(r.stdout.trim()).toBe('ok 80');
      const s = await stopNat(nat);
      const apps = s.shards.map((x) => (x as unknown as { app: Record<string, number> }).app);
      expect(apps.map((a) => a['drop.natExhausted'] ?? 0)).toEqual([0, 0]);
      // The requests hash by their identifier too: both shards translated some.
      expect(apps.every((a) => (a['ct.snat'] ?? 0) > 0)).toBe(true);
    });
  });

  test('two shards, UDP: 24 request/response flows spread over both, all intact; offloads run natively on the shard that owns the queues and in JS on the other', async () => {
    await withTopology('nat8', async (topo) => {
      const t = await buildNatTopology(topo, filePrefix('nat8'));
      const nat = await startNat(topo, t, dir, 'nat8', {}, { shards: 2, statsIntervalMs: 100 });
      const echo = topo.spawn('sv', PY, ['-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${t.serverIp}', 5602)); print('listening', flush=True)
while True:
    d, a = s.recvfrom(2048); s.sendto(d, a)
`]);
      await echo.waitForOutput(/listening/, 10000);
      const r = await topo.exec('cl', PY, ['-c', `
import socket
ok = 0
for f in range(24):
    # distinct source ports: an ephemeral port may repeat, joining an earlier flow's live connection
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 42000 + f)); s.settimeout(2); s.connect(('${t.serverIp}', 5602))
    for i in range(10):
        msg = ('%d-%d-' % (f, i)).encode() * (1 + i)
        s.send(msg)
        if s.recv(4096) == msg: ok += 1
    s.close()
print('ok', ok, flush=True)
`], { timeoutMs: 60000 });
      expect(r.stdout.trim()).toBe('ok 240');
      echo.kill();
      const s = await stopNat(nat);
      const apps = s.shards.map((x) => (x as unknown as { app: Record<string, number> }).app);
      // Both shards translated flows; each offloaded its steady datagrams (10 exchanges per flow: 3 through the
      // handler, 17 offloaded); shard 0 owns the single-queue ports' RX and TX queues, so only it runs the
      // native executor — shard 1 gets its packets steered through rings and offloads in JS.
      expect(apps.map((a) => (a['ct.snat'] ?? 0) > 0)).toEqual([true, true]);
      expect(apps[0]['flow.offloaded'] + apps[1]['flow.offloaded']).toBe(24 * 17);
      expect(apps[0]['flow.offloadedNative']).toBe(apps[0]['flow.offloaded']);
      expect(apps[1]['flow.offloadedNative']).toBe(0);
    });
  });

  test('DNAT (port forwarding) from the outside to an inside server, on two shards: the server sees the real client', async () => {
    await withTopology('nat6', async (topo) => {
      const t = await buildNatTopology(topo, filePrefix('nat6'));
      const nat = await startNat(topo, t, dir, 'nat6', { dnat: [{ dst: t.outsideIp, proto: 'tcp', dport: 80, addresses: t.clientIps[0], ports: '8080' }] }, { shards: 2 });
      const script = path.join(dir, 'peer_server.py');
      fs.writeFileSync(script, PEER_SERVER);
      const srv = topo.spawn('cl', PY, [script, t.clientIps[0], '8080']);
      await srv.waitForOutput(/listening/, 10000);
      const get = async (): Promise<{ code: number; body: string }> => {
        const r = await topo.exec('sv', 'curl', ['-s', '-m', '5', `http://${t.outsideIp}/`], { timeoutMs: 10000 });
        return { code: r.code ?? -1, body: r.stdout.trim() };
      };
      await waitFor(async () => (await get()).code === 0, { timeoutMs: 20000, what: 'first request through the DNAT' });
      const ports = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const r = await get();
        expect(r.code).toBe(0);
        expect(r.body.split(':')[0]).toBe(t.serverIp);
        ports.add(r.body.split(':')[1]);
      }
      expect(ports.size).toBe(20);
      await srv.stop();
      const s = await stopNat(nat);
      const dnat = s.shards.map((x) => (x as unknown as { app: Record<string, number> }).app['ct.dnat'] ?? 0);
      expect(dnat.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(21);
      expect(dnat.every((n) => n > 0)).toBe(true);
      // Replies from the inside server reached the shard of their connection (had one landed elsewhere it
      // would have started an SNAT connection there, and the request would have failed).
      expect(s.app['ct.snat'] ?? 0).toBe(0);
      expect(s.app['drop.unsolicited'] ?? 0).toBe(0);
    });
  });

  test('packets waiting for a next hop that never answers ARP are held in order, then freed at stop (no leak)', async () => {
    await withTopology('nat7', async (topo) => {
      const t = await buildNatTopology(topo, filePrefix('nat7'));
      const nat = await startNat(topo, t, dir, 'nat7', { arp: { retryMs: 60000, tries: 1 } }, { leakDeadlineMs: 500 });
      // 198.18.2.99 is on the outside link but nobody answers for it.
      await topo.exec('cl', PY, ['-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(10): s.sendto(b'x%d' % i, ('198.18.2.99', 5000))
`]);
      await waitFor(() => (appCounters(nat)['flow.held'] ?? 0) === 10, { timeoutMs: 5000, what: 'ten datagrams held (one pending, nine queued)' });
      expect(appCounters(nat)['flow.queued']).toBe(9);
      const s = await stopNat(nat);
      expect(s.app['l3.arpRequestsOut']).toBeGreaterThanOrEqual(1);
    });
  });
});
