// l3engine settings: NIC ports with addresses, client links (one net_memif port each, server role), services
// made of client instances, and the routing table; validated with zod and cross-checked into flat tables.
import { z } from 'zod';
import { NetstarError, settingsError } from '../../index';
import type { Config } from '../../index';
import { parseCidr, parseIp } from '../../net/flow';

const CIDR_RE = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;
const IP_RE = /^\d{1,3}(\.\d{1,3}){3}$/;
const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

const cidr = z.string().regex(CIDR_RE, 'an IPv4 address with prefix, e.g. 198.18.1.2/24');
const ip = z.string().regex(IP_RE, 'an IPv4 address, e.g. 198.18.1.1');
const proto = z.enum(['tcp', 'udp', 'icmp']);
const portRange = z.union([
  z.number().int().min(0).max(65535),
  z.tuple([z.number().int().min(0).max(65535), z.number().int().min(0).max(65535)]),
]);

export const l3engineSchema = z.object({
  /** ports facing the network: the engine answers ARP/ICMP for `address` there and routes into services */
  nics: z.array(z.object({
    port: z.number().int().min(0),
    address: cidr,
    gateway: ip.optional(),
    /** static neighbours on the port (next hops that answer no ARP, e.g. a pcap or null device) */
    neighbors: z.array(z.object({ ip, mac: z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'a MAC address like 02:00:00:00:00:01') }).strict()).default([]),
  }).strict()).min(1, 'at least one NIC port'),
  /** one client per net_memif port (server role); `address` is the engine's on the link (the client's gateway) */
  clients: z.array(z.object({
    name: z.string().regex(NAME_RE, 'a name of letters, digits, - and _ (starting with a letter)'),
    port: z.number().int().min(0),
    address: cidr,
    /** addresses (or prefixes) the client owns: the only sources it may send from; the first is its next hop */
    addresses: z.array(z.union([ip, cidr])).min(1),
    /** the client's MAC, for peers that do not answer ARP (testpmd): a static neighbour */
    mac: z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'a MAC address like 02:00:00:00:00:01').optional(),
    /** TCP/UDP source ports it may send from (numbers or [from, to]); absent = any */
    ports: z.array(portRange).optional(),
    /** token bucket on what the client sends: packets and/or bits per second, burst in packets */
    rate: z.object({
      pps: z.number().positive().optional(),
      bps: z.number().positive().optional(),
      burst: z.number().int().min(1).default(64),
    }).strict().optional(),
  }).strict()).default([]),
  services: z.array(z.object({
    name: z.string().regex(NAME_RE, 'a name of letters, digits, - and _ (starting with a letter)'),
    /** client names; a flow is pinned to one of them by the symmetric tuple hash */
    instances: z.array(z.string()).min(1),
  }).strict()).default([]),
  /** most specific first: longer prefix, then a protocol, then a port; 'default' matches what nothing else does */
  routes: z.array(z.object({
    prefix: z.union([cidr, z.literal('default')]),
    proto: proto.optional(),
    port: z.number().int().min(1).max(65535).optional(),
    service: z.string(),
  }).strict()).default([]),
  checks: z.object({
    /** drop TCP/UDP/ICMP with a wrong checksum (counted) */
    l4Checksum: z.boolean().default(true),
    /** drop martian sources and destinations (counted) */
    martians: z.boolean().default(true),
  }).strict().default({}),
  /**
   * Client liveness: every `intervalMs` the engine asks each client (not those with a static MAC) for its
   * address by ARP; a client not heard from for `timeoutMs` is down — its instances leave their services until
   * it answers again. 0 turns probing off (clients are then always up).
   */
  liveness: z.object({
    intervalMs: z.number().int().min(0).default(200),
    timeoutMs: z.number().int().min(1).default(1000),
  }).strict().default({}),
  /**
   * A JSON file with `clients`, `services` and/or `routes` replacing those above while the engine runs: checked
   * every `reloadMs` and applied when it changes and validates (a client may take any net_memif port no NIC uses,
   * so spare memif ports in the config are slots for clients added later).
   */
  controlFile: z.string().min(1).optional(),
  reloadMs: z.number().int().min(20).default(200),
  arp: z.object({
    retryMs: z.number().int().min(10).default(300),
    tries: z.number().int().min(1).default(4),
    refreshMs: z.number().int().min(100).default(30000),
    maxWaiting: z.number().int().min(1).default(1024),
  }).strict().default({}),
}).strict();

export interface Prefix { addr: number; mask: number; len: number }

