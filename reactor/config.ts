// Runtime configuration: schema (zod), file loading with clear errors, and the one place that turns
// config into EAL arguments.
import * as fs from 'fs';
import * as os from 'os';
import { z } from 'zod';
import { NetstarError } from '../native';
import { LAYOUT } from '../native/layout';
import { captureSchema } from './capture-ring';

/** vdev drivers DPDK 22.11 ships as virtual devices; a vdev name is `<driver><index>[,args]`. */
export const VDEV_DRIVERS = [
  'net_af_packet', 'net_af_xdp', 'net_null', 'net_ring', 'net_pcap', 'net_tap', 'net_tun', 'net_memif',
  'net_vhost', 'virtio_user', 'net_bonding', 'net_failsafe', 'net_softnic',
] as const;

const vdevSchema = z.string().min(1).superRefine((s, ctx) => {
  const name = s.split(',')[0];
  const driver = name.replace(/\d+$/, '');
  if (driver === name) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `vdev '${name}' needs an instance number, e.g. '${name}0'` });
  } else if (!(VDEV_DRIVERS as readonly string[]).includes(driver)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `unknown vdev driver '${driver}' in '${s}'; known: ${VDEV_DRIVERS.join(', ')}` });
  }
});

function isIpv4(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

function isIpv4WithPrefix(s: string): boolean {
  const m = /^(.+)\/(\d{1,2})$/.exec(s);
  return m !== null && isIpv4(m[1]) && Number(m[2]) <= 32;
}

/** RSS hash functions a port may be asked for (native/src/port.cc maps them to RTE_ETH_RSS_* flags). */
export const RSS_FUNCTIONS = ['ip', 'tcp', 'udp', 'sctp', 'ipv4', 'ipv4-tcp', 'ipv4-udp', 'ipv4-frag', 'ipv6', 'ipv6-tcp', 'ipv6-udp', 'ipv6-frag', 'l2-payload'] as const;
/** RSS key lengths of the common NICs (ixgbe, mlx5: 40; i40e, ice: 52); a device may report its own. */
export const RSS_KEY_LENGTHS = [40, 52] as const;

const rssKeySchema = z.union([
  z.enum(['default', 'symmetric']),
  z.string().transform((s) => s.replace(/^0x/i, '').replace(/[:\s]/g, '')).refine(
    (h) => /^[0-9a-fA-F]*$/.test(h) && (RSS_KEY_LENGTHS as readonly number[]).includes(h.length / 2),
    `an RSS key is 'default', 'symmetric' (0x6d5a repeated) or ${RSS_KEY_LENGTHS.join(' or ')} bytes in hex`),
]);

export const portSchema = z.object({
  /** A vdev name (net_null0) or a PCI address (0000:01:00.0), as the EAL names the port. */
  name: z.string().min(1),
  rxDesc: z.number().int().min(32).max(32768).default(1024),
  txDesc: z.number().int().min(32).max(32768).default(1024),
  mtu: z.number().int().min(68).max(9600).optional(),
  promiscuous: z.boolean().default(true),
  /**
   * Receive-side scaling when the port has more than one RX queue: `key` 'default' (the driver's),
   * 'symmetric' (0x6d5a repeated: both directions of a flow hash alike, so they reach the same shard), or hex
   * bytes; `functions` what the NIC hashes on (default ip, tcp, udp).
   */
  rss: z.object({
    key: rssKeySchema.default('default'),
    functions: z.array(z.enum(RSS_FUNCTIONS)).min(1).optional(),
  }).strict().default({}),
  /**
   * TX offload MBUF_FAST_FREE (off by default). The driver then frees sent mbufs in bulk into the pool of
   * the first, assuming all come from one pool and none is shared (refcnt 1). That holds only with one shard
   * (one pool; more shards forward packets and hand TX across pools): refused with more.
   */
  mbufFastFree: z.boolean().default(false),
  /** Give this port an address: the shard's TCP/IP stack answers ARP/ICMP and owns its sockets. */
  stack: z.object({
    address: z.string().refine(isIpv4WithPrefix, 'an IPv4 address with a prefix length of 0..32, e.g. 198.18.1.2/24'),
    gateway: z.string().refine(isIpv4, 'an IPv4 address (four numbers 0..255)').optional(),
    mtu: z.number().int().min(576).max(9000).optional(),
    /** TCP/UDP to our address on a port nobody holds: 'rst' = the stack answers (RST / ICMP port unreachable), 'nf' = the NF pipeline gets it */
    closedPorts: z.enum(['rst', 'nf']).default('rst'),
    tcp: z.record(z.unknown()).optional(),
  }).strict().optional(),
}).strict();

/** `metrics`: the Prometheus endpoint (reactor/metrics.ts). Loopback unless the config says otherwise. */
export const metricsSchema = z.object({
  listen: z.string().default('127.0.0.1:9464').superRefine((s, ctx) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(s);
    if (!m || Number(m[2]) > 65535) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `'${s}' is not host:port (e.g. 127.0.0.1:9464; port 0 picks a free one)` });
      return;
    }
    const host = m[1];
    if (/^[\d.]+$/.test(host) && !/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) && host.split('.').some((o) => Number(o) > 255))
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `'${host}' is not an IPv4 address` });
  }),
}).strict();
export type MetricsConfig = z.infer<typeof metricsSchema>;

