// Per-shard counters in a SharedArrayBuffer: the shard writes, the main thread reads for the live view. The layout
// lives in net/ because the queue pairs (net/qp.ts) and the native offload executor write it; reactor/stats.ts re-exports.
import { LAYOUT } from '../native/layout';

export const MAX_PORTS = 32;
/** Shard-wide counter indexes. */
export const S = {
  loops: 0, busyMs: 1, idleMs: 2, held: 3, rxBursts: 4, appErrors: 5, sleeps: 6, wakeups: 7,
  fwdOut: 8, fwdIn: 9, fwdDropped: 10, tasks: 11, timers: 12, leaks: 13, ringFull: 14, steered: 15,
  /** distributor: packets for the local TCP/IP stack, packets for the NF pipeline */
  toStack: 16, toNf: 17,
  /** packets the app still held when a stop's grace period ended (dropped) */
  droppedAtStop: 18,
  /** packets freed because a send named a bad offset or length (an app bug; counted, the shard goes on) */
  badPackets: 19,
  /** packets a software steering rule (UDP destination port) matched on this shard (moved or kept) */
  steeredByRule: 20,
  /** packets of flows the destination shard does not know, shed at a busy cross-shard ring (also in fwdDropped) */
  shedNewFlow: 21,
} as const;
export const SHARD_WORDS = 24;
const PS = LAYOUT.portStats;
/** Per-port counter indexes (after the shard-wide block); the native offload executor writes some of them. */
export const P = { rx: PS.rx, tx: PS.tx, txDropped: PS.txDropped, dropped: PS.dropped, rxBytes: PS.rxBytes, txBytes: PS.txBytes } as const;
export const PORT_WORDS = PS.words;
export const STATS_WORDS = SHARD_WORDS + MAX_PORTS * PORT_WORDS;

export function portBase(port: number): number {
  return SHARD_WORDS + port * PORT_WORDS;
}

export function newStatsBuffer(shards: number): SharedArrayBuffer {
  return new SharedArrayBuffer(shards * STATS_WORDS * 8);
}

export function shardStatsView(sab: SharedArrayBuffer, shard: number): Float64Array {
  return new Float64Array(sab, shard * STATS_WORDS * 8, STATS_WORDS);
}

export interface PortTotals { rx: number; tx: number; txDropped: number; dropped: number; rxBytes: number; txBytes: number }

export function portTotals(sab: SharedArrayBuffer, shards: number, port: number): PortTotals {
  const t: PortTotals = { rx: 0, tx: 0, txDropped: 0, dropped: 0, rxBytes: 0, txBytes: 0 };
  const b = portBase(port);
  for (let s = 0; s < shards; s++) {
    const v = shardStatsView(sab, s);
    t.rx += v[b + P.rx]; t.tx += v[b + P.tx]; t.txDropped += v[b + P.txDropped]; t.dropped += v[b + P.dropped];
    t.rxBytes += v[b + P.rxBytes]; t.txBytes += v[b + P.txBytes];
  }
  return t;
}
