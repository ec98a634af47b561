// A shard: one worker thread pinned to a core and registered with DPDK, owning queue `id` of every port
// (or fed by software steering when a port has fewer queues than shards). Runs the poll loop: pollers for
// device RX, cross-shard rings and TX flush; yields to Node's event loop on a time budget so promises,
// timers and messages run; sleeps when idle.
import { parentPort, workerData, isMainThread } from 'worker_threads';
import * as path from 'path';
import { native, NativeLcore, RX_DESC_WORDS, RXD } from '../native';
import { Packet, PacketMemory, RxBatch } from '../net/packet';
import { CrossShard, DpdkQueuePair, RingKind, RingMatrix, ShardIO } from '../net/qp';
import { flowHash, Reta, RX_RSS_HASH, UdpPortTable, type InstalledRule } from '../net/steer';
import { ShardStack, type PortStackConfig } from '../net/netstack';
import { S } from './stats';
import { AppModule, ShardApp, Verdict } from './app';
import { HandleTable, PacketHandle } from './handles';
import { RingMatrix as MsgMatrix, type RingMatrixInit } from './msgring';
import { Messenger } from './messages';
import { LowresClock, Timers, type Timer } from './timers';
import type { Config } from './config';
import type { PortInfo } from '../native';
import type { ShardContext, PortView } from './context';
import type { Stack } from '../net/stack';
import { getTask, type TaskHandle } from './tasks';

export interface PortLayout { info: PortInfo; rxQueues: number; txQueues: number }

export interface ShardInit {
  id: number;
  count: number;
  core: number;
  config: Config;
  appPath: string;
  settings: unknown;
  ports: PortLayout[];
  pools: { id: number; dataRoom: number }[];
  rings: RingMatrix;
  messages: RingMatrixInit;
  stats: SharedArrayBuffer;
  control: SharedArrayBuffer;
  statsWords: number;
  /** steering rules as the engine installed them (the software ones are applied here) */
  steering: InstalledRule[];
}

/** Control words shared with the main thread and the other shards (Int32). */
export const CTRL = {
  /** set by the main thread: stop */
  stop: 0,
  /** shards that stopped RX and flushed (phase 1) */
  quiesced: 1,
  /** shards that finished the drop-only phase (phase 2) */
  settled: 2,
  /** shards that finished */
  done: 3,
  /** per-shard wake words start here */
  wakeBase: 8,
  /** per-shard "sleeping" flags start here */
  sleepingBase: 8 + 128,
} as const;
export const CONTROL_WORDS = 8 + 2 * 128;

/** A source of work in the poll loop (Seastar's pollers). */
export interface Poller {
  readonly name: string;
  /** does work; returns how much (0 = nothing) */
  poll(): number;
  /** is there work, without doing it? (asked before sleeping; a shard sleeps only if all say no) */
  purePoll(): boolean;
}

export interface ShardReport {
  id: number;
  lcore: ReturnType<NativeLcore['stats']>;
  heldAtClose: number;
  handlesAtClose: number;
  appErrors: number;
  loops: number;
  busyMs: number;
  idleMs: number;
  leaks: number;
  drainedAtStop: number;
  app: Record<string, number>;
}

const enum Phase { Run, Quiesce, Settle, Done }

