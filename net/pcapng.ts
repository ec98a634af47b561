// pcapng files (draft-ietf-opsawg-pcapng): a section header, one interface description per captured
// interface (name, description, nanosecond timestamps, snap length), enhanced packet blocks with a direction
// flag, and interface statistics (received, dropped by the interface, dropped by the capture) at the end.
import * as fs from 'node:fs';
/** pcap/pcapng link type of Ethernet frames. */
const LINKTYPE_ETHERNET = 1;

export const BT_SHB = 0x0a0d0d0a, BT_IDB = 0x00000001, BT_EPB = 0x00000006, BT_ISB = 0x00000005;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2, IF_DESCRIPTION = 3, IF_TSRESOL = 9;
const EPB_FLAGS = 2;
const ISB_STARTTIME = 2, ISB_ENDTIME = 3, ISB_IFRECV = 4, ISB_IFDROP = 5, ISB_OSDROP = 7;

/** epb_flags direction bits (inbound 01, outbound 10). */
export const DIR_IN = 1, DIR_OUT = 2;

export interface PcapngInterface { name: string; description?: string; snaplen?: number }
export interface InterfaceStats {
  /** packets the interface received */
  received?: number;
  /** packets the interface dropped (device: imissed + rx_nombuf) */
  ifDrop?: number;
  /** packets the capture dropped (its queue to the writer was full) */
  osDrop?: number;
  startNs?: bigint;
  endNs?: bigint;
}

const pad4 = (n: number): number => (n + 3) & ~3;

/** Encodes options (code, value) as a TLV list with the end-of-options marker. */
function options(list: [number, Buffer][]): Buffer {
  if (list.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const [code, v] of list) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(code, 0);
    h.writeUInt16LE(v.length, 2);
    parts.push(h, v, Buffer.alloc(pad4(v.length) - v.length));
  }
  parts.push(Buffer.alloc(4)); // opt_endofopt
  return Buffer.concat(parts);
}

function block(type: number, body: Buffer): Buffer {
  const total = 12 + body.length;
  const b = Buffer.alloc(total);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(total, 4);
  body.copy(b, 8);
  b.writeUInt32LE(total, total - 4);
  return b;
}

function u64(v: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  // pcapng timestamps and counters: high 32 bits first, then low (in file byte order)
  const x = BigInt(v);
  b.writeUInt32LE(Number((x >> 32n) & 0xffffffffn), 0);
  b.writeUInt32LE(Number(x & 0xffffffffn), 4);
  return b;
}

function counter64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(v))), 0);
  return b;
}

/**
 * Writes one pcapng section to a file: buffered, synchronous. Timestamps are nanoseconds since the epoch.
 */
export class PcapngWriter {
  private readonly fd: number;
  private buf = Buffer.alloc(1 << 20);
  /** the same memory as words (every block is a multiple of 4 bytes, so `used` stays aligned) */
  private words = new Uint32Array(this.buf.buffer, this.buf.byteOffset, this.buf.length >>> 2);
  private used = 0;
  /** bytes written so far (file size once flushed) */
  size = 0;
  packets = 0;
  private closed = false;

  constructor(readonly file: string, readonly interfaces: PcapngInterface[], o: { application?: string; comment?: string } = {}) {
    // packet blocks are written as host-order words while the section header says little-endian
    if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('PcapngWriter: big-endian hosts are not supported');
    this.fd = fs.openSync(file, 'w', 0o600);
    const shb = Buffer.alloc(16);
    shb.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
    shb.writeUInt16LE(1, 4);
    shb.writeUInt16LE(0, 6);
    shb.writeInt32LE(-1, 8); // section length unknown
    shb.writeInt32LE(-1, 12);
    const shbOpts: [number, Buffer][] = [];
    if (o.comment) shbOpts.push([OPT_COMMENT, Buffer.from(o.comment)]);
    shbOpts.push([SHB_USERAPPL, Buffer.from(o.application ?? 'NetStar.ts')]);
    this.put(block(BT_SHB, Buffer.concat([shb, options(shbOpts)])));
    for (const itf of interfaces) {
      const h = Buffer.alloc(8);
      h.writeUInt16LE(LINKTYPE_ETHERNET, 0);
      h.writeUInt32LE(itf.snaplen ?? 0, 4);
      const opts: [number, Buffer][] = [[IF_NAME, Buffer.from(itf.name)], [IF_TSRESOL, Buffer.from([9])]];
      if (itf.description) opts.push([IF_DESCRIPTION, Buffer.from(itf.description)]);
      this.put(block(BT_IDB, Buffer.concat([h, options(opts)])));
    }
  }