export const configSchema = z.object({
  eal: z.object({
    vdevs: z.array(vdevSchema).default([]),
    /** PCI allow list; empty with `noPci` true means no PCI scan at all. */
    pci: z.array(z.string().regex(/^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/, 'PCI address like 0000:01:00.0')).default([]),
    noPci: z.boolean().default(true),
    memoryMb: z.number().int().min(64).max(1 << 20).default(512),
    hugepages: z.boolean().default(false),
    filePrefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).optional(),
    logLevel: z.union([z.enum(['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug']), z.number().int().min(1).max(8)]).default('error'),
    /** The core the EAL main thread is registered on. */
    mainCore: z.number().int().min(0).default(0),
    extraArgs: z.array(z.string()).default([]),
  }).strict().default({}),
  pool: z.object({
    /** mbufs per shard pool */
    size: z.number().int().min(1023).max(1 << 22).default(8191),
    cacheSize: z.number().int().min(0).max(512).default(256),
    dataRoom: z.number().int().min(256 + 128).max(65535).default(2048 + 128),
  }).strict().default({}),
  ports: z.array(portSchema).min(1, 'at least one port is needed'),
  /** Number of shards (one worker per core), or 'all' for every core. */
  shards: z.union([z.number().int().min(1).max(128), z.literal('all')]).default(1),
  /** Cores for the shards, in shard order; default 0..N-1 (wrapping over the machine's cores). */
  cores: z.array(z.number().int().min(0)).optional(),
  /** Packets a shard may hold at once (its slot table). */
  slotsPerShard: z.number().int().min(256).max(1 << 20).default(8192),
  /** Packets per RX burst: 64 amortizes the JS<->native crossing better than the usual 32 (see bench l2fwd). */
  burst: z.number().int().min(1).max(LAYOUT.burst.max).default(64),
  /** Slots of each cross-shard ring (power of two). */
  ringSize: z.number().int().min(64).max(1 << 16).refine((n) => (n & (n - 1)) === 0, 'a power of two').default(1024),
  /** A full cross-shard ring: drop (counted) or retry on the next loop (bounded). */
  backpressure: z.enum(['drop', 'retry']).default('drop'),
  /**
   * The part of a cross-shard ring that packets of flows unknown to the destination shard may fill: past it
   * they are shed (counted `shedNewFlow`), so a new-flow flood cannot take the room of existing flows. A shard
   * knows a flow once its app accepted a packet of it (MetaFlow marks them; apps call `ctx.markFlow`). 1: off.
   */
  ringNewFlowShare: z.number().min(0).max(1).default(0.5),
  /** How long a flow stays known to the steering shards after its last accepted packet (ms). */
  knownFlowTtlMs: z.number().int().min(1000).max(3_600_000).default(30_000),
  /** Longest idle sleep (ms): how late an idle shard may notice traffic on a device without RX interrupts. */
  idleMaxSleepMs: z.number().min(1).max(100).default(5),
  /**
   * At stop, how long handlers may keep packets held (ms) before they are dropped and counted (droppedAtStop);
   * a second stop request (SIGINT) ends the wait at once.
   */
  stopGraceMs: z.number().int().min(0).max(60000).default(250),
  /** A packet held across awaits longer than this is reported as a leak. */
  leakDeadlineMs: z.number().int().min(10).default(5000),
  /** Statistics period in ms for the live view. */
  statsIntervalMs: z.number().int().min(50).default(1000),
  /** The control socket (`netstar ctl/ls/top`): on by default, named `<app>-<pid>` unless named here or by --name. */
  control: z.object({
    enabled: z.boolean().default(true),
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (1-64)').optional(),
  }).strict().default({}),
  /** Packet capture to pcapng (reactor/capture.ts); none when absent. */
  capture: captureSchema.optional(),
  /** Prometheus endpoint (GET /metrics); none when absent. */
  metrics: metricsSchema.optional(),
  /** Application-specific settings, validated by the app. */
  app: z.record(z.unknown()).default({}),
}).strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

