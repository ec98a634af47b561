// Classic pcap (libpcap) files: a writer (microsecond or nanosecond, LINKTYPE_ETHERNET by default) and a
// bounds-checked reader that also accepts nanosecond and byte-swapped files and rejects hostile input cleanly.
import * as fs from 'node:fs';

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
/** Largest record libpcap accepts regardless of the file's snaplen (MAXIMUM_SNAPLEN). */
export const PCAP_MAX_SNAPLEN = 262144;

/** The 24-byte global header, decoded. */
export interface PcapHeader {
  /** Timestamps' fractional part is in nanoseconds (magic 0xa1b23c4d) rather than microseconds. */
  nanosecond: boolean;
  /** The file was written big-endian (byte-swapped relative to little-endian readers). */
  bigEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  thiszone: number;
  sigfigs: number;
  snaplen: number;
  /** Link type (lower 16 bits of the network field; 1 = Ethernet). */
  linktype: number;
  /** FCS length in bytes announced in the upper bits of the network field (0 when absent). */
  fcsLen: number;
}

/** One packet record. */
export interface PcapRecord {
  /** Seconds since the epoch. */
  tsSec: number;
  /** Fraction of the second in nanoseconds (a microsecond file gives multiples of 1000). */
  tsNsec: number;
  /** Captured length: `data.length`. */
  caplen: number;
  /** Length of the packet on the wire (≥ caplen). */
  origLen: number;
  /** Captured bytes; a view into the buffer the file was read into. */
  data: Buffer;
}

/** A parsed file. */
export interface PcapFile {
  header: PcapHeader;
  records: PcapRecord[];
}

/** Malformed input: bad magic, unsupported version, truncated header or record, impossible lengths. */
export class PcapError extends Error {
  constructor(
    message: string,
    /** Byte offset in the file where the problem was found. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'PcapError';
  }
}

/** Timestamp accepted by the writer: seconds as a number (fractions allowed), or exact parts. */
export type PcapTimestamp = number | { sec: number; nsec?: number; usec?: number };

function splitTimestamp(ts: PcapTimestamp): { sec: number; nsec: number } {
  let sec: number;
  let nsec: number;
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts) || ts < 0) throw new RangeError(`bad pcap timestamp ${ts}`);
    sec = Math.floor(ts);
    nsec = Math.round((ts - sec) * 1e9);
    if (nsec >= 1e9) {
      sec += 1;
      nsec -= 1e9;
    }
  } else {
    sec = ts.sec;
    nsec = ts.nsec ?? (ts.usec ?? 0) * 1000;
  }
  if (!Number.isInteger(sec) || sec < 0 || sec > 0xffffffff) throw new RangeError(`bad pcap seconds ${sec}`);
  if (!Number.isInteger(nsec) || nsec < 0 || nsec >= 1e9) throw new RangeError(`bad pcap fraction ${nsec} ns`);
  return { sec, nsec };
}

/** Options for {@link PcapWriter}. */
export interface PcapWriterOptions {
  /** Default LINKTYPE_ETHERNET (1). */
  linktype?: number;
  /** Default 262144. Longer packets are truncated to it (origLen keeps the real length). */
  snaplen?: number;
  /** Write nanosecond timestamps (magic 0xa1b23c4d). Default false (microseconds). */
  nanosecond?: boolean;
  /** Write big-endian. Default false (little-endian, like most writers on x86). */
  bigEndian?: boolean;
}

/**
 * Writes a classic pcap file, either to a file (`PcapWriter.open(path)`, then `write`…, `close`) or into
 * memory (`new PcapWriter()`, then `write`…, `toBuffer`). File output is buffered and synchronous.
 */
export class PcapWriter {
  private readonly nanosecond: boolean;
  private readonly bigEndian: boolean;
  private readonly snaplen: number;
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private fd: number | undefined;
  private closed = false;
  private count = 0;
  private bytes = 0;

  constructor(opts: PcapWriterOptions = {}) {
    const linktype = opts.linktype ?? LINKTYPE_ETHERNET;
    this.snaplen = opts.snaplen ?? PCAP_MAX_SNAPLEN;
    this.nanosecond = opts.nanosecond ?? false;
    this.bigEndian = opts.bigEndian ?? false;
    if (!Number.isInteger(linktype) || linktype < 0 || linktype > 0xffff) throw new RangeError(`bad linktype ${linktype}`);
    if (!Number.isInteger(this.snaplen) || this.snaplen < 1 || this.snaplen > 0x7fffffff) {
      throw new RangeError(`bad snaplen ${this.snaplen}`);
    }
    const h = Buffer.alloc(PCAP_GLOBAL_HEADER_LEN);
    const u32 = (v: number, o: number): number => (this.bigEndian ? h.writeUInt32BE(v, o) : h.writeUInt32LE(v, o));
    const u16 = (v: number, o: number): number => (this.bigEndian ? h.writeUInt16BE(v, o) : h.writeUInt16LE(v, o));
    u32(this.nanosecond ? PCAP_MAGIC_NSEC : PCAP_MAGIC_USEC, 0);
    u16(2, 4);
    u16(4, 6);
    u32(0, 8); // thiszone
    u32(0, 12); // sigfigs
    u32(this.snaplen, 16);
    u32(linktype, 20);
    this.push(h);
  }

