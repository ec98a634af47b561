// The contract between the runtime and an application (NF). An app validates its settings on the main
// thread and creates one ShardApp per shard; the shard calls onPacket for every received packet.
import type { Config } from './config';
import type { PortInfo } from '../native';
import * as netApp from '../net/app';
import type { ShardContext } from './context';

// The verdict and the per-shard handler contract live in net/app.ts (the flow layer builds and answers them).
export import Verdict = netApp.Verdict;
export type ShardApp = netApp.ShardApp;

export interface AppModule<S = unknown> {
  readonly name: string;
  /** Main thread, before the EAL starts: validate `config.app`; throw NetstarError('ERR_CONFIG', …). */
  settings(config: Config): S;
  /** Main thread, after ports are up: fill in what depends on the ports (MACs…). Returns what shards get. */
  prepare?(settings: S, ports: PortInfo[]): S;
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
};
