// MicaClient: the per-shard MICA client for NFs. Routes each key by its CityHash64 (server = (hash >> 32 &
// 0xffff) mod servers, partition = (hash >> 48) mod partitions -> UDP port), batches requests per
// destination (flushed every loop iteration), tags each with an opaque (slot + generation) to match its
// response, retries on timeout and then fails with a typed error. Responses come back to a UDP port that
// names the issuing shard (replyPort + shard), steered there by a rule.
import type { ShardContext } from '../reactor/context';
import type { Packet } from '../net/packet';
import type { SteerRule } from '../net/steer';
import { cityHash64Short, keyHash } from './cityhash';
import {
  BATCH_HEADER_LEN, BatchView, BatchWriter, FrameError, MAGIC_REQUEST, MAGIC_RESPONSE, MAX_FRAME, MAX_KEY_LEN, Op, Result,
  emitBatch, pad8, requestSize, type FrameAddresses,
} from './wire';

export interface MicaServerAddress {
  /** IPv4 address (dotted quad) */
  ip: string;
  /** UDP port of partition 0 */
  udpPort: number;
  partitions: number;
  /** MAC address; default: resolved by ARP through the port's stack */
  mac?: string;
}

export interface MicaClientOptions {
  /** port (index in config.ports) with a stack address: requests leave from it */
  portIndex: number;
  servers: MicaServerAddress[];
  /** shard s receives its responses on replyPort + s */
  replyPort: number;
  /** per try (ms) */
  timeoutMs?: number;
  /** tries after the first */
  retries?: number;
  /** requests in flight per shard; more wait (bounded: a full queue rejects with EOVERLOAD) */
  maxOutstanding?: number;
  /** requests queued for a slot beyond maxOutstanding before new ones are refused */
  maxQueued?: number;
}

export type MicaErrorCode = 'ETIMEDOUT' | 'EOVERLOAD' | 'ERESULT' | 'EKEY' | 'ECLOSED';

/** A request that failed: timed out after its retries, refused locally, or answered with a failure result. */
export class MicaError extends Error {
  constructor(readonly code: MicaErrorCode, message: string, readonly result?: Result) {
    super(message);
    this.name = 'MicaError';
  }
}

/** The steering rules a client needs: shard s's reply port to shard s. */
export function clientSteering(o: Pick<MicaClientOptions, 'portIndex' | 'replyPort'>, shards: number): SteerRule[] {
  return Array.from({ length: shards }, (_, s) => ({ port: o.portIndex, udpDst: o.replyPort + s, shard: s }));
}

function ipNum(s: string): number {
  const p = s.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !(x >= 0 && x <= 255))) throw new RangeError(`bad IPv4 address ${s}`);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
function macNum(s: string): number {
  return parseInt(s.replace(/:/g, ''), 16);
}

interface Pending {
  op: number;
  key: Uint8Array;
  value: Uint8Array | null;
  lo: number;
  hi: number;
  dest: number;
  tries: number;
  deadline: number;
  /** the answer (result and value), or the error that ended the request */
  done: MicaCallback;
}

/** Completion of a request: the server's result and value, or the error (timeout, overload, closed). */
export type MicaCallback = (result: number, value: Uint8Array | null, err: MicaError | null) => void;

interface Destination { server: number; partition: number; ip: number; port: number; queue: number[] }

/** Counters a client reports. */
export interface MicaClientCounters {
  requests: number; responses: number; retries: number; timeouts: number; overloads: number; stale: number;
  batchesSent: number; malformed: number; allocFailed: number; waitingMac: number; handedOff: number;
}

export class MicaClient {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly max: number;
  private readonly maxQueued: number;
  private readonly slots: (Pending | null)[];
  private readonly gen: Uint16Array;
  private readonly free: number[] = [];
  /** requests waiting for a free slot */
  private readonly backlog: Pending[] = [];
  private readonly dests: Destination[] = [];
  /** first destination index of each server */
  private readonly destBase: number[] = [];
  private readonly dirty = new Set<number>();
  /** servers whose MAC is still unknown */
  private readonly dirtyMac = new Set<number>();
  private readonly macs: (number | null)[];
  /** when each server was last probed for its MAC */
  private readonly lastProbe: number[];
  private readonly myIp: number;
  private readonly myMac: number;
  private readonly myPort: number;
  private readonly view = new BatchView();
  private readonly hw = new Uint32Array(2);
  private readonly w = new BatchWriter();
  private readonly addr: FrameAddresses = { srcMac: 0, dstMac: 0, srcIp: 0, dstIp: 0, srcPort: 0, dstPort: 0 };
  private outstanding = 0;
  private nextScan = 0;
  private closed = false;
  readonly c: MicaClientCounters = {
    requests: 0, responses: 0, retries: 0, timeouts: 0, overloads: 0, stale: 0, batchesSent: 0, malformed: 0,
    allocFailed: 0, waitingMac: 0, handedOff: 0,
  };

