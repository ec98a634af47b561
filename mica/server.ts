// The MICA server's per-shard half: the partitions this shard owns (EREW: partition p belongs to shard
// p % shards), and the datagram path — check a request batch, run every request on its partition, answer
// with response batches (as many frames as the values need), reusing the request's buffer for the last one.
import type { ShardContext } from '../reactor/context';
import { Verdict } from '../net/app';
import type { Packet } from '../net/packet';
import type { SteerRule } from '../net/steer';
import { Partition, type PartitionCounters } from './store';
import {
  BATCH_HEADER_LEN, BatchView, BatchWriter, FrameError, MAGIC_REQUEST, MAGIC_RESPONSE, MAX_FRAME, OP_COUNT, Op,
  REQUEST_HEADER_LEN, Result, type FrameAddresses,
} from './wire';

export interface ServerOptions {
  /** the port (index in config.ports) the server answers on */
  portIndex: number;
  /** UDP port of partition 0; partition p listens on udpPort + p */
  udpPort: number;
  partitions: number;
  mode: 'store' | 'cache';
  /** log bytes per partition */
  logBytes: number;
  /** index buckets per partition (power of two) */
  buckets: number;
  /** refuse frames with a nonzero IP id or fragment field, as mica2 servers do (default: accept DF and any id) */
  strict: boolean;
}

/** The largest value a response frame can carry (no key in responses). */
export const MAX_VALUE = Math.floor((MAX_FRAME - BATCH_HEADER_LEN - REQUEST_HEADER_LEN) / 8) * 8;

/** Partition -> owner shard (EREW). */
export function ownerOf(partition: number, shards: number): number {
  return partition % shards;
}

/** The steering rules a server needs: each partition's UDP port to its owner shard. */
export function serverSteering(o: Pick<ServerOptions, 'portIndex' | 'udpPort' | 'partitions'>, shards: number): SteerRule[] {
  return Array.from({ length: o.partitions }, (_, p) => ({ port: o.portIndex, udpDst: o.udpPort + p, shard: ownerOf(p, shards) }));
}

const FRAME_ERRORS = Object.keys(FrameError).filter((k) => isNaN(Number(k)) && k !== 'Ok');

export class ServerShard {
  /** partitions by number; null where another shard owns it */
  readonly parts: (Partition | null)[];
  private readonly view = new BatchView();
  private readonly w = new BatchWriter();
  private readonly scratch = new Uint8Array(MAX_FRAME);
  private readonly sdv = new DataView(this.scratch.buffer);
  private readonly addr: FrameAddresses = { srcMac: 0, dstMac: 0, srcIp: 0, dstIp: 0, srcPort: 0, dstPort: 0 };
  private readonly frameErrors = new Float64Array(FrameError.BadCount + 1);
  private readonly ops = new Float64Array(OP_COUNT + 1);
  private n = {
    batches: 0, requests: 0, responses: 0, responseFrames: 0, handedOff: 0, notRequest: 0, badPort: 0, wrongPartition: 0,
    unknownOp: 0, allocFailed: 0, otherPort: 0,
  };

  constructor(private readonly ctx: ShardContext, private readonly o: ServerOptions) {
    this.parts = Array.from({ length: o.partitions }, (_, p) =>
      ownerOf(p, ctx.count) === ctx.id ? new Partition({ logBytes: o.logBytes, buckets: o.buckets, mode: o.mode, maxValueLength: MAX_VALUE }) : null);
  }

