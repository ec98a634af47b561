// ARP neighbour cache: IPv4 -> MAC entries with expiry and re-resolution, and the bounded queue of
// frames waiting for an address to resolve. Protocol handling (requests, replies) is in interface.ts.

import { ArpConfig } from '../config';

interface Entry {
  mac: number;
  /** When the neighbour last proved it holds the address (ms). */
  confirmedAt: number;
  /** When we last sent a unicast request to re-confirm it (ms), -Infinity if never. */
  refreshAt: number;
}

interface Pending {
  frames: Uint8Array[];
  /** Requests sent so far. */
  requests: number;
  nextRequestAt: number;
}

/** Result of enqueue(): whether the caller must send the first request now. */
export enum EnqueueResult {
  Queued,
  QueuedFirst,
  Dropped,
}

export class NeighborCache {
  private readonly entries = new Map<number, Entry>();
  private readonly pending = new Map<number, Pending>();
  private queued = 0;

  constructor(private readonly cfg: Required<ArpConfig>) {}

  get size(): number {
    return this.entries.size;
  }
  /** Frames waiting for resolution, all neighbours together. */
  get queuedFrames(): number {
    return this.queued;
  }

  /** The MAC for `ip`, or -1 when unknown or expired (an expired entry is forgotten). */
  lookup(ip: number, now: number): number {
    const e = this.entries.get(ip);
    if (e === undefined) return -1;
    if (now - e.confirmedAt >= this.cfg.entryTimeout) {
      this.entries.delete(ip);
      return -1;
    }
    return e.mac;
  }

  /**
   * True when the entry for `ip` is in use but unconfirmed for reachableTime and no refresh went out
   * in the last retryInterval: the caller sends a unicast request (RFC 1122 2.3.2.1 style refresh),
   * so a moved address is noticed before the entry expires.
   */
  wantsRefresh(ip: number, now: number): boolean {
    const e = this.entries.get(ip);
    if (e === undefined || now - e.confirmedAt < this.cfg.reachableTime) return false;
    if (now - e.refreshAt < this.cfg.retryInterval) return false;
    e.refreshAt = now;
    return true;
  }

  has(ip: number): boolean {
    return this.entries.has(ip);
  }

  /** Add or confirm an entry. Returns true when it is new or its MAC changed. */
  update(ip: number, mac: number, now: number): boolean {
    const e = this.entries.get(ip);
    if (e !== undefined) {
      const changed = e.mac !== mac;
      e.mac = mac;
      e.confirmedAt = now;
      return changed;
    }
    if (this.entries.size >= this.cfg.cacheSize) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(ip, { mac, confirmedAt: now, refreshAt: -Infinity });
    return true;
  }

  delete(ip: number): void {
    this.entries.delete(ip);
  }

  /** Entries as (ip, mac) pairs, for sharing and for tests. */
  *list(): IterableIterator<[number, number]> {
    for (const [ip, e] of this.entries) yield [ip, e.mac];
  }

  /** Queue a copy of a frame until `ip` resolves; bounded per neighbour and in total. */
  enqueue(ip: number, frame: Uint8Array, now: number): EnqueueResult {
    let p = this.pending.get(ip);
    if (this.queued >= this.cfg.queueTotal) return EnqueueResult.Dropped;
    if (p !== undefined && p.frames.length >= this.cfg.queuePerNeighbor) return EnqueueResult.Dropped;
    const first = p === undefined;
    if (p === undefined) {
      p = { frames: [], requests: 1, nextRequestAt: now + this.cfg.retryInterval };
      this.pending.set(ip, p);
    }
    p.frames.push(frame.slice());
    this.queued++;
    return first ? EnqueueResult.QueuedFirst : EnqueueResult.Queued;
  }

  /** Frames that were waiting for `ip`, now resolved (the queue for it is gone). */
  takePending(ip: number): Uint8Array[] {
    const p = this.pending.get(ip);
    if (p === undefined) return [];
    this.pending.delete(ip);
    this.queued -= p.frames.length;
    return p.frames;
  }

  /**
   * Timer work: for each unresolved address due for a retry, call `request(ip)`; once maxRequests
   * went unanswered, drop its frames. Returns the number of frames dropped.
   */
  poll(now: number, request: (ip: number) => void): number {
    let dropped = 0;
    for (const [ip, p] of this.pending) {
      if (now < p.nextRequestAt) continue;
      if (p.requests >= this.cfg.maxRequests) {
        dropped += p.frames.length;
        this.queued -= p.frames.length;
        this.pending.delete(ip);
        continue;
      }
      p.requests++;
      p.nextRequestAt = now + this.cfg.retryInterval;
      request(ip);
    }
    return dropped;
  }

  /** Next retry or give-up time, Infinity when nothing is waiting. */
  pollAt(): number {
    let t = Infinity;
    for (const p of this.pending.values()) if (p.nextRequestAt < t) t = p.nextRequestAt;
    return t;
  }
}