  private put(b: Buffer): void {
    if (this.used + b.length > this.buf.length) this.flush();
    if (b.length > this.buf.length) {
      fs.writeSync(this.fd, b);
    } else {
      b.copy(this.buf, this.used);
      this.used += b.length;
    }
    this.size += b.length;
  }

  /** One packet: `data[off, off+caplen)` of a packet `origLen` long on interface `ifIndex`. */
  packet(ifIndex: number, sec: number, nsec: number, data: Uint8Array, off: number, caplen: number, origLen: number, direction = 0): void {
    // 64-bit nanoseconds as (high, low) words, exactly, without BigInt: with sec = sh * 2^16 + sl,
    // ns = sh * 1e9 * 2^16 + (sl * 1e9 + nsec), every partial below 2^53.
    const sh = Math.floor(sec / 65536), sl = sec - sh * 65536;
    const b1 = sh * 1e9, a = sl * 1e9 + nsec;
    const b1hi = Math.floor(b1 / 65536);
    let lo = (b1 - b1hi * 65536) * 65536 + a;
    const carry = Math.floor(lo / 4294967296);
    lo -= carry * 4294967296;
    const hi = b1hi + carry;
    const opts = direction ? 12 : 0;
    const total = 12 + 20 + pad4(caplen) + opts;
    if (total > this.buf.length) {
      this.flush();
      this.buf = Buffer.alloc(total * 2);
      this.words = new Uint32Array(this.buf.buffer, this.buf.byteOffset, this.buf.length >>> 2);
    }
    if (this.used + total > this.buf.length) this.flush();
    const w = this.words, s = this.used, k = s >>> 2;
    w[k] = BT_EPB;
    w[k + 1] = total;
    w[k + 2] = ifIndex;
    w[k + 3] = hi;
    w[k + 4] = lo;
    w[k + 5] = caplen;
    w[k + 6] = origLen;
    const b = this.buf;
    b.set(data.subarray(off, off + caplen), s + 28);
    const padEnd = s + 28 + pad4(caplen);
    b.fill(0, s + 28 + caplen, padEnd);
    let e = padEnd >>> 2;
    if (direction) {
      w[e++] = EPB_FLAGS | (4 << 16);
      w[e++] = direction;
      w[e++] = 0; // opt_endofopt
    }
    w[e] = total;
    this.used += total;
    this.size += total;
    this.packets++;
  }

  /** Interface statistics block (written at the end of a file). */
  stats(ifIndex: number, s: InterfaceStats, tsNs: bigint): void {
    const h = Buffer.alloc(12);
    h.writeUInt32LE(ifIndex, 0);
    h.writeUInt32LE(Number((tsNs >> 32n) & 0xffffffffn), 4);
    h.writeUInt32LE(Number(tsNs & 0xffffffffn), 8);
    const opts: [number, Buffer][] = [];
    if (s.startNs !== undefined) opts.push([ISB_STARTTIME, u64(s.startNs)]);
    if (s.endNs !== undefined) opts.push([ISB_ENDTIME, u64(s.endNs)]);
    if (s.received !== undefined) opts.push([ISB_IFRECV, counter64(s.received)]);
    if (s.ifDrop !== undefined) opts.push([ISB_IFDROP, counter64(s.ifDrop)]);
    if (s.osDrop !== undefined) opts.push([ISB_OSDROP, counter64(s.osDrop)]);
    this.put(block(BT_ISB, Buffer.concat([h, options(opts)])));
  }

  flush(): void {
    if (this.used > 0) fs.writeSync(this.fd, this.buf, 0, this.used);
    this.used = 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    fs.closeSync(this.fd);
  }
}
