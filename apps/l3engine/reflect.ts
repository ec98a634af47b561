// l3reflect: an l3engine client that sends every packet back where it came from, as testpmd's 5tswap does:
// MACs, IPv4 addresses and TCP/UDP ports swapped (checksums stay valid: swapping is sum-neutral). The bench's
// client and a quick way to check an engine's client link; frames it cannot parse go back with MACs swapped.
import { z } from 'zod';
import { NetstarError, appSettings } from '../../index';
import type { Config } from '../../index';
import { Verdict, type AppModule, type ShardApp } from '../../index';
import type { ShardContext } from '../../index';
import type { Packet, RxBatch } from '../../index';
import type { DpdkQueuePair } from '../../index';

const schema = z.object({}).strict();

/** Swaps in place; `off` is the frame start, `len` its length. */
export function swap5(v: DataView, off: number, len: number): void {
  if (len < 14) return;
  const d0 = v.getUint32(off), d1 = v.getUint16(off + 4), s0 = v.getUint32(off + 6), s1 = v.getUint16(off + 10);
  v.setUint32(off, s0);
  v.setUint16(off + 4, s1);
  v.setUint32(off + 6, d0);
  v.setUint16(off + 10, d1);
  if (len < 34 || v.getUint16(off + 12) !== 0x0800) return;
  const l3 = off + 14, ihl = (v.getUint8(l3) & 15) << 2;
  const a = v.getUint32(l3 + 12);
  v.setUint32(l3 + 12, v.getUint32(l3 + 16));
  v.setUint32(l3 + 16, a);
  const p = v.getUint8(l3 + 9);
  if ((p !== 6 && p !== 17) || ihl < 20 || len < 14 + ihl + 4 || (v.getUint16(l3 + 6) & 0x1fff) !== 0) return;
  const l4 = l3 + ihl, sp = v.getUint16(l4);
  v.setUint16(l4, v.getUint16(l4 + 2));
  v.setUint16(l4 + 2, sp);
}

const app: AppModule<Record<string, never>> = {
  name: 'l3reflect',
  description: 'l3engine client that sends every packet back with MACs, addresses and ports swapped (5-tuple swap)',
  settingsSchema: schema,
  settings: appSettings('l3reflect', schema, (): Record<string, never> => {
    return {};
  }),
  createShard(_ctx: ShardContext): ShardApp {
    let reflected = 0;
    return {
      onBurst(batch: RxBatch, port: number, qps: DpdkQueuePair[]): void {
        const n = batch.count;
        for (let i = 0; i < n; i++) swap5(batch.view(i), batch.offset(i), batch.length(i));
        reflected += n;
        qps[port].sendBatch(batch);
      },
      onPacket(pkt: Packet, port: number): Verdict {
        swap5(pkt.view, pkt.offset, pkt.length);
        reflected++;
        return Verdict.port(port);
      },
      counters: () => ({ reflected }),
    };
  },
};
export default app;
