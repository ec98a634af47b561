// The queue pair API of NetStar's dpdk_qp: receive from this shard's RX queue of a port, buffered send on
// its TX queue. One DpdkQueuePair per (shard, port); only the owning shard uses it.
import { native, NativeLcore, TX_DESC_WORDS, MAX_BURST } from '../native';
import { Packet, PacketMemory, RxBatch } from './packet';
import { P, portBase } from '../reactor/stats';

/** Fast-call parameter word positions (see native `fast`). */
const F = { port: 0, queue: 1, count: 2, region: 3, retries: 4 } as const;

/**
 * Per-shard packet I/O: the native Lcore, memory views, and the zero-argument fast calls whose arguments
 * and descriptors live in native-owned regions. Regions are handed out once (batches, TX buffers, drops).
 */
export class ShardIO {
  private readonly params: Uint32Array;
  private readonly area: ArrayBuffer;
  private nextRegion = 0;
  private readonly regions: number;
  private readonly dropDesc: Uint32Array;
  private readonly dropRegion: number;
  private freeCount = 0;
  readonly fast = native.fast;

  constructor(readonly lcore: NativeLcore, readonly mem: PacketMemory, readonly stats: Float64Array, regions: number) {
    this.regions = regions + 1;
    this.area = lcore.fastArea(this.regions);
    this.params = new Uint32Array(this.area, 0, native.FAST_PARAM_WORDS);
    this.params[F.retries] = 4;
    const r = this.allocRegion();
    this.dropDesc = r.desc;
    this.dropRegion = r.region;
  }

  /** A descriptor region of its own (MAX_BURST RX descriptors worth of words). */
  allocRegion(): { region: number; desc: Uint32Array } {
    if (this.nextRegion >= this.regions) throw new Error(`out of descriptor regions (${this.regions})`);
    const region = this.nextRegion++;
    const words = native.FAST_REGION_WORDS;
    return { region, desc: new Uint32Array(this.area, (native.FAST_PARAM_WORDS + region * words) * 4, words) };
  }

  newBatch(): RxBatch {
    const r = this.allocRegion();
    return new RxBatch(this.mem, r.desc, r.region);
  }

  rx(port: number, queue: number, batch: RxBatch, max: number): number {
    const p = this.params;
    p[F.port] = port; p[F.queue] = queue; p[F.count] = max; p[F.region] = batch.region;
    return (batch.count = this.fast.rx());
  }

  /** TX of `count` TX descriptors (slot, dataOff, dataLen, flags) in `region`. */
  tx(port: number, queue: number, region: number, count: number): number {
    const p = this.params;
    p[F.port] = port; p[F.queue] = queue; p[F.count] = count; p[F.region] = region;
    return this.fast.tx();
  }

  /** TX of a batch straight from its RX descriptors. */
  txBatch(port: number, queue: number, batch: RxBatch): number {
    const p = this.params;
    p[F.port] = port; p[F.queue] = queue; p[F.count] = batch.count; p[F.region] = batch.region;
    return this.fast.txRx();
  }

  /** Drops a held packet (batched; freed at the next flush or when the batch fills). */
  drop(slot: number, port = 0): void {
    this.dropDesc[this.freeCount++] = slot;
    this.stats[portBase(port) + P.dropped]++;
    if (this.freeCount === MAX_BURST) this.flushDrops();
  }

  flushDrops(): void {
    if (this.freeCount === 0) return;
    const p = this.params;
    p[F.count] = this.freeCount; p[F.region] = this.dropRegion;
    this.freeCount = 0;
    this.fast.free();
  }
}

export class DpdkQueuePair {
  private readonly txDesc: Uint32Array;
  private readonly txRegion: number;
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
    const r = io.allocRegion();
    this.txDesc = r.desc;
    this.txRegion = r.region;
  }

  /** Receives one burst into `batch`; returns the count. */
  receive(batch: RxBatch): number {
    const n = this.io.rx(this.port, this.rxQueue, batch, this.burst);
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

  /**
   * Sends a whole received burst as it stands in the batch's descriptors (slot, dataOff, dataLen; an app
   * may have changed dataOff/dataLen in place). Keeps order with packets queued before.
   */
  sendBatch(batch: RxBatch): number {
    const n = batch.count;
    if (n === 0) return 0;
    this.flush();
    const sent = batch.region >= 0 ? this.io.txBatch(this.port, this.txQueue, batch) : this.io.lcore.txRx(this.port, this.txQueue, batch.desc, n);
    batch.count = 0;
    const st = this.io.stats, b = this.base;
    st[b + P.tx] += sent;
    if (sent < n) st[b + P.txDropped] += n - sent;
    return sent;
  }

  /** Hands queued packets to the device; what it does not take is freed natively and counted. */
  flush(): number {
    const n = this.txCount;
    if (n === 0) return 0;
    this.txCount = 0;
    const sent = this.io.tx(this.port, this.txQueue, this.txRegion, n);
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
