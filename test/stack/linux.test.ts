// Interop with the Linux TCP/IP stack: a TAP device in a test namespace, relayed frame by frame to
// this process over a Unix socket; our Stack on a real clock answers ping, serves curl, fetches from
// and uploads to Python servers, with and without loss. Needs root and /dev/net/tun.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Stack, TcpSocket } from '../../net/stack';
import { Topology, withTopology } from '../../tools/netns';

const LINUX_IP = '198.18.5.1';
const STACK_IP = '198.18.5.2';
const STACK_MAC = '02:00:00:00:05:02';

// Opens the TAP inside the namespace it runs in and relays frames, 2-byte length prefixed, over a
// Unix stream socket (filesystem paths reach across network namespaces). Optional seeded loss in both
// directions stands in for netem, which not every kernel has.
const RELAY = `
import fcntl, os, random, select, socket, struct, sys
loss = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
rng = random.Random(1)
TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454ca, 0x0002, 0x1000
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', sys.argv[1].encode(), IFF_TAP | IFF_NO_PI))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[2])
print('ready', flush=True)
buf = b''
while True:
    r, _, _ = select.select([fd, s], [], [])
    if fd in r:
        f = os.read(fd, 65536)
        if rng.random() >= loss:
            s.sendall(struct.pack('!H', len(f)) + f)
    if s in r:
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
        while len(buf) >= 2:
            n = struct.unpack('!H', buf[:2])[0]
            if len(buf) < 2 + n:
                break
            if rng.random() >= loss:
                os.write(fd, buf[2:2 + n])
            buf = buf[2 + n:]
`;

// Receives one connection and prints how many bytes came and their SHA-256.
const SINK = `
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print('listening', flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d); n += len(d)
print('got', n, h.hexdigest(), flush=True)
c.close()
`;

