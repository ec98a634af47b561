// ovs-nat settings: the zod schema of the config file's `app` section and its translation into numbers
// (addresses as uint32, ranges, OVS timeout-policy names to flow-layer timeout classes).
import { z } from 'zod';
import { NetstarError, appSettings, conntrack, flow as flowLib, l3, type flow } from '../../index';

const { ipText, cidrText, interfaceSchema, l3HopFields, l3HopFrom, neighborSchema, iface, neighborsFrom } = l3;
const { timeoutsSchema, rangeText, protoNumber, parseRange, parsePortRange, timeoutsFrom } = conntrack;
type FlowTimeouts = flow.FlowTimeouts;
type Iface = l3.Iface;
type L3HopSettings = l3.L3HopSettings;
const { parseIp: flowParseIp, parseCidr: flowParseCidr } = flowLib;

const portRange = z.union([z.number().int().min(0).max(65535), z.string().regex(/^\d{1,5}(-\d{1,5})?$/, 'a port or a range like 1024-65535')]);
const proto = z.enum(['tcp', 'udp', 'icmp']);

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

/** settings(config): the schema through appSettings, then the checks across fields and the translation. */
export const parseSettings = appSettings('ovs-nat', schema, (s, config): NatSettings => {
  const ports = config.ports.length;
  const shards = config.shards === 'all' ? 2 : config.shards;
  for (const [name, i] of [['inside', s.inside], ['outside', s.outside]] as const)
    if (i.port >= ports) throw new NetstarError('ERR_CONFIG', `ovs-nat: app.${name}.port ${i.port} is not one of the ${ports} configured ports`);
  if (s.inside.port === s.outside.port) throw new NetstarError('ERR_CONFIG', 'ovs-nat: inside and outside must be different ports');
  const dnat = s.dnat.map((d): DnatRule => {
    const [addrLo, addrHi] = parseRange(d.addresses);
    const [portLo, portHi] = parsePortRange(d.ports);
    return { dst: flowParseIp(d.dst)!, proto: protoNumber(d.proto), dport: d.dport ?? -1, addrLo, addrHi, portLo, portHi };
  });
  // With several shards, a DNAT reply is steered by the address (and port) it had before translation, which
  // must then be one value per rule.
  if (shards > 1) for (const d of dnat) if (d.portLo >= 0 && d.dport < 0) throw new NetstarError('ERR_CONFIG', 'ovs-nat: with several shards a DNAT rule that changes ports needs a single `dport`');
  return {
    inside: iface(s.inside),
    outside: iface(s.outside),
    neighbors: neighborsFrom(s.neighbors),
    snat: s.snat.map((x): SnatRule => {
      const src = flowParseCidr(x.src)!, dst = flowParseCidr(x.dst)!;
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
});
