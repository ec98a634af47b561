// The queue pair API of NetStar's dpdk_qp on each shard: receive (device bursts and packets bounced from
// other shards), send (buffered, only the owning shard), forward and unsafeForward to another shard through
// lock-free SPSC rings. Also ShardIO: the zero-argument fast calls and drops with per-port counters.
import { native, NativeLcore, TX_DESC_WORDS, MAX_BURST, TX_FLAG_SET_PORT, RX_DESC_WORDS, RXD, FAST } from '../native';
import { Packet, PacketMemory, RxBatch } from './packet';
import type { FlowPresence } from './presence';
import { P, S, portBase } from './stats';

/** Fast-call parameter word positions (see native `fast`; native/layout.ts). */
const F = FAST;

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

  /** Packets the last rx() received and freed natively (empty or chained frames): received and dropped. */
  rxDropped(): number {
    return this.params[F.rxDropped];
  }

  /**
   * After a native send refused a whole buffer for one bad descriptor (ERR_BAD_PACKET: all-or-nothing, so
   * every packet is still held): sends the descriptors one at a time through `one` (which sends the one at
   * position 0), and frees and counts each one refused again. Returns how many `one` took. Any other error
   * is rethrown. A slow path: only an app that sets a bad length or offset gets here.
   */
  salvage(e: unknown, desc: Uint32Array, n: number, words: number, port: number, one: () => number): number {
    if ((e as { code?: unknown } | null)?.code !== 'ERR_BAD_PACKET') throw e;
    let took = 0;
    for (let i = 0; i < n; i++) {
      if (i > 0) desc.copyWithin(0, i * words, (i + 1) * words);
      try {
        took += one();
      } catch (e2) {
        if ((e2 as { code?: unknown } | null)?.code !== 'ERR_BAD_PACKET') throw e2;
        this.badPacket(desc[0], port);
      }
    }
    return took;
  }

  private readonly oneSlot = new Uint32Array(1);
  /** Frees a packet a send refused (bad offset/length), counted as a drop of `port` and in badPackets. */
  private badPacket(slot: number, port: number): void {
    this.stats[S.badPackets]++;
    this.stats[portBase(port) + P.dropped]++;
    this.origin[slot] = -1;
    this.oneSlot[0] = slot;
    try {
      this.lcore.free(this.oneSlot, 1);
    } catch {
      // not held (an app sent it twice): nothing to free
    }
  }

  /** TX of `count` TX descriptors (slot, dataOff, dataLen, flags) in `region`. */
  tx(port: number, queue: number, region: number, count: number): number {
    const p = this.params;
    p[F.port] = port; p[F.queue] = queue; p[F.count] = count; p[F.region] = region;
    return this.fast.tx();
  }

  /** TX of a batch straight from its RX descriptors. */
  txBatch(port: number, queue: number, batch: RxBatch): number {
    return this.txRx(port, queue, batch.region, batch.count);
  }

  /** TX of `count` RX descriptors in `region`. */
  txRx(port: number, queue: number, region: number, count: number): number {
    const p = this.params;
    p[F.port] = port; p[F.queue] = queue; p[F.count] = count; p[F.region] = region;
    return this.fast.txRx();
  }

  ringPut(ring: number, region: number, count: number): number {
    const p = this.params;
    p[F.port] = ring; p[F.count] = count; p[F.region] = region;
    return this.fast.ringPut();
  }

  /** Puts a batch's packets (RX descriptors) into a ring; returns how many went in (the first ones). */
  ringPutBatch(ring: number, batch: RxBatch): number {
    return this.ringPutRx(ring, batch.region, batch.count);
  }

  ringPutRx(ring: number, region: number, count: number): number {
    const p = this.params;
    p[F.port] = ring; p[F.count] = count; p[F.region] = region;
    return this.fast.ringPutRx();
  }

  /** After a ring put: the ring's free slots (a put of 0 packets only reads it). */
  ringFree(): number {
    return this.params[F.ringFree];
  }

  /** After a ring put: the ring's capacity. */
  ringCap(): number {
    return this.params[F.ringCap];
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
    this.discard(slot);
  }

  /** Drops a held packet that was on its way out of `port` (a TX hand-off a full ring refused): a TX drop. */
  dropTx(slot: number, port: number): void {
    this.stats[portBase(port) + P.txDropped]++;
    this.discard(slot);
  }

  private discard(slot: number): void {
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
  /**
   * The shards' known-flow maps: a packet forwarded with its flow's steering hash, toward a shard that marks
   * flows, is shed (dropped, counted `shedNewFlow`) when its flow is unknown there and the ring already holds
   * `newFlowShare` of its capacity. Absent: no shedding (every packet waits for room like the others).
   */
  presence?: FlowPresence | null;
  /** the part of a FORWARD/UNSAFE ring packets of unknown flows may fill (0..1; 1: no shedding). Default 0.5. */
  newFlowShare?: number;
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
  private readonly presence: FlowPresence | null;
  private readonly share: number;
  /** per (kind * shards + dst): ring occupancy after the last put, and the occupancy from which unknown flows are shed */
  private readonly occ: Int32Array;
  private readonly limit: Int32Array;

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
    const share = opts.newFlowShare ?? 0.5;
    if (!(share >= 0 && share <= 1)) throw new RangeError(`newFlowShare ${share} is not in 0..1`);
    this.share = share;
    this.presence = share < 1 ? opts.presence ?? null : null;
    this.occ = new Int32Array(RING_KINDS * shards);
    // Until the first put says how big the ring is, nothing is shed.
    this.limit = new Int32Array(RING_KINDS * shards).fill(0x7fffffff);
    io.returnTo = (slot, origin) => this.enqueue(RingKind.RETURN, origin, slot, 0, 1, 0);
  }

  /**
   * Queues a packet for another shard; false if it was dropped because the ring stayed full, or shed: a
   * FORWARD/UNSAFE packet given its flow's steering hash (`hash` >= 0) whose flow `dst` does not know, while
   * the ring toward `dst` (its last known occupancy plus what waits here) is past the new-flow share.
   */
  enqueue(kind: number, dst: number, slot: number, dataOff: number, length: number, flags: number, hash = -1): boolean {
    const b = this.out[kind][dst];
    if (!b) throw new RangeError(`shard ${dst} is this shard or does not exist`);
    this.io.origin[slot] = -1;
    if (hash >= 0 && this.presence !== null) {
      const k = kind * this.shards + dst;
      if (this.occ[k] + b.count >= this.limit[k] && this.presence.active(dst) && !this.presence.known(dst, hash)) {
        this.io.drop(slot, flags & 0xffff);
        this.io.stats[S.fwdDropped]++;
        this.io.stats[S.shedNewFlow]++;
        return false;
      }
      this.presence.sentTo(dst, hash);
    }
    if (b.count === MAX_BURST) {
      this.flushOne(kind, dst, b);
      if (b.count === MAX_BURST) {
        // The ring is still full and the retry buffer too: drop this one (counted).
        this.dropQueued(kind, slot, flags);
        return false;
      }
    }
    b.push(slot, dataOff, length, flags);
    return true;
  }

  // FORWARD and UNSAFE descriptors carry the packet's RX port in the flags word's low 16 bits (native reads
  // them only with TX_FLAG_SET_PORT), so a drop at a full ring is charged to the port that received it.
  // `hash`: the flow's steering hash, or -1 (never shed as a new flow).
  forward(p: Packet, dst: number, hash = -1): void {
    this.io.stats[S.fwdOut]++;
    this.enqueue(RingKind.FORWARD, dst, p.slot, p.offset - p.bufStart, p.length, p.port & 0xffff, hash);
  }

  unsafeForward(p: Packet, dst: number, hash = -1): void {
    this.io.stats[S.fwdOut]++;
    this.enqueue(RingKind.UNSAFE, dst, p.slot, p.offset - p.bufStart, p.length, p.port & 0xffff, hash);
  }

  /** True while the ring toward `dst` is past the new-flow share (its packets of unknown flows are being shed). */
  shedding(kind: number, dst: number): boolean {
    const k = kind * this.shards + dst;
    return this.presence !== null && this.occ[k] + (this.out[kind][dst]?.count ?? 0) >= this.limit[k];
  }

  /** After a put into the ring of (kind, dst): records its occupancy (for shedding). */
  private noteRing(kind: number, dst: number): void {
    // Only the rings packets are steered through (RETURN and TX carry packets never shed as new flows).
    if (this.presence === null || (kind !== RingKind.FORWARD && kind !== RingKind.UNSAFE)) return;
    const k = kind * this.shards + dst, cap = this.io.ringCap(), free = this.io.ringFree();
    this.occ[k] = cap - free;
    this.limit[k] = Math.floor(cap * this.share);
  }

  /**
   * Drops a packet a full ring would not take: charged to the port that received it (FORWARD, UNSAFE) or,
   * for a TX hand-off, to the egress port's TX drops (both from the descriptor's flags word).
   */
  private dropQueued(kind: number, slot: number, flags: number): void {
    this.io.origin[slot] = -1;
    // A buffer going home was counted as dropped when it was dropped: freed here, not counted twice.
    if (kind === RingKind.RETURN) return this.io.free(slot);
    if (kind === RingKind.TX) this.io.dropTx(slot, flags & 0xffff);
    else this.io.drop(slot, flags & 0xffff);
    this.io.stats[S.fwdDropped]++;
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
    if (b.count === 0 && batch.region >= 0) {
      const ring = this.rings[kind][this.self][dst];
      try {
        put = io.ringPutBatch(ring, batch);
        this.noteRing(kind, dst);
      } catch (e) {
        // A bad descriptor (an app changed a length): the others go one by one, the bad ones are freed.
        this.wake(dst);
        io.salvage(e, d, n, RX_DESC_WORDS, 0, () => this.oneIntoRing(ring, kind, () => io.ringPutRx(ring, batch.region, 1), d[RXD.slot], d[RXD.port] & 0xffff));
        batch.count = 0;
        return;
      }
    }
    if (put > 0) this.wake(dst);
    if (put < n) io.stats[S.ringFull] += n - put;
    for (let i = put; i < n; i++) {
      const o = i * RX_DESC_WORDS;
      this.enqueue(kind, dst, d[o + RXD.slot], d[o + RXD.dataOff], d[o + RXD.dataLen], d[o + RXD.port] & 0xffff);
    }
    batch.count = 0;
  }

  /** Salvage step: one packet into a ring, dropped (counted) if the ring is full. */
  private oneIntoRing(ring: number, kind: number, put: () => number, slot: number, flags: number): number {
    if (put() === 1) return 1;
    this.dropQueued(kind, slot, flags);
    return 0;
  }

  private flushOne(kind: number, dst: number, b: TxBuffer): void {
    const n = b.count;
    const ring = this.rings[kind][this.self][dst];
    let put: number;
    try {
      put = this.io.ringPut(ring, b.region, n);
      this.noteRing(kind, dst);
    } catch (e) {
      this.io.salvage(e, b.desc, n, TX_DESC_WORDS, 0, () => this.oneIntoRing(ring, kind, () => this.io.ringPut(ring, b.region, 1), b.desc[0], b.desc[3]));
      b.count = 0;
      this.wake(dst);
      return;
    }
    if (put > 0) this.wake(dst);
    if (put === n) {
      b.count = 0;
      return;
    }
    this.io.stats[S.ringFull] += n - put;
    b.keepFrom(put);
    if (kind === RingKind.RETURN || this.opts.backpressure === 'retry') return; // kept for the next loop (bounded by MAX_BURST)
    // Drop what the ring would not take (freed here; counted against the packet's port).
    const t = b.desc;
    for (let i = 0; i < b.count; i++) this.dropQueued(kind, t[i * TX_DESC_WORDS], t[i * TX_DESC_WORDS + 3]);
    b.count = 0;
  }

  /** Pushes every outgoing buffer into its ring. */
  flush(): void {
    for (let k = 0; k < RING_KINDS; k++) {
      const row = this.out[k];
      for (let d = 0; d < this.shards; d++) {
        const b = row[d];
        if (b === null) continue;
        if (b.count > 0) this.flushOne(k, d, b);
        else if (this.presence !== null && this.occ[k * this.shards + d] >= this.limit[k * this.shards + d]) {
          // Shedding with nothing to put: read the ring's occupancy again (a put of 0), or a stream of only
          // new flows would keep the last, busy, reading for ever.
          this.io.ringPut(this.rings[k][this.self][d], b.region, 0);
          this.noteRing(k, d);
        }
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
    const io = this.io;
    const n = io.rx(this.port, this.rxQueue, batch, this.burst);
    this.lastHandled = io.rxHandled();
    if (n > 0) io.stats[this.base + P.rx] += n;
    // Frames received and freed natively (empty, chained): counted as received and dropped.
    const bad = io.rxDropped();
    if (bad > 0) {
      io.stats[this.base + P.rx] += bad;
      io.stats[this.base + P.dropped] += bad;
    }
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
    const io = this.io, st = io.stats, b = this.base;
    const bad0 = st[S.badPackets];
    let sent: number;
    try {
      sent = io.txBatch(this.port, this.txQueue, batch);
    } catch (e) {
      sent = io.salvage(e, batch.desc, n, RX_DESC_WORDS, this.port, () => io.txRx(this.port, this.txQueue, batch.region, 1));
    }
    batch.count = 0;
    const bad = st[S.badPackets] - bad0;
    st[b + P.tx] += sent;
    if (sent + bad < n) st[b + P.txDropped] += n - sent - bad;
    return sent;
  }

  /** Hands queued packets to the device; what it does not take is freed natively and counted. */
  flush(): number {
    const n = this.tx.count;
    if (n === 0) return 0;
    this.tx.count = 0;
    const io = this.io, st = io.stats, b = this.base, t = this.tx;
    const bad0 = st[S.badPackets];
    let sent: number;
    try {
      sent = io.tx(this.port, this.txQueue, t.region, n);
    } catch (e) {
      sent = io.salvage(e, t.desc, n, TX_DESC_WORDS, this.port, () => io.tx(this.port, this.txQueue, t.region, 1));
    }
    const bad = st[S.badPackets] - bad0;
    st[b + P.tx] += sent;
    st[b + P.txBytes] += this.txBytes;
    this.txBytes = 0;
    if (sent + bad < n) st[b + P.txDropped] += n - sent - bad;
    return sent;
  }

  get pending(): number {
    return this.tx.count;
  }
}
