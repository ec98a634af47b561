// The contract between the runtime and an application (NF). An app validates its settings on the main
// thread and creates one ShardApp per shard; the shard calls onPacket for every received packet.
import type { Config } from './config';
import type { PortInfo } from '../native';
import * as netApp from '../net/app';
import type { ShardContext } from './context';
import type { ZodTypeAny } from 'zod';
import type { SteerRule } from '../net/steer';

// The verdict and the per-shard handler contract live in net/app.ts (the flow layer builds and answers them).
export import Verdict = netApp.Verdict;
export type ShardApp = netApp.ShardApp;

/** What an app command handler can read on the main thread. */
export interface AppControlContext {
  shards: number;
  /** app counters summed over shards (refreshed by the shards every 200 ms) */
  counters(): Record<string, number>;
}
export type AppCommand<S> = (settings: S, args: Record<string, unknown>, ctx: AppControlContext) => unknown;

export interface AppModule<S = unknown> {
  readonly name: string;
  /** One line saying what the app does (`netstar apps`). */
  readonly description?: string;
  /** The zod schema of the config's `app` section (`netstar run <app> --help` prints its keys). */
  readonly settingsSchema?: ZodTypeAny;
  /** Main thread, before the EAL starts: validate `config.app`; throw NetstarError('ERR_CONFIG', …). */
  settings(config: Config): S;
  /** Main thread, after ports are up: fill in what depends on the ports (MACs…). Returns what shards get. */
  prepare?(settings: S, ports: PortInfo[]): S;
  /**
   * Main thread: commands the control socket offers for this app (`netstar ctl <instance> <command> '{…}'`).
   * A handler gets the settings the shards got (after prepare), the request's arguments and a small context.
   */
  control?: Record<string, AppCommand<S>>;
  /**
   * Main thread, after prepare: steering rules (UDP destination port -> shard). The engine installs each
   * with rte_flow where the port validates it (queue = shard) and in the shards' software table otherwise.
   */
  steering?(settings: S, shards: number): SteerRule[];
  /** Shard thread: the app's per-shard state over the shard's context (its whole surface). */
  createShard(ctx: ShardContext, settings: S): ShardApp | Promise<ShardApp>;
}

/** Apps runnable with `netstar run <name>`: module paths relative to dist/. */
export const APPS: Record<string, string> = {
  l2fwd: 'apps/l2fwd/index',
  linkem: 'apps/linkem/index',
  echo: 'apps/echo/index',
  httpd: 'apps/httpd/index',
  iperf3: 'apps/iperf3/index',
  'ovs-nat': 'apps/ovs-nat/index',
  'load-balancer': 'apps/load-balancer/index',
  l3engine: 'apps/l3engine/index',
  l3reflect: 'apps/l3engine/reflect',
  httpfilter: 'apps/l3engine/httpfilter',
  midstat: 'apps/midstat/index',
  'simple-firewall': 'apps/simple-firewall/index',
  ids: 'apps/ids/index',
  abacus: 'apps/abacus/index',
  halfback: 'apps/halfback/index',
  'mica-server': 'apps/mica-server/index',
  'mica-client': 'apps/mica-client/index',
  'stateless-nf': 'apps/stateless-nf/index',
};

/**
 * The app a loaded module exports: `export default app` (compiled to `exports.default`) or CommonJS
 * `module.exports = app`. Null when neither is an object with `settings()` and `createShard()`.
 */
export function appOfModule(mod: unknown): AppModule | null {
  const isApp = (x: unknown): x is AppModule =>
    typeof x === 'object' && x !== null
    && typeof (x as AppModule).settings === 'function' && typeof (x as AppModule).createShard === 'function';
  const def = typeof mod === 'object' && mod !== null ? (mod as { default?: unknown }).default : undefined;
  if (isApp(def)) return def;
  return isApp(mod) ? mod : null;
}
