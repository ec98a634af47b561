// Generates the benchmark pcap: N UDP/IPv4 flows (198.18.x.x → 198.19.x.x, distinct source ports), one
// fixed-size Ethernet frame (no FCS) per flow, correct IP and UDP checksums. CLI: pcapgen.js out.pcap --flows N --size B
import { parseArgs } from 'node:util';
import { PcapWriter } from './pcap';

/** Options for {@link generateUdpFlowsPcap}. */
export interface UdpFlowsOptions {
  /** Number of flows = number of records. Default 1024. */
  flows?: number;
  /** Bytes per frame in the file, Ethernet header to end of payload, no FCS (42..1514). Default 64. */
  frameSize?: number;
  /** Default 02:00:00:00:00:01. */
  srcMac?: string;
  /** Default 02:00:00:00:00:02. */
  dstMac?: string;
  /** Source port of flow 0; flow i uses srcPortBase + i. Default 1024. */
  srcPortBase?: number;
  /** Destination port of every flow. Default 9 (discard). */
  dstPort?: number;
  /** Timestamp of the first record, seconds; records are 1 µs apart. Default 1700000000. */
  startTime?: number;
}

/** One flow's addressing. */
export interface UdpFlowSpec {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  /** IPv4 identification field. */
  ipId: number;
  /** Whole frame length (≥ 42). */
  frameSize: number;
  /** Payload filler byte. */
  fill?: number;
}

/** What {@link generateUdpFlowsPcap} wrote. */
export interface UdpFlowsSummary {
  file: string;
  records: number;
  frameSize: number;
  bytes: number;
}

const ETH_LEN = 14;
const IP_LEN = 20;
const UDP_LEN = 8;
export const MIN_FRAME = ETH_LEN + IP_LEN + UDP_LEN;
export const MAX_FRAME = 1514;

function parseMac(mac: string): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new Error(`bad MAC address '${mac}'`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

function parseIpv4(ip: string): Buffer {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`bad IPv4 address '${ip}'`);
  }
  return Buffer.from(parts.map(Number));
}

function ipv4ToString(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Ones'-complement sum of 16-bit big-endian words (odd tail padded with 0), not yet folded. */
export function sum16(buf: Uint8Array, start: number, end: number, acc = 0): number {
  let s = acc;
  let i = start;
  for (; i + 1 < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) s += buf[i]! << 8;
  return s;
}

function fold(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + (x >>> 16);
  return x;
}

/** Internet checksum (RFC 1071) of buf[start, end). */
export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length): number {
  return ~fold(sum16(buf, start, end)) & 0xffff;
}

/** Builds one Ethernet/IPv4/UDP frame with valid IPv4 header and UDP checksums. */
export function buildUdpFrame(spec: UdpFlowSpec): Buffer {
  const { frameSize } = spec;
  if (!Number.isInteger(frameSize) || frameSize < MIN_FRAME || frameSize > MAX_FRAME) {
    throw new RangeError(`frame size ${frameSize} outside ${MIN_FRAME}..${MAX_FRAME}`);
  }
  for (const p of [spec.srcPort, spec.dstPort]) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`bad UDP port ${p}`);
  }
  const f = Buffer.alloc(frameSize);
  parseMac(spec.dstMac).copy(f, 0);
  parseMac(spec.srcMac).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);

  const ip = ETH_LEN;
  const ipTotal = frameSize - ETH_LEN;
  f[ip] = 0x45; // version 4, IHL 5
  f[ip + 1] = 0; // DSCP/ECN
  f.writeUInt16BE(ipTotal, ip + 2);
  f.writeUInt16BE(spec.ipId & 0xffff, ip + 4);
  f.writeUInt16BE(0x4000, ip + 6); // DF, offset 0
  f[ip + 8] = 64; // TTL
  f[ip + 9] = 17; // UDP
  parseIpv4(spec.srcIp).copy(f, ip + 12);
  parseIpv4(spec.dstIp).copy(f, ip + 16);
  f.writeUInt16BE(internetChecksum(f, ip, ip + IP_LEN), ip + 10);

  const udp = ip + IP_LEN;
  const udpLen = ipTotal - IP_LEN;
  f.writeUInt16BE(spec.srcPort, udp);
  f.writeUInt16BE(spec.dstPort, udp + 2);
  f.writeUInt16BE(udpLen, udp + 4);
  f.fill(spec.fill ?? 0x5a, udp + UDP_LEN);
  // Pseudo-header: src, dst, zero + protocol, UDP length.
  let s = sum16(f, ip + 12, ip + 20);
  s += 17 + udpLen;
  s = sum16(f, udp, udp + udpLen, s);
  const c = ~fold(s) & 0xffff;
  f.writeUInt16BE(c === 0 ? 0xffff : c, udp + 6); // 0 means "no checksum" in UDP
  return f;
}