export class Shard implements ShardContext {
  readonly id: number;
  readonly count: number;
  readonly lcore: NativeLcore;
  readonly io: ShardIO;
  readonly stats: Float64Array;
  /** queue pairs by port index (position in config.ports) */
  readonly qps: DpdkQueuePair[];
  /** the ports' device layout (queues) */
  readonly layouts: PortLayout[];
  readonly ports: PortView[];
  readonly xshard: CrossShard | null;
  readonly handles = new HandleTable();
  readonly reta: Reta;
  readonly clock = new LowresClock(performance.now());
  readonly timers: Timers;
  readonly messenger: Messenger | null;
  readonly pollers: Poller[] = [];
  /** the TCP/IP stack of each port that has an address (by port index), else null */
  readonly stacks: (ShardStack | null)[] = [];
  private readonly stopHooks: (() => unknown)[] = [];
  private readonly hasStack: boolean;
  private readonly control: Int32Array;
  private readonly batch: RxBatch;
  private readonly pkt = new Packet();
  private readonly portIndexOf = new Int16Array(64).fill(-1);
  /** per port index: 1 if this shard reads the port and must steer packets to other shards */
  private readonly steers: Uint8Array;
  /** per port index: the software steering rules (UDP destination port -> shard), or null */
  private readonly rules: (UdpPortTable | null)[];
  private app!: ShardApp;
  private readonly allocPool: number;
  private readonly allocDesc: Uint32Array;
  private readonly allocBatch: RxBatch;
  /** a flyweight of its own: allocPacket may run inside onPacket, whose packet is `pkt` */
  private readonly allocPkt = new Packet();
  private readonly idleThresholdMs = 0.2;
  private readonly quotaMs = 0.5;
  private readonly idleSleepMs = 1;
  private readonly idleMaxSleepMs: number;
  private sleepMs = 1;
  private readonly leakDeadlineMs: number;
  private phase = Phase.Run;
  private readonly retry: boolean;
  /** packets taken from each incoming ring per pass: more than a device burst, so consumers keep up */
  private readonly ringBurst: number;
  private loopNow = 0;
  private stopped = false;

  constructor(readonly init: ShardInit) {
    this.id = init.id;
    this.count = init.count;
    this.layouts = init.ports;
    this.lcore = new native.Lcore({ capacity: init.config.slotsPerShard });
    this.lcore.pin(init.core);
    this.stats = new Float64Array(init.stats, init.id * init.statsWords * 8, init.statsWords);
    this.control = new Int32Array(init.control);
    const mem = new PacketMemory(this.lcore, init.pools);
    this.io = new ShardIO(this.lcore, mem, this.stats, init.ports.length * 2 + 4 * init.count + 8);
    this.batch = this.io.newBatch();
    this.reta = new Reta(init.count);
    this.leakDeadlineMs = init.config.leakDeadlineMs;
    this.idleMaxSleepMs = init.config.idleMaxSleepMs;
    this.retry = init.config.backpressure === 'retry';
    this.ringBurst = Math.min(512, init.config.burst * 4);
    this.xshard = init.count > 1
      ? new CrossShard(this.io, this.id, this.count, init.rings, { backpressure: init.config.backpressure }, (dst) => this.wake(dst))
      : null;
    this.steers = new Uint8Array(init.ports.length);
    this.rules = init.ports.map(() => null);
    for (const r of init.steering ?? []) {
      if (r.path !== 'software') continue;
      (this.rules[r.port] ??= new UdpPortTable()).add(r.udpDst, r.shard);
    }
    this.qps = init.ports.map((p, i) => {
      this.portIndexOf[p.info.id] = i;
      const rxq = this.id < p.rxQueues ? this.id : -1;
      const txq = this.id < p.txQueues ? this.id : -1;
      this.steers[i] = rxq >= 0 && p.rxQueues < this.count ? 1 : 0;
      return new DpdkQueuePair(this.io, p.info.id, rxq, txq, init.config.burst, this.xshard, this.id % p.txQueues);
    });
    this.timers = new Timers(this.clock, { onError: () => { this.stats[S.appErrors]++; } });
    const myPool = (init.pools[this.id] ?? init.pools[0]).id;
    init.config.ports.forEach((pc, i) => {
      this.stacks.push(pc.stack
        ? new ShardStack(this, i, init.ports[i].info.mac, { ...pc.stack, tcp: pc.stack.tcp as PortStackConfig['tcp'] }, this.qps[i], this.lcore, mem, myPool)
        : null);
    });
    this.hasStack = this.stacks.some((x) => x !== null);
    this.ports = init.ports.map((p, i) => Object.freeze({
      index: i, name: p.info.name, driver: p.info.driver, mac: p.info.mac, mtu: p.info.mtu,
      rxQueue: this.qps[i].rxQueue, txQueue: this.qps[i].txQueue, hasStack: this.stacks[i] !== null,
    }));
    const pools = init.pools;
    this.allocPool = pools[this.id % pools.length].id;
    this.allocDesc = new Uint32Array(RX_DESC_WORDS);
    this.allocBatch = new RxBatch(mem, this.allocDesc);
    this.messenger = init.count > 1
      ? new Messenger(MsgMatrix.attach(init.messages), this.id, this.count, (to) => this.wake(to))
      : null;
    const xs = this.xshard, msg = this.messenger, timers = this.timers, clock = this.clock;
    this.pollers.push({ name: 'device-rx', poll: () => this.pollDevices(), purePoll: () => false });
    // Packets waiting to go out count as work too: a shard must not sleep on its own backlog.
    if (xs) this.pollers.push({ name: 'shard-rings', poll: () => xs.poll(this.ringBurst, this.deliverRing, this.sendRingTx), purePoll: () => xs.pending() > 0 || !xs.incomingEmpty() });
    if (msg) this.pollers.push({ name: 'messages', poll: () => msg.poll(), purePoll: () => msg.purePoll() });
    this.pollers.push({ name: 'timers', poll: () => (timers.nextDeadline() <= clock.now() ? timers.run(clock.now()) : 0), purePoll: () => timers.nextDeadline() <= performance.now() });
    if (this.hasStack) {
      const stacks = this.stacks.filter((x): x is ShardStack => x !== null).map((x) => x.stack);
      this.pollers.push({
        name: 'tcpip',
        poll: () => {
          const now = clock.now();
          let n = 0;
          for (const st of stacks) if (st.pollAt() <= now) { st.poll(now); n++; }
          return n;
        },
        purePoll: () => { const now = performance.now(); return stacks.some((st) => st.pollAt() <= now); },
      });
    }
    this.pollers.push({ name: 'tx-flush', poll: () => this.flushAll(), purePoll: () => false });
  }