  /** Creates (truncates) `path` and writes the global header. */
  static open(path: string, opts: PcapWriterOptions = {}): PcapWriter {
    const w = new PcapWriter(opts);
    w.fd = fs.openSync(path, 'w');
    w.flush();
    return w;
  }

  /** Number of records written so far. */
  get records(): number {
    return this.count;
  }

  /** Bytes of output so far (headers included). */
  get size(): number {
    return this.bytes;
  }

  /**
   * Appends one record. `ts` defaults to 0; `origLen` defaults to `data.length` (it may be larger, for a
   * packet captured in part). Data longer than the snaplen is truncated to it.
   */
  write(data: Uint8Array, ts: PcapTimestamp = 0, origLen?: number): void {
    if (this.closed) throw new Error('PcapWriter: write after close');
    const { sec, nsec } = splitTimestamp(ts);
    const caplen = Math.min(data.length, this.snaplen);
    const orig = origLen ?? data.length;
    if (!Number.isInteger(orig) || orig < caplen || orig > 0xffffffff) throw new RangeError(`bad origLen ${orig}`);
    const h = Buffer.alloc(PCAP_RECORD_HEADER_LEN);
    const u32 = (v: number, o: number): number => (this.bigEndian ? h.writeUInt32BE(v, o) : h.writeUInt32LE(v, o));
    u32(sec, 0);
    u32(this.nanosecond ? nsec : Math.floor(nsec / 1000), 4);
    u32(caplen, 8);
    u32(orig, 12);
    this.push(h);
    this.push(Buffer.from(data.buffer, data.byteOffset, caplen));
    this.count++;
    if (this.fd !== undefined && this.pendingBytes >= 1 << 16) this.flush();
  }

  /** The whole file so far (in-memory writers only). */
  toBuffer(): Buffer {
    if (this.fd !== undefined) throw new Error('PcapWriter: toBuffer() is for in-memory writers');
    return Buffer.concat(this.chunks);
  }

  /** Flushes and closes the file (a no-op in memory). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private push(b: Buffer): void {
    // Copy: the caller may reuse its buffer after write() returns.
    this.chunks.push(Buffer.from(b));
    this.pendingBytes += b.length;
    this.bytes += b.length;
  }

  private flush(): void {
    if (this.fd === undefined || this.chunks.length === 0) return;
    const all = Buffer.concat(this.chunks);
    let off = 0;
    while (off < all.length) off += fs.writeSync(this.fd, all, off, all.length - off);
    this.chunks = [];
    this.pendingBytes = 0;
  }
}

/** Builds a complete pcap file in memory from (data, ts) pairs. */
export function buildPcap(
  packets: Iterable<{ data: Uint8Array; ts?: PcapTimestamp; origLen?: number }>,
  opts: PcapWriterOptions = {},
): Buffer {
  const w = new PcapWriter(opts);
  for (const p of packets) w.write(p.data, p.ts ?? 0, p.origLen);
  return w.toBuffer();
}

/** Writes a complete pcap file from (data, ts) pairs. */
export function writePcap(
  path: string,
  packets: Iterable<{ data: Uint8Array; ts?: PcapTimestamp; origLen?: number }>,
  opts: PcapWriterOptions = {},
): number {
  const w = PcapWriter.open(path, opts);
  try {
    for (const p of packets) w.write(p.data, p.ts ?? 0, p.origLen);
  } finally {
    w.close();
  }
  return w.records;
}

/** Decodes and validates the global header. */
export function parsePcapHeader(buf: Uint8Array): PcapHeader {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < PCAP_GLOBAL_HEADER_LEN) {
    throw new PcapError(`not a pcap file: ${b.length} bytes, shorter than the 24-byte global header`, 0);
  }
  const le = b.readUInt32LE(0);
  const be = b.readUInt32BE(0);
  let bigEndian: boolean;
  let nanosecond: boolean;
  if (le === PCAP_MAGIC_USEC || le === PCAP_MAGIC_NSEC) {
    bigEndian = false;
    nanosecond = le === PCAP_MAGIC_NSEC;
  } else if (be === PCAP_MAGIC_USEC || be === PCAP_MAGIC_NSEC) {
    bigEndian = true;
    nanosecond = be === PCAP_MAGIC_NSEC;
  } else if (be === 0x0a0d0d0a) {
    throw new PcapError('pcapng files are not supported (convert with: editcap -F pcap in out)', 0);
  } else {
    throw new PcapError(`not a pcap file: bad magic 0x${be.toString(16).padStart(8, '0')}`, 0);
  }
  const u16 = (o: number): number => (bigEndian ? b.readUInt16BE(o) : b.readUInt16LE(o));
  const u32 = (o: number): number => (bigEndian ? b.readUInt32BE(o) : b.readUInt32LE(o));
  const i32 = (o: number): number => (bigEndian ? b.readInt32BE(o) : b.readInt32LE(o));
  const versionMajor = u16(4);
  const versionMinor = u16(6);
  if (versionMajor !== 2) throw new PcapError(`unsupported pcap version ${versionMajor}.${versionMinor}`, 4);
  const snaplen = u32(16);
  const network = u32(20);
  // Bits 28..31: FCS length in 16-bit words, valid when bit 26 is set (pcap spec, LinkType field).
  const fcsLen = network & 0x04000000 ? ((network >>> 28) & 0xf) * 2 : 0;
  return {
    nanosecond,
    bigEndian,
    versionMajor,
    versionMinor,
    thiszone: i32(8),
    sigfigs: u32(12),
    snaplen,
    linktype: network & 0xffff,
    fcsLen,
  };
}

