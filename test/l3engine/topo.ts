// The l3engine test shape: a Linux host ↔ veth ↔ the engine (net_af_packet) in its namespace, and client
// processes each in a namespace of its own reaching the engine over net_memif (Unix sockets in one directory:
// `ip netns exec` gives each a mount namespace, but /tmp is the same filesystem, so the path is reachable).
//   [h] hE 198.18.1.1/24 <-> eH [eng: l3engine] <-memif-> [c1: httpd] [c2: httpd] [c3: echo] [tp: testpmd]
import * as path from 'path';
import type { Topology } from '../../tools/netns';
import { CLI_PATH, type ManagedProcess } from '../../tools/proc';
import { writeJson } from '../../tools/netstar';

export const HOST_IP = '198.18.1.1';
export const ENGINE_NIC = '198.18.1.2';
export const WEB_VIP = '198.18.20.10';
export const ECHO_IP = '198.18.20.20';
export const TP_IP = '198.18.20.30';
/** the engine's address on every client link: the clients' gateway */
export const LINK_GW = '198.18.20.1';

export interface ClientDef {
  name: string;
  /** memif MAC of the client side */
  mac: string;
  /** app settings override for the engine's client entry */
  engine?: Record<string, unknown>;
}

/** Builds the host and engine namespaces, the veth between them, and the client namespaces. */
export async function buildL3Topology(topo: Topology, clients: string[]): Promise<void> {
  await topo.ns('h');
  await topo.ns('eng');
  for (const c of clients) await topo.ns(c);
  await topo.veth('h', 'hE', 'eng', 'eH', { disableOffloads: true });
  await topo.sysctl('h', 'net.ipv6.conf.hE.disable_ipv6', '1');
  await topo.sysctl('eng', 'net.ipv6.conf.eH.disable_ipv6', '1');
  await topo.addr('h', 'hE', `${HOST_IP}/24`);
  await topo.ip('h', ['route', 'add', '198.18.20.0/24', 'via', ENGINE_NIC]);
}

export function sockPath(dir: string, client: string): string {
  return path.join(dir, `${client}.sock`);
}

/** A memif vdev: path sockets (not abstract ones, which live in a network namespace and so cannot cross it). */
export function memifVdev(index: number, role: 'server' | 'client', sock: string, mac: string): string {
  return `net_memif${index},role=${role},socket=${sock},id=0,socket-abstract=no,mac=${mac}`;
}

export const ENGINE_CLIENT_MAC = (i: number): string => `02:e0:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`;

/** Engine config: port 0 the veth, then one memif server port per client entry (in order). */
export function engineConfig(dir: string, prefix: string, clients: Record<string, unknown>[], app: Record<string, unknown>): Record<string, unknown> {
  const vdevs = ['net_af_packet0,iface=eH', ...clients.map((c, i) => memifVdev(i, 'server', sockPath(dir, String(c.name)), ENGINE_CLIENT_MAC(i)))];
  return {
    eal: { vdevs, filePrefix: prefix },
    ports: [{ name: 'net_af_packet0' }, ...clients.map((_, i) => ({ name: `net_memif${i}` }))],
    statsIntervalMs: 200,
    app: {
      nics: [{ port: 0, address: `${ENGINE_NIC}/24` }],
      clients: clients.map((c, i) => ({ port: i + 1, address: `${LINK_GW}/24`, ...c })),
      ...app,
    },
  };
}

/** Config of a NetStar.ts client: one net_memif client port with a stack address behind the engine. */
export function clientConfig(dir: string, prefix: string, client: string, mac: string, address: string, app: Record<string, unknown>): Record<string, unknown> {
  return {
    eal: { vdevs: [memifVdev(0, 'client', sockPath(dir, client), mac)], filePrefix: prefix },
    ports: [{ name: 'net_memif0', stack: { address: `${address}/24`, gateway: LINK_GW } }],
    statsIntervalMs: 200,
    app,
  };
}

/** Starts a NetStar.ts client app in its namespace (it connects to the engine's socket and retries until it can). */
export async function startClient(topo: Topology, dir: string, ns: string, appName: string, cfg: Record<string, unknown>): Promise<ManagedProcess> {
  const file = writeJson(dir, `${ns}.json`, cfg);
  const p = topo.spawn(ns, process.execPath, [CLI_PATH, 'run', appName, '-c', file, '--stats', '--json']);
  await p.waitForOutput(/^STATS /m, 20000);
  return p;
}

/** testpmd as a memif client in 5tswap mode: every packet goes back with MACs, addresses and ports swapped. */
export function startTestpmdReflector(topo: Topology, dir: string, ns: string, mac: string, prefix: string): ManagedProcess {
  return topo.spawn(ns, 'dpdk-testpmd', [
    '-l', '0,1', '--no-pci', '--no-huge', '-m', '256', `--file-prefix=${prefix}`,
    `--vdev=${memifVdev(0, 'client', sockPath(dir, ns), mac)}`, '--log-level=error',
    '--', '--forward-mode=5tswap', '--total-num-mbufs=2048', '--stats-period', '1',
  ]);
}

/** Python on the host: UDP datagrams to dst:port from a fixed source port; prints {"sent", "ok", "bad"} (bad = reply differs). */
export function udpProbe(dst: string, port: number, sport: number, n: number, waitS = 0.5): string[] {
  return ['-c', `
import socket, json
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', ${sport})); s.settimeout(${waitS}); s.connect(('${dst}', ${port}))
sent = ok = bad = 0
for i in range(${n}):
    m = ('probe %d ' % i).encode() + bytes(range(256))[: 1 + (i * 37) % 200]
    s.send(m); sent += 1
    try:
        r = s.recv(4096)
        if r == m: ok += 1
        else: bad += 1
    except socket.timeout:
        pass
print(json.dumps({'sent': sent, 'ok': ok, 'bad': bad}), flush=True)
`];
}