  // ---- reactor services: timers, cross-shard calls ----

  /** The low-resolution clock (ms), updated by the loop. */
  now(): number {
    return this.clock.now();
  }
  setTimeout(fn: () => unknown, ms: number): Timer {
    return this.timers.setTimeout(fn, ms);
  }
  setInterval(fn: () => unknown, ms: number): Timer {
    return this.timers.setInterval(fn, ms);
  }
  sleep(ms: number): Promise<void> {
    return this.timers.sleep(ms);
  }
  cancel(t: Timer): boolean {
    return this.timers.cancel(t);
  }

  /** Runs a registered task on another shard (or this one) and resolves with its result. */
  submitTo(shard: number, task: string, ...args: unknown[]): Promise<unknown> {
    if (this.messenger) return this.messenger.submitTo(shard, task, args);
    if (shard !== 0) return Promise.reject(new RangeError(`no shard ${shard} (there is 1)`));
    return Promise.resolve().then(() => {
      const fn = getTask(task);
      if (!fn) throw new Error(`no task '${task}' is registered on shard 0`);
      return (fn as (...a: unknown[]) => unknown)(...args);
    });
  }

  /** Runs a task on every shard; results in shard order. */
  invokeOnAll(task: string, ...args: unknown[]): Promise<unknown[]> {
    return Promise.all(Array.from({ length: this.count }, (_, i) => this.submitTo(i, task, ...args)));
  }

  /** Typed cross-shard call through a task handle (see defineTask). */
  call<A extends unknown[], R>(task: TaskHandle<A, R>, shard: number, ...args: A): Promise<Awaited<R>> {
    return this.submitTo(shard, task.name, ...args) as Promise<Awaited<R>>;
  }

  callAll<A extends unknown[], R>(task: TaskHandle<A, R>, ...args: A): Promise<Awaited<R>[]> {
    return this.invokeOnAll(task.name, ...args) as Promise<Awaited<R>[]>;
  }

  stack(portIndex: number): Stack | null {
    return this.stacks[portIndex]?.stack ?? null;
  }

  shardOfHash(hash: number): number {
    return this.reta.shardOf(hash);
  }

