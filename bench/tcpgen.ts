// A generated TCP pcap for the monitor benchmark: `flows` connections (handshake, a request, a response of
// a heavy-tailed size in MSS segments, FIN/ACK close), about `rexmit` of the data segments sent twice.
import { writePcap } from '../tools/pcap';
import { internetChecksum, sum16 } from '../tools/pcapgen';

const MSS = 1448;

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** One Ethernet/IPv4/TCP frame with valid checksums. */
export function tcpFrame(src: number, dst: number, sport: number, dport: number, flags: number, seq: number, ack: number, payload: Uint8Array): Buffer {
  const f = Buffer.alloc(14 + 20 + 20 + payload.length);
  f.writeUIntBE(0x020000000002, 0, 6);
  f.writeUIntBE(0x020000000001, 6, 6);
  f.writeUInt16BE(0x0800, 12);
  const ip = 14, tot = 40 + payload.length;
  f[ip] = 0x45;
  f.writeUInt16BE(tot, ip + 2);
  f.writeUInt16BE(0x4000, ip + 6);
  f[ip + 8] = 64;
  f[ip + 9] = 6;
  f.writeUInt32BE(src >>> 0, ip + 12);
  f.writeUInt32BE(dst >>> 0, ip + 16);
  f.writeUInt16BE(internetChecksum(f, ip, ip + 20), ip + 10);
  const t = ip + 20;
  f.writeUInt16BE(sport, t);
  f.writeUInt16BE(dport, t + 2);
  f.writeUInt32BE(seq >>> 0, t + 4);
  f.writeUInt32BE(ack >>> 0, t + 8);
  f[t + 12] = 5 << 4;
  f[t + 13] = flags;
  f.writeUInt16BE(65535, t + 14);
  f.set(payload, t + 20);
  let s = sum16(f, ip + 12, ip + 20) + 6 + 20 + payload.length;
  s = sum16(f, t, t + 20 + payload.length, s);
  f.writeUInt16BE(~fold(s) & 0xffff, t + 16);
  return f;
}

export interface TcpPcapSummary { flows: number; packets: number; dataBytes: number; rexmits: number }

export function generateTcpFlowsPcap(file: string, o: { flows?: number; rexmit?: number; seed?: number; maxSegments?: number } = {}): TcpPcapSummary {
  const flows = o.flows ?? 10000, rexmit = o.rexmit ?? 0.02;
  let seed = o.seed ?? 1;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const body = new Uint8Array(MSS);
  for (let i = 0; i < MSS; i++) body[i] = (i * 31 + 7) & 255;
  const req = new TextEncoder().encode('GET /index.html HTTP/1.1\r\nHost: example\r\nUser-Agent: bench\r\n\r\n');
  const frames: Buffer[] = [];
  let dataBytes = 0, rexmits = 0;
  // Interleave flows a few at a time, as a link would carry them.
  const live: { emit: () => boolean }[] = [];
  let next = 0;
  const SYN = 2, ACK = 16, FIN = 1, PSH = 8;
  const makeFlow = (i: number): { emit: () => boolean } => {
    const c = (0xc6120000 + 1 + (i % 65000)) >>> 0, s = (0xc6130000 + 1 + (i % 251)) >>> 0;
    const cp = 1024 + (i % 60000), sp = 80;
    let ci = Math.floor(rnd() * 2 ** 32), si = Math.floor(rnd() * 2 ** 32);
    // heavy tail: most responses are small, a few are large (1 .. maxSegments segments)
    const segs = Math.max(1, Math.min(o.maxSegments ?? 40, Math.floor(1 / (rnd() + 0.01))));
    const script: Buffer[] = [];
    script.push(tcpFrame(c, s, cp, sp, SYN, ci, 0, new Uint8Array(0)));
    script.push(tcpFrame(s, c, sp, cp, SYN | ACK, si, ci + 1, new Uint8Array(0)));
    ci += 1; si += 1;
    script.push(tcpFrame(c, s, cp, sp, ACK, ci, si, new Uint8Array(0)));
    script.push(tcpFrame(c, s, cp, sp, ACK | PSH, ci, si, req));
    ci += req.length;
    dataBytes += req.length;
    for (let k = 0; k < segs; k++) {
      const f = tcpFrame(s, c, sp, cp, ACK, si + k * MSS, ci, body);
      script.push(f);
      dataBytes += MSS;
      if (rnd() < rexmit) {
        script.push(f);
        rexmits++;
      }
      if (k % 2 === 1) script.push(tcpFrame(c, s, cp, sp, ACK, ci, si + (k + 1) * MSS, new Uint8Array(0)));
    }
    const end = si + segs * MSS;
    script.push(tcpFrame(c, s, cp, sp, FIN | ACK, ci, end, new Uint8Array(0)));
    script.push(tcpFrame(s, c, sp, cp, FIN | ACK, end, ci + 1, new Uint8Array(0)));
    script.push(tcpFrame(c, s, cp, sp, ACK, ci + 1, end + 1, new Uint8Array(0)));
    let j = 0;
    return { emit: () => { frames.push(script[j++]); return j < script.length; } };
  };
  while (next < flows || live.length > 0) {
    while (live.length < 16 && next < flows) live.push(makeFlow(next++));
    const k = Math.floor(rnd() * live.length);
    if (!live[k].emit()) live.splice(k, 1);
  }
  writePcap(file, frames.map((data) => ({ data })));
  return { flows, packets: frames.length, dataBytes, rexmits };
}