/**
 * Parses a whole pcap file held in memory. Every length is checked against the buffer before it is used:
 * a truncated or corrupt file raises a {@link PcapError} saying which record and offset, never a RangeError.
 * Record data are views into `buf`.
 */
export function parsePcap(buf: Uint8Array): PcapFile {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const header = parsePcapHeader(b);
  const u32 = (o: number): number => (header.bigEndian ? b.readUInt32BE(o) : b.readUInt32LE(o));
  const fracLimit = header.nanosecond ? 1e9 : 1e6;
  const maxCaplen = Math.max(header.snaplen, PCAP_MAX_SNAPLEN);
  const records: PcapRecord[] = [];
  let off = PCAP_GLOBAL_HEADER_LEN;
  while (off < b.length) {
    const n = records.length;
    if (b.length - off < PCAP_RECORD_HEADER_LEN) {
      throw new PcapError(
        `truncated pcap: record #${n} header at offset ${off} needs ${PCAP_RECORD_HEADER_LEN} bytes, ${b.length - off} left`,
        off,
      );
    }
    const tsSec = u32(off);
    const frac = u32(off + 4);
    const caplen = u32(off + 8);
    const origLen = u32(off + 12);
    if (frac >= fracLimit) {
      throw new PcapError(
        `corrupt pcap: record #${n} at offset ${off} has a sub-second part ${frac} ≥ ${fracLimit}`,
        off + 4,
      );
    }
    if (caplen > maxCaplen) {
      throw new PcapError(
        `corrupt pcap: record #${n} at offset ${off} has caplen ${caplen} > ${maxCaplen} (snaplen ${header.snaplen})`,
        off + 8,
      );
    }
    if (origLen < caplen) {
      throw new PcapError(`corrupt pcap: record #${n} at offset ${off} has origLen ${origLen} < caplen ${caplen}`, off + 12);
    }
    const start = off + PCAP_RECORD_HEADER_LEN;
    if (caplen > b.length - start) {
      throw new PcapError(
        `truncated pcap: record #${n} at offset ${off} has caplen ${caplen} but only ${b.length - start} bytes follow`,
        start,
      );
    }
    records.push({
      tsSec,
      tsNsec: header.nanosecond ? frac : frac * 1000,
      caplen,
      origLen,
      data: b.subarray(start, start + caplen),
    });
    off = start + caplen;
  }
  return { header, records };
}

/** Reads and parses a pcap file (header and records); see {@link parsePcap}. */
export function readPcapFile(path: string): PcapFile {
  return parsePcap(fs.readFileSync(path));
}

/** Reads the records of a pcap file; see {@link parsePcap}. */
export function readPcap(path: string): PcapRecord[] {
  return readPcapFile(path).records;
}

/** A record's timestamp as floating-point seconds (loses precision below ~100 ns for current dates). */
export function recordTime(r: PcapRecord): number {
  return r.tsSec + r.tsNsec / 1e9;
}
