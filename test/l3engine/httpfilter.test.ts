// The L7 filter stack in an l3engine client: httpfilter on the client's TCP/IP stack behind memif, in front of a
// Linux HTTP backend in another namespace (reached back through the engine). curl and raw sockets from the host:
// allowed requests are proxied (the backend's answer, body intact, chunked bodies too), each rule denies with 403
// naming it, every smuggling pattern is rejected before the backend sees it; counters per rule; no leak.
import * as fs from 'fs';
import { withTopology, type Topology } from '../../tools/netns';
import { appCounters, filePrefix, startAppIn, stopChecked, tmpDir, writeJson } from '../../tools/netstar';
import { waitFor } from '../../tools/wait';
import { buildL3Topology, clientConfig, engineConfig, startClient } from './topo';

const PY = '/usr/bin/python3';
const FILTER_IP = '198.18.20.40';
const BACKEND_IP = '198.18.2.1';

const BACKEND = `
import socketserver, sys
class H(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline().decode('latin1').strip()
        hdrs = {}
        while True:
            l = self.rfile.readline().decode('latin1')
            if l in ('\\r\\n', '\\n', ''): break
            k, v = l.split(':', 1); hdrs[k.strip().lower()] = v.strip()
        n = 0
        if hdrs.get('transfer-encoding', '').lower() == 'chunked':
            while True:
                size = int(self.rfile.readline().split(b';')[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\\r\\n', b''): pass
                    break
                n += len(self.rfile.read(size)); self.rfile.readline()
        else:
            n = len(self.rfile.read(int(hdrs.get('content-length', '0'))))
        m, t = line.split(' ')[:2]
        body = ('backend %s %s %d\\n' % (m, t, n)).encode()
        self.wfile.write(b'HTTP/1.1 200 OK\\r\\ncontent-length: %d\\r\\nconnection: close\\r\\n\\r\\n' % len(body) + body)
class S(socketserver.ThreadingTCPServer): allow_reuse_address = True
s = S(('${BACKEND_IP}', 8080), H); print('listening', flush=True); s.serve_forever()
`;

/** Raw requests over a socket: prints each answer's status line, one JSON list. */
const RAW = (reqs: string[]): string[] => ['-c', `
import socket, json
out = []
for r in ${JSON.stringify(reqs)}:
    s = socket.create_connection(('${FILTER_IP}', 80), timeout=5)
    s.sendall(r.encode('latin1'))
    data = b''
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
    s.close()
    out.append(data.split(b'\\r\\n')[0].decode() + ' | ' + data.split(b'\\r\\n\\r\\n', 1)[-1].decode().strip())
print(json.dumps(out), flush=True)
`];

