// Topology for tests of our TCP/IP stack against Linux: a client host and a netstar server namespace,
// optionally with linkem in a middle namespace impairing the path.
//   [cli] vc 198.18.6.1/24 <-> vs [srv: netstar app with stack 198.18.6.2/24]
//   [cli] vc <-> la [mid: linkem] lb <-> vs [srv]          (with linkem)
import { Topology } from './netns';
import { hopConfig } from './hop';

export interface StackTopology {
  topo: Topology;
  clientIp: string;
  serverIp: string;
  /** netstar config for the server namespace */
  serverConfig(app: Record<string, unknown>, extra?: Record<string, unknown>): Record<string, unknown>;
  /** netstar config for linkem in the middle namespace (when built with one) */
  linkemConfig?(app: Record<string, unknown>): Record<string, unknown>;
}

export async function buildStackTopology(topo: Topology, prefix: string, withLinkem = false): Promise<StackTopology> {
  await topo.ns('cli');
  await topo.ns('srv');
  if (withLinkem) {
    await topo.ns('mid');
    await topo.veth('cli', 'vc', 'mid', 'la', { disableOffloads: true });
    await topo.veth('mid', 'lb', 'srv', 'vs', { disableOffloads: true });
    for (const i of ['la', 'lb']) await topo.sysctl('mid', `net.ipv6.conf.${i}.disable_ipv6`, '1');
  } else {
    await topo.veth('cli', 'vc', 'srv', 'vs', { disableOffloads: true });
  }
  await topo.sysctl('cli', 'net.ipv6.conf.vc.disable_ipv6', '1');
  await topo.sysctl('srv', 'net.ipv6.conf.vs.disable_ipv6', '1');
  await topo.addr('cli', 'vc', '198.18.6.1/24');
  const t: StackTopology = {
    topo, clientIp: '198.18.6.1', serverIp: '198.18.6.2',
    // DPDK 22.11's net_af_packet joins a PACKET_FANOUT group with the defrag flag, so the kernel hands it
    // reassembled datagrams: ring frames and mbufs must hold the largest one we expect (8 KB here).
    serverConfig: (app, extra = {}) => ({
      eal: { vdevs: ['net_af_packet0,iface=vs,framesz=8192,blocksz=8192,framecnt=512'], filePrefix: `${prefix}s` },
      pool: { size: 4095, dataRoom: 8192 + 128 },
      ports: [{ name: 'net_af_packet0', stack: { address: '198.18.6.2/24' } }],
      statsIntervalMs: 200, app, ...extra,
    }),
  };
  if (withLinkem) {
    t.linkemConfig = (app) => hopConfig(`${prefix}m`, 'la', 'lb', app);
  }
  return t;
}