export interface ClientSpec {
  name: string;
  port: number;
  /** engine's address on the link and its prefix */
  ip: number;
  mask: number;
  /** allowed sources; addresses[0].addr is the client's next hop */
  sources: Prefix[];
  /** allowed TCP/UDP source port ranges as [from, to] pairs; empty = any */
  ports: [number, number][];
  pps: number;
  bps: number;
  burst: number;
  /** static MAC of the client (48-bit number), or -1 to resolve by ARP */
  mac: number;
}

export interface NicSpec { port: number; ip: number; mask: number; gateway: number; neighbors: { ip: number; mac: number }[] }

export interface RouteSpec {
  addr: number;
  mask: number;
  len: number;
  /** 0 = any */
  proto: number;
  /** 0 = any */
  port: number;
  /** index in services */
  service: number;
  isDefault: boolean;
}

export interface L3engineSettings {
  nics: NicSpec[];
  clients: ClientSpec[];
  /** per service: client indexes */
  services: { name: string; instances: number[] }[];
  /** sorted most specific first */
  routes: RouteSpec[];
  checks: { l4Checksum: boolean; martians: boolean };
  liveness: { intervalMs: number; timeoutMs: number };
  arp: { retryMs: number; tries: number; refreshMs: number; maxWaiting: number };
  controlFile: string | null;
  reloadMs: number;
  /** what a control file is validated against: the config's port names and app object */
  portNames: string[];
  base: Record<string, unknown>;
}

const PROTO = { tcp: 6, udp: 17, icmp: 1 } as const;

function bad(msg: string): never {
  throw new NetstarError('ERR_CONFIG', `invalid app settings for l3engine:\n  ${msg}`);
}

function prefixOf(text: string, what: string): Prefix {
  const c = parseCidr(text);
  if (c === null) bad(`${what}: '${text}' is not a valid address or prefix`);
  return { addr: (c.addr & c.mask) >>> 0, mask: c.mask, len: c.prefixLen };
}

function hostOf(text: string, what: string): { ip: number; mask: number } {
  const c = parseCidr(text);
  if (c === null) bad(`${what}: '${text}' is not a valid address`);
  return { ip: c.addr >>> 0, mask: c.mask };
}

/** Validates `config.app` for l3engine; every cross-reference is checked here, once. */
export function parseL3engineSettings(config: Config): L3engineSettings {
  // Neighbours and token buckets live in one shard; several shards would each hold a partial view.
  if (config.shards !== 1) bad(`shards: the engine runs on one shard (its neighbour tables and rate limiters are per shard), got ${String(config.shards)}`);
  return parseApp(config.app, config.ports.map((p) => p.name));
}

/** The keys a control file may replace. */
export const CONTROL_KEYS = ['clients', 'services', 'routes'] as const;

/** Validates a control file's object against the running engine's base settings (throws NetstarError). */
export function parseControl(obj: unknown, s: L3engineSettings): L3engineSettings {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) bad('control file: a JSON object with clients, services and/or routes');
  for (const k of Object.keys(obj)) if (!(CONTROL_KEYS as readonly string[]).includes(k)) bad(`control file: unknown key '${k}' (only ${CONTROL_KEYS.join(', ')})`);
  const next = parseApp({ ...s.base, ...(obj as Record<string, unknown>) }, s.portNames);
  next.base = s.base;
  return next;
}