  constructor(private readonly ctx: ShardContext, private readonly o: MicaClientOptions) {
    if (o.servers.length === 0 || o.servers.length > 0xffff) throw new RangeError('MicaClient: 1..65535 servers');
    this.timeoutMs = o.timeoutMs ?? 10;
    this.retries = o.retries ?? 5;
    this.max = Math.min(o.maxOutstanding ?? 2048, 0xffff);
    this.maxQueued = o.maxQueued ?? 4 * this.max;
    this.slots = new Array<Pending | null>(this.max).fill(null);
    this.gen = new Uint16Array(this.max);
    for (let i = this.max - 1; i >= 0; i--) this.free.push(i);
    o.servers.forEach((s, i) => {
      this.destBase.push(this.dests.length);
      for (let p = 0; p < s.partitions; p++) this.dests.push({ server: i, partition: p, ip: ipNum(s.ip), port: s.udpPort + p, queue: [] });
    });
    this.macs = o.servers.map((s) => (s.mac ? macNum(s.mac) : null));
    this.lastProbe = o.servers.map(() => -Infinity);
    // resolve every server's MAC from the start: the first requests should not spend their budget on ARP
    this.macs.forEach((m, i) => { if (m === null) this.dirtyMac.add(i); });
    const stack = ctx.stack(o.portIndex);
    if (stack === null) throw new RangeError(`MicaClient: port ${o.portIndex} has no stack address`);
    this.myIp = stack.config.addresses[0].address;
    this.myMac = macNum(ctx.ports[o.portIndex].mac);
    this.myPort = o.replyPort + ctx.id;
  }

  // ---- the typed API ----

  /** The value, or null when the key is absent. */
  async get(key: Uint8Array | string): Promise<Uint8Array | null> {
    const r = await this.request(Op.Get, key, null);
    if (r.result === Result.NotFound) return null;
    this.expect(r.result, 'get');
    return r.value;
  }
  async set(key: Uint8Array | string, value: Uint8Array): Promise<void> {
    this.expect((await this.request(Op.Set, key, value)).result, 'set');
  }
  /** Stores only if absent: true when stored, false when the key existed. */
  async add(key: Uint8Array | string, value: Uint8Array): Promise<boolean> {
    const r = (await this.request(Op.Add, key, value)).result;
    if (r === Result.Exists) return false;
    this.expect(r, 'add');
    return true;
  }
  /** True when the key existed. */
  async delete(key: Uint8Array | string): Promise<boolean> {
    const r = (await this.request(Op.Delete, key, null)).result;
    if (r === Result.NotFound) return false;
    this.expect(r, 'delete');
    return true;
  }
  async test(key: Uint8Array | string): Promise<boolean> {
    const r = (await this.request(Op.Test, key, null)).result;
    if (r === Result.NotFound) return false;
    this.expect(r, 'test');
    return true;
  }
  /** Adds to an 8-byte little-endian counter; the new value. A missing key is an error (ERESULT NotFound), as in mica2. */
  async incr(key: Uint8Array | string, by: bigint = 1n): Promise<bigint> {
    const v = new Uint8Array(8);
    new DataView(v.buffer).setBigUint64(0, BigInt.asUintN(64, by), true);
    const r = await this.request(Op.Increment, key, v);
    this.expect(r.result, 'incr');
    return new DataView(r.value!.buffer, r.value!.byteOffset, 8).getBigUint64(0, true);
  }

  private expect(result: number, what: string): void {
    if (result !== Result.Success) throw new MicaError('ERESULT', `mica ${what}: ${Result[result] ?? result}`, result);
  }

  /** Which server and partition a key goes to (for tests and tools). */
  route(key: Uint8Array | string): { server: number; partition: number; udpPort: number } {
    const h = keyHash(key);
    const d = this.dests[this.destOf(Number(h & 0xffffffffn), Number(h >> 32n))];
    return { server: d.server, partition: d.partition, udpPort: d.port };
  }

  private destOf(_lo: number, hi: number): number {
    const s = (hi & 0xffff) % this.o.servers.length;
    return this.destBase[s] + (hi >>> 16) % this.o.servers[s].partitions;
  }

  /** Queues one request; resolves with the server's answer (any result), rejects on timeout or overload. */
  request(op: number, key: Uint8Array | string, value: Uint8Array | null): Promise<{ result: number; value: Uint8Array | null }> {
    return new Promise((resolve, reject) => this.send(op, typeof key === 'string' ? Buffer.from(key, 'utf8') : key, value,
      (result, v, err) => (err !== null ? reject(err) : resolve({ result, value: v }))));
  }

