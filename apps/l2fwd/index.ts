// l2fwd: forwards between port pairs, rewriting MACs as DPDK's l2fwd / testpmd do.
//   mac     – src = egress port MAC, dst = the egress port's peer (testpmd --forward-mode=mac)
//   macswap – swap src and dst
//   io      – forward unchanged (a wire)
import { z } from 'zod';
import {
  NetstarError, RX_DESC_WORDS, RXD, Verdict, appSettings,
  type AppModule, type DpdkQueuePair, type Packet, type PortInfo, type RxBatch, type ShardApp, type ShardContext,
} from '../../index';

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const schema = z.object({
  mode: z.enum(['mac', 'macswap', 'io']).default('mac'),
  /** port index pairs (positions in config.ports); traffic in on one leaves on the other */
  pairs: z.array(z.tuple([z.number().int().min(0), z.number().int().min(0)])).optional(),
  /** destination MAC per port index in mac mode; default 02:00:00:00:00:<index> as DPDK l2fwd */
  peers: z.array(z.string().regex(MAC_RE, 'a MAC address like 02:00:00:00:00:01')).optional(),
}).strict();

export interface L2fwdSettings {
  mode: 'mac' | 'macswap' | 'io';
  /** egress port index for each ingress port index (-1: drop) */
  out: number[];
  peers: string[];
  /** filled by prepare: port MACs */
  macs: string[];
}

export function macBytes(mac: string): number[] {
  return mac.split(':').map((h) => parseInt(h, 16));
}

const app: AppModule<L2fwdSettings> = {
  name: 'l2fwd',
  description: 'layer-2 forwarder between port pairs (DPDK l2fwd modes: mac, macswap, io)',
  settingsSchema: schema,
  settings: appSettings('l2fwd', schema, (r, config): L2fwdSettings => {
    const n = config.ports.length;
    const pairs = r.pairs ?? (n === 1 ? [[0, 0]] : Array.from({ length: Math.floor(n / 2) }, (_, i) => [2 * i, 2 * i + 1]));
    const out = new Array<number>(n).fill(-1);
    for (const [a, b] of pairs) {
      if (a >= n || b >= n) throw new NetstarError('ERR_CONFIG', `l2fwd pair [${a}, ${b}] names a port index beyond the ${n} configured ports`);
      out[a] = b;
      out[b] = a;
    }
    const peers = r.peers ?? Array.from({ length: n }, (_, i) => `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`);
    if (peers.length < n) throw new NetstarError('ERR_CONFIG', `l2fwd peers lists ${peers.length} MACs for ${n} ports`);
    return { mode: r.mode, out, peers, macs: [] };
  }),
  prepare(s: L2fwdSettings, ports: PortInfo[]): L2fwdSettings {
    return { ...s, macs: ports.map((p) => p.mac) };
  },
  createShard(ctx: ShardContext, s: L2fwdSettings): ShardApp {
    const out = Int32Array.from(s.out);
    // Rewritten header per egress port as three 32-bit words: dst[0..4], dst[4..6]+src[0..2], src[2..6].
    // `w` is big-endian for DataView writes; `h` holds the same bytes in host order for aligned Uint32Array stores.
    const w = new Uint32Array(out.length * 3);
    const h = new Uint32Array(out.length * 3);
    for (let p = 0; p < out.length; p++) {
      const bytes = new Uint8Array([...macBytes(s.peers[p]), ...macBytes(s.macs[p])]);
      const dv = new DataView(bytes.buffer);
      const host = new Uint32Array(bytes.buffer);
      for (let k = 0; k < 3; k++) {
        w[p * 3 + k] = dv.getUint32(k * 4);
        h[p * 3 + k] = host[k];
      }
    }
    // Numeric mode: the settings string came through structured clone and is not internalized, so comparing
    // it per packet would cost a full string compare.
    const MAC = 0, SWAP = 1, IO = 2;
    const mode = s.mode === 'mac' ? MAC : s.mode === 'macswap' ? SWAP : IO;
    // The descriptor layout as closure constants (read once, not from the module object per packet).
    const W = RX_DESC_WORDS, SLOT = RXD.slot;
    return {
      // Burst fast path: rewrite in place, then send the batch's own descriptors.
      onBurst(batch: RxBatch, port: number, qps: DpdkQueuePair[]): void {
        const o = out[port], n = batch.count, d = batch.desc;
        if (o < 0) {
          for (let i = 0; i < n; i++) ctx.dropSlot(d[i * W + SLOT], port);
          batch.count = 0;
          return;
        }
        if (mode !== IO) {
          const w0 = w[o * 3], w1 = w[o * 3 + 1], w2 = w[o * 3 + 2];
          const h0 = h[o * 3], h1 = h[o * 3 + 1], h2 = h[o * 3 + 2];
          const views = batch.mem.views, words = batch.mem.words;
          // Packets of a burst nearly always share one pool chunk: look its view up once.
          let lastC = -1;
          let u: Uint32Array = words[0][0];
          let k = 0; // packets kept; runts (< 14 bytes) are dropped and the batch compacted
          for (let i = 0; i < n; i++) {
            let b = i * W;
            if (d[b + 4] < 14) {
              ctx.dropSlot(d[b + SLOT], port);
              continue;
            }
            if (k !== i) {
              d.copyWithin(k * W, b, b + W);
              b = k * W;
            }
            k++;
            const c = d[b + 1], off = d[b + 2] + d[b + 3];
            if (mode === MAC && (off & 3) === 0) {
              if (c !== lastC) {
                u = words[c >>> 16][c & 0xffff];
                lastC = c;
              }
              const q = off >>> 2;
              u[q] = h0;
              u[q + 1] = h1;
              u[q + 2] = h2;
              continue;
            }
            const v = views[c >>> 16][c & 0xffff];
            if (mode === MAC) {
              v.setUint32(off, w0);
              v.setUint32(off + 4, w1);
              v.setUint32(off + 8, w2);
            } else {
              const d0 = v.getUint32(off), d1 = v.getUint16(off + 4), s0 = v.getUint32(off + 6), s1 = v.getUint16(off + 10);
              v.setUint32(off, s0);
              v.setUint16(off + 4, s1);
              v.setUint32(off + 6, d0);
              v.setUint16(off + 10, d1);
            }
          }
          batch.count = k;
        } else {
          let k = 0;
          for (let i = 0; i < n; i++) {
            const b = i * W;
            if (d[b + 4] < 14) { ctx.dropSlot(d[b + SLOT], port); continue; }
            if (k !== i) d.copyWithin(k * W, b, b + W);
            k++;
          }
          batch.count = k;
        }
        qps[o].sendBatch(batch);
      },
      onPacket(pkt: Packet, port: number): Verdict {
        const o = out[port];
        if (o < 0 || pkt.length < 14) return Verdict.DROP;
        const v = pkt.view, off = pkt.offset;
        if (mode === MAC) {
          v.setUint32(off, w[o * 3]);
          v.setUint32(off + 4, w[o * 3 + 1]);
          v.setUint32(off + 8, w[o * 3 + 2]);
        } else if (mode === SWAP) {
          const d0 = v.getUint32(off), d1 = v.getUint16(off + 4), s0 = v.getUint32(off + 6), s1 = v.getUint16(off + 10);
          v.setUint32(off, s0);
          v.setUint16(off + 4, s1);
          v.setUint32(off + 6, d0);
          v.setUint16(off + 10, d1);
        }
        return Verdict.port(o);
      },
    };
  },
};

export default app;