/** Addressing of flow `i`: 198.18.0.0+1+i → 198.19.0.0+1+i (wrapping inside the /16), port base+i. */
export function flowSpec(i: number, opts: Required<Omit<UdpFlowsOptions, 'flows' | 'startTime'>>): UdpFlowSpec {
  const host = (i % 0xfffe) + 1; // 1..65534: no .0.0 and no .255.255
  return {
    srcMac: opts.srcMac,
    dstMac: opts.dstMac,
    srcIp: ipv4ToString(((198 << 24) >>> 0) + (18 << 16) + host),
    dstIp: ipv4ToString(((198 << 24) >>> 0) + (19 << 16) + host),
    srcPort: opts.srcPortBase + i,
    dstPort: opts.dstPort,
    ipId: i & 0xffff,
    frameSize: opts.frameSize,
    fill: i & 0xff,
  };
}

/** Writes the benchmark pcap: `flows` records, one UDP packet per flow. */
export function generateUdpFlowsPcap(file: string, opts: UdpFlowsOptions = {}): UdpFlowsSummary {
  const flows = opts.flows ?? 1024;
  const full = {
    frameSize: opts.frameSize ?? 64,
    srcMac: opts.srcMac ?? '02:00:00:00:00:01',
    dstMac: opts.dstMac ?? '02:00:00:00:00:02',
    srcPortBase: opts.srcPortBase ?? 1024,
    dstPort: opts.dstPort ?? 9,
  };
  const startTime = opts.startTime ?? 1700000000;
  if (!Number.isInteger(flows) || flows < 1) throw new RangeError(`bad flow count ${flows}`);
  if (!Number.isInteger(full.srcPortBase) || full.srcPortBase < 1 || full.srcPortBase + flows - 1 > 65535) {
    throw new RangeError(`${flows} flows from source port ${full.srcPortBase} exceed port 65535`);
  }
  if (!Number.isInteger(startTime) || startTime < 0) throw new RangeError(`bad start time ${startTime}`);
  // Build every frame before creating the file, so bad options leave no half-written file.
  const frames: Buffer[] = [];
  for (let i = 0; i < flows; i++) frames.push(buildUdpFrame(flowSpec(i, full)));
  const w = PcapWriter.open(file, { snaplen: 65535 });
  try {
    frames.forEach((f, i) => {
      w.write(f, { sec: startTime + Math.floor(i / 1e6), usec: i % 1e6 });
    });
  } finally {
    w.close();
  }
  return { file, records: w.records, frameSize: full.frameSize, bytes: w.size };
}

const USAGE = `usage: node dist/tools/pcapgen.js OUT.pcap [--flows N] [--size BYTES] [--src-mac MAC] [--dst-mac MAC]
                                       [--src-port-base P] [--dst-port P]
  N UDP/IPv4 flows 198.18.x.x -> 198.19.x.x with distinct source ports, one frame of BYTES (no FCS) per flow.
  Defaults: --flows 1024 --size 64 --src-port-base 1024 --dst-port 9`;

function intArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`--${name} wants a non-negative integer, got '${v}'`);
  return Number(v);
}

/** CLI entry; returns the exit code. */
export function main(argv: string[]): number {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        flows: { type: 'string' },
        size: { type: 'string' },
        'src-mac': { type: 'string' },
        'dst-mac': { type: 'string' },
        'src-port-base': { type: 'string' },
        'dst-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new Error('exactly one output file expected');
    const out = positionals[0]!;
    const s = generateUdpFlowsPcap(out, {
      flows: intArg('flows', values.flows),
      frameSize: intArg('size', values.size),
      srcMac: values['src-mac'],
      dstMac: values['dst-mac'],
      srcPortBase: intArg('src-port-base', values['src-port-base']),
      dstPort: intArg('dst-port', values['dst-port']),
    });
    console.log(`${s.file}: ${s.records} UDP flows, ${s.frameSize}-byte frames, ${s.bytes} bytes`);
    return 0;
  } catch (e) {
    console.error(`pcapgen: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
