// ovs-nat settings: the zod schema of the config file's `app` section and its translation into numbers
// (addresses as uint32, ranges, OVS timeout-policy names to flow-layer timeout classes).
import { z } from 'zod';
import { NetstarError } from '../../native';
import { OVS_DEFAULT_TIMEOUTS, parseCidr, parseIp, type FlowTimeouts } from '../../net/flow';

const ipText = z.string().refine((s) => parseIp(s) !== null, 'an IPv4 address like 198.18.0.1');
const cidrText = z.string().refine((s) => parseCidr(s) !== null, 'an IPv4 prefix like 198.18.0.0/24');
const rangeText = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}(-\d{1,3}(\.\d{1,3}){3})?$/, 'an address or a range like 198.18.2.10-198.18.2.20');
const portRange = z.union([z.number().int().min(0).max(65535), z.string().regex(/^\d{1,5}(-\d{1,5})?$/, 'a port or a range like 1024-65535')]);
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const proto = z.enum(['tcp', 'udp', 'icmp']);

export const interfaceSchema = z.object({
  /** port index (position in config.ports) */
  port: z.number().int().min(0),
  /** this hop's address and on-link prefix, e.g. 198.18.1.1/24 */
  address: cidrText,
  /** where off-link destinations go; without one they are dropped (counted as noRoute) */
  gateway: ipText.optional(),
}).strict();

/** OVS timeout-policy attribute names (ct_dpif_tp_attr), in seconds. */
export const timeoutsSchema = z.object({
  tcp_syn_sent: z.number().positive(),
  tcp_syn_recv: z.number().positive(),
  tcp_established: z.number().positive(),
  tcp_fin_wait: z.number().positive(),
  tcp_time_wait: z.number().positive(),
  tcp_close: z.number().positive(),
  udp_first: z.number().positive(),
  udp_single: z.number().positive(),
  udp_multiple: z.number().positive(),
  icmp_first: z.number().positive(),
  icmp_reply: z.number().positive(),
}).partial().strict();

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

export const schema = z.object({
  inside: interfaceSchema,
  outside: interfaceSchema,
  /** static neighbors (never resolved, never expire) */
  neighbors: z.array(neighborSchema).default([]),
  /** source NAT for connections started from the inside, first match wins */
  snat: z.array(z.object({
    /** match: source and destination prefixes, protocol */
    src: cidrText.default('0.0.0.0/0'),
    dst: cidrText.default('0.0.0.0/0'),
    proto: proto.optional(),
    /** the translated source address (or range) */
    addresses: rangeText,
    /** the translated source port range; without one the original port is kept when free, else 1024-65535 */
    ports: portRange.optional(),
  }).strict()).default([]),
  /** destination NAT for connections started from the outside (port forwarding), first match wins */
  dnat: z.array(z.object({
    dst: ipText,
    proto: proto.optional(),
    dport: z.number().int().min(0).max(65535).optional(),
    addresses: rangeText,
    ports: portRange.optional(),
  }).strict()).default([]),
  /** let connections started from the outside through without DNAT (routed, tracked); default: dropped */
  allowInbound: z.boolean().default(false),
  /** connections at most, over all shards (OVS default 3,000,000) */
  connLimit: z.number().int().min(1).default(3_000_000),
  /** connections per shard at most: the table is sized for it at start and never grows */
  maxConnsPerShard: z.number().int().min(16).max(1 << 22).default(65536),
  /** port probes per new connection at most (bounds the work of a nearly exhausted range) */
  maxPortProbes: z.number().int().min(1).default(65536),
  timeouts: timeoutsSchema.default({}),
  ...l3HopFields,
  /** where the conntrack dump goes (`<file>.<shard>`), at stop and on SIGUSR2; none if unset */
  dumpFile: z.string().min(1).optional(),
}).strict();

export type RawSettings = z.infer<typeof schema>;

export interface Iface {
  port: number;
  ip: number;
  prefixLen: number;
  mask: number;
  gateway: number;
  /** filled by prepare(): the port's MAC */
  mac: number;
}

export interface SnatRule {
  src: number; srcMask: number; dst: number; dstMask: number;
  /** 0 = any */
  proto: number;
  addrLo: number; addrHi: number;
  /** -1 when not given (keep the original port if free, else the ephemeral range) */
  portLo: number; portHi: number;
}

export interface DnatRule {
  dst: number;
  proto: number;
  /** -1 = any */
  dport: number;
  addrLo: number; addrHi: number;
  portLo: number; portHi: number;
}

export interface NatSettings extends L3HopSettings {
  inside: Iface;
  outside: Iface;
  neighbors: { ip: number; mac: number }[];
  snat: SnatRule[];
  dnat: DnatRule[];
  allowInbound: boolean;
  connLimit: number;
  maxConnsPerShard: number;
  maxPortProbes: number;
  timeouts: FlowTimeouts;
  dumpFile: string | null;
  /** shared by all shards: [0] live connections (the global limit), [1] dump requests (SIGUSR2) */
  shared: SharedArrayBuffer;
  shards: number;
}

export function protoNumber(p: 'tcp' | 'udp' | 'icmp' | undefined): number {
  return p === 'tcp' ? 6 : p === 'udp' ? 17 : p === 'icmp' ? 1 : 0;
}

