// Shard side of capture: the app the shard runs when `capture` is configured. It wraps the real app,
// copies matching packets (received, and sent by a port verdict) into the shard's capture queue, and
// otherwise passes every call through. The real app's burst paths are not offered, so that each packet
// goes through onPacket where it can be seen.
import * as path from 'path';
import type { AppModule, ShardApp, Verdict } from './app';
import type { ShardContext } from './context';
import type { Packet } from '../net/packet';
import { compileFilter } from '../net/filter';
import { CTL, RingWriter } from './capture-ring';
import { DIR_IN, DIR_OUT } from '../net/pcapng';

export interface CaptureShardSettings {
  innerPath: string;
  inner: unknown;
  rings: SharedArrayBuffer[];
  control: SharedArrayBuffer;
  /** pcapng interface index per port index, -1 when the port is not captured */
  ifOf: number[];
  rx: boolean;
  tx: boolean;
  snaplen: number;
  filter: string;
  /** absolute path of a predicate module (capture.filterModule) */
  filterModule?: string;
}

/** A TS/JS capture predicate, the default export of capture.filterModule. */
export type CapturePredicate = (bytes: Uint8Array, offset: number, length: number, portIndex: number, direction: number) => boolean;

const app: AppModule<CaptureShardSettings> = {
  name: 'capture',
  settings(): CaptureShardSettings {
    throw new Error('capture-app is configured by the runtime, not run by name');
  },
  async createShard(ctx: ShardContext, s: CaptureShardSettings): Promise<ShardApp> {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require(path.resolve(__dirname, '..', s.innerPath)) as { default: AppModule };
    const inner = await mod.default.createShard(ctx, s.inner);
    const ring = new RingWriter(s.rings[ctx.id]);
    const ctl = new Int32Array(s.control);
    const expr = compileFilter(s.filter);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const user = s.filterModule ? (require(s.filterModule) as { default?: CapturePredicate }).default : undefined;
    if (s.filterModule && typeof user !== 'function') throw new Error(`capture.filterModule ${s.filterModule} has no default export function`);
    const keep = (b: Uint8Array, off: number, len: number, port: number, dir: number): boolean => expr(b, off, len) && (!user || user(b, off, len, port, dir) === true);
    const ifOf = Int32Array.from(s.ifOf);
    const snap = s.snaplen;
    const origin = performance.timeOrigin;
    const clock = ctx.clock;
    const record = (pkt: Packet, port: number, dir: number): void => {
      const itf = port < ifOf.length ? ifOf[port] : -1;
      if (itf < 0 || !keep(pkt.bytes, pkt.offset, pkt.length, port, dir)) return;
      // The shard's loop clock (read once per poll-loop pass): a timestamp per packet without a
      // performance.now() call per packet; packets of one burst share it.
      const ms = origin + clock.now();
      const sec = Math.floor(ms / 1000);
      const nsec = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6));
      ring.put(itf, dir, sec, nsec, pkt.bytes, pkt.offset, Math.min(snap, pkt.length), pkt.length);
    };
    const onBurst = inner.onBurst?.bind(inner), onForwarded = inner.onForwarded?.bind(inner);
    const wrapped: ShardApp = {
      // While capturing, the burst hooks are hidden so every packet comes through onPacket where it is
      // seen in and out; while not, the app's own fast paths run untouched. (The shard reads them per burst.)
      get onBurst() { return ctl[CTL.active] !== 0 ? undefined : onBurst; },
      get onForwarded() { return ctl[CTL.active] !== 0 ? undefined : onForwarded; },
      onPacket(pkt: Packet, portIndex: number): Verdict {
        const on = ctl[CTL.active] !== 0;
        if (on && s.rx) record(pkt, portIndex, DIR_IN);
        const v = inner.onPacket(pkt, portIndex);
        // a port verdict: the shard sends this very packet on return
        if (on && s.tx && v >= 0) record(pkt, v, DIR_OUT);
        return v;
      },
      counters(): Record<string, number> {
        return { ...(inner.counters ? inner.counters() : {}), 'capture.captured': ring.captured, 'capture.dropped': ring.dropped };
      },
    };
    if (inner.afterBurst) wrapped.afterBurst = () => inner.afterBurst!();
    if (inner.pollAt) wrapped.pollAt = () => inner.pollAt!();
    if (inner.stop) wrapped.stop = () => inner.stop!();
    return wrapped;
  },
};
export default app;
