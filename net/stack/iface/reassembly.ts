// IPv4 fragment reassembly (RFC 791 3.2, RFC 815): bounded in datagrams, bytes and ranges, with a
// timeout. A completed datagram comes back as one contiguous buffer with a plain (unfragmented) header.

import { Ipv4View } from '../../wire';
import { ReassemblyConfig } from '../config';
import { StackCounters } from '../counters';
import { Assembler } from '../storage/assembler';

const MAX_DATAGRAM = 0xffff;

interface Datagram {
  /** Payload bytes at their fragment offsets; grows as fragments arrive. */
  payload: Uint8Array;
  /** The first fragment's header (with options), once it arrived. */
  header: Uint8Array | null;
  /** Payload length, known once the last fragment (MF clear) arrived; -1 before. */
  total: number;
  ranges: Assembler;
  deadline: number;
}

export class Reassembler {
  private readonly datagrams = new Map<string, Datagram>();
  /** Bytes of payload buffers held by all datagrams. */
  private held = 0;

  constructor(
    private readonly cfg: Required<ReassemblyConfig>,
    private readonly counters: StackCounters,
  ) {}

  get inProgress(): number {
    return this.datagrams.size;
  }
  get bytesHeld(): number {
    return this.held;
  }

  /**
   * Take one checked fragment. Returns the whole datagram (header + payload) when this fragment
   * completed it, else null (kept or dropped; counters say which).
   */
  add(ip: Ipv4View, now: number): Uint8Array | null {
    this.counters.ipFragRx++;
    const off = ip.fragmentOffset;
    const len = ip.payloadLength;
    const more = ip.moreFragments;
    const hl = ip.headerLength;
    // RFC 791: every fragment but the last carries a multiple of 8 bytes; anything else, or a
    // datagram that would exceed 64 KiB, cannot be reassembled (the "ping of death").
    if ((more && (len & 7) !== 0) || (more && len === 0) || off + len + hl > MAX_DATAGRAM) {
      this.counters.ipFragDropped++;
      return null;
    }
    // The key holds the fields RFC 791 names; a string is fine on this slow path.
    const key = `${ip.src}/${ip.dst}/${ip.identification}/${ip.protocol}`;
    let d = this.datagrams.get(key);
    if (d === undefined) {
      if (this.datagrams.size >= this.cfg.maxDatagrams) {
        this.counters.ipFragDropped++;
        return null;
      }
      d = {
        payload: new Uint8Array(0),
        header: null,
        total: -1,
        ranges: new Assembler(this.cfg.maxRanges),
        deadline: now + this.cfg.timeout,
      };
      this.datagrams.set(key, d);
    }
    const end = off + len;
    // Fragments must agree on where the datagram ends.
    if ((d.total >= 0 && (end > d.total || (!more && end !== d.total))) || (!more && d.ranges.count > 0 && end < this.highest(d))) {
      this.drop(key, d);
      return null;
    }
    if (end > d.payload.length) {
      const size = more ? Math.min(MAX_DATAGRAM, Math.max(end, 2 * d.payload.length, 4096)) : end;
      if (this.held - d.payload.length + size > this.cfg.maxBytes) {
        this.drop(key, d);
        return null;
      }
      const grown = new Uint8Array(size);
      grown.set(d.payload.subarray(0, Math.min(d.payload.length, size)));
      this.held += size - d.payload.length;
      d.payload = grown;
    }
    if (!d.ranges.add(off, len)) {
      this.drop(key, d);
      return null;
    }
    // Overlapping data: the later copy wins (RFC 791 allows either; RFC 5722 is IPv6's rule).
    const src = ip.bytes;
    const srcU8 = src instanceof Uint8Array ? src : new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
    d.payload.set(srcU8.subarray(ip.payloadOffset, ip.payloadOffset + len), off);
    if (off === 0) d.header = srcU8.slice(ip.offset, ip.offset + hl);
    if (!more) d.total = end;
    if (d.header === null || d.total < 0 || d.ranges.count !== 1 || d.ranges.frontLength < d.total) return null;

    // Complete: one buffer, header from the first fragment with length and fragment fields fixed.
    const header = d.header;
    const out = new Uint8Array(header.length + d.total);
    out.set(header);
    out.set(d.payload.subarray(0, d.total), header.length);
    this.remove(key, d);
    const v = new Ipv4View().wrap(out);
    v.totalLength = out.length;
    v.setFragment(v.flags & 2, 0);
    v.fillChecksum();
    this.counters.ipReassembled++;
    return out;
  }

  /** Drop datagrams past their deadline. */
  poll(now: number): void {
    for (const [key, d] of this.datagrams) {
      if (now >= d.deadline) {
        this.counters.ipReassemblyTimeout++;
        this.remove(key, d);
      }
    }
  }

  pollAt(): number {
    let t = Infinity;
    for (const d of this.datagrams.values()) if (d.deadline < t) t = d.deadline;
    return t;
  }

  private highest(d: Datagram): number {
    return d.ranges.count > 0 ? d.ranges.end(d.ranges.count - 1) : 0;
  }

  private drop(key: string, d: Datagram): void {
    this.counters.ipFragDropped++;
    this.remove(key, d);
  }

  private remove(key: string, d: Datagram): void {
    this.held -= d.payload.length;
    this.datagrams.delete(key);
  }
}
