// load-balancer settings: the zod schema of the `app` section (and of the reloadable backends file), and
// its translation into numbers.
import * as fs from 'fs';
import { z } from 'zod';
import { NetstarError, appSettings, conntrack, flow as flowLib, l3, type flow } from '../../index';

const { ipText, interfaceSchema, l3HopFields, l3HopFrom, neighborSchema, iface, neighborsFrom } = l3;
const { timeoutsSchema, parsePortRange, timeoutsFrom } = conntrack;
const { parseIp } = flowLib;
type FlowTimeouts = flow.FlowTimeouts;
type Iface = l3.Iface;
type L3HopSettings = l3.L3HopSettings;

const portRange = z.union([z.number().int().min(1).max(65535), z.string().regex(/^\d{1,5}(-\d{1,5})?$/, 'a port or a range like 1024-60999')]);

export const backendSchema = z.object({
  ip: ipText,
  port: z.number().int().min(1).max(65535),
  /** share of new flows relative to the others (0 = drain: no new flows) */
  weight: z.number().min(0).max(1000).default(1),
}).strict();

export const vipSchema = z.object({
  vip: ipText,
  port: z.number().int().min(1).max(65535),
  proto: z.enum(['tcp', 'udp']).default('tcp'),
  backends: z.array(backendSchema).default([]),
}).strict();

export const vipsSchema = z.array(vipSchema);

export const schema = z.object({
  /** the side clients reach the VIPs on */
  client: interfaceSchema,
  /** the side the backends are on; its address is the source of translated flows and health checks */
  backend: interfaceSchema,
  vips: vipsSchema.default([]),
  /** a JSON file holding `vips` (same shape): read at start and again whenever it changes */
  backendsFile: z.string().min(1).optional(),
  /** how often the backends file is checked for changes (ms) */
  reloadMs: z.number().int().min(50).default(500),
  /** source ports of translated flows (full NAT) */
  snatPorts: portRange.default('1024-60999'),
  health: z.object({
    enabled: z.boolean().default(true),
    intervalMs: z.number().int().min(50).default(1000),
    timeoutMs: z.number().int().min(10).default(500),
    /** consecutive successes to come back up, failures to go down */
    rise: z.number().int().min(1).default(2),
    fall: z.number().int().min(1).default(2),
    /** source ports of health-check SYNs (must not overlap snatPorts) */
    ports: portRange.default('61000-61999'),
  }).strict().default({}),
  neighbors: z.array(neighborSchema).default([]),
  timeouts: timeoutsSchema.default({}),
  maxFlowsPerShard: z.number().int().min(16).max(1 << 22).default(65536),
  maxPortProbes: z.number().int().min(1).default(65536),
  /** Maglev table size (a prime; 65537 by default) */
  tableSize: z.number().int().min(7).max(1 << 22).default(65537),
  ...l3HopFields,
}).strict();

export interface BackendSpec { ip: number; port: number; weight: number; key: string }
export interface VipSpec { vip: number; port: number; proto: number; backends: BackendSpec[]; key: string }

export interface LbSettings extends L3HopSettings {
  client: Iface;
  backend: Iface;
  vips: VipSpec[];
  backendsFile: string | null;
  reloadMs: number;
  snatLo: number;
  snatHi: number;
  health: { enabled: boolean; intervalMs: number; timeoutMs: number; rise: number; fall: number; portLo: number; portHi: number };
  neighbors: { ip: number; mac: number }[];
  timeouts: FlowTimeouts;
  maxFlowsPerShard: number;
  maxPortProbes: number;
  tableSize: number;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

export function toVips(raw: z.infer<typeof vipsSchema>): VipSpec[] {
  return raw.map((v) => ({
    vip: parseIp(v.vip)!,
    port: v.port,
    proto: v.proto === 'udp' ? 17 : 6,
    key: `${v.proto}:${v.vip}:${v.port}`,
    backends: v.backends.map((b) => ({ ip: parseIp(b.ip)!, port: b.port, weight: b.weight, key: `${b.ip}:${b.port}` })),
  }));
}

/** Reads and validates a backends file (a JSON array of VIPs); throws NetstarError with every problem. */
export function readBackendsFile(file: string): VipSpec[] {
  let obj: unknown;
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new NetstarError('ERR_CONFIG', `load-balancer: cannot read backends file '${file}': ${(e as Error).message}`);
  }
  const r = vipsSchema.safeParse(obj);
  if (!r.success) throw new NetstarError('ERR_CONFIG', `load-balancer: invalid backends file '${file}':\n${r.error.issues.map((i) => `  [${i.path.join('.')}]: ${i.message}`).join('\n')}`);
  return toVips(r.data);
}

/** settings(config): the schema through appSettings, then the checks across fields and the translation. */
export const parseSettings = appSettings('load-balancer', schema, (s, config): LbSettings => {
  const ports = config.ports.length;
  for (const [name, i] of [['client', s.client], ['backend', s.backend]] as const)
    if (i.port >= ports) throw new NetstarError('ERR_CONFIG', `load-balancer: app.${name}.port ${i.port} is not one of the ${ports} configured ports`);
  if (s.client.port === s.backend.port) throw new NetstarError('ERR_CONFIG', 'load-balancer: client and backend must be different ports');
  if (!isPrime(s.tableSize)) throw new NetstarError('ERR_CONFIG', `load-balancer: tableSize ${s.tableSize} is not prime`);
  const [snatLo, snatHi] = parsePortRange(s.snatPorts);
  const [hLo, hHi] = parsePortRange(s.health.ports);
  if (hLo <= snatHi && snatLo <= hHi) throw new NetstarError('ERR_CONFIG', 'load-balancer: health.ports overlaps snatPorts');
  const vips = s.backendsFile ? readBackendsFile(s.backendsFile) : toVips(s.vips);
  return {
    client: iface(s.client),
    backend: iface(s.backend),
    vips,
    backendsFile: s.backendsFile ?? null,
    reloadMs: s.reloadMs,
    snatLo,
    snatHi,
    health: { ...s.health, portLo: hLo, portHi: hHi },
    neighbors: neighborsFrom(s.neighbors),
    timeouts: timeoutsFrom(s.timeouts),
    maxFlowsPerShard: s.maxFlowsPerShard,
    maxPortProbes: s.maxPortProbes,
    tableSize: s.tableSize,
    ...l3HopFrom(s),
  };
});