  ownsHash(hash: number): boolean {
    return this.count === 1 || this.reta.shardOf(hash) === this.id;
  }

  allocPacket(length: number): PacketHandle | null {
    if (this.lcore.alloc(this.allocPool, this.allocDesc, 1) !== 1) return null;
    this.allocBatch.count = 1;
    const p = this.allocBatch.at(0, this.allocPkt);
    if (length > p.bufStart + p.bufLen - p.offset) {
      this.io.free(p.slot);
      throw new RangeError(`allocPacket: ${length} bytes do not fit a buffer (${p.bufStart + p.bufLen - p.offset} bytes of room)`);
    }
    p.length = length;
    return this.handles.hold(p, this.loopNow);
  }

  copyPacket(pkt: Packet): PacketHandle | null {
    if (!this.lcore.copy(pkt.slot, pkt.offset - pkt.bufStart, pkt.length, this.allocDesc, 0)) return null;
    this.allocBatch.count = 1;
    return this.handles.hold(this.allocBatch.at(0, this.allocPkt), this.loopNow);
  }

  /** Called when the shard stops (services register here). */
  onStop(fn: () => unknown): void {
    this.stopHooks.push(fn);
  }

  /** Wakes shard `to` if it sleeps (after a message or packets were queued for it). */
  wake(to: number): void {
    if (Atomics.load(this.control, CTRL.sleepingBase + to) !== 0) {
      Atomics.add(this.control, CTRL.wakeBase + to, 1);
      Atomics.notify(this.control, CTRL.wakeBase + to);
    }
  }