  /** A received packet: answered (returns the port to send the last response frame on) or dropped, counted. */
  onPacket(pkt: Packet, portIndex: number): Verdict {
    if (portIndex !== this.o.portIndex) { this.n.otherPort++; return Verdict.DROP; }
    const v = this.view.wrap(pkt.view, pkt.offset, pkt.length);
    let e = v.check(this.o.strict);
    if (e !== FrameError.Ok) { this.frameErrors[e]++; return Verdict.DROP; }
    if (v.magic !== MAGIC_REQUEST) { this.n.notRequest++; return Verdict.DROP; }
    const p = v.dstPort - this.o.udpPort;
    if (p < 0 || p >= this.o.partitions) { this.n.badPort++; return Verdict.DROP; }
    const part = this.parts[p];
    if (part === null) {
      // Software steering inside the app: a request that reached a shard not owning its partition.
      this.ctx.forward(pkt, ownerOf(p, this.ctx.count));
      this.n.handedOff++;
      return Verdict.STOLEN;
    }
    e = v.checkRequests();
    if (e !== FrameError.Ok) { this.frameErrors[e]++; return Verdict.DROP; }
    this.n.batches++;
    const a = this.addr, dv = pkt.view;
    a.dstMac = dv.getUint16(pkt.offset + 6) * 0x100000000 + dv.getUint32(pkt.offset + 8);
    a.srcMac = dv.getUint16(pkt.offset) * 0x100000000 + dv.getUint32(pkt.offset + 2);
    a.srcIp = v.dstIp; a.dstIp = v.srcIp; a.srcPort = v.dstPort; a.dstPort = v.srcPort;
    const w = this.w, u8 = pkt.bytes;
    w.begin(this.sdv, this.scratch, 0, MAX_FRAME, MAGIC_RESPONSE);
    while (v.next()) {
      this.n.requests++;
      const op = v.op, kOff = v.keyAt, kLen = v.keyLength;
      this.ops[op < OP_COUNT ? op : OP_COUNT]++;
      let result: number = Result.Success, out = 0; // out: 0 none, 1 the found value, 2 the increment result
      if ((v.hashHi >>> 16) % this.o.partitions !== p && op !== Op.NoopRead && op !== Op.NoopWrite && op !== Op.Reset) {
        // the key does not belong here (a client with another partition count): refuse rather than split a key
        result = Result.Rejected;
        this.n.wrongPartition++;
      } else {
        switch (op) {
          case Op.Get: result = part.get(v.hashLo, v.hashHi, u8, kOff, kLen); if (result === Result.Success) out = 1; break;
          case Op.Set: result = part.set(v.hashLo, v.hashHi, u8, kOff, kLen, u8, v.valueAt, v.valueLength); break;
          case Op.Add: result = part.set(v.hashLo, v.hashHi, u8, kOff, kLen, u8, v.valueAt, v.valueLength, true); break;
          case Op.Test: result = part.test(v.hashLo, v.hashHi, u8, kOff, kLen); break;
          case Op.Delete: result = part.delete(v.hashLo, v.hashHi, u8, kOff, kLen); break;
          case Op.Increment:
            if (v.valueLength !== 8) result = Result.Error;
            else {
              result = part.increment(v.hashLo, v.hashHi, u8, kOff, kLen, dv.getUint32(v.valueAt, true), dv.getUint32(v.valueAt + 4, true));
              if (result === Result.Success) out = 2;
            }
            break;
          case Op.Reset: part.reset(); break;
          case Op.NoopRead: case Op.NoopWrite: break;
          default: result = Result.NotSupported; this.n.unknownOp++;
        }
      }
      const vLen = out === 1 ? part.valueLength : out === 2 ? 8 : 0;
      let at = w.reserve(op, result, v.hashLo, v.hashHi, v.opaque, 0, vLen);
      if (at < 0) {
        // this frame is full: send it from a new buffer, continue in a fresh one
        this.sendScratch(portIndex);
        w.begin(this.sdv, this.scratch, 0, MAX_FRAME, MAGIC_RESPONSE);
        at = w.reserve(op, result, v.hashLo, v.hashHi, v.opaque, 0, vLen);
      }
      if (out === 1) this.scratch.set(part.logBytes.subarray(part.valueAt, part.valueAt + vLen), at);
      else if (out === 2) { this.sdv.setUint32(at, part.incLo, true); this.sdv.setUint32(at + 4, part.incHi, true); }
      this.n.responses++;
    }
    // The last (usually only) response frame goes back in the request's own buffer.
    const len = w.finish(a);
    if (len > pkt.length + pkt.tailroom) { this.sendScratch(portIndex, len); return Verdict.DROP; }
    if (len > pkt.length) pkt.append(len - pkt.length); else pkt.trimBack(pkt.length - len);
    u8.set(this.scratch.subarray(0, len), pkt.offset);
    this.n.responseFrames++;
    return Verdict.port(portIndex);
  }

  private sendScratch(portIndex: number, len = this.w.finish(this.addr)): void {
    const h = this.ctx.allocPacket(len);
    if (h === null) { this.n.allocFailed++; return; }
    h.bytes.set(this.scratch.subarray(0, len), h.offset);
    this.ctx.send(h, portIndex);
    this.n.responseFrames++;
  }

  counters(): Record<string, number> {
    const c: Record<string, number> = { ...this.n };
    FRAME_ERRORS.forEach((k) => { c[`frame${k}`] = this.frameErrors[FrameError[k as keyof typeof FrameError]]; });
    for (let i = 0; i < OP_COUNT; i++) c[`op${Op[i]}`] = this.ops[i];
    c.opUnknown = this.ops[OP_COUNT];
    const sum: Partial<PartitionCounters> = {};
    for (const part of this.parts) {
      if (part === null) continue;
      for (const [k, x] of Object.entries(part.c)) sum[k as keyof PartitionCounters] = (sum[k as keyof PartitionCounters] ?? 0) + x;
    }
    for (const [k, x] of Object.entries(sum)) c[`store_${k}`] = x;
    return c;
  }
}
