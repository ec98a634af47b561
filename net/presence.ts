// Known-flow presence maps: each shard publishes, in shared memory, which steering hashes belong to flows it
// has accepted recently; a shard steering a packet to another reads the destination's map. When the
// cross-shard ring toward a shard is busy, packets of flows that shard does not know (a new-flow flood) are
// shed first, so they cannot take the ring's room from flows that already exist (issue 9 item 9).
//
// A map is 2^16 buckets of 32-bit stamps (the hash's low bits pick the bucket): a stamp is the wall-clock
// second (+1) of the last accepted packet. A flow is "known" while its bucket was stamped within the TTL.
// A flow the steering shard let through while the ring had room is also known, for PENDING_TICKS, in the
// steering shard's own map of what it sent each destination: its next packets are not shed while the owner has
// not yet processed the first one (a flow created just before a flood, whose owner is a few ms behind).
// Buckets are shared by hashes alike in their low 16 bits: a new flow that shares one with a live flow is
// taken for known (admitted like it); nothing is ever refused for a collision. Word 0 of the header says
// whether the owner marks at all (declared when its app is built, before traffic: MetaFlow does): a shard
// whose app never marks is not protected (its packets are all admitted, as before), rather than having every
// packet shed as new.

export const PRESENCE_BITS = 16;
const MASK = (1 << PRESENCE_BITS) - 1;
const HEADER_WORDS = 4;
/** How long (s) a flow this shard let through counts as known to it, before its owner's mark takes over. */
const PENDING_TICKS = 2;
/** Bytes of one shard's map. */
export const PRESENCE_BYTES = (HEADER_WORDS + (1 << PRESENCE_BITS)) * 4;

/** The wall-clock second, consistent across worker threads (each has its own performance.timeOrigin). */
export function presenceTick(performanceNowMs: number): number {
  return Math.floor((performance.timeOrigin + performanceNowMs) / 1000) >>> 0;
}

/** One shard's view of every shard's presence map: it writes its own and reads the others'. */
export class FlowPresence {
  private readonly maps: Uint32Array[];
  /** per destination shard: the full hash and tick of the flow this shard last let through, per bucket (not shared) */
  private readonly sent: Uint32Array[];
  private readonly sentAt: Uint32Array[];
  private readonly own: Uint32Array;
  private readonly ttl: number;
  /** the current tick, updated by the shard's loop (setTick) */
  private tick = 1;

  constructor(
    buffers: SharedArrayBuffer[],
    readonly self: number,
    /** how long a flow stays known after its last accepted packet (ms; rounded up to whole seconds) */
    ttlMs: number,
  ) {
    if (buffers.length <= self) throw new RangeError(`presence: no map for shard ${self}`);
    this.maps = buffers.map((b) => {
      if (b.byteLength !== PRESENCE_BYTES) throw new RangeError(`presence: a map is ${PRESENCE_BYTES} bytes, got ${b.byteLength}`);
      return new Uint32Array(b);
    });
    this.own = this.maps[self];
    this.sent = buffers.map(() => new Uint32Array(1 << PRESENCE_BITS));
    this.sentAt = buffers.map(() => new Uint32Array(1 << PRESENCE_BITS));
    this.ttl = Math.max(1, Math.ceil(ttlMs / 1000));
  }

  /** Sets the current tick (the shard calls it when its clock moves). */
  setTick(tick: number): void {
    this.tick = tick;
  }

  /** This shard's app marks the flows it accepts: from now on the others may shed packets of unmarked flows. */
  declare(): void {
    this.own[0] = 1;
  }

  /** This shard accepted a packet of the flow with steering hash `hash`: the other shards see it as known. */
  mark(hash: number): void {
    const m = this.own, i = HEADER_WORDS + (hash & MASK), t = this.tick + 1;
    if (m[i] !== t) {
      m[i] = t;
      if (m[0] === 0) m[0] = 1;
    }
  }

  /** True if shard `shard` marks flows at all (otherwise its packets are never shed as new). */
  active(shard: number): boolean {
    return this.maps[shard][0] !== 0;
  }

  /**
   * True if shard `shard` accepted a packet with this steering hash's bucket within the TTL, or this shard let
   * one through to it within PENDING_TICKS.
   */
  known(shard: number, hash: number): boolean {
    const i = hash & MASK, t = this.tick + 1;
    const s = this.maps[shard][HEADER_WORDS + i];
    if (s !== 0 && t - s <= this.ttl) return true;
    // The whole hash must match here: a flood of new flows let through must not make others known by sharing buckets.
    const p = this.sentAt[shard][i];
    return p !== 0 && t - p <= PENDING_TICKS && this.sent[shard][i] === hash >>> 0;
  }

  /** This shard let a packet of the flow through to `shard` (the ring had room). */
  sentTo(shard: number, hash: number): void {
    const i = hash & MASK, t = this.tick + 1;
    this.sent[shard][i] = hash;
    this.sentAt[shard][i] = t;
  }
}