  async start(): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require(path.resolve(__dirname, '..', this.init.appPath)) as { default: AppModule };
    this.app = await mod.default.createShard(this, this.init.settings);
  }

  /** Port index (position in config.ports) of a DPDK port id. */
  portIndex(dpdkPort: number): number {
    return this.portIndexOf[dpdkPort];
  }

  // ---- packet disposal for apps (flyweights inside onPacket, or held handles) ----

  /** Keeps a packet past the current call (e.g. across an await); it must end in send, forward or drop. */
  hold(pkt: Packet): PacketHandle {
    return this.handles.hold(pkt, this.loopNow);
  }

  private releaseIfHeld(pkt: Packet): void {
    if (pkt instanceof PacketHandle && !this.handles.release(pkt)) throw new Error(`packet handle (slot ${pkt.slot}) was already sent, forwarded or dropped`);
  }

  send(pkt: Packet, portIndex: number): void {
    this.releaseIfHeld(pkt);
    this.qps[portIndex].send(pkt);
  }

  drop(pkt: Packet): void {
    this.releaseIfHeld(pkt);
    this.io.drop(pkt.slot, pkt.port);
  }

  /** Hands the packet to another shard; its buffer returns to this shard's pool if that shard drops it. */
  forward(pkt: Packet, shard: number): void {
    this.releaseIfHeld(pkt);
    if (shard === this.id) throw new RangeError('forward to self');
    this.xshard!.forward(pkt, shard);
  }

  /** Like forward, without recording the origin: the destination frees the buffer itself. */
  unsafeForward(pkt: Packet, shard: number): void {
    this.releaseIfHeld(pkt);
    if (shard === this.id) throw new RangeError('forward to self');
    this.xshard!.unsafeForward(pkt, shard);
  }

  /**
   * Runs an async handler for a packet: holds it, awaits `fn`, then applies the verdict (port index, DROP,
   * or STOLEN if `fn` disposed of it). A rejection drops the packet and counts an app error. Returns STOLEN.
   */
  defer(pkt: Packet, fn: (h: PacketHandle) => Promise<number>): number {
    const h = this.hold(pkt);
    fn(h).then((v) => {
      if (v === Verdict.STOLEN) return;
      if (!this.handles.isHeld(h)) return;
      if (v >= 0 && v < this.qps.length) this.send(h, v);
      else this.drop(h);
    }, () => {
      this.stats[S.appErrors]++;
      if (this.handles.isHeld(h)) this.drop(h);
    });
    return Verdict.STOLEN;
  }

  // ---- the poll loop ----

  /** Runs the app over a batch, per packet (exceptions drop and count). */
  private deliverPerPacket(batch: RxBatch, portIndexHint: number): void {
    const pkt = this.pkt, app = this.app, qps = this.qps, io = this.io, st = this.stats, stacks = this.stacks;
    for (let i = 0, n = batch.count; i < n; i++) {
      batch.at(i, pkt);
      const pi = portIndexHint >= 0 ? portIndexHint : this.portIndexOf[pkt.port];
      if (this.hasStack && pi >= 0) {
        // The distributor: the local TCP/IP stack's traffic goes to the stack, the rest to the NF pipeline.
        const ss = stacks[pi];
        if (ss !== null && (ss.stack.accepts(pkt.bytes, pkt.offset, pkt.length) || (ss.closedToStack && ss.isForUs(pkt.bytes, pkt.offset, pkt.length)))) {
          st[S.toStack]++;
          ss.stack.receive(pkt.bytes, pkt.offset, pkt.length, this.clock.now());
          io.free(pkt.slot);
          continue;
        }
        st[S.toNf]++;
      }
      let v: number;
      try {
        v = pi >= 0 ? app.onPacket(pkt, pi) : Verdict.DROP;
      } catch {
        st[S.appErrors]++;
        v = Verdict.DROP;
        if (this.handles.isHeld(pkt)) continue;
      }
      if (v >= 0 && v < qps.length) qps[v].send(pkt);
      else if (v !== Verdict.STOLEN) io.drop(pkt.slot, pkt.port);
    }
    batch.count = 0;
  }

  /**
   * Software steering: moves packets that belong to other shards out of the batch — by the port's rules
   * (UDP destination port -> shard) first, then, where this shard reads for others, by the RETA.
   */
  private steer(batch: RxBatch, pi: number): void {
    const d = batch.desc, views = batch.mem.views, reta = this.reta, self = this.id, x = this.xshard!, pkt = this.pkt;
    const rules = this.rules[pi], byReta = this.steers[pi] === 1;
    let k = 0;
    for (let i = 0, n = batch.count; i < n; i++) {
      const b = i * RX_DESC_WORDS;
      let target = -1;
      if (rules !== null) {
        const c = d[b + RXD.chunk];
        target = rules.lookup(views[c >>> 16][c & 0xffff], d[b + RXD.bufOffset] + d[b + RXD.dataOff], d[b + RXD.dataLen]);
        if (target >= 0) this.stats[S.steeredByRule]++;
      }
      if (target < 0 && byReta) {
        let h: number;
        if (d[b + RXD.olFlags] & RX_RSS_HASH) h = d[b + RXD.rss];
        else {
          const c = d[b + RXD.chunk];
          h = flowHash(views[c >>> 16][c & 0xffff], d[b + RXD.bufOffset] + d[b + RXD.dataOff], d[b + RXD.dataLen]);
        }
        target = reta.shardOf(h);
      }
      if (target < 0) target = self;
      if (target !== self) {
        batch.at(i, pkt);
        x.unsafeForward(pkt, target);
        this.stats[S.steered]++;
        continue;
      }
      if (k !== i) d.copyWithin(k * RX_DESC_WORDS, b, b + RX_DESC_WORDS);
      k++;
    }
    batch.count = k;
  }

  private readonly deliverRing = (batch: RxBatch): void => {
    if (this.phase >= Phase.Settle) {
      for (let i = 0; i < batch.count; i++) this.io.drop(batch.slot(i), batch.port(i));
      batch.count = 0;
      return;
    }
    if (this.app.onForwarded && !this.hasStack) {
      try {
        this.app.onForwarded(batch, this.qps);
      } catch {
        this.stats[S.appErrors]++;
        this.dropUndisposed(batch);
      }
      return;
    }
    this.deliverPerPacket(batch, -1);
  };

  /** Forwards a whole batch to another shard (e.g. from onBurst); its buffers return here if dropped there. */
  forwardBatch(batch: RxBatch, shard: number): void {
    if (shard === this.id) throw new RangeError('forward to self');
    this.xshard!.forwardBatch(batch, shard, RingKind.FORWARD);
  }

  /** Like forwardBatch without recording the origin. */
  unsafeForwardBatch(batch: RxBatch, shard: number): void {
    if (shard === this.id) throw new RangeError('forward to self');
    this.xshard!.forwardBatch(batch, shard, RingKind.UNSAFE);
  }

  private readonly sendRingTx = (batch: RxBatch): void => {
    for (let i = 0; i < batch.count; i++) {
      const pi = this.portIndexOf[batch.port(i)];
      if (pi < 0) this.io.drop(batch.slot(i));
      else this.qps[pi].sendFromBatch(batch, i);
    }
    batch.count = 0;
  };

  /** Poller: device RX bursts (with software steering) into the app. */
  private pollDevices(): number {
    if (this.phase !== Phase.Run) return 0;
    // Backpressure ('retry'): while packets wait for full cross-shard rings, stop taking new ones from devices.
    if (this.retry && this.xshard !== null && this.xshard.pending() >= this.init.config.burst * 4) return 0;
    const qps = this.qps, batch = this.batch, app = this.app, st = this.stats;
    let total = 0;
    for (let pi = 0; pi < qps.length; pi++) {
      const n = qps[pi].receive(batch);
      // Packets the native offload executor took are work done (the loop must not go to sleep on them).
      total += qps[pi].lastHandled;
      if (n === 0) continue;
      total += n;
      st[S.rxBursts]++;
      if (this.steers[pi] === 1 || this.rules[pi] !== null) {
        this.steer(batch, pi);
        if (batch.count === 0) continue;
      }
      if (app.onBurst && this.stacks[pi] === null) {
        try {
          app.onBurst(batch, pi, qps);
        } catch {
          st[S.appErrors]++;
          this.dropUndisposed(batch);
        }
        continue;
      }
      this.deliverPerPacket(batch, pi);
    }
    return total;
  }

  /** Poller: app hook, buffered TX, cross-shard buffers, batched drops. Returns 0 (it only completes work). */
  private flushAll(): number {
    if (this.app.afterBurst) this.app.afterBurst();
    const qps = this.qps;
    for (let pi = 0; pi < qps.length; pi++) qps[pi].flush();
    if (this.xshard) this.xshard.flush();
    this.io.flushDrops();
    return 0;
  }

  /** One pass over every poller: returns work done. */
  private pollOnce(): number {
    const pollers = this.pollers;
    let total = 0;
    for (let i = 0; i < pollers.length; i++) total += pollers[i].poll();
    return total;
  }

  /** True if some poller has work (checked before going to sleep). */
  private anyWork(): boolean {
    for (const p of this.pollers) if (p.purePoll()) return true;
    return false;
  }

  /** After a failed onBurst: frees the batch's packets that are still held, one by one (slow path). */
  private dropUndisposed(batch: RxBatch): void {
    this.io.flushDrops();
    for (const qp of this.qps) qp.flush();
    const one = new Uint32Array(1);
    for (let i = 0; i < batch.count; i++) {
      one[0] = batch.slot(i);
      try {
        this.lcore.free(one, 1);
      } catch {
        // already sent or dropped by the app
      }
    }
    batch.count = 0;
  }

  /** Stop protocol, checked every few loops; resolves `finish` when this shard may close. */
  private advanceStop(): boolean {
    const c = this.control, n = this.count;
    switch (this.phase) {
      case Phase.Run:
        if (Atomics.load(c, CTRL.stop) === 0) return false;
        this.phase = Phase.Quiesce; // no more device RX from here on
        return false;
      case Phase.Quiesce:
        // Let deferred handlers finish (bounded by the leak deadline) and outgoing buffers empty.
        if ((this.handles.size > 0 && this.loopNow - this.quiesceStart() < this.leakDeadlineMs) || (this.xshard && this.xshard.pending() > 0)) return false;
        Atomics.add(c, CTRL.quiesced, 1);
        this.phase = Phase.Settle;
        return false;
      case Phase.Settle:
        // Drop-only: packets still arriving are dropped (returned to their origin), nothing is forwarded.
        if (Atomics.load(c, CTRL.quiesced) < n || (this.xshard && (this.xshard.pending() > 0 || !this.xshard.incomingEmpty()))) return false;
        if (this.settledMark === 0) {
          this.settledMark = 1;
          Atomics.add(c, CTRL.settled, 1);
        }
        if (Atomics.load(c, CTRL.settled) < n) return false;
        this.phase = Phase.Done;
        return true;
      default:
        return true;
    }
  }
  private settledMark = 0;
  private quiesceAt = -1;
  private quiesceStart(): number {
    if (this.quiesceAt < 0) this.quiesceAt = this.loopNow;
    return this.quiesceAt;
  }

  private wakeAll(): void {
    for (let s = 0; s < this.count; s++) {
      Atomics.add(this.control, CTRL.wakeBase + s, 1);
      Atomics.notify(this.control, CTRL.wakeBase + s);
    }
  }

  /** The poll loop; resolves when the stop protocol completes. */
  run(): Promise<void> {
    return new Promise((resolve, reject) => {
      const st = this.stats;
      let lastWork = performance.now();
      let lastLeakScan = lastWork;
      let lastCounters = lastWork;
      const finish = (): void => {
        this.wakeAll();
        resolve();
      };
      const slice = (afterTimedWake = false): void => {
        try {
          const t0 = performance.now();
          let t = t0;
          // After a timed wake one pass is enough to know whether to sleep again: start at the checkpoint.
          let loops = afterTimedWake ? 15 : 0;
          const loops0 = loops;
          let worked = false;
          this.loopNow = t0;
          this.clock.update(t0);
          for (;;) {
            const n = this.pollOnce();
            loops++;
            if (n > 0) worked = true;
            if ((loops & 15) !== 0) continue;
            // Every 16 passes: read the clock and the control words (both cost more than a pass's bookkeeping).
            t = performance.now();
            this.loopNow = t;
            this.clock.update(t);
            if (worked) { lastWork = t; worked = false; this.sleepMs = this.idleSleepMs; }
            if (this.phase !== Phase.Run || Atomics.load(this.control, CTRL.stop) !== 0) {
              const before = this.phase;
              if (this.advanceStop()) {
                st[S.loops] += loops - loops0;
                st[S.busyMs] += t - t0;
                return finish();
              }
              if (this.phase !== before) {
                if (process.env.NETSTAR_DEBUG) process.stderr.write(`shard ${this.id}: stop phase ${before} -> ${this.phase} (quiesced ${Atomics.load(this.control, CTRL.quiesced)}, settled ${Atomics.load(this.control, CTRL.settled)})\n`);
                this.wakeAll();
              }
            }
            if (t - lastLeakScan > 1000) {
              lastLeakScan = t;
              const leaks = this.handles.scanLeaks(t, this.leakDeadlineMs);
              if (leaks.length) {
                st[S.leaks] += leaks.length;
                parentPort?.postMessage({ type: 'leak', id: this.id, count: leaks.length, oldestMs: t - Math.min(...leaks.map((h) => h.heldAt)) });
              }
            }
            if (this.app.counters && t - lastCounters > 200) {
              lastCounters = t;
              parentPort?.postMessage({ type: 'counters', id: this.id, counters: this.app.counters() });
            }
            if (t - t0 >= this.quotaMs) break;
            let due = Math.min(this.app.pollAt ? this.app.pollAt() : Infinity, this.timers.nextDeadline()) - t;
            if (this.hasStack) for (const x of this.stacks) if (x) due = Math.min(due, x.stack.pollAt() - t);
            if (t - lastWork >= this.idleThresholdMs && due > 0.05) {
              // Idle: sleep until a peer or the main thread wakes us, or the device poll interval passes.
              st[S.loops] += loops - loops0;
              st[S.busyMs] += t - t0;
              st[S.sleeps]++;
              st[S.held] = this.lcore.held();
              const wakeIdx = CTRL.wakeBase + this.id;
              const seq = Atomics.load(this.control, wakeIdx);
              // Announce sleep, then re-check every poller: a peer that queued work before seeing the flag
              // is caught here; one that queues after sees the flag and bumps the wake word.
              Atomics.store(this.control, CTRL.sleepingBase + this.id, 1);
              if (this.anyWork()) {
                Atomics.store(this.control, CTRL.sleepingBase + this.id, 0);
                lastWork = performance.now();
                setImmediate(() => slice());
                return;
              }
              const ts = performance.now();
              // Back off while idle persists: 1 ms, doubling up to idleMaxSleepMs (the wake bound for devices
              // that cannot interrupt; peers and the main thread wake us at once through the wake word).
              const sleepMs = Math.max(0.05, Math.min(this.sleepMs, due));
              this.sleepMs = Math.min(this.sleepMs * 2, this.idleMaxSleepMs);
              const w = Atomics.waitAsync(this.control, wakeIdx, seq, sleepMs);
              // A pending waitAsync does not keep a worker's event loop alive; the timer does (and bounds the sleep).
              let resumed = false;
              const timer = setTimeout(() => resume(false), sleepMs + 1);
              const resume = (woken: boolean): void => {
                if (resumed) return;
                resumed = true;
                clearTimeout(timer);
                Atomics.store(this.control, CTRL.sleepingBase + this.id, 0);
                const now = performance.now();
                st[S.idleMs] += now - ts;
                st[S.wakeups]++;
                // Woken by a peer: there is work, stay awake a while. Timed out: poll a pass and, if
                // nothing came, sleep again at once (no spinning between timed wakeups).
                if (woken) lastWork = now;
                slice(!woken);
              };
              if (w.async) void w.value.then((r) => resume(r === 'ok'));
              else setImmediate(() => resume(true));
              return;
            }
          }
          st[S.loops] += loops - loops0;
          st[S.busyMs] += t - t0;
          st[S.held] = this.lcore.held();
          setImmediate(() => slice());
        } catch (e) {
          reject(e);
        }
      };
      slice();
    });
  }

  async stop(): Promise<ShardReport> {
    if (this.stopped) throw new Error('shard already stopped');
    this.stopped = true;
    for (const qp of this.qps) qp.flush();
    if (this.xshard) this.xshard.flush();
    this.io.flushDrops();
    const drainedAtStop = this.xshard ? this.xshard.drainAll() : 0;
    if (this.app.stop) await this.app.stop();
    const appCounters = this.app.counters ? this.app.counters() : {};
    for (const h of this.stopHooks.reverse()) {
      try {
        await h();
      } catch {
        this.stats[S.appErrors]++;
      }
    }
    if (this.messenger) this.messenger.failPending('the shard stopped');
    for (const x of this.stacks) if (x) x.release(this.io);
    this.io.flushDrops();
    const lcoreStats = this.lcore.stats();
    const handlesAtClose = this.handles.size;
    const heldAtClose = this.lcore.close();
    this.stats[S.held] = 0;
    Atomics.add(this.control, CTRL.done, 1);
    const st = this.stats;
    return {
      id: this.id, lcore: lcoreStats, heldAtClose, handlesAtClose, appErrors: st[S.appErrors], loops: st[S.loops],
      busyMs: st[S.busyMs], idleMs: st[S.idleMs], leaks: st[S.leaks], drainedAtStop, app: appCounters,
    };
  }
}

async function main(): Promise<void> {
  const init = workerData as ShardInit;
  const shard = new Shard(init);
  await shard.start();
  parentPort!.postMessage({ type: 'ready', id: init.id, lcore: shard.lcore.lcoreId });
  await shard.run();
  const report = await shard.stop();
  parentPort!.postMessage({ type: 'stopped', report });
}

if (!isMainThread && (workerData as { netstarShard?: boolean })?.netstarShard) {
  main().catch((e: unknown) => {
    // Let the main thread see the failure as this worker's error.
    throw e;
  });
}
