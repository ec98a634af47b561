// ovs-nat's control-socket commands (main thread): `conntrack` asks every shard for its table, as SIGUSR2
// does, and answers with the connections, filtered.
import * as fs from 'fs';
import type { AppControlContext } from '../../index';
import type { NatSettings } from './config';

export interface ConntrackReply { connections: number; shards: { shard: number; total: number; lines: string[] }[] }

/** `netstar ctl <instance> conntrack '{"match": "198.18.0.5"}'`: the live connections whose line holds `match`. */
export async function conntrackCommand(s: NatSettings, args: Record<string, unknown>, ctx: AppControlContext): Promise<ConntrackReply> {
  if (s.dumpFile === null) throw new Error('conntrack over the control socket needs app.dumpFile (the shards write their tables there)');
  const match = args.match === undefined ? '' : String(args.match);
  const limit = args.limit === undefined ? 10000 : Number(args.limit);
  if (!(Number.isInteger(limit) && limit >= 0)) throw new Error('conntrack: limit must be a non-negative integer');
  const before = ctx.counters().dumps ?? 0;
  // The same request word SIGUSR2 bumps: each shard writes <dumpFile>.<shard> and counts a dump.
  Atomics.add(new Int32Array(s.shared), 1, 1);
  const deadline = Date.now() + 5000;
  while ((ctx.counters().dumps ?? 0) < before + ctx.shards) {
    if (Date.now() > deadline) throw new Error('conntrack: the shards did not write their tables within 5 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const shards: ConntrackReply['shards'] = [];
  let connections = 0;
  for (let i = 0; i < ctx.shards; i++) {
    const all = fs.readFileSync(`${s.dumpFile}.${i}`, 'utf8').split('\n').filter((l) => l.length > 0 && !l.startsWith('#'));
    const hit = all.filter((l) => l.includes(match));
    connections += hit.length;
    shards.push({ shard: i, total: all.length, lines: hit.slice(0, limit) });
  }
  return { connections, shards };
}
