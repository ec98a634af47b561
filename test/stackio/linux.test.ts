// Our TCP/IP stack against the Linux kernel: ping (also fragmented), HTTP downloads checked by sha256,
// 1,000 concurrent connections, RST from a closed port, half-close, UDP, and transfers through linkem.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { withTopology } from '../../tools/netns';
import { buildStackTopology } from '../../tools/stacktopo';
import { CLI_PATH } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { filePrefix, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { generatedBytes } from '../../apps/httpd';

const PY = '/usr/bin/python3';
const sha = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

describe('our TCP/IP stack with Linux peers', () => {
  const dir = tmpDir('stackio');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('ping, fragmented ping, 1 KB and 50 MB downloads, RST, 1,000 connections, half-close, UDP', async () => {
    await withTopology('sk', async (topo) => {
      const t = await buildStackTopology(topo, filePrefix('sk'));
      const httpCfg = writeJson(dir, 'httpd.json', t.serverConfig({ port: 80 }));
      const srv = topo.spawn('srv', process.execPath, [CLI_PATH, 'run', 'httpd', '-c', httpCfg, '--stats', '--json']);
      await srv.waitForOutput(/^STATS /m, 20000);
      await waitFor(async () => (await topo.exec('cli', 'ping', ['-c', '1', '-W', '1', t.serverIp])).code === 0, { timeoutMs: 15000, what: 'ping our stack' });
      const ping = await topo.exec('cli', 'ping', ['-c', '5', '-i', '0.05', t.serverIp]);
      expect(ping.stdout).toMatch(/5 packets transmitted, 5 received/);
      // 4000-byte payload: fragments both ways (our stack reassembles the request and fragments its reply)
      const big = await topo.exec('cli', 'ping', ['-c', '3', '-i', '0.1', '-s', '4000', '-W', '2', t.serverIp]);
      expect(big.stdout).toMatch(/3 packets transmitted, 3 received/);
      expect(big.stdout).toMatch(/4008 bytes from/);

      for (const n of [1024, 50 << 20]) {
        const out = path.join(dir, `dl${n}`);
        const r = await topo.exec('cli', 'curl', ['-s', '-m', '120', '-o', out, `http://${t.serverIp}/bytes/${n}`], { timeoutMs: 130000 });
        expect(r.code).toBe(0);
        const got = fs.readFileSync(out);
        expect(got.length).toBe(n);
        expect(sha(got)).toBe(sha(generatedBytes(0, n)));
        fs.rmSync(out);
      }
      // a closed port answers with RST: curl fails fast with "connection refused" (exit 7)
      const refused = await topo.exec('cli', 'curl', ['-s', '-m', '5', `http://${t.serverIp}:81/`]);
      expect(refused.code).toBe(7);
      await srv.stop({ timeoutMs: 15000 });
      const s1 = summaryOf(srv.stdout());
      expect(s1.leaked).toBe(0);

      // echo: 1,000 concurrent TCP connections, half-close, UDP
      const echoCfg = writeJson(dir, 'echo.json', t.serverConfig({ port: 7 }, { eal: { vdevs: ['net_af_packet0,iface=vs,framesz=8192,blocksz=8192,framecnt=512'], filePrefix: filePrefix('ske') } }));
      const echo = topo.spawn('srv', process.execPath, [CLI_PATH, 'run', 'echo', '-c', echoCfg, '--stats', '--json']);
      await echo.waitForOutput(/^STATS /m, 20000);
      const client = `
import asyncio, socket, sys
IP='${t.serverIp}'
async def one(i):
    r, w = await asyncio.open_connection(IP, 7)
    msg = (b'%05d-' % i) * 40
    w.write(msg); await w.drain()
    got = await r.readexactly(len(msg))
    w.close()
    return got == msg
async def main():
    res = await asyncio.gather(*[one(i) for i in range(1000)])
    print('concurrent_ok', sum(res))
    # half-close: send, shut the write side, read the echo until EOF
    r, w = await asyncio.open_connection(IP, 7)
    w.write(b'x' * 100000); await w.drain(); w.write_eof()
    data = await r.read(-1)
    print('halfclose_bytes', len(data))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    ok = 0
    for i in range(20):
        s.sendto(b'udp%d' % i, (IP, 7))
        d, _ = s.recvfrom(100)
        ok += d == b'udp%d' % i
    print('udp_ok', ok)
asyncio.run(main())
`;
      await waitFor(async () => (await topo.exec('cli', PY, ['-c', `import socket; s=socket.create_connection(('${t.serverIp}',7),1); s.close()`])).code === 0, { timeoutMs: 15000, what: 'echo reachable' });
      const c = await topo.exec('cli', PY, ['-c', client], { timeoutMs: 120000 });
      expect(c.stdout).toMatch(/concurrent_ok 1000/);
      expect(c.stdout).toMatch(/halfclose_bytes 100000/);
      expect(c.stdout).toMatch(/udp_ok 20/);
      await echo.stop({ timeoutMs: 15000 });
      const s2 = summaryOf(echo.stdout());
      expect(s2.app.connections).toBeGreaterThanOrEqual(1001);
      expect(s2.leaked).toBe(0);
    });
  });

  test('through linkem (2 % loss, reordering, 20 ms delay each way): downloads stay intact', async () => {
    await withTopology('sl', async (topo) => {
      const t = await buildStackTopology(topo, filePrefix('sl'), true);
      const imp = { delayMs: 20, jitterMs: 2, loss: 0.02, reorder: 0.02, limit: 20000 };
      const em = topo.spawn('mid', process.execPath, [CLI_PATH, 'run', 'linkem', '-c', writeJson(dir, 'lk.json', t.linkemConfig!({ ab: imp, ba: imp, seed: 3 })), '--stats', '--json']);
      const srv = topo.spawn('srv', process.execPath, [CLI_PATH, 'run', 'httpd', '-c', writeJson(dir, 'h2.json', t.serverConfig({ port: 80 })), '--stats', '--json']);
      await em.waitForOutput(/^STATS /m, 20000);
      await srv.waitForOutput(/^STATS /m, 20000);
      await waitFor(async () => (await topo.exec('cli', 'ping', ['-c', '1', '-W', '1', t.serverIp])).code === 0, { timeoutMs: 20000, what: 'ping through linkem' });
      const cap = path.join(dir, 'c.pcap');
      const shark = topo.spawn('cli', 'tshark', ['-i', 'vc', '-w', cap, '-f', 'tcp port 80']);
      await shark.waitForOutput(/Capturing on/, 20000);
      for (const n of [1024, 2 << 20]) {
        const out = path.join(dir, `ldl${n}`);
        const r = await topo.exec('cli', 'curl', ['-s', '-m', '180', '-o', out, `http://${t.serverIp}/bytes/${n}`], { timeoutMs: 190000 });
        expect(r.code).toBe(0);
        expect(sha(fs.readFileSync(out))).toBe(sha(generatedBytes(0, n)));
      }
      await shark.stop({ timeoutMs: 10000 });
      // our stack retransmitted what linkem dropped: tshark sees retransmissions from the server side
      const rex = execFileSync('tshark', ['-r', cap, '-Y', `ip.src == ${t.serverIp} and (tcp.analysis.retransmission or tcp.analysis.fast_retransmission)`, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
      expect(rex.trim().split('\n').filter(Boolean).length).toBeGreaterThan(0);
      await srv.stop({ timeoutMs: 15000 });
      await em.stop({ timeoutMs: 15000 });
      const sl = summaryOf(em.stdout());
      expect(sl.app['ab.lost'] + sl.app['ba.lost']).toBeGreaterThan(0);
      expect(sl.app['ab.reordered'] + sl.app['ba.reordered']).toBeGreaterThan(0);
      expect(summaryOf(srv.stdout()).leaked).toBe(0);
    });
  });
});

describe('iperf3 against our stack', () => {
  const dir = tmpDir('iperf');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the stock iperf3 client completes forward, reverse and 2-stream tests; data streams close at TEST_END', async () => {
    await withTopology('ip', async (topo) => {
      const t = await buildStackTopology(topo, filePrefix('ip'));
      const srv = topo.spawn('srv', process.execPath, [CLI_PATH, 'run', 'iperf3', '-c', writeJson(dir, 'i.json', t.serverConfig({ joinTimeoutMs: 1000 })), '--stats', '--json']);
      await srv.waitForOutput(/^STATS /m, 20000);
      await waitFor(async () => (await topo.exec('cli', 'ping', ['-c', '1', '-W', '1', t.serverIp])).code === 0, { timeoutMs: 15000, what: 'ping our stack' });
      for (const extra of [[], ['-R'], ['-P', '2']]) {
        const r = await topo.exec('cli', 'iperf3', ['-c', t.serverIp, '-t', '2', '-J', ...extra], { timeoutMs: 40000 });
        const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received: { bytes: number }; sum_sent: { bytes: number } } };
        expect(j.error).toBeUndefined();
        expect(r.code).toBe(0);
        expect(j.end.sum_received.bytes).toBeGreaterThan(1 << 20);
      }
      // The protocol step behind a reverse-mode hang: a client that sent TEST_END drains its data streams
      // with blocking block-sized reads, so the server must close them at TEST_END (before results are
      // exchanged), as iperf3's server does. This client stops reading mid-block and waits for EOF first.
      const rev = `
import json, socket, struct, sys
IP='${t.serverIp}'
ck = b'netstar-reverse-eof-test-cookie-0001' + bytes(1)
c = socket.create_connection((IP, 5201), 5); c.settimeout(10)
def st(): return struct.unpack('b', c.recv(1))[0]
c.sendall(ck); assert st() == 9
p = json.dumps({'tcp': True, 'reverse': True, 'len': 131072, 'parallel': 1, 'time': 1}).encode()
c.sendall(struct.pack('>i', len(p)) + p); assert st() == 10
d = socket.create_connection((IP, 5201), 5); d.settimeout(10); d.sendall(ck)
assert st() == 1 and st() == 2
got = 0
while got < 1000: got += len(d.recv(1000 - got))
c.sendall(struct.pack('b', 4))
while True:
    b = d.recv(65536)
    if not b: break
    got += len(b)
print('eof_before_results', got, got % 131072)
assert st() == 13
r = json.dumps({'streams': []}).encode()
c.sendall(struct.pack('>i', len(r)) + r)
n = struct.unpack('>i', c.recv(4, socket.MSG_WAITALL))[0]
res = json.loads(c.recv(n, socket.MSG_WAITALL))
assert st() == 14
c.sendall(struct.pack('b', 16))
print('server_bytes', res['streams'][0]['bytes'])
`;
      const rv = await topo.exec('cli', PY, ['-c', rev], { timeoutMs: 40000 });
      const eof = /eof_before_results (\d+) (\d+)/.exec(rv.stdout);
      expect(eof).not.toBeNull();
      expect(Number(eof![2])).toBe(0); // whole blocks: everything written came before the FIN
      expect(rv.stdout).toContain(`server_bytes ${eof![1]}`);
      // Broken clients end their own test (an error each), never the server: one leaves right after
      // CREATE_STREAMS; one opens only one of its two data streams and waits (the server gives up after
      // joinTimeoutMs and resets it). The next client is served, not denied.
      const broken = `
import json, socket, struct, time
IP='${t.serverIp}'
def start(ck, parallel):
    deadline = time.time() + 10
    while True:
        c = socket.create_connection((IP, 5201), 5); c.settimeout(10)
        c.sendall(ck)
        st = struct.unpack('b', c.recv(1))[0]
        if st == 9: break
        assert st == -1 and time.time() < deadline, st  # denied while the server ends the previous test
        c.close(); time.sleep(0.05)
    p = json.dumps({'tcp': True, 'parallel': parallel, 'time': 1}).encode()
    c.sendall(struct.pack('>i', len(p)) + p); assert struct.unpack('b', c.recv(1))[0] == 10
    return c
start(b'netstar-broken-client-test-cookie-01' + bytes(1), 2).close()
ck = b'netstar-broken-client-test-cookie-02' + bytes(1)
c = start(ck, 2)
d = socket.create_connection((IP, 5201), 5); d.settimeout(10); d.sendall(ck)
t0 = time.time()
try:
    print('stream_end', repr(d.recv(1)), flush=True)
except ConnectionResetError:
    print('stream_end reset', flush=True)
print('after_s %.1f' % (time.time() - t0))
`;
      const bk = await topo.exec('cli', PY, ['-c', broken], { timeoutMs: 30000 });
      expect(bk.stdout).toMatch(/stream_end (reset|b'')/);
      expect(Number(/after_s ([\d.]+)/.exec(bk.stdout)?.[1])).toBeGreaterThanOrEqual(0.5); // the join timeout ended it
      const after = await topo.exec('cli', 'iperf3', ['-c', t.serverIp, '-t', '1', '-J'], { timeoutMs: 40000 });
      const ja = JSON.parse(after.stdout) as { error?: string };
      expect(ja.error).toBeUndefined();
      expect(after.code).toBe(0);
      await srv.stop({ timeoutMs: 15000 });
      const s = summaryOf(srv.stdout());
      expect(s.app.tests).toBe(7);
      expect(s.app.errors).toBe(2);
      expect(s.app.bytesIn).toBeGreaterThan(1 << 20);
      expect(s.app.bytesOut).toBeGreaterThan(1 << 20);
      expect(s.leaked).toBe(0);
    });
  });
});
