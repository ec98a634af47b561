// The load-balancer test topology: a client namespace, the LB, and a backend namespace holding four backend
// addresses (one server process each).
//   [cl] vcl 198.18.1.10/24 gw .1  <->  lc [lb: netstar load-balancer] lb  <->  vbk 198.18.2.10-13/24 [bk]
// The VIP 198.18.1.100 sits on the client subnet (the LB answers ARP for it); the LB's backend-side address
// 198.18.2.1 is the source the backends see (full NAT: they have no route to the clients).
import * as fs from 'fs';
import * as path from 'path';
import { Topology } from '../../tools/netns';
import { buildHop, hopConfig } from '../../tools/hop';
import type { ManagedProcess } from '../../tools/proc';

export const PY = '/usr/bin/python3';
export const VIP = '198.18.1.100';
export const BACKENDS = ['198.18.2.10', '198.18.2.11', '198.18.2.12', '198.18.2.13'];

export interface LbTopology {
  topo: Topology;
  config(app?: Record<string, unknown>, extra?: Record<string, unknown>): Record<string, unknown>;
}

export async function buildLbTopology(topo: Topology, filePrefix: string): Promise<LbTopology> {
  await buildHop(topo, { left: 'cl', leftIf: 'vcl', mid: 'lb', midLeft: 'lc', midRight: 'lb', right: 'bk', rightIf: 'vbk' });
  await topo.addr('cl', 'vcl', '198.18.1.10/24');
  await topo.ip('cl', ['route', 'add', 'default', 'via', '198.18.1.1']);
  for (const b of BACKENDS) await topo.addr('bk', 'vbk', `${b}/24`);
  return {
    topo,
    config: (app = {}, extra = {}) => hopConfig(filePrefix, 'lc', 'lb', {
      client: { port: 0, address: '198.18.1.1/24' },
      backend: { port: 1, address: '198.18.2.1/24' },
      health: { intervalMs: 200, timeoutMs: 150, rise: 2, fall: 2 },
      ...app,
    }, extra),
  };
}

/**
 * A backend: answers GET / with "<its address> <peer ip>:<peer port>", and GET /big with 8 MiB sent in 64 KiB
 * pieces 30 ms apart (about 4 s), naming itself in an X-Backend header.
 */
const BACKEND_SERVER = `
import http.server, socketserver, sys, time
ip, port = sys.argv[1], int(sys.argv[2])
chunk = bytes(range(256)) * 256
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'
    def do_GET(self):
        if self.path.startswith('/big'):
            n = 128 * len(chunk)
            self.send_response(200)
            self.send_header('Content-Length', str(n))
            self.send_header('X-Backend', ip)
            self.end_headers()
            for i in range(128):
                self.wfile.write(chunk)
                time.sleep(0.03)
            return
        body = ('%s %s:%d\\n' % (ip, self.client_address[0], self.client_address[1])).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True
    def server_bind(self):
        # HTTPServer looks its address up in DNS (getfqdn): slow where a default route leads nowhere.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
srv = S((ip, port), H)
print('listening', flush=True)
srv.serve_forever()
`;

export async function startBackend(topo: Topology, dir: string, ip: string, port = 8080): Promise<ManagedProcess> {
  const script = path.join(dir, 'backend.py');
  if (!fs.existsSync(script)) fs.writeFileSync(script, BACKEND_SERVER);
  const p = topo.spawn('bk', PY, [script, ip, String(port)]);
  await p.waitForOutput(/listening/, 10000);
  return p;
}

/** A client that makes `n` short connections to the VIP (4 threads) and prints a JSON count per backend and peers seen. */
export const COUNT_CLIENT = `
import socket, sys, json, threading, collections
vip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cnt = collections.Counter(); peers = set(); errors = [0]
lock = threading.Lock()
def work(k):
    for i in range(k):
        try:
            s = socket.create_connection((vip, port), timeout=3)
            s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')
            data = b''
            while True:
                d = s.recv(4096)
                if not d: break
                data += d
            s.close()
            who, peer = data.split(b'\\r\\n\\r\\n', 1)[1].decode().split()
            with lock:
                cnt[who] += 1; peers.add(peer.split(':')[0])
        except Exception:
            with lock:
                errors[0] += 1
ts = [threading.Thread(target=work, args=(n // 4,)) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({'counts': cnt, 'peers': sorted(peers), 'errors': errors[0]}))
`;
