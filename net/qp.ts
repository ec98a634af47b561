// The queue pair API of NetStar's dpdk_qp: receive from this shard's RX queue of a port, buffered send on
// its TX queue. One DpdkQueuePair per (shard, port); only the owning shard uses it.
import { NativeLcore, TX_DESC_WORDS, MAX_BURST } from '../native';
import { Packet, PacketMemory, RxBatch } from './packet';
import { P, portBase } from '../reactor/stats';

/** Per-shard packet I/O state shared by the shard's queue pairs: the native Lcore, memory views, drops. */
export class ShardIO {
  private readonly freeSlots = new Uint32Array(MAX_BURST);
  private freeCount = 0;
  constructor(readonly lcore: NativeLcore, readonly mem: PacketMemory, readonly stats: Float64Array) {}

  /** Drops a held packet (batched; freed at the next flush or when the batch fills). */
  drop(slot: number, port = 0): void {
    this.freeSlots[this.freeCount++] = slot;
    this.stats[portBase(port) + P.dropped]++;
    if (this.freeCount === MAX_BURST) this.flushDrops();
  }

  flushDrops(): void {
    if (this.freeCount === 0) return;
    this.lcore.free(this.freeSlots, this.freeCount);
    this.freeCount = 0;
  }
}

export class DpdkQueuePair {
  private readonly txDesc = new Uint32Array(MAX_BURST * TX_DESC_WORDS);
  private txCount = 0;
  private txBytes = 0;
  private readonly base: number;

  constructor(
    readonly io: ShardIO,
    /** DPDK port id */
    readonly port: number,
    readonly rxQueue: number,
    readonly txQueue: number,
    readonly burst: number,
  ) {
    this.base = portBase(port);
  }

  /** Receives one burst into `batch`; returns the count. */
  receive(batch: RxBatch): number {
    const n = this.io.lcore.rx(this.port, this.rxQueue, batch.desc, this.burst);
    batch.count = n;
    if (n > 0) {
      const st = this.io.stats;
      st[this.base + P.rx] += n;
    }
    return n;
  }

  /** Queues packet i of a batch for transmission, unchanged offset and length. */
  sendFromBatch(batch: RxBatch, i: number): void {
    this.sendSlot(batch.slot(i), batch.dataOff(i), batch.length(i));
  }

  /** Queues a packet for transmission with its current offset and length. */
  send(p: Packet): void {
    this.sendSlot(p.slot, p.offset - p.bufStart, p.length);
  }

  /** Queues by slot with the data offset relative to the buffer start. */
  sendSlot(slot: number, dataOff: number, length: number): void {
    const t = this.txDesc, b = this.txCount * TX_DESC_WORDS;
    t[b] = slot;
    t[b + 1] = dataOff;
    t[b + 2] = length;
    t[b + 3] = 0;
    this.txBytes += length;
    if (++this.txCount === this.burst) this.flush();
  }

  /** Hands queued packets to the device; what it does not take is freed natively and counted. */
  flush(): number {
    const n = this.txCount;
    if (n === 0) return 0;
    this.txCount = 0;
    const sent = this.io.lcore.tx(this.port, this.txQueue, this.txDesc, n);
    const st = this.io.stats, b = this.base;
    st[b + P.tx] += sent;
    st[b + P.txBytes] += this.txBytes;
    this.txBytes = 0;
    if (sent < n) st[b + P.txDropped] += n - sent;
    return sent;
  }

  get pending(): number {
    return this.txCount;
  }
}
