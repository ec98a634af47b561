// The per-shard packet handler contract (ShardApp) and its answer, the Verdict. In net/ because the flow layer
// builds ShardApps (flowPipeline) and answers verdicts; reactor/app.ts re-exports both with the AppModule contract.
import type { Packet, RxBatch } from './packet';
import type { DpdkQueuePair } from './qp';

declare const verdictBrand: unique symbol;

/**
 * onPacket's answer: send on a port (`Verdict.port(i)`), `Verdict.DROP` or `Verdict.STOLEN`. A branded number:
 * the runtime sees a plain small integer (no allocation, no wrapper), but a bare port index or count is not a
 * Verdict to the type checker — sending where a drop was meant needs `Verdict.port(i)` written out.
 */
export type Verdict = number & { readonly [verdictBrand]: 'Verdict' };

export const Verdict = {
  /** free the packet (counted as dropped on its input port) */
  DROP: -1 as Verdict,
  /** the app took the packet (held, forwarded, or already sent); the shard does nothing more */
  STOLEN: -2 as Verdict,
  /** send on port `index` (position in config.ports): the identity at run time, inlined by V8 */
  port: (index: number): Verdict => index as Verdict,
} as const;

export interface ShardApp {
  /**
   * Called for each packet. `pkt` is a flyweight reused for the next packet: to keep the packet past this
   * call, take it with `ctx.hold(pkt)` and return STOLEN. Throwing drops the packet and counts it.
   */
  onPacket(pkt: Packet, portIndex: number): Verdict;
  /**
   * Optional burst fast path, used instead of onPacket when present: the app must dispose of every packet
   * in the batch (e.g. `qps[out].sendBatch(batch)`). If it throws, packets it did not dispose are dropped.
   */
  onBurst?(batch: RxBatch, portIndex: number, qps: DpdkQueuePair[]): void;
  /**
   * Optional burst hook for packets that arrive from other shards (forward / unsafeForward / steering); the
   * batch may mix ports (`batch.port(i)`). Same contract as onBurst. Without it, onPacket sees them.
   */
  onForwarded?(batch: RxBatch, qps: DpdkQueuePair[]): void;
  /** Called once per poll-loop iteration after the RX bursts (e.g. to flush app state). */
  afterBurst?(): void;
  /** When (performance.now() ms) the app next needs the loop to run even without traffic; Infinity if never. */
  pollAt?(): number;
  /** App counters, reported in the summary and the STATS lines. */
  counters?(): Record<string, number>;
  stop?(): void | Promise<void>;
}
