// The one ARP neighbour table of the project, used by the TCP/IP stack (net/stack/iface/interface.ts) and by the
// L3 hop of the NF apps (net/l3/hop.ts): IPv4 -> MAC entries (learned with expiry and re-confirmation, or static),
// and per unresolved address the retry state and a bounded queue of what waits for it (the stack queues frame
// copies, the L3 hop the callbacks of held packets). Sending requests is the user's: the table says when.

/** The table's timing and bounds (the stack's ArpConfig names them the same). */
export interface NeighborOptions {
  /** an entry is used for this long after it was last confirmed (ms); Infinity: until replaced */
  entryTimeout: number;
  /** after this long without confirmation an entry in use is re-confirmed (ms) */
  reachableTime: number;
  /** interval between requests for an unresolved address (ms) */
  retryInterval: number;
  /** requests before what waits for an address is given up */
  maxRequests: number;
  /** items waiting for one address at most */
  queuePerNeighbor: number;
  /** items waiting for any address at most */
  queueTotal: number;
  /** entries at most (the oldest goes first); Infinity: unbounded */
  cacheSize: number;
  /**
   * After a resolution failed, further requests for the address fail at once for this long (ms): what queues
   * behind the failed packets (a flow's later packets) is dropped in the same pass instead of each waiting out
   * a full cycle of retries of its own. 0: every enqueue starts a new cycle.
   */
  failHoldMs?: number;
}

/**
 * A neighbour. Entries are updated in place (learned again, re-confirmed), so a user may keep a reference (a
 * connection's next hop) and skip the lookup per packet; the MAC is held as 16/32-bit halves for header writes.
 */
export class Neighbor {
  /** when the neighbour last proved it holds the address (ms) */
  confirmedAt: number;
  /** when a re-confirming request last went out (ms), -Infinity if never */
  refreshAt = -Infinity;
  constructor(public ip: number, public hi: number, public lo: number, public port: number, now: number, public isStatic: boolean) {
    this.confirmedAt = now;
  }
  get mac(): number {
    return this.hi * TWO32 + this.lo;
  }
  setMac(mac: number): void {
    this.hi = Math.floor(mac / TWO32);
    this.lo = mac % TWO32;
  }
}

const TWO32 = 0x100000000;

interface Pending<W> {
  items: W[];
  /** the port the requests go out of */
  port: number;
  /** requests sent so far */
  requests: number;
  nextRequestAt: number;
}

/** Result of enqueue(): whether the caller must send the first request now. */
export enum EnqueueResult {
  Queued,
  QueuedFirst,
  Dropped,
  /** the address failed to resolve a moment ago (failHoldMs): given up at once */
  Failed,
}

/** What update() did. */
export enum Learned {
  /** a new entry */
  New,
  /** an entry whose MAC or port changed */
  Changed,
  /** an entry confirmed as it was */
  Same,
  /** a static entry: left as configured */
  Static,
}

export class NeighborTable<W = never> {
  private readonly entries = new Map<number, Neighbor>();
  private readonly pending = new Map<number, Pending<W>>();
  /** addresses whose resolution failed, until when their requests fail at once */
  private readonly failedUntil = new Map<number, number>();
  private queued = 0;
  private readonly failHoldMs: number;

  constructor(private readonly cfg: NeighborOptions) {
    this.failHoldMs = cfg.failHoldMs ?? 0;
  }

  get size(): number {
    return this.entries.size;
  }
  /** Items waiting for resolution, all addresses together. */
  get queuedItems(): number {
    return this.queued;
  }
  /** Addresses being resolved (with or without items waiting). */
  get resolving(): number {
    return this.pending.size;
  }

  /** The entry for `ip` (a reference that stays current), or null. Expiry is not checked: see lookup. */
  get(ip: number): Neighbor | null {
    return this.entries.get(ip >>> 0) ?? null;
  }

  /** The MAC for `ip`, or -1 when unknown or expired (an expired entry is forgotten). */
  lookup(ip: number, now: number): number {
    const e = this.entries.get(ip >>> 0);
    if (e === undefined) return -1;
    if (!e.isStatic && now - e.confirmedAt >= this.cfg.entryTimeout) {
      this.entries.delete(ip >>> 0);
      return -1;
    }
    return e.mac;
  }

  /**
   * True when the entry for `ip` is in use but unconfirmed for reachableTime and no refresh went out in the last
   * retryInterval: the caller re-confirms it (a unicast request, RFC 1122 2.3.2.1 style), so a moved address is
   * noticed before the entry expires. Static entries never want one.
   */
  wantsRefresh(ip: number, now: number): boolean {
    const e = this.entries.get(ip >>> 0);
    if (e === undefined || e.isStatic || now - e.confirmedAt < this.cfg.reachableTime) return false;
    if (now - e.refreshAt < this.cfg.retryInterval) return false;
    e.refreshAt = now;
    return true;
  }

