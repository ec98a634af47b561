// The shape most namespace tests share: two hosts joined through a middle namespace by veth pairs, and netstar
// in the middle reading both of its ends through net_af_packet.
//   [left] leftIf <-> midLeft [mid: netstar] midRight <-> rightIf [right]
import { Topology } from './netns';

export interface HopSpec {
  left: string; leftIf: string;
  mid: string; midLeft: string; midRight: string;
  right: string; rightIf: string;
}

/**
 * Creates the three namespaces and both veth pairs (offloads off, so the kernel hands netstar real frames)
 * with IPv6 off on every end (no stray router solicitations in counters). Returns the namespaces' full names.
 */
export async function buildHop(topo: Topology, h: HopSpec): Promise<{ left: string; mid: string; right: string }> {
  const mid = await topo.ns(h.mid), left = await topo.ns(h.left), right = await topo.ns(h.right);
  await topo.veth(h.left, h.leftIf, h.mid, h.midLeft, { disableOffloads: true });
  await topo.veth(h.right, h.rightIf, h.mid, h.midRight, { disableOffloads: true });
  for (const [ns, ifs] of [[h.mid, [h.midLeft, h.midRight]], [h.left, [h.leftIf]], [h.right, [h.rightIf]]] as const)
    for (const i of ifs) await topo.sysctl(ns, `net.ipv6.conf.${i}.disable_ipv6`, '1');
  return { left, mid, right };
}

/** netstar config for an app in the middle: ports 0 and 1 are `midLeft` and `midRight` (net_af_packet). */
export function hopConfig(filePrefix: string, midLeft: string, midRight: string, app: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eal: { vdevs: [`net_af_packet0,iface=${midLeft}`, `net_af_packet1,iface=${midRight}`], filePrefix },
    ports: [{ name: 'net_af_packet0' }, { name: 'net_af_packet1' }],
    statsIntervalMs: 200,
    app,
    ...extra,
  };
}
