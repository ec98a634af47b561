// The NAT test topology: a client namespace (two addresses) behind the NAT, a server namespace outside it.
//   [cl] vcl 198.18.1.10,.11/24 gw .1  <->  nin [nat: netstar ovs-nat] nout  <->  vsv 198.18.2.2/24 [sv]
// The NAT's inside address is 198.18.1.1, its outside address 198.18.2.1; the server has no route back to
// 198.18.1.0/24, so only translated traffic can reach the client.
import { Topology } from './netns';
import { buildHop, hopConfig } from './hop';

export const PY = '/usr/bin/python3';

export interface NatTopology {
  topo: Topology;
  clientIps: [string, string];
  serverIp: string;
  insideIp: string;
  outsideIp: string;
  /** netstar config for ovs-nat with `app` merged over the defaults (SNAT of the client subnet to the outside address) */
  config(app?: Record<string, unknown>, extra?: Record<string, unknown>): Record<string, unknown>;
}

export async function buildNatTopology(topo: Topology, filePrefix: string): Promise<NatTopology> {
  await buildHop(topo, { left: 'cl', leftIf: 'vcl', mid: 'nat', midLeft: 'nin', midRight: 'nout', right: 'sv', rightIf: 'vsv' });
  await topo.addr('cl', 'vcl', '198.18.1.10/24');
  await topo.addr('cl', 'vcl', '198.18.1.11/24');
  await topo.ip('cl', ['route', 'add', 'default', 'via', '198.18.1.1']);
  await topo.addr('sv', 'vsv', '198.18.2.2/24');
  return {
    topo,
    clientIps: ['198.18.1.10', '198.18.1.11'],
    serverIp: '198.18.2.2',
    insideIp: '198.18.1.1',
    outsideIp: '198.18.2.1',
    config: (app = {}, extra = {}) => hopConfig(filePrefix, 'nin', 'nout', {
      inside: { port: 0, address: '198.18.1.1/24' },
      outside: { port: 1, address: '198.18.2.1/24' },
      snat: [{ src: '198.18.1.0/24', addresses: '198.18.2.1' }],
      ...app,
    }, extra),
  };
}

/** An HTTP server that answers every GET with the peer address it saw ("ip:port"). */
export const PEER_SERVER = `
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'
    def do_GET(self):
        body = ('%s:%d\\n' % self.client_address).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    def server_bind(self):
        # HTTPServer looks its address up in DNS (getfqdn): slow where a default route leads nowhere.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
s = S((sys.argv[1], int(sys.argv[2])), H)
print('listening', flush=True)
s.serve_forever()
`;
