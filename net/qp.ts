// The queue pair API of NetStar's dpdk_qp on each shard: receive (device bursts and packets bounced from
// other shards), send (buffered, only the owning shard), forward and unsafeForward to another shard through
// lock-free SPSC rings. Also ShardIO: the zero-argument fast calls and drops with per-port counters.
import { native, NativeLcore, TX_DESC_WORDS, MAX_BURST, TX_FLAG_SET_PORT, RX_DESC_WORDS, RXD } from '../native';
import { Packet, PacketMemory, RxBatch } from './packet';
import { P, S, portBase } from './stats';

/** Fast-call parameter word positions (see native `fast`). */
const F = { port: 0, queue: 1, count: 2, region: 3, retries: 4, handled: 5 } as const;

/** Ring kinds of the cross-shard matrix. */
export const RingKind = { FORWARD: 0, UNSAFE: 1, RETURN: 2, TX: 3 } as const;
export const RING_KINDS = 4;
/** rings[kind][from][to] = native ring id (-1 on the diagonal) */
export type RingMatrix = number[][][];

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
  /** Origin shard of each held slot that came through a FORWARD ring (free on cpu), else -1. */
  readonly origin: Int16Array;
  /** Set by the shard: where dropped packets of another shard's pool go back. */
  returnTo: ((slot: number, origin: number) => void) | null = null;

  constructor(readonly lcore: NativeLcore, readonly mem: PacketMemory, readonly stats: Float64Array, regions: number) {
    this.regions = regions + 1;
    this.area = lcore.fastArea(this.regions);
    this.params = new Uint32Array(this.area, 0, native.FAST_PARAM_WORDS);
    this.params[F.retries] = 4;
    const r = this.allocRegion();
    this.dropDesc = r.desc;
    this.dropRegion = r.region;
    this.origin = new Int16Array(lcore.capacity).fill(-1);
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

  /** Packets the native offload executor took in the last rx() (sent already; not in the batch). */
  rxHandled(): number {
    return this.params[F.handled];
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

  ringPut(ring: number, region: number, count: number): number {
    const p = this.params;
    p[F.port] = ring; p[F.count] = count; p[F.region] = region;
    return this.fast.ringPut();
  }

  /** Puts a batch's packets (RX descriptors) into a ring; returns how many went in (the first ones). */
  ringPutBatch(ring: number, batch: RxBatch): number {
    const p = this.params;
    p[F.port] = ring; p[F.count] = batch.count; p[F.region] = batch.region;
    return this.fast.ringPutRx();
  }

  ringGet(ring: number, batch: RxBatch, max: number): number {
    const p = this.params;
    p[F.port] = ring; p[F.count] = max; p[F.region] = batch.region;
    return (batch.count = this.fast.ringGet());
  }

  ringDrain(ring: number, max: number): number {
    const p = this.params;
    p[F.port] = ring; p[F.count] = max;
    return this.fast.ringDrain();
  }

  /** Drops a held packet (batched; freed at the next flush), or sends it home if another shard's pool owns it. */
  drop(slot: number, port = 0): void {
    this.stats[portBase(port) + P.dropped]++;
    const o = this.origin[slot];
    if (o >= 0 && this.returnTo) {
      this.origin[slot] = -1;
      this.returnTo(slot, o);
      return;
    }
    this.dropDesc[this.freeCount++] = slot;
    if (this.freeCount === MAX_BURST) this.flushDrops();
  }

  /** Frees a packet that was consumed (not a drop: the stack took its contents). */
  free(slot: number): void {
    this.origin[slot] = -1;
    this.dropDesc[this.freeCount++] = slot;
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

/** A TX-layout buffer in a native region, flushed to a device queue or a ring. */
class TxBuffer {
  readonly desc: Uint32Array;
  readonly region: number;
  count = 0;
  constructor(io: ShardIO) {
    const r = io.allocRegion();
    this.desc = r.desc;
    this.region = r.region;
  }
  push(slot: number, dataOff: number, length: number, flags: number): boolean {
    const t = this.desc, b = this.count * TX_DESC_WORDS;
    t[b] = slot; t[b + 1] = dataOff; t[b + 2] = length; t[b + 3] = flags;
    return ++this.count === MAX_BURST;
  }
  /** Keeps the descriptors from `from` on (those a ring did not take) at the front. */
  keepFrom(from: number): void {
    this.desc.copyWithin(0, from * TX_DESC_WORDS, this.count * TX_DESC_WORDS);
    this.count -= from;
  }
}

export interface CrossShardOptions {
  /** full ring: 'drop' frees the packet and counts it; 'retry' keeps it (bounded by `pendingLimit`) and retries next loop */
  backpressure: 'drop' | 'retry';
}

/**
 * This shard's ends of the cross-shard ring matrix: outgoing buffers per destination and kind, incoming
 * rings polled every loop. FORWARD records the origin so a drop returns the buffer to the origin shard
 * (free on cpu); UNSAFE lets the destination free it directly; TX asks the destination to transmit on
 * the port recorded in the mbuf (for ports where this shard has no TX queue).
 */
export class CrossShard {
  private readonly out: (TxBuffer | null)[][] = [];
  private readonly inBatch: RxBatch;
  readonly peers: number[];

  constructor(
    private readonly io: ShardIO,
    readonly self: number,
    readonly shards: number,
    private readonly rings: RingMatrix,
    private readonly opts: CrossShardOptions,
    /** wakes shard `dst` if it sleeps (packets were put in its ring) */
    private readonly wake: (dst: number) => void = () => {},
  ) {
    for (let k = 0; k < RING_KINDS; k++) {
      this.out.push([]);
      for (let d = 0; d < shards; d++) this.out[k].push(d === self ? null : new TxBuffer(io));
    }
    this.inBatch = io.newBatch();
    this.peers = Array.from({ length: shards }, (_, i) => i).filter((i) => i !== self);
    io.returnTo = (slot, origin) => this.enqueue(RingKind.RETURN, origin, slot, 0, 1, 0);
  }

  /** Queues a packet for another shard; false if it was dropped because the ring stayed full. */
  enqueue(kind: number, dst: number, slot: number, dataOff: number, length: number, flags: number): boolean {
    const b = this.out[kind][dst];
    if (!b) throw new RangeError(`shard ${dst} is this shard or does not exist`);
    this.io.origin[slot] = -1;
    if (b.count === MAX_BURST) {
      this.flushOne(kind, dst, b);
      if (b.count === MAX_BURST) {
        // The ring is still full and the retry buffer too: drop this one (counted).
        this.io.drop(slot);
        this.io.stats[S.fwdDropped]++;
        return false;
      }
    }
    b.push(slot, dataOff, length, flags);
    return true;
  }

  forward(p: Packet, dst: number): void {
    this.io.stats[S.fwdOut]++;
    this.enqueue(RingKind.FORWARD, dst, p.slot, p.offset - p.bufStart, p.length, 0);
  }

  unsafeForward(p: Packet, dst: number): void {
    this.io.stats[S.fwdOut]++;
    this.enqueue(RingKind.UNSAFE, dst, p.slot, p.offset - p.bufStart, p.length, 0);
  }

  /**
   * Forwards a whole batch (its RX descriptors, no per-packet JS): keeps order behind packets already
   * buffered for `dst`; what the ring does not take is buffered ('retry') or dropped ('drop'), counted.
   */
  forwardBatch(batch: RxBatch, dst: number, kind: number = RingKind.FORWARD): void {
    const n = batch.count;
    if (n === 0) return;
    const b = this.out[kind][dst];
    if (!b) throw new RangeError(`shard ${dst} is this shard or does not exist`);
    const io = this.io, d = batch.desc;
    if (batch.fromRing) for (let i = 0; i < n; i++) io.origin[d[i * RX_DESC_WORDS + RXD.slot]] = -1;
    io.stats[S.fwdOut] += n;
    let put = 0;
    if (b.count > 0) this.flushOne(kind, dst, b);
    if (b.count === 0) put = batch.region >= 0 ? io.ringPutBatch(this.rings[kind][this.self][dst], batch) : 0;
    if (put > 0) this.wake(dst);
    if (put < n) io.stats[S.ringFull] += n - put;
    for (let i = put; i < n; i++) {
      const o = i * RX_DESC_WORDS;
      this.enqueue(kind, dst, d[o + RXD.slot], d[o + RXD.dataOff], d[o + RXD.dataLen], 0);
    }
    batch.count = 0;
  }

  private flushOne(kind: number, dst: number, b: TxBuffer): void {
    const n = b.count;
    const put = this.io.ringPut(this.rings[kind][this.self][dst], b.region, n);
    if (put > 0) this.wake(dst);
    if (put === n) {
      b.count = 0;
      return;
    }
    this.io.stats[S.ringFull] += n - put;
    b.keepFrom(put);
    if (kind === RingKind.RETURN || this.opts.backpressure === 'retry') return; // kept for the next loop (bounded by MAX_BURST)
    // Drop what the ring would not take (freed here; counted).
    const st = this.io.stats;
    for (let i = 0; i < b.count; i++) {
      this.io.origin[b.desc[i * TX_DESC_WORDS]] = -1;
      this.io.drop(b.desc[i * TX_DESC_WORDS]);
      st[S.fwdDropped]++;
    }
    b.count = 0;
  }

  /** Pushes every outgoing buffer into its ring. */
  flush(): void {
    for (let k = 0; k < RING_KINDS; k++) {
      const row = this.out[k];
      for (let d = 0; d < this.shards; d++) {
        const b = row[d];
        if (b && b.count > 0) this.flushOne(k, d, b);
      }
    }
  }

  /** Packets waiting in this shard's outgoing buffers. */
  pending(): number {
    let n = 0;
    for (const row of this.out) for (const b of row) if (b) n += b.count;
    return n;
  }

  /**
   * Polls incoming rings: frees returned buffers, transmits TX hand-offs with `sendTx`, and hands forwarded
   * packets to `deliver` batch by batch. Returns packets seen.
   */
  poll(burst: number, deliver: (batch: RxBatch) => void, sendTx: (batch: RxBatch) => void): number {
    const io = this.io, rings = this.rings, self = this.self, batch = this.inBatch, st = io.stats;
    let total = 0;
    for (let i = 0; i < this.peers.length; i++) {
      const src = this.peers[i];
      total += io.ringDrain(rings[RingKind.RETURN][src][self], MAX_BURST);
      let n = io.ringGet(rings[RingKind.FORWARD][src][self], batch, burst);
      if (n > 0) {
        for (let j = 0; j < n; j++) io.origin[batch.desc[j * RX_DESC_WORDS + RXD.slot]] = src;
        st[S.fwdIn] += n;
        total += n;
        batch.fromRing = true;
        deliver(batch);
        batch.fromRing = false;
      }
      n = io.ringGet(rings[RingKind.UNSAFE][src][self], batch, burst);
      if (n > 0) {
        st[S.fwdIn] += n;
        total += n;
        deliver(batch);
      }
      n = io.ringGet(rings[RingKind.TX][src][self], batch, burst);
      if (n > 0) {
        total += n;
        sendTx(batch);
      }
    }
    return total;
  }

  /** True when no FORWARD, UNSAFE or TX ring into this shard holds a packet. */
  incomingEmpty(): boolean {
    for (const src of this.peers)
      for (const k of [RingKind.FORWARD, RingKind.UNSAFE, RingKind.TX])
        if (native.ring.count(this.rings[k][src][this.self]) > 0) return false;
    return true;
  }

  /** At stop, after every shard flushed: frees whatever is still in this shard's incoming rings. */
  drainAll(): number {
    let n = 0;
    for (const src of this.peers) for (let k = 0; k < RING_KINDS; k++) n += this.io.ringDrain(this.rings[k][src][this.self], 1 << 30);
    return n;
  }
}

export class DpdkQueuePair {
  private readonly tx: TxBuffer;
  private txBytes = 0;
  private readonly base: number;

  constructor(
    /** the shard's I/O (private: ctx.qps gives apps the queue pair API, not the shard's internals) */
    private readonly io: ShardIO,
    /** DPDK port id */
    readonly port: number,
    /** this shard's RX queue on the port, or -1 if another shard reads it (software steering) */
    readonly rxQueue: number,
    /** this shard's TX queue on the port, or -1: packets go to `txOwner` through a TX ring */
    readonly txQueue: number,
    readonly burst: number,
    private readonly xshard: CrossShard | null,
    readonly txOwner: number,
  ) {
    this.base = portBase(port);
    this.tx = new TxBuffer(io);
  }

  /** Receives one burst from the device into `batch`; returns the count (0 if this shard has no RX queue). */
  receive(batch: RxBatch): number {
    if (this.rxQueue < 0) return (batch.count = 0);
    const n = this.io.rx(this.port, this.rxQueue, batch, this.burst);
    this.lastHandled = this.io.rxHandled();
    if (n > 0) this.io.stats[this.base + P.rx] += n;
    return n;
  }

  /** Packets the native offload executor handled in the last receive() (counted in the port stats natively). */
  lastHandled = 0;

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
    this.io.origin[slot] = -1;
    if (this.txQueue < 0) {
      this.xshard!.enqueue(RingKind.TX, this.txOwner, slot, dataOff, length, TX_FLAG_SET_PORT | this.port);
      return;
    }
    this.txBytes += length;
    if (this.tx.push(slot, dataOff, length, 0)) this.flush();
  }

  /**
   * Sends a whole received burst as it stands in the batch's descriptors (slot, dataOff, dataLen; an app
   * may have changed dataOff/dataLen in place). Keeps order with packets queued before.
   */
  sendBatch(batch: RxBatch): number {
    const n = batch.count;
    if (n === 0) return 0;
    if (this.txQueue < 0 || batch.region < 0) {
      for (let i = 0; i < n; i++) this.sendFromBatch(batch, i);
      batch.count = 0;
      return n;
    }
    this.flush();
    const sent = this.io.txBatch(this.port, this.txQueue, batch);
    batch.count = 0;
    const st = this.io.stats, b = this.base;
    st[b + P.tx] += sent;
    if (sent < n) st[b + P.txDropped] += n - sent;
    return sent;
  }

  /** Hands queued packets to the device; what it does not take is freed natively and counted. */
  flush(): number {
    const n = this.tx.count;
    if (n === 0) return 0;
    this.tx.count = 0;
    const sent = this.io.tx(this.port, this.txQueue, this.tx.region, n);
    const st = this.io.stats, b = this.base;
    st[b + P.tx] += sent;
    st[b + P.txBytes] += this.txBytes;
    this.txBytes = 0;
    if (sent < n) st[b + P.txDropped] += n - sent;
    return sent;
  }

  get pending(): number {
    return this.tx.count;
  }
}