  /**
   * The callback form (no promise per request): `done` runs inside the loop pass that got the answer, so a
   * request issued from it leaves in the same pass. Errors (overload, bad key) are reported through `done` too.
   */
  send(op: number, k: Uint8Array, value: Uint8Array | null, done: MicaCallback): void {
    if (this.closed) { done(Result.NotProcessed, null, new MicaError('ECLOSED', 'mica client closed')); return; }
    if (k.length > MAX_KEY_LEN || requestSize(k.length, value?.length ?? 0) > MAX_FRAME - BATCH_HEADER_LEN) {
      done(Result.NotProcessed, null, new MicaError('EKEY', `mica: key of ${k.length} and value of ${value?.length ?? 0} bytes do not fit a request`));
      return;
    }
    if (this.free.length === 0 && this.backlog.length >= this.maxQueued) {
      this.c.overloads++;
      done(Result.NotProcessed, null, new MicaError('EOVERLOAD', `mica: ${this.max} requests in flight and ${this.backlog.length} queued`));
      return;
    }
    let lo: number, hi: number;
    if (k.length <= 16) {
      cityHash64Short(k, 0, k.length, this.hw);
      lo = this.hw[0]; hi = this.hw[1];
    } else {
      const h = keyHash(k);
      lo = Number(h & 0xffffffffn); hi = Number(h >> 32n);
    }
    this.c.requests++;
    const p: Pending = { op, key: k, value, lo, hi, dest: this.destOf(lo, hi), tries: 0, deadline: 0, done };
    if (this.free.length === 0) this.backlog.push(p);
    else this.enqueue(p);
  }

  private enqueue(p: Pending): void {
    const slot = this.free.pop()!;
    this.slots[slot] = p;
    this.outstanding++;
    this.queueSlot(slot);
  }

  private queueSlot(slot: number): void {
    const p = this.slots[slot]!;
    p.deadline = this.ctx.now() + this.timeoutMs;
    this.dests[p.dest].queue.push(slot);
    this.dirty.add(p.dest);
  }

  private release(slot: number): void {
    this.slots[slot] = null;
    this.gen[slot] = (this.gen[slot] + 1) & 0xffff;
    this.free.push(slot);
    this.outstanding--;
    const next = this.backlog.shift();
    if (next !== undefined) this.enqueue(next);
  }

  // ---- driving (the app calls these) ----

  /**
   * Call from the app's onPacket. 'drop': a response for this client, consumed (the app drops it);
   * 'stolen': another shard's response, handed to it; null: not a MICA response for this client.
   */
  onPacket(pkt: Packet, portIndex: number): 'drop' | 'stolen' | null {
    if (portIndex !== this.o.portIndex) return null;
    const v = this.view.wrap(pkt.view, pkt.offset, pkt.length);
    if (v.check() !== FrameError.Ok || v.magic !== MAGIC_RESPONSE) return null;
    const shard = v.dstPort - this.o.replyPort;
    if (shard < 0 || shard >= this.ctx.count) return null;
    if (shard !== this.ctx.id) {
      // a response for another shard's client that bypassed the rules: hand it over
      this.ctx.forward(pkt, shard);
      this.c.handedOff++;
      return 'stolen';
    }
    if (v.checkRequests() !== FrameError.Ok) { this.c.malformed++; return 'drop'; }
    const u8 = pkt.bytes;
    while (v.next()) {
      const slot = v.opaque & 0xffff, g = v.opaque >>> 16;
      const p = slot < this.max ? this.slots[slot] : null;
      if (p === null || this.gen[slot] !== g || p.op !== v.op) { this.c.stale++; continue; }
      this.c.responses++;
      const value = v.valueLength > 0 ? u8.slice(v.valueAt, v.valueAt + v.valueLength) : null;
      this.release(slot);
      p.done(v.result, value, null);
    }
    return 'drop';
  }

  /** Call once per loop iteration (afterBurst): sends queued batches, retries what timed out. */
  flush(): void {
    const now = this.ctx.now();
    if (now >= this.nextScan && this.outstanding > 0) this.scanTimeouts(now);
    if (this.dirtyMac.size > 0) for (const sv of this.dirtyMac) if (this.resolveMac(sv, now)) this.dirtyMac.delete(sv);
    if (this.dirty.size === 0) return;
    for (const d of this.dirty) {
      const dest = this.dests[d];
      const mac = this.macs[dest.server];
      if (mac === null) { this.c.waitingMac++; continue; }
      while (dest.queue.length > 0) this.sendBatch(dest, mac);
      this.dirty.delete(d);
    }
  }

