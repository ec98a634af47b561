// The two-host topology used by l2fwd tests and the demo: hosts A and B in their own namespaces, each
// joined by a veth pair to a forwarder namespace where netstar reads both ends through net_af_packet.
//   [ha] veta 198.18.1.1/24 <-> fwa [fw: netstar] fwb <-> vetb 198.18.1.2/24 [hb]
import { Topology } from './netns';
import { buildHop, hopConfig } from './hop';

export interface L2Topology {
  topo: Topology;
  fw: string; ha: string; hb: string;
  ipA: string; ipB: string;
  macA: string; macB: string;
  /** netstar config for l2fwd between fa and fb (mac mode: each host sees the other's frames addressed to it) */
  config(extra?: Record<string, unknown>): Record<string, unknown>;
}

export async function buildL2Topology(topo: Topology, filePrefix: string): Promise<L2Topology> {
  const { left: ha, mid: fw, right: hb } = await buildHop(topo, { left: 'ha', leftIf: 'veta', mid: 'fw', midLeft: 'fwa', midRight: 'fwb', right: 'hb', rightIf: 'vetb' });
  await topo.addr('ha', 'veta', '198.18.1.1/24');
  await topo.addr('hb', 'vetb', '198.18.1.2/24');
  const macA = await topo.mac('ha', 'veta'), macB = await topo.mac('hb', 'vetb');
  return {
    topo, fw, ha, hb, ipA: '198.18.1.1', ipB: '198.18.1.2', macA, macB,
    config: (extra = {}) => hopConfig(filePrefix, 'fwa', 'fwb', { mode: 'mac', peers: [macA, macB] }, extra),
  };
}
