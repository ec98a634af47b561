// Flow tuples as plain numbers: the symmetric tuple hash the runtime steers by (same value as
// net/steer.ts flowHash for a frame carrying that tuple), canonical ordering, and formatting for dumps.
import { hashProtoAddrsPorts } from '../steer';

export { hashProtoAddrsPorts };

/**
 * Symmetric hash of an IPv4 tuple: equal for (a, b, pa, pb) and (b, a, pb, pa). `portsUsed` false (ICMP,
 * other protocols, fragments) hashes without ports, as flowHash does — except ICMP (proto 1), whose key
 * carries the echo identifier in both ports (0 for other ICMP): flowHash hashes an echo's identifier too. The result is what `flowHash` returns
 * for a frame carrying the tuple, so `reta.shardOf(tupleHash(...))` names the shard the software steering
 * delivers that frame to; a unit test pins the two together (test/flow/tuple.test.ts).
 */
export function tupleHash(proto: number, a: number, b: number, pa: number, pb: number, portsUsed: boolean): number {
  return hashProtoAddrsPorts(proto, a, b, pa, pb, portsUsed);
}

/** flowHash uses the ports only for TCP and UDP. */
export function protoHasPorts(proto: number): boolean {
  return proto === 6 || proto === 17;
}

/**
 * Canonical orientation of a tuple: true when (src, sport) is the "low" endpoint. Both directions of a
 * flow then store the same (lo, hi) key; the bit says which way a packet goes.
 */
export function srcIsLow(src: number, dst: number, sport: number, dport: number): boolean {
  src >>>= 0;
  dst >>>= 0;
  return src < dst || (src === dst && sport <= dport);
}

export function formatIp(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

export function protoName(proto: number): string {
  return proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === 1 ? 'icmp' : `proto${proto}`;
}

/** Parses "a.b.c.d"; null when malformed. */
export function parseIp(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text.trim());
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return null;
    v = v * 256 + o;
  }
  return v;
}

/** Parses "a.b.c.d/len" into a network address and mask; null when malformed. */
export function parseCidr(text: string): { addr: number; prefixLen: number; mask: number } | null {
  const [ip, len] = text.split('/');
  const addr = parseIp(ip ?? '');
  const prefixLen = len === undefined ? 32 : Number(len);
  if (addr === null || !Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32) return null;
  const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  return { addr, prefixLen, mask };
}