function formatZod(err: z.ZodError): string {
  return err.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

/** Validates a config object; throws NetstarError(ERR_CONFIG) listing every problem. */
export function parseConfig(input: unknown, source = 'config'): Config {
  const r = configSchema.safeParse(input);
  if (!r.success) throw new NetstarError('ERR_CONFIG', `invalid ${source}:\n${formatZod(r.error)}`);
  const c = r.data;
  const vdevNames = new Set(c.eal.vdevs.map((v) => v.split(',')[0]));
  for (const p of c.ports) {
    const isPci = /^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/.test(p.name);
    if (!isPci && !vdevNames.has(p.name))
      throw new NetstarError('ERR_CONFIG', `invalid ${source}:\n  ports: port '${p.name}' is neither a configured vdev (${[...vdevNames].join(', ') || 'none'}) nor a PCI address`);
    if (isPci && c.eal.noPci && c.eal.pci.length === 0)
      throw new NetstarError('ERR_CONFIG', `invalid ${source}:\n  ports: port '${p.name}' is a PCI device but eal.noPci is true; set eal.pci to allow it`);
  }
  for (const p of c.ports)
    if (p.mbufFastFree && shardCount(c) > 1)
      throw new NetstarError('ERR_CONFIG', `invalid ${source}:\n  ports: '${p.name}' asks for mbufFastFree with ${shardCount(c)} shards; it needs every mbuf sent on a queue to come from one pool, which holds only with shards: 1`);
  if (new Set(c.ports.map((p) => p.name)).size !== c.ports.length)
    throw new NetstarError('ERR_CONFIG', `invalid ${source}:\n  ports: a port is listed twice`);
  return c;
}

/** Reads and validates a JSON config file. */
export function loadConfigFile(file: string, overrides: Partial<ConfigInput> = {}): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new NetstarError('ERR_CONFIG', `cannot read config file '${file}': ${(e as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new NetstarError('ERR_CONFIG', `config file '${file}' is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new NetstarError('ERR_CONFIG', `config file '${file}' must hold a JSON object`);
  return parseConfig({ ...(obj as Record<string, unknown>), ...overrides }, `config file '${file}'`);
}

export function shardCount(c: Config): number {
  return c.shards === 'all' ? os.cpus().length : c.shards;
}

export function shardCores(c: Config): number[] {
  const n = shardCount(c);
  const ncpu = os.cpus().length;
  // One shard per core: more would share cores (and pools) for nothing, and past RTE_MAX_LCORE (128) threads
  // cannot register with DPDK at all.
  if (n > ncpu) throw new NetstarError('ERR_CONFIG', `shards: ${n} shards asked for, but this machine has ${ncpu} core(s); at most ${ncpu} (one shard per core)`);
  if (c.cores) {
    if (c.cores.length < n) throw new NetstarError('ERR_CONFIG', `cores lists ${c.cores.length} cores for ${n} shards`);
    for (const core of c.cores) if (core >= ncpu) throw new NetstarError('ERR_CONFIG', `core ${core} does not exist (this machine has ${ncpu})`);
    return c.cores.slice(0, n);
  }
  return Array.from({ length: n }, (_, i) => i % ncpu);
}

/** The symmetric Toeplitz key: 0x6d5a repeated to `bytes` (Woo and Park's key; either direction hashes alike). */
export function symmetricRssKey(bytes: number): Uint8Array {
  const k = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) k[i] = i % 2 === 0 ? 0x6d : 0x5a;
  return k;
}

/**
 * The RSS key bytes for a port from its config (undefined: the driver's default); `deviceKeySize` is what the
 * device reports (0 when it does not say). A hex key of another length than the device's is a config error.
 */
export function rssKeyBytes(key: Config['ports'][number]['rss']['key'], portName: string, deviceKeySize: number): Uint8Array | undefined {
  if (key === 'default') return undefined;
  if (key === 'symmetric') return symmetricRssKey(deviceKeySize || RSS_KEY_LENGTHS[0]);
  const bytes = Uint8Array.from(key.match(/../g) ?? [], (h) => parseInt(h, 16));
  if (deviceKeySize !== 0 && bytes.length !== deviceKeySize)
    throw new NetstarError('ERR_CONFIG', `port '${portName}': the RSS key has ${bytes.length} bytes; this device takes ${deviceKeySize}`);
  return bytes;
}

/** The one place config becomes EAL arguments. */
export function ealArgs(c: Config): string[] {
  const e = c.eal;
  const args = ['-l', String(e.mainCore), `--file-prefix=${e.filePrefix ?? `netstar${process.pid}`}`, `--log-level=${e.logLevel}`];
  if (e.hugepages) args.push('--socket-mem', String(e.memoryMb));
  else args.push('--no-huge', '-m', String(e.memoryMb));
  if (e.noPci && e.pci.length === 0) args.push('--no-pci');
  for (const p of e.pci) args.push('-a', p);
  for (const v of e.vdevs) args.push(`--vdev=${v}`);
  args.push(...e.extraArgs);
  return args;
}