  has(ip: number): boolean {
    return this.entries.has(ip >>> 0);
  }

  /** Adds or confirms an entry learned at `now` on `port`; static entries stay as configured. */
  update(ip: number, mac: number, now: number, port = 0): Learned {
    ip >>>= 0;
    this.failedUntil.delete(ip);
    const e = this.entries.get(ip);
    if (e !== undefined) {
      if (e.isStatic) return Learned.Static;
      const changed = e.mac !== mac || e.port !== port;
      if (changed) e.setMac(mac);
      e.port = port;
      e.confirmedAt = now;
      return changed ? Learned.Changed : Learned.Same;
    }
    if (this.entries.size >= this.cfg.cacheSize) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(ip, new Neighbor(ip, Math.floor(mac / TWO32), mac % TWO32, port, now, false));
    return Learned.New;
  }

  /** A configured entry: never expires, never refreshed, never replaced by what the wire says. */
  addStatic(ip: number, mac: number, port: number): void {
    ip >>>= 0;
    this.entries.set(ip, new Neighbor(ip, Math.floor(mac / TWO32), mac % TWO32, port, 0, true));
  }

  delete(ip: number): void {
    this.entries.delete(ip >>> 0);
  }

  /** Entries, for sharing, dumps and tests. */
  values(): IterableIterator<Neighbor> {
    return this.entries.values();
  }

  /** Entries as (ip, mac) pairs. */
  *list(): IterableIterator<[number, number]> {
    for (const [ip, e] of this.entries) yield [ip, e.mac];
  }

  /** Is `ip` being resolved? */
  isResolving(ip: number): boolean {
    return this.pending.has(ip >>> 0);
  }

  /**
   * Waits `item` (or nothing: a background refresh) on the resolution of `ip` out of `port`; bounded per address
   * and in total. QueuedFirst: the caller sends the first request now.
   */
  enqueue(ip: number, item: W | null, now: number, port = 0): EnqueueResult {
    ip >>>= 0;
    if (this.failHoldMs > 0 && this.failedUntil.size > 0) {
      const until = this.failedUntil.get(ip);
      if (until !== undefined) {
        if (now < until) return EnqueueResult.Failed;
        this.failedUntil.delete(ip);
      }
    }
    let p = this.pending.get(ip);
    if (item !== null) {
      if (this.queued >= this.cfg.queueTotal) return EnqueueResult.Dropped;
      if (p !== undefined && p.items.length >= this.cfg.queuePerNeighbor) return EnqueueResult.Dropped;
    }
    const first = p === undefined;
    if (p === undefined) {
      p = { items: [], port, requests: 1, nextRequestAt: now + this.cfg.retryInterval };
      this.pending.set(ip, p);
    }
    if (item !== null) {
      p.items.push(item);
      this.queued++;
    }
    return first ? EnqueueResult.QueuedFirst : EnqueueResult.Queued;
  }

  /** What waited for `ip`, now resolved (its resolution ends). */
  takePending(ip: number): W[] {
    const p = this.pending.get(ip >>> 0);
    if (p === undefined) return [];
    this.pending.delete(ip >>> 0);
    this.queued -= p.items.length;
    return p.items;
  }

  /**
   * Timer work: for each unresolved address due for a retry, `request(ip, port)`; once maxRequests went
   * unanswered, the resolution fails: everything waiting on the address is handed to `failed` at once (and the
   * address fails fast for failHoldMs). Returns the number of items given up.
   */
  poll(now: number, request: (ip: number, port: number) => void, failed?: (ip: number, items: W[]) => void): number {
    let dropped = 0;
    for (const [ip, p] of this.pending) {
      if (now < p.nextRequestAt) continue;
      if (p.requests >= this.cfg.maxRequests) {
        dropped += p.items.length;
        this.queued -= p.items.length;
        this.pending.delete(ip);
        if (this.failHoldMs > 0) this.failedUntil.set(ip, now + this.failHoldMs);
        if (failed !== undefined) failed(ip, p.items);
        continue;
      }
      p.requests++;
      p.nextRequestAt = now + this.cfg.retryInterval;
      request(ip, p.port);
    }
    if (this.failedUntil.size > 0) for (const [ip, until] of this.failedUntil) if (now >= until) this.failedUntil.delete(ip);
    return dropped;
  }

  /** Next retry or give-up time, Infinity when nothing is being resolved. */
  pollAt(): number {
    let t = Infinity;
    for (const p of this.pending.values()) if (p.nextRequestAt < t) t = p.nextRequestAt;
    return t;
  }
}

/** The stack's name for the table of frame copies waiting for an address. */
export type NeighborCache = NeighborTable<Uint8Array>;