export function parseRange(text: string): [number, number] {
  const [a, b] = text.split('-');
  const lo = parseIp(a)!, hi = b === undefined ? lo : parseIp(b);
  if (hi === null || hi < lo) throw new NetstarError('ERR_CONFIG', `bad address range '${text}' (the end must follow the start)`);
  return [lo, hi];
}

export function parsePortRange(p: number | string | undefined): [number, number] {
  if (p === undefined) return [-1, -1];
  if (typeof p === 'number') return [p, p];
  const [a, b] = p.split('-').map(Number);
  const hi = b === undefined ? a : b;
  if (a > 65535 || hi > 65535 || hi < a) throw new NetstarError('ERR_CONFIG', `bad port range '${p}'`);
  return [a, hi];
}

export function parseMacText(mac: string): number {
  return parseInt(mac.replace(/:/g, ''), 16);
}

export function iface(i: z.infer<typeof interfaceSchema>): Iface {
  const c = parseCidr(i.address)!;
  return { port: i.port, ip: c.addr, prefixLen: c.prefixLen, mask: c.mask, gateway: i.gateway ? parseIp(i.gateway)! : 0, mac: 0 };
}

/** OVS timeout-policy names (seconds) onto the flow layer's classes (ms), over the OVS defaults. */
export function timeoutsFrom(t: z.infer<typeof timeoutsSchema>): FlowTimeouts {
  const d = { ...OVS_DEFAULT_TIMEOUTS };
  const ms = (s: number | undefined, def: number): number => (s === undefined ? def : s * 1000);
  return {
    TcpFirstPacket: ms(t.tcp_syn_sent, d.TcpFirstPacket),
    TcpOpening: ms(t.tcp_syn_recv, d.TcpOpening),
    TcpEstablished: ms(t.tcp_established, d.TcpEstablished),
    TcpClosing: ms(t.tcp_fin_wait, d.TcpClosing),
    TcpFinWait: ms(t.tcp_time_wait, d.TcpFinWait),
    TcpClosed: ms(t.tcp_close, d.TcpClosed),
    OtherFirst: ms(t.udp_first, d.OtherFirst),
    OtherMultiple: ms(t.udp_single, d.OtherMultiple),
    OtherBidir: ms(t.udp_multiple, d.OtherBidir),
    IcmpFirst: ms(t.icmp_first, d.IcmpFirst),
    IcmpReply: ms(t.icmp_reply, d.IcmpReply),
  };
}

export function zodIssues(app: string, e: z.ZodError): NetstarError {
  return new NetstarError('ERR_CONFIG', `invalid app settings for ${app}:\n${e.issues.map((i) => `  app.${i.path.join('.')}: ${i.message}`).join('\n')}`);
}

export function parseSettings(appSection: unknown, ports: number, shards: number): NatSettings {
  const r = schema.safeParse(appSection);
  if (!r.success) throw zodIssues('ovs-nat', r.error);
  const s = r.data;
  for (const [name, i] of [['inside', s.inside], ['outside', s.outside]] as const)
    if (i.port >= ports) throw new NetstarError('ERR_CONFIG', `ovs-nat: app.${name}.port ${i.port} is not one of the ${ports} configured ports`);
  if (s.inside.port === s.outside.port) throw new NetstarError('ERR_CONFIG', 'ovs-nat: inside and outside must be different ports');
  const dnat = s.dnat.map((d): DnatRule => {
    const [addrLo, addrHi] = parseRange(d.addresses);
    const [portLo, portHi] = parsePortRange(d.ports);
    return { dst: parseIp(d.dst)!, proto: protoNumber(d.proto), dport: d.dport ?? -1, addrLo, addrHi, portLo, portHi };
  });
  // With several shards, a DNAT reply is steered by the address (and port) it had before translation, which
  // must then be one value per rule.
  if (shards > 1) for (const d of dnat) if (d.portLo >= 0 && d.dport < 0) throw new NetstarError('ERR_CONFIG', 'ovs-nat: with several shards a DNAT rule that changes ports needs a single `dport`');
  return {
    inside: iface(s.inside),
    outside: iface(s.outside),
    neighbors: s.neighbors.map((n) => ({ ip: parseIp(n.ip)!, mac: parseMacText(n.mac) })),
    snat: s.snat.map((x): SnatRule => {
      const src = parseCidr(x.src)!, dst = parseCidr(x.dst)!;
      const [addrLo, addrHi] = parseRange(x.addresses);
      const [portLo, portHi] = parsePortRange(x.ports);
      return { src: src.addr & src.mask, srcMask: src.mask, dst: dst.addr & dst.mask, dstMask: dst.mask, proto: protoNumber(x.proto), addrLo, addrHi, portLo, portHi };
    }),
    dnat,
    allowInbound: s.allowInbound,
    connLimit: s.connLimit,
    maxConnsPerShard: s.maxConnsPerShard,
    maxPortProbes: s.maxPortProbes,
    timeouts: timeoutsFrom(s.timeouts),
    ...l3HopFrom(s),
    dumpFile: s.dumpFile ?? null,
    shared: new SharedArrayBuffer(16),
    shards,
  };
}
