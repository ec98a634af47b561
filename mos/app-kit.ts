// What every monitor app shares: the config schema of the monitor (mode, ports, buffers, filter…), the
// options it turns into, and the ShardApp over a Monitor (MetaFlows per port into flowPipeline).
import * as fs from 'fs';
import { z } from 'zod';
import { NetstarError } from '../native';
import { settingsError } from '../reactor/settings';
import type { Config } from '../reactor/config';
import { Verdict, type ShardApp } from '../reactor/app';
import type { ShardContext } from '../reactor/context';
import { MetaFlow, flowPipeline, type SteerTarget } from '../net/flow';
import { compileFilter } from './filter';
import type { Monitor, MonitorOptions } from './monitor';

export const monitorSchema = z.object({
  /** inline: packets in on port i leave on forward[i]; passive: a mirror port, nothing is sent */
  mode: z.enum(['inline', 'passive']).default('inline'),
  /** ports whose packets are monitored (default: all configured ports) */
  ports: z.array(z.number().int().min(0)).optional(),
  /** out port by in port (inline; default [1, 0]) */
  forward: z.array(z.number().int().min(-1)).optional(),
  maxFlows: z.number().int().min(1).max(1 << 24).default(65536),
  bufferBytes: z.number().int().min(0).max(1 << 26).default(65536),
  maxBufferBytes: z.number().int().min(0).default(64 * 1024 * 1024),
  maxFragments: z.number().int().min(1).max(4096).default(16),
  overlap: z.enum(['first', 'last']).default('first'),
  midstream: z.boolean().default(false),
  /** first-packet filter, BPF-like ("tcp and dst port 80") */
  filter: z.string().optional(),
  /** idle timeouts in ms: opening (handshake), established, closing */
  timeouts: z.object({
    opening: z.number().int().min(1).optional(),
    established: z.number().int().min(1).optional(),
    closing: z.number().int().min(1).optional(),
  }).strict().default({}),
  maxHeldPerFlow: z.number().int().min(1).max(65536).default(64),
  verifyIpChecksum: z.boolean().default(true),
}).strict();
export type MonitorSettings = z.infer<typeof monitorSchema>;

/** The monitor's settings schema extended by an app's own fields (what `netstar run <app> --help` shows). */
export function appSchema<T extends z.ZodRawShape>(extra: T) {
  return monitorSchema.extend(extra).strict();
}

/** Parses `config.app` with the monitor's schema extended by the app's own fields; ERR_CONFIG on errors. */
export function parseAppSettings<T extends z.ZodRawShape>(name: string, config: Config, extra: T): MonitorSettings & z.infer<z.ZodObject<T>> {
  const schema = appSchema(extra);
  const r = schema.safeParse(config.app ?? {});
  if (!r.success) {
    throw settingsError(name, r.error);
  }
  const s = r.data as MonitorSettings & z.infer<z.ZodObject<T>>;
  const n = config.ports.length;
  for (const p of s.ports ?? []) if (p >= n) throw new NetstarError('ERR_CONFIG', `${name}: app.ports: no port ${p} (${n} configured)`);
  for (const p of s.forward ?? []) if (p >= n) throw new NetstarError('ERR_CONFIG', `${name}: app.forward: no port ${p} (${n} configured)`);
  if (s.mode === 'inline' && s.forward === undefined && n < 2) {
    throw new NetstarError('ERR_CONFIG', `${name}: inline mode needs two ports (or app.forward); use "mode": "passive" on a mirror port`);
  }
  if (s.filter !== undefined) {
    try {
      compileFilter(s.filter);
    } catch (e) {
      throw new NetstarError('ERR_CONFIG', `${name}: app.filter: ${(e as Error).message}`);
    }
  }
  return s;
}

/** MonitorOptions from settings (the sink is the shard). */
export function monitorOptions<C>(ctx: ShardContext, s: MonitorSettings, createContext: () => C): MonitorOptions<C> {
  const t = s.timeouts;
  return {
    sink: ctx,
    alloc: (n: number) => ctx.allocPacket(n),
    createContext,
    mode: s.mode,
    maxFlows: s.maxFlows,
    bufferBytes: s.bufferBytes,
    maxBufferBytes: s.maxBufferBytes,
    maxFragments: s.maxFragments,
    overlap: s.overlap,
    midstream: s.midstream,
    filter: s.filter,
    defaultOut: s.forward ?? [1, 0],
    maxHeldPerFlow: s.maxHeldPerFlow,
    timeouts: {
      ...(t.opening !== undefined ? { TcpFirstPacket: t.opening, TcpOpening: t.opening } : {}),
      ...(t.established !== undefined ? { TcpEstablished: t.established } : {}),
      ...(t.closing !== undefined ? { TcpClosing: t.closing, TcpFinWait: t.closing, TcpClosed: t.closing } : {}),
    },
  };
}

/** The ShardApp running a monitor: one MetaFlow per monitored port, flow expiry on the shard's clock. */
export function monitorApp<C>(ctx: ShardContext, mon: Monitor<C>, s: MonitorSettings, hooks: {
  counters?: () => Record<string, number>;
  afterBurst?: (now: number) => void;
  pollAt?: () => number;
  stop?: () => void | Promise<void>;
} = {}): ShardApp {
  const steer: SteerTarget = {
    id: ctx.id, count: ctx.count,
    shardOfHash: (h: number) => ctx.shardOfHash(h),
    forward: (p, shard, hash) => ctx.forward(p, shard, hash),
    markFlow: (h: number) => ctx.markFlow(h),
    marksFlows: () => ctx.marksFlows(),
  };
  const ports = s.ports ?? ctx.ports.map((p) => p.index);
  const metaFlows: MetaFlow[] = [];
  const parse = { verifyIpChecksum: s.verifyIpChecksum };
  const fwd = s.forward ?? [1, 0];
  for (let i = 0; i < ctx.ports.length; i++) {
    // Ports not monitored get a MetaFlow without a distributor (their packets are dropped, counted).
    const mf = new MetaFlow({ port: i, distributor: ports.includes(i) ? mon : undefined, steer, parse });
    // Inline, the monitor is a bump in the wire: ARP and other non-IPv4 frames pass as they are.
    if (s.mode === 'inline') mf.nonIp = (_p, _info, inPort) => (fwd[inPort] !== undefined && fwd[inPort] >= 0 ? Verdict.port(fwd[inPort]) : Verdict.DROP);
    metaFlows.push(mf);
  }
  return flowPipeline({
    metaFlows,
    distributor: mon.dist,
    clock: ctx.clock,
    counters: () => ({ ...mon.snapshot(), ...(hooks.counters ? hooks.counters() : {}) }),
    afterBurst: hooks.afterBurst,
    pollAt: hooks.pollAt,
    stop: hooks.stop,
  });
}

/** A JSON-lines writer (alerts, flow records): appends to a file, or to stderr without one. */
export class JsonLines {
  private readonly fd: number;
  written = 0;
  constructor(file: string | undefined) {
    this.fd = file !== undefined ? fs.openSync(file, 'a') : 2;
  }
  write(o: unknown): void {
    fs.writeSync(this.fd, JSON.stringify(o) + '\n');
    this.written++;
  }
  close(): void {
    if (this.fd !== 2) fs.closeSync(this.fd);
  }
}
