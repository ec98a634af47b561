// The glue between the L3 hop and its shard: fresh packets from the shard's pool for control traffic (ARP
// requests, health-check SYNs), and neighbours learned on one shard pushed to the others. Written against the
// few ShardContext members it needs (net/ never imports reactor/): an app passes its ctx.
import type { Packet } from '../packet';
import type { TaskHandle } from '../tasks';
import type { L3, L3Io } from './hop';

/** What the L3 hop needs of its shard; the app's ShardContext fits it. */
export interface L3Host {
  readonly id: number;
  readonly count: number;
  /** a new held packet of `length` bytes from this shard's pool, or null when the pool is empty */
  allocPacket(length: number): Packet | null;
  send(pkt: Packet, portIndex: number): void;
  drop(pkt: Packet): void;
  call<A extends unknown[], R>(task: TaskHandle<A, R>, shard: number, ...args: A): Promise<Awaited<R>>;
}

/** A fresh-packet source over the shard's pool (control traffic only: ARP requests, health checks). */
export function hostIo(host: L3Host): L3Io {
  return {
    alloc: () => host.allocPacket(0),
    send: (p, port) => host.send(p, port),
    drop: (p) => host.drop(p),
  };
}

/** The task that learns a neighbour on another shard: defined once by each app module (one per app). */
export type LearnTask = TaskHandle<[ip: number, mac: number, port: number], void>;

/**
 * Cross-shard learning of neighbours (ARP frames all hash to one shard): what this shard learns from the wire
 * is pushed to the others through `task` (which calls `learn` on their L3 hop).
 */
export function shareNeighbors(host: L3Host, l3: L3, task: LearnTask): void {
  if (host.count < 2) return;
  l3.onLearn = (ip, mac, port) => {
    for (let s = 0; s < host.count; s++) if (s !== host.id) host.call(task, s, ip, mac, port).catch(() => undefined);
  };
}
