// Settings of an L3 hop (ovs-nat, the load balancer) as zod schema pieces an app composes into its own schema:
// an interface (port, address/prefix, gateway), ARP timing, static neighbours, the per-packet entry checks and
// the offload switches; and their translation into numbers.
import { z } from 'zod';
import { parseCidr, parseIp } from '../flow';

export const ipText = z.string().refine((s) => parseIp(s) !== null, 'an IPv4 address like 198.18.0.1');
export const cidrText = z.string().refine((s) => parseCidr(s) !== null, 'an IPv4 prefix like 198.18.0.0/24');
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export const interfaceSchema = z.object({
  /** port index (position in config.ports) */
  port: z.number().int().min(0),
  /** this hop's address and on-link prefix, e.g. 198.18.1.1/24 */
  address: cidrText,
  /** where off-link destinations go; without one they are dropped (counted as noRoute) */
  gateway: ipText.optional(),
}).strict();

export const arpSchema = z.object({
  retryMs: z.number().int().min(10).default(1000),
  tries: z.number().int().min(1).max(20).default(3),
  /** re-resolve (in the background) a neighbor learned this long ago */
  refreshMs: z.number().int().min(1000).default(300_000),
  /** flows waiting for one unresolved neighbor at most */
  maxWaiting: z.number().int().min(1).default(256),
}).strict();

/** The options of an L3 hop on the flow layer (ovs-nat, the load balancer): entry checks, ARP, offload. */
export const l3HopFields = {
  /** verify IPv4 header checksums (default true) and TCP/UDP/ICMP checksums (default true) of packets entering */
  verifyIpChecksum: z.boolean().default(true),
  verifyL4Checksum: z.boolean().default(true),
  /** drop unicast frames not addressed to the port's MAC (default true: a router ignores other hosts' frames) */
  checkDstMac: z.boolean().default(true),
  arp: arpSchema.default({}),
  /** offload steady UDP (and other non-TCP, non-ICMP) connections to the flow layer's fast path (default true) */
  offload: z.boolean().default(true),
  /** and execute those offloads in the native RX path, where packets never reach JS (default true) */
  nativeOffload: z.boolean().default(true),
};
const l3HopObject = z.object(l3HopFields);
export type L3HopSettings = z.infer<typeof l3HopObject>;

/** The L3-hop options of a parsed settings object (the object's other keys left out). */
export function l3HopFrom(s: L3HopSettings): L3HopSettings {
  return {
    verifyIpChecksum: s.verifyIpChecksum, verifyL4Checksum: s.verifyL4Checksum, checkDstMac: s.checkDstMac,
    arp: s.arp, offload: s.offload, nativeOffload: s.nativeOffload,
  };
}

export const neighborSchema = z.object({ ip: ipText, mac: z.string().regex(MAC_RE, 'a MAC like 02:00:00:00:00:01') }).strict();

export interface Iface {
  port: number;
  ip: number;
  prefixLen: number;
  mask: number;
  gateway: number;
  /** filled by the app's prepare(): the port's MAC */
  mac: number;
}

export function parseMacText(mac: string): number {
  return parseInt(mac.replace(/:/g, ''), 16);
}

export function iface(i: z.infer<typeof interfaceSchema>): Iface {
  const c = parseCidr(i.address)!;
  return { port: i.port, ip: c.addr, prefixLen: c.prefixLen, mask: c.mask, gateway: i.gateway ? parseIp(i.gateway)! : 0, mac: 0 };
}

/** Static neighbours as numbers. */
export function neighborsFrom(list: z.infer<typeof neighborSchema>[]): { ip: number; mac: number }[] {
  return list.map((n) => ({ ip: parseIp(n.ip)!, mac: parseMacText(n.mac) }));
}
