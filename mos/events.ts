// Monitor events: the built-in ones (mOS's MOS_ON_*), user-defined ones (a filter over a base event,
// chainable, as many as wanted), sides, and the TCP states of the endpoint emulation.

/** An endpoint of a TCP connection: the client (sent the first SYN, or the first packet seen) or the server. */
export const Side = { Client: 0, Server: 1 } as const;
export type Side = 0 | 1;
export const SIDE_NAMES = ['client', 'server'] as const;
export type SideName = (typeof SIDE_NAMES)[number];

/** RFC 793's eleven states, as mOS emulates them for each endpoint. */
export const TcpState = {
  Closed: 0, Listen: 1, SynSent: 2, SynRcvd: 3, Established: 4, FinWait1: 5, FinWait2: 6, Closing: 7,
  CloseWait: 8, LastAck: 9, TimeWait: 10,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];
export const TCP_STATE_NAMES = [
  'CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RCVD', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSING', 'CLOSE_WAIT',
  'LAST_ACK', 'TIME_WAIT',
] as const;

/** An event handlers subscribe to. Built-in ones are below; `Monitor.defineEvent` makes more. */
export class MosEvent {
  constructor(
    readonly id: number,
    readonly name: string,
    /** the event this one filters (null for built-ins) */
    readonly base: MosEvent | null,
  ) {}
}

let nextId = 0;
const builtin = (name: string): MosEvent => new MosEvent(nextId++, name, null);

/**
 * Built-in events, with mOS's meanings. The side a handler gets:
 * - PKT_IN: the endpoint that sent the packet;
 * - NEW_DATA, REXMIT: the endpoint whose receive stream the bytes belong to (mOS: the peek side);
 * - STATE_CHANGE: the endpoint whose state changed (once per changed side);
 * - ERROR: the stream's side (bytes lost, buffer refused);
 * - CONN_START, CONN_END, TIMEOUT, ORPHAN: once per flow (handlers of either side get it, side = client).
 */
export const Events = {
  /** every packet of a monitored flow, after both endpoints' emulation */
  PKT_IN: builtin('PKT_IN'),
  /** the first SYN of a flow (never a retransmitted one), or the first packet of a flow picked up mid-stream */
  CONN_START: builtin('CONN_START'),
  /** new in-order bytes in a side's receive stream (peek reads them) */
  NEW_DATA: builtin('NEW_DATA'),
  /** an endpoint's emulated TCP state changed */
  STATE_CHANGE: builtin('STATE_CHANGE'),
  /** a segment carrying sequence space already sent (data, SYN or FIN) */
  REXMIT: builtin('REXMIT'),
  /** a TCP packet without a flow that cannot start one (no SYN, mid-stream pickup off) */
  ORPHAN: builtin('ORPHAN'),
  /** the connection ended: both endpoints closed (FIN handshake or RST), or it timed out */
  CONN_END: builtin('CONN_END'),
  /** the flow idled out (followed by CONN_END) */
  TIMEOUT: builtin('TIMEOUT'),
  /** bytes lost (overrun, out-of-order queue full, buffer budget spent): `conn.lastError` says which and how many */
  ERROR: builtin('ERROR'),
} as const;
export const BUILTIN_EVENT_COUNT = nextId;

/** Events raised once per flow rather than per side. */
export const FLOW_EVENTS: ReadonlySet<MosEvent> = new Set([Events.CONN_START, Events.CONN_END, Events.TIMEOUT, Events.ORPHAN]);

/** Side masks for subscriptions. */
export const SideMask = { Client: 1, Server: 2, Both: 3 } as const;

export function sideMask(side: SideName | 'both' | Side | undefined): number {
  if (side === undefined || side === 'both') return SideMask.Both;
  if (side === 'client' || side === 0) return SideMask.Client;
  if (side === 'server' || side === 1) return SideMask.Server;
  throw new RangeError(`no side ${String(side)}`);
}