function parseApp(app: unknown, portNames: string[]): L3engineSettings {
  const r = l3engineSchema.safeParse(app);
  if (!r.success) throw settingsError('l3engine', r.error);
  const a = r.data;
  const nports = portNames.length;
  const used = new Map<number, string>();
  const usePort = (p: number, who: string): void => {
    if (p >= nports) bad(`${who}: port ${p} is beyond the ${nports} configured ports`);
    const prev = used.get(p);
    if (prev !== undefined) bad(`${who}: port ${p} is already used by ${prev}`);
    used.set(p, who);
  };
  const nics: NicSpec[] = a.nics.map((n, i) => {
    usePort(n.port, `nics[${i}]`);
    const h = hostOf(n.address, `nics[${i}].address`);
    const gw = n.gateway === undefined ? 0 : parseIp(n.gateway);
    if (gw === null) bad(`nics[${i}].gateway: '${n.gateway}' is not a valid address`);
    if (gw !== 0 && ((gw ^ h.ip) & h.mask) !== 0) bad(`nics[${i}].gateway: ${n.gateway} is not inside ${n.address}`);
    const neighbors = n.neighbors.map((e, k) => {
      const a = parseIp(e.ip);
      if (a === null) bad(`nics[${i}].neighbors[${k}].ip: '${e.ip}' is not a valid address`);
      return { ip: a >>> 0, mac: parseInt(e.mac.replace(/:/g, ''), 16) };
    });
    return { port: n.port, ip: h.ip, mask: h.mask, gateway: gw >>> 0, neighbors };
  });
  const byName = new Map<string, number>();
  const clients: ClientSpec[] = a.clients.map((c, i) => {
    usePort(c.port, `clients[${i}] (${c.name})`);
    const vdev = portNames[c.port];
    if (!vdev.startsWith('net_memif')) bad(`clients[${i}] (${c.name}): port ${c.port} is '${vdev}', not a net_memif port`);
    if (byName.has(c.name)) bad(`clients[${i}]: the name '${c.name}' is used twice`);
    byName.set(c.name, i);
    const h = hostOf(c.address, `clients[${i}].address`);
    const sources = c.addresses.map((t, k) => prefixOf(t, `clients[${i}].addresses[${k}]`));
    if (sources[0].len !== 32) bad(`clients[${i}].addresses[0]: the first address is the client's next hop and must be one address, not ${c.addresses[0]}`);
    const ports = (c.ports ?? []).map((p): [number, number] => (typeof p === 'number' ? [p, p] : p));
    for (const [f, t] of ports) if (f > t) bad(`clients[${i}].ports: range [${f}, ${t}] is empty`);
    return {
      name: c.name, port: c.port, ip: h.ip, mask: h.mask, sources, ports,
      pps: c.rate?.pps ?? 0, bps: c.rate?.bps ?? 0, burst: c.rate?.burst ?? 0,
      mac: c.mac === undefined ? -1 : parseInt(c.mac.replace(/:/g, ''), 16),
    };
  });
  const svcByName = new Map<string, number>();
  const services = a.services.map((s, i) => {
    if (svcByName.has(s.name)) bad(`services[${i}]: the name '${s.name}' is used twice`);
    svcByName.set(s.name, i);
    const instances = s.instances.map((n) => {
      const k = byName.get(n);
      if (k === undefined) bad(`services[${i}] (${s.name}): no client named '${n}'`);
      return k;
    });
    if (new Set(instances).size !== instances.length) bad(`services[${i}] (${s.name}): an instance is listed twice`);
    return { name: s.name, instances };
  });
  let defaults = 0;
  const routes: RouteSpec[] = a.routes.map((rt, i) => {
    const service = svcByName.get(rt.service);
    if (service === undefined) bad(`routes[${i}]: no service named '${rt.service}'`);
    if (rt.port !== undefined && rt.proto !== 'tcp' && rt.proto !== 'udp') bad(`routes[${i}]: a port needs proto 'tcp' or 'udp'`);
    if (rt.prefix === 'default') {
      defaults++;
      if (rt.proto !== undefined || rt.port !== undefined) bad(`routes[${i}]: the default route takes no proto or port`);
      return { addr: 0, mask: 0, len: -1, proto: 0, port: 0, service, isDefault: true };
    }
    const p = prefixOf(rt.prefix, `routes[${i}].prefix`);
    return { addr: p.addr, mask: p.mask, len: p.len, proto: rt.proto ? PROTO[rt.proto] : 0, port: rt.port ?? 0, service, isDefault: false };
  });
  if (defaults > 1) bad('routes: more than one default route');
  const key = (x: RouteSpec): string => `${x.addr}/${x.len}/${x.proto}/${x.port}`;
  if (new Set(routes.map(key)).size !== routes.length) bad('routes: two routes have the same prefix, protocol and port');
  // Specificity: prefix length, then protocol, then port; the default last.
  routes.sort((x, y) => (y.len - x.len) || ((y.proto ? 1 : 0) - (x.proto ? 1 : 0)) || ((y.port ? 1 : 0) - (x.port ? 1 : 0)));
  if (a.liveness.intervalMs > 0 && a.liveness.timeoutMs <= a.liveness.intervalMs) bad(`liveness: timeoutMs (${a.liveness.timeoutMs}) must exceed intervalMs (${a.liveness.intervalMs})`);
  return {
    nics, clients, services, routes, checks: a.checks, liveness: a.liveness, arp: a.arp,
    controlFile: a.controlFile ?? null, reloadMs: a.reloadMs, portNames, base: app as Record<string, unknown>,
  };
}
