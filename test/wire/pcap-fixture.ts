// Test helpers: a minimal classic-pcap writer (Ethernet link type) and a tshark dissector wrapper,
// so frames built by net/wire are checked by an independent implementation.

import { execFileSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

/** The bytes of a pcap file holding `frames` (microsecond timestamps, one per frame). */
export function pcapBytes(frames: Uint8Array[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0); // magic: microsecond resolution, our byte order
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeInt32LE(0, 8); // thiszone
  header.writeUInt32LE(0, 12); // sigfigs
  header.writeUInt32LE(65535, 16); // snaplen
  header.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const parts: Buffer[] = [header];
  frames.forEach((frame, i) => {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000 + i, 0);
    rec.writeUInt32LE(0, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, Buffer.from(frame.buffer, frame.byteOffset, frame.length));
  });
  return Buffer.concat(parts);
}

/** One dissected frame: the layers object of tshark's JSON, keys kept as tshark names them. */
export type TsharkLayers = Record<string, unknown>;

/**
 * Write `frames` to a temporary pcap and dissect it with tshark, checksum validation on. Duplicate
 * keys (two VLAN tags, ip.addr) become arrays (--no-duplicate-keys) rather than being lost.
 */
export function dissect(frames: Uint8Array[]): TsharkLayers[] {
  const dir = mkdtempSync(join(tmpdir(), 'netstar-wire-'));
  try {
    const file = join(dir, 'frames.pcap');
    writeFileSync(file, pcapBytes(frames));
    const out = execFileSync(
      'tshark',
      [
        '-r', file, '-T', 'json', '--no-duplicate-keys',
        '-o', 'ip.check_checksum:TRUE',
        '-o', 'tcp.check_checksum:TRUE',
        '-o', 'udp.check_checksum:TRUE',
        // Raw sequence numbers and no reassembly: each frame is judged on its own.
        '-o', 'tcp.relative_sequence_numbers:FALSE',
        '-o', 'ip.defragment:FALSE',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 },
    );
    const docs = JSON.parse(out) as Array<{ _source: { layers: TsharkLayers } }>;
    return docs.map((d) => d._source.layers);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The first value of `key` found depth-first under `node` (a layer or the whole frame). Arrays made
 * by --no-duplicate-keys yield their first element; use fieldAll() for every one.
 */
export function field(node: unknown, key: string): string | undefined {
  const all = fieldAll(node, key);
  return all.length > 0 ? all[0] : undefined;
}

/** Every value of `key` under `node`, in document order. */
export function fieldAll(node: unknown, key: string): string[] {
  const found: string[] = [];
  const walk = (n: unknown): void => {
    if (n === null || typeof n !== 'object') return;
    if (Array.isArray(n)) {
      n.forEach(walk);
      return;
    }
    for (const [k, v] of Object.entries(n as Record<string, unknown>)) {
      if (k === key) {
        if (typeof v === 'string') found.push(v);
        else if (Array.isArray(v)) v.forEach((x) => (typeof x === 'string' ? found.push(x) : walk(x)));
        else walk(v);
      } else {
        walk(v);
      }
    }
  };
  walk(node);
  return found;
}

/** A layer of a dissected frame ("ip", "tcp", ...); the n-th one when tshark repeats it. */
export function layer(frame: TsharkLayers, name: string, n = 0): unknown {
  const v = frame[name];
  if (Array.isArray(v)) return v[n];
  return n === 0 ? v : undefined;
}
