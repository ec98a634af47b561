// Zero-copy packet access: per-shard views over pool memory, RX batches read straight from descriptors,
// and a reusable Packet flyweight. Nothing here allocates per packet.
import { NativeLcore, RX_DESC_WORDS, RXD, MAX_BURST } from '../native';

/** Views over every pool chunk, made once per shard. Index: pool, then chunk. */
export class PacketMemory {
  readonly bytes: Uint8Array[][] = [];
  readonly views: DataView[][] = [];
  /** 32-bit host-order words over each chunk, for aligned bulk header writes (index = byte offset >> 2) */
  readonly words: Uint32Array[][] = [];
  readonly dataRoom: number[] = [];

  constructor(lcore: NativeLcore, pools: { id: number; dataRoom: number }[]) {
    for (const p of pools) {
      const bufs = lcore.chunks(p.id);
      this.bytes[p.id] = bufs.map((b) => new Uint8Array(b));
      this.views[p.id] = bufs.map((b) => new DataView(b));
      this.words[p.id] = bufs.map((b) => new Uint32Array(b, 0, b.byteLength >>> 2));
      this.dataRoom[p.id] = p.dataRoom;
    }
  }
}

/**
 * A packet: memory (`bytes`/`view` over the whole chunk), absolute `offset` and `length` of its data,
 * and the bounds of its buffer for head/tailroom. Used as a flyweight on hot paths (`RxBatch.at`) and
 * as a held handle when kept across an await.
 */
export class Packet {
  slot = -1;
  pool = 0;
  bytes!: Uint8Array;
  view!: DataView;
  /** absolute offset of the buffer start (headroom begins here) */
  bufStart = 0;
  bufLen = 0;
  /** absolute offset of the first data byte */
  offset = 0;
  length = 0;
  port = 0;
  queue = 0;
  rssHash = 0;
  olFlags = 0;
  ptype = 0;

  get headroom(): number { return this.offset - this.bufStart; }
  get tailroom(): number { return this.bufStart + this.bufLen - (this.offset + this.length); }
  /** data offset relative to the buffer start, as the native TX descriptor wants it */
  get dataOff(): number { return this.offset - this.bufStart; }

  /** Grows the front by n bytes (for a new header); false when the headroom is too small. */
  prepend(n: number): boolean {
    if (n < 0 || n > this.headroom) return false;
    this.offset -= n;
    this.length += n;
    return true;
  }
  /** Removes n bytes from the front. */
  trimFront(n: number): boolean {
    if (n < 0 || n > this.length) return false;
    this.offset += n;
    this.length -= n;
    return true;
  }
  /** Grows the back by n bytes; false when the tailroom is too small. */
  append(n: number): boolean {
    if (n < 0 || n > this.tailroom) return false;
    this.length += n;
    return true;
  }
  /** Removes n bytes from the back. */
  trimBack(n: number): boolean {
    if (n < 0 || n > this.length) return false;
    this.length -= n;
    return true;
  }
  /** A copy of the data (allocates: for tests and slow paths only). */
  toBuffer(): Buffer {
    return Buffer.from(this.bytes.subarray(this.offset, this.offset + this.length));
  }
  /** Copies fields into another Packet object (to keep a packet past the current burst). */
  copyTo(p: Packet): Packet {
    p.slot = this.slot; p.pool = this.pool; p.bytes = this.bytes; p.view = this.view;
    p.bufStart = this.bufStart; p.bufLen = this.bufLen; p.offset = this.offset; p.length = this.length;
    p.port = this.port; p.queue = this.queue; p.rssHash = this.rssHash; p.olFlags = this.olFlags; p.ptype = this.ptype;
    return p;
  }
}

/** Descriptors of one burst and the memory to read them. */
export class RxBatch {
  count = 0;
  /** set while the batch holds packets that came through a cross-shard ring (their slots may record an origin) */
  fromRing = false;
  /** `desc` is a descriptor region of the shard's fast area (`region` is its number), or a plain array. */
  constructor(readonly mem: PacketMemory, readonly desc: Uint32Array = new Uint32Array(MAX_BURST * RX_DESC_WORDS), readonly region = -1) {}

  slot(i: number): number { return this.desc[i * RX_DESC_WORDS + RXD.slot]; }
  /** The chunk's bytes holding packet i (index with `offset(i)`). */
  bytes(i: number): Uint8Array {
    const c = this.desc[i * RX_DESC_WORDS + RXD.chunk];
    return this.mem.bytes[c >>> 16][c & 0xffff];
  }
  view(i: number): DataView {
    const c = this.desc[i * RX_DESC_WORDS + RXD.chunk];
    return this.mem.views[c >>> 16][c & 0xffff];
  }
  offset(i: number): number {
    const b = i * RX_DESC_WORDS;
    return this.desc[b + RXD.bufOffset] + this.desc[b + RXD.dataOff];
  }
  dataOff(i: number): number { return this.desc[i * RX_DESC_WORDS + RXD.dataOff]; }
  length(i: number): number { return this.desc[i * RX_DESC_WORDS + RXD.dataLen]; }
  port(i: number): number { return this.desc[i * RX_DESC_WORDS + RXD.port]; }
  rssHash(i: number): number { return this.desc[i * RX_DESC_WORDS + RXD.rss]; }

  /** Points the flyweight `p` at packet i. */
  at(i: number, p: Packet): Packet {
    const d = this.desc, b = i * RX_DESC_WORDS, c = d[b + RXD.chunk], pool = c >>> 16, chunk = c & 0xffff;
    p.slot = d[b + RXD.slot];
    p.pool = pool;
    p.bytes = this.mem.bytes[pool][chunk];
    p.view = this.mem.views[pool][chunk];
    p.bufStart = d[b + RXD.bufOffset];
    p.bufLen = this.mem.dataRoom[pool];
    p.offset = p.bufStart + d[b + RXD.dataOff];
    p.length = d[b + RXD.dataLen];
    p.port = d[b + RXD.port];
    p.queue = d[b + RXD.queue];
    p.rssHash = d[b + RXD.rss];
    p.olFlags = d[b + RXD.olFlags];
    p.ptype = d[b + RXD.ptype];
    return p;
  }
}