  /** When the loop must run next for this client. */
  pollAt(): number {
    if (this.dirty.size > 0 || this.dirtyMac.size > 0) return this.ctx.now() + (this.dirtyMac.size > 0 ? 5 : 0);
    return this.outstanding > 0 ? this.nextScan : Infinity;
  }

  private scanTimeouts(now: number): void {
    this.nextScan = now + Math.max(1, this.timeoutMs / 4);
    for (let s = 0; s < this.max; s++) {
      const p = this.slots[s];
      if (p === null || p.deadline > now) continue;
      // a request still queued (no MAC yet) also times out: the budget is the caller's, not the wire's
      if (p.tries >= this.retries) {
        this.c.timeouts++;
        const q = this.dests[p.dest].queue, i = q.indexOf(s);
        if (i >= 0) q.splice(i, 1);
        this.release(s);
        p.done(Result.TimedOut, null, new MicaError('ETIMEDOUT', `mica: no answer from ${this.o.servers[this.dests[p.dest].server].ip}:${this.dests[p.dest].port} after ${p.tries + 1} tries of ${this.timeoutMs} ms`));
        continue;
      }
      p.tries++;
      this.c.retries++;
      // the old tag dies with this try: a late answer to it is stale
      this.gen[s] = (this.gen[s] + 1) & 0xffff;
      if (!this.dests[p.dest].queue.includes(s)) this.queueSlot(s);
      else p.deadline = now + this.timeoutMs;
    }
  }

  private sendBatch(dest: Destination, mac: number): void {
    const q = dest.queue;
    const h = this.ctx.allocPacket(MAX_FRAME);
    if (h === null) { this.c.allocFailed++; q.length = 0; return; } // the requests time out and retry
    const w = this.w.begin(h.view, h.bytes, h.offset, Math.min(MAX_FRAME, h.length), MAGIC_REQUEST);
    let n = 0;
    while (n < q.length) {
      const slot = q[n], p = this.slots[slot]!;
      const vl = p.value?.length ?? 0;
      const at = w.reserve(p.op, 0, p.lo, p.hi, (this.gen[slot] << 16) | slot, p.key.length, vl);
      if (at < 0) break;
      h.bytes.set(p.key, at);
      if (p.value) h.bytes.set(p.value, at + pad8(p.key.length));
      n++;
    }
    q.splice(0, n);
    const a = this.addr;
    a.srcMac = this.myMac; a.dstMac = mac; a.srcIp = this.myIp; a.dstIp = dest.ip; a.srcPort = this.myPort; a.dstPort = dest.port;
    const len = w.finish(a);
    h.trimBack(h.length - len);
    this.ctx.send(h, this.o.portIndex);
    this.c.batchesSent++;
  }

  /** ARP through the port's stack: a NoopRead probe sent by the stack makes it resolve the server's MAC. */
  private resolveMac(server: number, now: number): boolean {
    const stack = this.ctx.stack(this.o.portIndex)!;
    const ip = ipNum(this.o.servers[server].ip);
    for (const [nip, nmac] of stack.neighbors()) if (nip === ip) { this.macs[server] = nmac; return true; }
    if (now - this.lastProbe[server] < 20) return false;
    this.lastProbe[server] = now;
    const probe = emitBatch({ magic: MAGIC_REQUEST, srcMac: 0, dstMac: 0, srcIp: 0, dstIp: 0, srcPort: 0, dstPort: 0,
      requests: [{ op: Op.NoopRead, result: 0, keyHash: 0n, opaque: 0xffffffff, key: new Uint8Array(0), value: new Uint8Array(0) }] });
    const u = stack.udpBind(0);
    u.sendTo(probe.subarray(42), this.o.servers[server].ip, this.o.servers[server].udpPort);
    this.ctx.setTimeout(() => u.close(), 1000);
    return false;
  }

  get inFlight(): number { return this.outstanding; }

  counters(): Record<string, number> {
    return { ...this.c, inFlight: this.outstanding, backlog: this.backlog.length };
  }

  /** Fails every request still waiting. */
  close(): void {
    this.closed = true;
    for (let s = 0; s < this.max; s++) {
      const p = this.slots[s];
      if (p === null) continue;
      this.slots[s] = null;
      p.done(Result.NotProcessed, null, new MicaError('ECLOSED', 'mica client closed'));
    }
    for (const p of this.backlog.splice(0)) p.done(Result.NotProcessed, null, new MicaError('ECLOSED', 'mica client closed'));
    for (const d of this.dests) d.queue.length = 0;
  }
}
