// The glue between the L3 hop and a shard: fresh packets from the shard's pool for control traffic (ARP
// requests, health-check SYNs), and neighbors learned on one shard pushed to the others.
import { RX_DESC_WORDS } from '../../native';
import type { Shard } from '../../reactor/shard';
import { Packet, RxBatch } from '../../net/packet';
import type { TaskSubmitter } from '../../net/flow';
import type { L3, L3Io } from './l3';

/** A fresh-packet source over the shard's pool (control traffic only: ARP requests). */
export function shardIo(shard: Shard): L3Io {
  const desc = new Uint32Array(RX_DESC_WORDS);
  const batch = new RxBatch(shard.io.mem, desc);
  const pools = shard.init.pools;
  const pool = pools[shard.id % pools.length].id;
  return {
    alloc(): Packet | null {
      if (shard.lcore.alloc(pool, desc, 1) !== 1) return null;
      batch.count = 1;
      const p = batch.at(0, new Packet());
      p.length = 0;
      return p;
    },
    send: (p, port) => shard.send(p, port),
    drop: (p) => shard.drop(p),
  };
}

/** Cross-shard learning of neighbors (ARP frames all hash to one shard): pushed to the others by submitTo. */
export function shareNeighbors(shard: Shard, l3: L3, task: string): void {
  const sub = shard as unknown as Partial<TaskSubmitter>;
  if (shard.count < 2 || typeof sub.submitTo !== 'function') return;
  const submit = sub.submitTo.bind(shard);
  l3.onLearn = (ip, mac, port) => {
    for (let s = 0; s < shard.count; s++) if (s !== shard.id) submit(s, task, ip, mac, port).catch(() => undefined);
  };
}