// Sends a UDP datagram to the stack and prints the echo.
const UDP_PING = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b'hello stack', (sys.argv[1], int(sys.argv[2])))
print('echo', s.recvfrom(2048)[0].decode(), flush=True)
`;

const canRun = process.getuid?.() === 0 && fs.existsSync('/dev/net/tun');
const sha = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** The stack on a real clock, wired to the relay's Unix socket. */
class TapStack {
  readonly stack: Stack;
  private conn: net.Socket | null = null;
  private pending: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | null = null;
  private readonly t0 = performance.now();
  private closed = false;

  constructor(readonly server: net.Server) {
    this.stack = new Stack(
      {
        mac: STACK_MAC,
        addresses: [{ address: STACK_IP, prefix: 24 }],
        tcp: { recvBuffer: 1 << 20, sendBuffer: 1 << 20 },
        wake: () => this.kick(),
      },
      { transmit: (f) => this.transmit(f) },
    );
    server.on('connection', (c) => {
      this.conn = c;
      c.on('data', (d) => this.onData(d));
      c.on('error', () => undefined);
    });
  }

  now(): number {
    return performance.now() - this.t0;
  }

  private transmit(f: Uint8Array): void {
    if (this.conn === null) return;
    const out = Buffer.allocUnsafe(2 + f.length);
    out.writeUInt16BE(f.length, 0);
    out.set(f, 2);
    this.conn.write(out);
  }

  private onData(d: Buffer): void {
    this.pending = this.pending.length === 0 ? d : Buffer.concat([this.pending, d]);
    let off = 0;
    const now = this.now();
    while (this.pending.length - off >= 2) {
      const n = this.pending.readUInt16BE(off);
      if (this.pending.length - off - 2 < n) break;
      this.stack.receive(this.pending, off + 2, n, now);
      off += 2 + n;
    }
    this.pending = this.pending.subarray(off);
    this.kick();
  }

  /** Poll now if due, else arm a timer for pollAt(); continuations run in between (setImmediate). */
  kick(): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    setImmediate(() => {
      if (this.closed) return;
      const now = this.now();
      if (this.stack.pollAt() <= now) this.stack.poll(now);
      const at = this.stack.pollAt();
      if (at !== Infinity && this.timer === null) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.kick();
        }, Math.max(0, at - this.now()));
      }
    });
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.conn?.destroy();
    this.server.close();
  }
}

async function readAll(s: TcpSocket): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of s) chunks.push(c);
  return Buffer.concat(chunks);
}

async function writeAll(s: TcpSocket, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length; off += 65536) await s.write(data.subarray(off, off + 65536));
}

async function setup(topo: Topology, dir: string, loss = 0): Promise<TapStack> {
  const ns = await topo.ns('linux');
  const sock = path.join(dir, 'tap.sock');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  const ts = new TapStack(server);
  const relayPath = path.join(dir, 'relay.py');
  fs.writeFileSync(relayPath, RELAY);
  const relay = topo.spawn('linux', 'python3', [relayPath, 'tap0', sock, String(loss)]);
  await relay.waitForOutput(/ready/, 10000);
  await topo.ip('linux', ['addr', 'add', `${LINUX_IP}/24`, 'dev', 'tap0']);
  await topo.ip('linux', ['link', 'set', 'tap0', 'up']);
  await topo.exec('linux', 'ethtool', ['-K', 'tap0', 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off']);
  void ns;
  return ts;
}

(canRun ? describe : describe.skip)('interop with Linux over a TAP device', () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nst-stack-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('ping (with fragments), curl from Linux, fetch and upload to Linux, UDP echo, RST to a closed port', async () => {
    await withTopology('stk', async (topo) => {
      const ts = await setup(topo, dir);
      const { stack } = ts;
      try {
        // Linux pings us (ARP both ways); 3000-byte pings are fragmented in both directions.
        const ping = await topo.exec('linux', 'ping', ['-c', '3', '-i', '0.2', '-W', '2', STACK_IP], { timeoutMs: 15000 });
        expect(ping.stdout).toMatch(/3 packets transmitted, 3 received/);
        const big = await topo.exec('linux', 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '-s', '3000', STACK_IP], { timeoutMs: 15000 });
        expect(big.stdout).toMatch(/2 packets transmitted, 2 received/);
        expect(stack.counters.ipReassembled).toBeGreaterThanOrEqual(2);

        // curl (Linux client) fetches 4 MB from a tiny HTTP server on our stack.
        const body = crypto.randomBytes(4 << 20);
        const listener = stack.tcpListen(8080);
        void (async () => {
          for await (const s of listener) {
            void (async () => {
              const req = await s.read();
              if (req === null) return;
              await s.write(Buffer.from(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`));
              await writeAll(s, body);
              s.end();
              for await (const _ of s);
            })().catch(() => undefined);
          }
        })();
        const out = path.join(dir, 'curl.bin');
        const curl = await topo.exec('linux', 'curl', ['-s', '-m', '30', '-o', out, `http://${STACK_IP}:8080/`], { timeoutMs: 35000 });
        expect(curl.code).toBe(0);
        expect(sha(fs.readFileSync(out))).toBe(sha(body));

        // We fetch 4 MB from Python's HTTP server.
        const www = path.join(dir, 'www');
        fs.mkdirSync(www);
        const blob = crypto.randomBytes(4 << 20);
        fs.writeFileSync(path.join(www, 'blob.bin'), blob);
        const http = topo.spawn('linux', 'python3', ['-m', 'http.server', '8000', '--bind', LINUX_IP, '--directory', www]);
        await http.waitForOutput(/Serving HTTP/, 10000);
        const c = await stack.tcpConnect(LINUX_IP, 8000);
        expect(c.info()).toMatchObject({ sack: true, timestamps: true, windowScale: true });
        await c.write(Buffer.from('GET /blob.bin HTTP/1.0\r\n\r\n'));
        const resp = await readAll(c);
        const bodyAt = resp.indexOf('\r\n\r\n') + 4;
        expect(sha(resp.subarray(bodyAt))).toBe(sha(blob));
        c.close();

        // We upload 4 MB to a Python sink that prints its hash.
        const sinkPath = path.join(dir, 'sink.py');
        fs.writeFileSync(sinkPath, SINK);
        const sink = topo.spawn('linux', 'python3', [sinkPath, LINUX_IP, '9000']);
        await sink.waitForOutput(/listening/, 10000);
        const up = crypto.randomBytes(4 << 20);
        const u = await stack.tcpConnect(LINUX_IP, 9000);
        await writeAll(u, up);
        u.end();
        const [, n, hash] = await sink.waitForOutput(/got (\d+) ([0-9a-f]+)/, 30000);
        expect(Number(n)).toBe(up.length);
        expect(hash).toBe(sha(up));
        expect(await u.read()).toBeNull();

        // UDP echo.
        const echo = stack.udpBind(7);
        void (async () => {
          for await (const d of echo) echo.sendTo(d.data, d.address, d.port);
        })();
        const udpPath = path.join(dir, 'udp.py');
        fs.writeFileSync(udpPath, UDP_PING);
        const udp = await topo.exec('linux', 'python3', [udpPath, STACK_IP, '7'], { timeoutMs: 10000 });
        expect(udp.stdout).toMatch(/echo hello stack/);

        // A closed port: Linux sees our RST as "connection refused".
        const refused = await topo.exec('linux', 'curl', ['-s', '-m', '5', `http://${STACK_IP}:8081/`], { timeoutMs: 10000 });
        expect(refused.code).toBe(7);
        expect(stack.counters.rxExceptions).toBe(0);
      } finally {
        ts.close();
      }
    });
  });

  test('4 MB each way through 3% loss both ways: recovery against Linux', async () => {
    await withTopology('stl', async (topo) => {
      const ts = await setup(topo, dir, 0.03);
      const { stack } = ts;
      try {
        const sinkPath = path.join(dir, 'sink2.py');
        fs.writeFileSync(sinkPath, SINK);
        const sink = topo.spawn('linux', 'python3', [sinkPath, LINUX_IP, '9001']);
        await sink.waitForOutput(/listening/, 10000);
        const up = crypto.randomBytes(4 << 20);
        const u = await stack.tcpConnect(LINUX_IP, 9001);
        await writeAll(u, up);
        u.end();
        const [, n, hash] = await sink.waitForOutput(/got (\d+) ([0-9a-f]+)/, 60000);
        expect(Number(n)).toBe(up.length);
        expect(hash).toBe(sha(up));

        const body = crypto.randomBytes(4 << 20);
        const listener = stack.tcpListen(8080);
        void (async () => {
          const s = await listener.accept();
          await s.read();
          await s.write(Buffer.from(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`));
          await writeAll(s, body);
          s.end();
        })().catch(() => undefined);
        const out = path.join(dir, 'curl2.bin');
        const curl = await topo.exec('linux', 'curl', ['-s', '-m', '60', '-o', out, `http://${STACK_IP}:8080/`], { timeoutMs: 65000 });
        expect(curl.code).toBe(0);
        expect(sha(fs.readFileSync(out))).toBe(sha(body));

        // Linux sends to us: our out-of-order queue and SACK blocks drive its recovery.
        const www = path.join(dir, 'www2');
        fs.mkdirSync(www);
        const blob = crypto.randomBytes(4 << 20);
        fs.writeFileSync(path.join(www, 'blob.bin'), blob);
        const http = topo.spawn('linux', 'python3', ['-m', 'http.server', '8000', '--bind', LINUX_IP, '--directory', www]);
        await http.waitForOutput(/Serving HTTP/, 10000);
        const c = await stack.tcpConnect(LINUX_IP, 8000);
        await c.write(Buffer.from('GET /blob.bin HTTP/1.0\r\n\r\n'));
        const resp = await readAll(c);
        expect(sha(resp.subarray(resp.indexOf('\r\n\r\n') + 4))).toBe(sha(blob));
        c.close();
        expect(stack.counters.tcpRetransmits).toBeGreaterThan(0);
        expect(stack.counters.tcpOutOfOrder).toBeGreaterThan(0);
        console.log(
          `3% loss: retransmits=${stack.counters.tcpRetransmits} fast=${stack.counters.tcpFastRetransmits} ` +
            `rto=${stack.counters.tcpRtoExpired} ooo=${stack.counters.tcpOutOfOrder}`,
        );
      } finally {
        ts.close();
      }
    });
  });
});