describe('httpfilter: an L7 filter in an l3engine client', () => {
  const dir = tmpDir('l3f');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('rules allow and deny, smuggling rejected, chunked bodies proxied; counters per rule; no leak', async () => {
    await withTopology('l3f', async (topo: Topology) => {
      await buildL3Topology(topo, ['fl']);
      await topo.ns('bk');
      await topo.veth('bk', 'bE', 'eng', 'eB', { disableOffloads: true });
      await topo.sysctl('bk', 'net.ipv6.conf.bE.disable_ipv6', '1');
      await topo.sysctl('eng', 'net.ipv6.conf.eB.disable_ipv6', '1');
      await topo.addr('bk', 'bE', `${BACKEND_IP}/24`);
      await topo.ip('bk', ['route', 'add', '198.18.20.0/24', 'via', '198.18.2.2']);
      const ecfg = engineConfig(dir, filePrefix('l3f'), [{ name: 'fl', addresses: [FILTER_IP] }], {
        nics: [{ port: 0, address: '198.18.1.2/24' }, { port: 2, address: '198.18.2.2/24' }],
        services: [{ name: 'filter', instances: ['fl'] }],
        routes: [{ prefix: `${FILTER_IP}/32`, service: 'filter' }],
      });
      (ecfg.eal as { vdevs: string[] }).vdevs.push('net_af_packet1,iface=eB');
      (ecfg.ports as { name: string }[]).push({ name: 'net_af_packet1' });
      const backend = topo.spawn('bk', PY, ['-c', BACKEND]);
      await backend.waitForOutput(/listening/, 10000);
      const eng = await startAppIn(topo, 'eng', 'l3engine', writeJson(dir, 'engf.json', ecfg));
      const fl = await startClient(topo, dir, 'fl', 'httpfilter', clientConfig(dir, filePrefix('fl'), 'fl', '02:c0:00:00:00:04', FILTER_IP, {
        backend: { address: BACKEND_IP, port: 8080 },
        maxHeaderBytes: 4096,
        rules: [
          { name: 'no-admin', action: 'deny', pathPrefix: '/admin' },
          { name: 'no-php', action: 'deny', pathRegex: '\\.php$' },
          { name: 'no-delete', action: 'deny', methods: ['DELETE'] },
          { name: 'no-evil-host', action: 'deny', host: 'evil.example' },
          { name: 'no-debug-header', action: 'deny', headerPresent: 'X-Debug' },
          { name: 'small-bodies', action: 'deny', bodyBytesOver: 1000 },
          { name: 'public', action: 'allow', pathPrefix: '/public' },
        ],
        defaultAction: 'deny',
      }));
      const curl = async (args: string[]): Promise<string> => (await topo.exec('h', 'curl', ['-s', '-m', '5', '-w', ' %{http_code}', ...args], { timeoutMs: 15000 })).stdout;
      await waitFor(async () => (await curl([`http://${FILTER_IP}/public/a`])).endsWith(' 200'), { timeoutMs: 20000, what: 'the filter to answer' });
      expect(await curl([`http://${FILTER_IP}/public/a?x=1`])).toBe('backend GET /public/a?x=1 0\n 200');
      expect(await curl([`http://${FILTER_IP}/admin/x`])).toBe('denied by rule no-admin\n 403');
      expect(await curl([`http://${FILTER_IP}/public/index.php`])).toBe('denied by rule no-php\n 403');
      expect(await curl(['-X', 'DELETE', `http://${FILTER_IP}/public/a`])).toBe('denied by rule no-delete\n 403');
      expect(await curl(['-H', 'Host: evil.example', `http://${FILTER_IP}/public/a`])).toBe('denied by rule no-evil-host\n 403');
      expect(await curl(['-H', 'X-Debug: 1', `http://${FILTER_IP}/public/a`])).toBe('denied by rule no-debug-header\n 403');
      expect(await curl(['--data-binary', 'x'.repeat(2000), `http://${FILTER_IP}/public/upload`])).toBe('denied by rule small-bodies\n 403');
      expect(await curl(['--data-binary', 'y'.repeat(900), `http://${FILTER_IP}/public/upload`])).toBe('backend POST /public/upload 900\n 200');
      expect(await curl([`http://${FILTER_IP}/other`])).toBe('denied by rule default\n 403');
      // a chunked body (curl sends it chunked with this header) is validated, then proxied as is
      expect(await curl(['-H', 'Transfer-Encoding: chunked', '--data-binary', 'z'.repeat(700), `http://${FILTER_IP}/public/chunked`])).toBe('backend POST /public/chunked 700\n 200');

      const H = `Host: ${FILTER_IP}\r\n`;
      const raw = JSON.parse((await topo.exec('h', PY, RAW([
        `POST /public/a HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`,
        `POST /public/a HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        `POST /public/a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
        `POST /public/a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n`,
        `POST /public/a HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
        `POST /public/a HTTP/1.1\r\n${H}Content-Length : 3\r\n\r\nabc`,
        `GET /public/a HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`,
        `GET /public/a HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(5000)}\r\n\r\n`,
        `GET /public/a HTTP/1.1\r\n\r\n`,
        `GET /public/a HTTP/1.1\r\n${H}${H}\r\n`,
        `POST /public/a HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`,
        `POST /public/a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n0\r\nX-Trailer: 1\r\n\r\n`,
      ]), { timeoutMs: 60000 })).stdout) as string[];
      expect(raw).toEqual([
        'HTTP/1.1 400 Bad Request | duplicateContentLength',
        'HTTP/1.1 400 Bad Request | contentLengthWithTransferEncoding',
        'HTTP/1.1 400 Bad Request | badChunked',
        'HTTP/1.1 400 Bad Request | badChunked',
        'HTTP/1.1 501 Not Implemented | unsupportedTransferEncoding',
        'HTTP/1.1 400 Bad Request | spaceBeforeColon',
        'HTTP/1.1 400 Bad Request | obsFold',
        'HTTP/1.1 431 Request Header Fields Too Large | headerTooLarge',
        'HTTP/1.1 400 Bad Request | missingHost',
        'HTTP/1.1 400 Bad Request | duplicateHost',
        'HTTP/1.1 400 Bad Request | badContentLength',
        'HTTP/1.1 200 OK | backend POST /public/a 4',
      ]);
      await waitFor(() => (appCounters(fl)['reject.duplicateHost'] ?? 0) === 1, { timeoutMs: 5000, what: 'filter counters' });
      const fc = appCounters(fl);
      expect([fc['rule.no-admin'], fc['rule.no-php'], fc['rule.no-delete'], fc['rule.no-evil-host'], fc['rule.no-debug-header'], fc['rule.small-bodies'], fc['rule.default']]).toEqual([1, 1, 1, 1, 1, 1, 1]);
      expect(fc['reject.badChunked']).toBe(2);
      expect(fc.denied).toBe(7);
      backend.kill();
      await stopChecked(fl);
      const se = await stopChecked(eng);
      expect(se.app['drop.acl']).toBe(0);
    });
  }, 240000);
});
