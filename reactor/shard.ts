// A shard: one worker thread pinned to a core and registered with DPDK, owning queue `id` of every port
// (or fed by software steering when a port has fewer queues than shards). Runs the poll loop: pollers for
// device RX, cross-shard rings and TX flush; yields to Node's event loop on a time budget so promises,
// timers and messages run; sleeps when idle.
import { parentPort, workerData, isMainThread } from 'worker_threads';
import * as path from 'path';
import { native, NativeLcore, RX_DESC_WORDS, RXD, MAX_BURST } from '../native';
import { Packet, PacketMemory, RxBatch } from '../net/packet';
import { CrossShard, DpdkQueuePair, RingKind, RingMatrix, ShardIO } from '../net/qp';
import { flowHash, Reta, RX_RSS_HASH, UdpPortTable, type InstalledRule } from '../net/steer';
import { FlowPresence, presenceTick } from '../net/presence';
import { ShardStack, type PortStackConfig } from '../net/netstack';
import { S, portBase } from './stats';
import { AppModule, ShardApp, Verdict, appOfModule } from './app';
import type { NativeOffloadHost, NativeOffloadRx, NativeOffloadTables } from '../net/flow';
import { HandleTable, PacketHandle } from './handles';
import { RingMatrix as MsgMatrix, type RingMatrixInit } from './msgring';
import { Control, CTRL } from './control';
import type { Waker } from './waker';
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
  /** per shard: its known-flow map (net/presence.ts), written by that shard, read by the others */
  presence: SharedArrayBuffer[];
}

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
  /** packets still held by the app when the stop's grace period ended (dropped, counted as port drops) */
  droppedAtStop: number;
  /** packets freed because a send named a bad offset or length */
  badPackets: number;
  /** packets dropped at cross-shard rings (full, or shed), and of those, shed as new flows */
  fwdDropped: number;
  shedNewFlow: number;
  /** packets handed to other shards, received from them, and refused by a full ring at first (then retried or dropped) */
  fwdOut: number;
  fwdIn: number;
  ringFull: number;
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
  /** the known-flow maps (2+ shards): this shard marks its flows, reads the others' when steering */
  private readonly presence: FlowPresence | null;
  /** every shard's app is built (the start barrier has been passed) */
  private allReady = false;
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
  private readonly ctl: Control;
  private readonly waker: Waker;
  private readonly batch: RxBatch;
  private readonly pkt = new Packet();
  private readonly portIndexOf = new Int16Array(64).fill(-1);
  /** per port index: 1 if this shard reads the port and must steer packets to other shards */
  private readonly steers: Uint8Array;
  /** per port index: the software steering rules (UDP destination port -> shard), or null */
  private readonly rules: (UdpPortTable | null)[];
  private app!: ShardApp;
  /** the native offload executor, driven by the flow layer (FlowDistributor.attachNative); null without one */
  readonly nativeOffload: NativeOffloadHost | null;
  private offloadAttached = false;
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
  private readonly stopGraceMs: number;
  private phase = Phase.Run;
  /** the loop's idle bookkeeping: when a pass last did work; whether one did since the last checkpoint */
  private lastWork = 0;
  private worked = false;
  /** Control.progress() when the stop protocol last ran: a different value means a peer moved on */
  private lastProgress = 0;
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
    this.ctl = new Control(init.control, init.count, init.id);
    this.waker = this.ctl.waker;
    const mem = new PacketMemory(this.lcore, init.pools);
    this.io = new ShardIO(this.lcore, mem, this.stats, init.ports.length * 2 + 4 * init.count + 8);
    this.batch = this.io.newBatch();
    this.reta = new Reta(init.count);
    this.leakDeadlineMs = init.config.leakDeadlineMs;
    this.stopGraceMs = init.config.stopGraceMs;
    this.idleMaxSleepMs = init.config.idleMaxSleepMs;
    this.retry = init.config.backpressure === 'retry';
    this.ringBurst = Math.min(MAX_BURST, init.config.burst * 4);
    this.presence = init.count > 1 ? new FlowPresence(init.presence, init.id, init.config.knownFlowTtlMs) : null;
    if (this.presence) this.presence.setTick(presenceTick(performance.now()));
    this.xshard = init.count > 1
      ? new CrossShard(this.io, this.id, this.count, init.rings, { backpressure: init.config.backpressure, presence: this.presence, newFlowShare: init.config.ringNewFlowShare }, (dst) => this.wake(dst))
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
    this.nativeOffload = typeof this.lcore.offloadAttach === 'function' ? {
      attach: (t, rx) => this.offloadAttach(t, rx),
      detach: () => this.offloadDetach(),
    } : null;
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
    // Housekeeping on the shard's timers, off the loop: the leak scan, and app counters for the live view.
    this.timers.setInterval(() => this.scanLeaks(), 1000);
  }

  private scanLeaks(): void {
    const now = this.clock.now();
    const leaks = this.handles.scanLeaks(now, this.leakDeadlineMs);
    if (leaks.length === 0) return;
    this.stats[S.leaks] += leaks.length;
    parentPort?.postMessage({ type: 'leak', id: this.id, count: leaks.length, oldestMs: now - Math.min(...leaks.map((h) => h.heldAt)) });
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

  /** Drops a raw slot (burst paths, raw queues), counted on port index `portIndex`. */
  dropSlot(slot: number, portIndex: number): void {
    this.io.drop(slot, this.qps[portIndex].port);
  }

  copySlot(pkt: Packet, out: Uint32Array): boolean {
    const d = this.allocDesc;
    if (!this.lcore.copy(pkt.slot, pkt.offset - pkt.bufStart, pkt.length, d, 0)) return false;
    out[0] = d[RXD.slot];
    out[1] = d[RXD.dataOff];
    out[2] = d[RXD.dataLen];
    return true;
  }

  flushDrops(): void {
    this.io.flushDrops();
  }

  /**
   * The native host's attach: the executor may take packets of the listed ports where this shard reads them
   * natively (an RX queue here, no TCP/IP stack: the distributor must see the stack's traffic) and send on any
   * of the first 16 ports; entries whose port has no TX queue here stay with JS.
   */
  private offloadAttach(t: NativeOffloadTables, ports: NativeOffloadRx[]): boolean {
    const rx: { port: number; verifyIp: boolean; verifyL4: boolean; mac: number; statsBase: number }[] = [];
    const out: { index: number; port: number; queue: number; statsBase: number }[] = [];
    this.qps.forEach((qp, i) => {
      if (i < 16) out.push({ index: i, port: qp.port, queue: qp.txQueue, statsBase: portBase(qp.port) });
    });
    for (const r of ports) {
      const i = r.portIndex, qp = this.qps[i];
      if (qp === undefined || i >= 16 || qp.rxQueue < 0 || this.stacks[i] !== null) continue;
      rx.push({ port: qp.port, verifyIp: r.verifyIp, verifyL4: r.verifyL4, mac: r.mac, statsBase: portBase(qp.port) });
    }
    if (rx.length === 0) return false;
    this.offloadDetach(); // one distributor per shard at a time
    this.lcore.offloadAttach({ ...t, stats: this.io.stats, rx, out });
    this.offloadAttached = true;
    return true;
  }

  private offloadDetach(): void {
    if (!this.offloadAttached) return;
    this.offloadAttached = false;
    this.lcore.offloadDetach();
  }

  /** Called when the shard stops (services register here). */
  onStop(fn: () => unknown): void {
    this.stopHooks.push(fn);
  }

  /** Wakes shard `to` if it sleeps (after a message or packets were queued for it). */
  wake(to: number): void {
    this.waker.wake(to);
  }

  async start(): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const appModule = appOfModule(require(path.resolve(__dirname, '..', this.init.appPath)));
    if (!appModule) throw new Error(`${this.init.appPath} no longer exports an app`);
    this.app = await appModule.createShard(this.context(), this.init.settings);
    const appRef = this.app;
    if (appRef.counters) this.timers.setInterval(() => parentPort?.postMessage({ type: 'counters', id: this.id, counters: appRef.counters!() }), 200);
  }

  /**
   * The object an app's createShard receives: the ShardContext members and nothing else of the shard (no
   * lcore, io, pools, rings, handle table). Methods delegate to this shard; V8 inlines the one extra call.
   */
  context(): ShardContext {
    const sh = this;
    return Object.freeze<ShardContext>({
      id: sh.id,
      count: sh.count,
      ports: sh.ports,
      qps: sh.qps,
      clock: sh.clock,
      nativeOffload: sh.nativeOffload,
      hold: (pkt) => sh.hold(pkt),
      defer: (pkt, fn) => sh.defer(pkt, fn),
      send: (pkt, portIndex) => sh.send(pkt, portIndex),
      drop: (pkt) => sh.drop(pkt),
      forward: (pkt, shard, hash) => sh.forward(pkt, shard, hash),
      unsafeForward: (pkt, shard, hash) => sh.unsafeForward(pkt, shard, hash),
      markFlow: (hash) => sh.markFlow(hash),
      marksFlows: () => sh.marksFlows(),
      forwardBatch: (batch, shard) => sh.forwardBatch(batch, shard),
      unsafeForwardBatch: (batch, shard) => sh.unsafeForwardBatch(batch, shard),
      allocPacket: (length) => sh.allocPacket(length),
      copyPacket: (pkt) => sh.copyPacket(pkt),
      dropSlot: (slot, portIndex) => sh.dropSlot(slot, portIndex),
      copySlot: (pkt, out) => sh.copySlot(pkt, out),
      flushDrops: () => sh.flushDrops(),
      now: () => sh.clock.now(),
      setTimeout: (fn, ms) => sh.setTimeout(fn, ms),
      setInterval: (fn, ms) => sh.setInterval(fn, ms),
      sleep: (ms) => sh.sleep(ms),
      cancel: (t) => sh.cancel(t),
      stack: (portIndex) => sh.stack(portIndex),
      shardOfHash: (hash) => sh.shardOfHash(hash),
      ownsHash: (hash) => sh.ownsHash(hash),
      call: (task, shard, ...args) => sh.call(task, shard, ...args),
      callAll: (task, ...args) => sh.callAll(task, ...args),
      onStop: (fn) => sh.onStop(fn),
    });
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

  /** False when `pkt` is a handle the stop already dropped (its handler finished late: nothing to do). */
  private releaseIfHeld(pkt: Packet): boolean {
    if (!(pkt instanceof PacketHandle) || this.handles.release(pkt)) return true;
    if (pkt.revoked) return false;
    throw new Error(`packet handle (slot ${pkt.slot}) was already sent, forwarded or dropped`);
  }

  send(pkt: Packet, portIndex: number): void {
    if (!this.releaseIfHeld(pkt)) return;
    this.qps[portIndex].send(pkt);
  }

  drop(pkt: Packet): void {
    if (!this.releaseIfHeld(pkt)) return;
    this.io.drop(pkt.slot, pkt.port);
  }

  /**
   * Hands the packet to another shard; its buffer returns to this shard's pool if that shard drops it. With
   * the flow's steering hash, a packet of a flow that shard does not know is shed first at a busy ring.
   */
  forward(pkt: Packet, shard: number, hash = -1): void {
    if (!this.releaseIfHeld(pkt)) return;
    if (shard === this.id) throw new RangeError('forward to self');
    this.xshard!.forward(pkt, shard, hash);
  }

  /** Like forward, without recording the origin: the destination frees the buffer itself. */
  unsafeForward(pkt: Packet, shard: number, hash = -1): void {
    if (!this.releaseIfHeld(pkt)) return;
    if (shard === this.id) throw new RangeError('forward to self');
    this.xshard!.unsafeForward(pkt, shard, hash);
  }

  /** This shard accepted a packet of the flow with this steering hash (other shards give its packets priority). */
  markFlow(hash: number): void {
    if (this.presence !== null) this.presence.mark(hash);
  }

  /** This shard's app is built: counts it at the start barrier (devices are read once every shard passed). */
  passReady(): void {
    this.ctl.bump(CTRL.ready);
  }

  /** Declares that this shard's app marks the flows it accepts (see ShardContext.marksFlows). */
  marksFlows(): void {
    if (this.presence !== null) this.presence.declare();
  }

  /**
   * Runs an async handler for a packet: holds it, awaits `fn`, then applies the verdict (port index, DROP,
   * or STOLEN if `fn` disposed of it). A rejection drops the packet and counts an app error. Returns STOLEN.
   */
  defer(pkt: Packet, fn: (h: PacketHandle) => Promise<Verdict>): Verdict {
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

  // ---- packet delivery (the pollers' work) ----

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
      // The flow's software hash (the one apps mark known flows by), or -1 for rule-steered packets (never shed).
      let h = -1;
      if (target < 0 && byReta) {
        let rss = false;
        if (d[b + RXD.olFlags] & RX_RSS_HASH) {
          h = d[b + RXD.rss];
          rss = true;
        } else {
          const c = d[b + RXD.chunk];
          h = flowHash(views[c >>> 16][c & 0xffff], d[b + RXD.bufOffset] + d[b + RXD.dataOff], d[b + RXD.dataLen]);
        }
        target = reta.shardOf(h);
        // A device's RSS hash is not the hash flows are marked by: compute that one only when it matters.
        if (rss && target !== self) {
          if (x.shedding(RingKind.UNSAFE, target)) {
            const c = d[b + RXD.chunk];
            h = flowHash(views[c >>> 16][c & 0xffff], d[b + RXD.bufOffset] + d[b + RXD.dataOff], d[b + RXD.dataLen]);
          } else h = -1;
        }
      }
      if (target < 0) target = self;
      if (target !== self) {
        batch.at(i, pkt);
        x.unsafeForward(pkt, target, h === 0 ? -1 : h); // 0: not an IPv4 flow (ARP, runts): not a new flow
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
    // Start barrier: devices are read once every shard's app is built (CTRL.ready; a shard that died counts).
    if (!this.allReady) {
      if (this.ctl.get(CTRL.ready) < this.count) return 0;
      this.allReady = true;
    }
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

  // ---- the stop protocol (checked at every checkpoint once the main thread asked) ----

  /** At a checkpoint: advances the stop protocol; true when this shard may close. One atomic load while running. */
  private stopStep(): boolean {
    if (this.phase === Phase.Run && this.ctl.get(CTRL.stop) === 0) return false;
    this.lastProgress = this.ctl.progress();
    const before = this.phase;
    const done = this.advanceStop();
    if (process.env.NETSTAR_DEBUG && this.phase !== before) process.stderr.write(`shard ${this.id}: stop phase ${before} -> ${this.phase} (quiesced ${this.ctl.get(CTRL.quiesced)}, settled ${this.ctl.get(CTRL.settled)})\n`);
    return done;
  }

  /** Whether the stop protocol has news this shard has not acted on (part of the re-check before sleeping). */
  private stopPending(): boolean {
    return this.phase === Phase.Run ? this.ctl.get(CTRL.stop) !== 0 : this.ctl.progress() !== this.lastProgress;
  }

  private advanceStop(): boolean {
    const ctl = this.ctl, n = this.count;
    switch (this.phase) {
      case Phase.Run:
        this.phase = Phase.Quiesce; // no more device RX from here on
        this.quiesceAt = this.loopNow;
        return false;
      case Phase.Quiesce:
        // Deferred handlers get stopGraceMs to finish (none after a second stop request); what they still
        // hold then is dropped and counted. Outgoing buffers must empty first.
        if (this.handles.size > 0) {
          if (this.loopNow - this.quiesceAt < this.stopGraceMs && ctl.get(CTRL.hurry) === 0) return false;
          this.dropHeldAtStop();
        }
        if (this.xshard && this.xshard.pending() > 0) return false;
        this.phase = Phase.Settle;
        ctl.bump(CTRL.quiesced);
        return false;
      case Phase.Settle:
        // Drop-only: packets still arriving are dropped (returned to their origin), nothing is forwarded.
        if (ctl.get(CTRL.quiesced) < n || (this.xshard && (this.xshard.pending() > 0 || !this.xshard.incomingEmpty()))) return false;
        if (!this.settled) {
          this.settled = true;
          ctl.bump(CTRL.settled);
        }
        if (ctl.get(CTRL.settled) < n) return false;
        this.phase = Phase.Done;
        return true;
      default:
        return true;
    }
  }
  private settled = false;
  private quiesceAt = 0;

  /** Drops every packet the app still holds (counted per port and in droppedAtStop); late calls on them do nothing. */
  private dropHeldAtStop(): void {
    for (const h of this.handles.revokeAll()) {
      this.io.drop(h.slot, h.port);
      this.stats[S.droppedAtStop]++;
    }
  }

  // ---- the poll loop ----

  /**
   * The poll loop: passes over the pollers for up to `quotaMs`, then yields to Node's event loop (promises,
   * timers, messages); every 16 passes a checkpoint reads the clock and the stop protocol (both cost more than
   * a pass's bookkeeping); idle, it sleeps on its Waker. Resolves when the stop protocol completes.
   */
  run(): Promise<void> {
    this.lastWork = performance.now();
    return new Promise((resolve, reject) => {
      const slice = (afterTimedWake: boolean): void => {
        try {
          const t0 = this.checkpoint();
          // After a timed wake one pass tells whether to sleep again: start at the checkpoint.
          let loops = afterTimedWake ? 15 : 0, t = t0;
          const loops0 = loops;
          for (;;) {
            if (this.pollOnce() > 0) this.worked = true;
            if ((++loops & 15) !== 0) continue;
            t = this.checkpoint();
            if (this.stopStep()) break;
            if (t - t0 >= this.quotaMs) return this.account(loops - loops0, t - t0, () => setImmediate(slice, false));
            if (t - this.lastWork >= this.idleThresholdMs && this.nextDue(t) > 0.05) return this.account(loops - loops0, t - t0, () => this.idle(t, slice, reject));
          }
          this.account(loops - loops0, t - t0, resolve);
        } catch (e) {
          reject(e);
        }
      };
      slice(false);
    });
  }

  /** Reads the clock for the loop and the timers; notes whether the passes since the last one did work. */
  private checkpoint(): number {
    const t = performance.now();
    this.loopNow = t;
    this.clock.update(t);
    if (this.presence !== null) this.presence.setTick(presenceTick(t));
    if (this.worked) {
      this.lastWork = t;
      this.worked = false;
      this.sleepMs = this.idleSleepMs;
    }
    return t;
  }

  private account(loops: number, busyMs: number, then: () => void): void {
    const st = this.stats;
    st[S.loops] += loops;
    st[S.busyMs] += busyMs;
    st[S.held] = this.lcore.held();
    then();
  }

  /** Time until the app, a timer or a stack next needs the loop (ms from `t`). */
  private nextDue(t: number): number {
    let due = Math.min(this.app.pollAt ? this.app.pollAt() : Infinity, this.timers.nextDeadline()) - t;
    if (this.hasStack) for (const x of this.stacks) if (x) due = Math.min(due, x.stack.pollAt() - t);
    return due;
  }

  /** The re-check between announcing sleep and sleeping: any poller with work, or news from the stop protocol. */
  private readonly hasWork = (): boolean => this.anyWork() || this.stopPending();

  /**
   * Idle: sleeps on the Waker until a peer or the main thread wakes this shard, or the device poll interval
   * passes. Backs off while idle persists: 1 ms doubling up to idleMaxSleepMs (how late an idle shard notices
   * a device that cannot interrupt); a wake ends the sleep at once.
   */
  private idle(t: number, then: (afterTimedWake: boolean) => void, fail: (e: unknown) => void): void {
    const st = this.stats;
    st[S.sleeps]++;
    const ms = Math.max(0.05, Math.min(this.sleepMs, this.nextDue(t)));
    this.sleepMs = Math.min(this.sleepMs * 2, this.idleMaxSleepMs);
    const ts = performance.now();
    this.waker.sleepUnless(this.hasWork, ms).then((r) => {
      const now = performance.now();
      st[S.idleMs] += now - ts;
      // Woken (or work found at the re-check): stay awake a while. Timed out: poll a pass and, if nothing
      // came, sleep again at once (no spinning between timed wakeups).
      if (r === 'woken') {
        st[S.wakeups]++;
        this.lastWork = now;
      }
      then(r === 'timeout');
    }, fail);
  }

  async stop(): Promise<ShardReport> {
    if (this.stopped) throw new Error('shard already stopped');
    this.stopped = true;
    for (const qp of this.qps) qp.flush();
    if (this.xshard) this.xshard.flush();
    this.io.flushDrops();
    const drainedAtStop = this.xshard ? this.xshard.drainAll() : 0;
    if (this.app.stop) await this.app.stop();
    // The flow layer detaches the native executor at stop; an app that attached it otherwise gets it done here.
    this.offloadDetach();
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
    // Stop hooks and the stacks' release may still send (a closing socket's FIN or RST): flush those too, or
    // they sit in the TX buffers and are counted as held at close.
    for (const qp of this.qps) qp.flush();
    this.io.flushDrops();
    const lcoreStats = this.lcore.stats();
    const handlesAtClose = this.handles.size;
    const heldAtClose = this.lcore.close();
    this.stats[S.held] = 0;
    this.ctl.bump(CTRL.done);
    const st = this.stats;
    return {
      id: this.id, lcore: lcoreStats, heldAtClose, handlesAtClose, appErrors: st[S.appErrors], loops: st[S.loops],
      busyMs: st[S.busyMs], idleMs: st[S.idleMs], leaks: st[S.leaks], drainedAtStop, droppedAtStop: st[S.droppedAtStop], badPackets: st[S.badPackets],
      fwdDropped: st[S.fwdDropped], shedNewFlow: st[S.shedNewFlow], fwdOut: st[S.fwdOut], fwdIn: st[S.fwdIn], ringFull: st[S.ringFull], app: appCounters,
    };
  }
}

async function main(): Promise<void> {
  const init = workerData as ShardInit;
  const shard = new Shard(init);
  await shard.start();
  shard.passReady();
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
