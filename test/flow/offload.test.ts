// Flow offload: a handler hands a direction of its flow to the flow layer (AsyncFlow.offload) and later
// packets get the action without a handler call. The bytes must equal a frame built from scratch with the
// translated tuple (checksums computed in full by the wire Reprs, not incrementally); whatever the action
// cannot take goes back to the handler.
import { FlowAction, FlowDistributor, FlowEvent, PacketInfo, ParseStatus, type AsyncFlow, type OffloadAction } from '../../net/flow';
import { FakeSink, frame, packet, quote, type FrameSpec } from './helpers';

const NEW_SRC = '198.19.7.7', NEW_SPORT = 40000, GW_MAC = 0x0200000000fe, OUR_MAC = 0x020000000012;
const ip4 = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);

interface Rig {
  sink: FakeSink;
  dist: FlowDistributor<object>;
  calls: { dir: number; ev: number }[];
  feed(f: Uint8Array, port?: number): number;
  /** what the handler offloads (per call); null: nothing */
  action: (flow: AsyncFlow<object>) => OffloadAction | null;
  offloaded: boolean[];
}

function rig(): Rig {
  const sink = new FakeSink();
  const info = new PacketInfo();
  const r: Rig = {
    sink,
    calls: [],
    offloaded: [],
    action: (flow) => (flow.direction === 0
      ? { out: 1, src: ip4(NEW_SRC), sport: NEW_SPORT, decTtl: true, dstMac: GW_MAC, srcMac: OUR_MAC, tag: 7 }
      : null),
    dist: null as unknown as FlowDistributor<object>,
    feed(f: Uint8Array, port = 0): number {
      const pkt = packet(f, port);
      expect(info.parse(pkt)).toBe(ParseStatus.Ok);
      const v = r.dist.process(pkt, port, info);
      sink.verdict(pkt, v);
      return v;
    },
  };
  r.dist = new FlowDistributor<object>({
    capacity: 16,
    createState: () => ({}),
    sink,
    preprocess: false,
    handler: (flow) => {
      r.calls.push({ dir: flow.direction, ev: flow.events });
      const a = r.action(flow);
      // The handler's own work on this packet: exactly what the action does (so both paths give the same bytes).
      if (a !== null) r.offloaded.push(flow.offload(a));
      return FlowAction.Forward;
    },
  });
  return r;
}

const fwd = (o: Partial<FrameSpec> = {}): Uint8Array => frame({ src: '198.18.0.1', dst: '203.0.113.9', sport: 1234, dport: 53, ttl: 64, payload: new Uint8Array([1, 2, 3, 4, 5]), ...o });
/** The same datagram as the action should leave it, built from scratch. */
const expected = (o: Partial<FrameSpec> = {}): Uint8Array =>
  frame({ src: NEW_SRC, dst: '203.0.113.9', sport: NEW_SPORT, dport: 53, ttl: 63, payload: new Uint8Array([1, 2, 3, 4, 5]), srcMac: OUR_MAC, dstMac: GW_MAC, ...o });

describe('flow offload', () => {
  test('after the handler offloads a direction, its packets get the action without a call: bytes equal a frame built from scratch', () => {
    const r = rig();
    expect(r.feed(fwd())).toBe(1);
    expect(r.offloaded).toEqual([true]);
    for (let i = 0; i < 5; i++) expect(r.feed(fwd())).toBe(1);
    expect(r.calls).toHaveLength(1);
    // The first packet was the handler's (untouched here); the next five the offload's.
    for (const s of r.sink.sent.slice(1)) expect(Buffer.from(s.data).toString('hex')).toBe(Buffer.from(expected()).toString('hex'));
    expect(r.dist.offloads.counts[7]).toBe(5);
    const snap = r.dist.snapshot();
    expect({ off: snap['flow.offloaded'], inst: snap['flow.offloadsInstalled'], fb: snap['flow.offloadFallbacks'] }).toEqual({ off: 5, inst: 1, fb: 0 });
    // Per-flow statistics keep counting offloaded packets.
    const f = r.dist.lookup(17, ip4('198.18.0.1'), ip4('203.0.113.9'), 1234, 53)!;
    expect(f.packets0).toBe(6);
  });

  test('TCP: ports, addresses and the checksum (pseudo header included) come out as a full recomputation gives', () => {
    const r = rig();
    const t = (o: Partial<FrameSpec> = {}): Partial<FrameSpec> => ({ proto: 'tcp', flags: 0x18, seq: 1000, ack: 77, window: 4000, ...o });
    r.feed(fwd(t()));
    r.feed(fwd(t({ seq: 1005 })));
    expect(r.calls).toHaveLength(1);
    expect(Buffer.from(r.sink.sent[1].data).toString('hex')).toBe(Buffer.from(expected(t({ seq: 1005 }))).toString('hex'));
  });

  test('a UDP checksum of 0 (none) stays 0', () => {
    const r = rig();
    const zero = (f: Uint8Array): Uint8Array => {
      f[34 + 6] = 0;
      f[34 + 7] = 0;
      return f;
    };
    r.feed(zero(fwd()));
    r.feed(zero(fwd()));
    expect(r.calls).toHaveLength(1);
    expect(Buffer.from(r.sink.sent[1].data).toString('hex')).toBe(Buffer.from(zero(expected())).toString('hex'));
  });

  test('what the action cannot take goes to the handler: TTL 1, the other direction, an ICMP error about the flow', () => {
    const r = rig();
    r.feed(fwd());
    r.feed(fwd({ ttl: 1 }));
    expect(r.calls).toHaveLength(2);
    expect(r.dist.snapshot()['flow.offloadFallbacks']).toBe(1);
    // The TTL-1 packet is untouched by the offload (the handler saw it as it arrived).
    expect(Buffer.from(r.sink.sent[1].data).toString('hex')).toBe(Buffer.from(fwd({ ttl: 1 })).toString('hex'));
    // A reply (direction 1, not offloaded).
    r.feed(frame({ src: '203.0.113.9', dst: '198.18.0.1', sport: 53, dport: 1234 }), 1);
    expect(r.calls.at(-1)).toEqual({ dir: 1, ev: FlowEvent.Packet });
    // An ICMP error quoting a packet of the flow: Related, always the handler's.
    const err = frame({ proto: 'icmp', src: '203.0.113.1', dst: '198.18.0.1', icmpType: 3, icmpCode: 3, quoted: quote(fwd()) });
    r.feed(err, 1);
    expect(r.calls.at(-1)!.ev & FlowEvent.Related).toBe(FlowEvent.Related);
    // Plain packets are offloaded again.
    const n = r.calls.length;
    r.feed(fwd());
    expect(r.calls).toHaveLength(n);
  });

  test('invalidateOffloads sends each flow to its handler once (it offloads again); clearOffload and closing end it', () => {
    const r = rig();
    r.feed(fwd());
    r.feed(fwd());
    expect(r.calls).toHaveLength(1);
    r.dist.invalidateOffloads();
    r.feed(fwd());
    r.feed(fwd());
    expect(r.calls).toHaveLength(2);
    expect(r.offloaded).toEqual([true, true]);
    // The handler stops offloading and clears: every packet is its own again.
    r.action = (flow) => {
      flow.clearOffload();
      return null;
    };
    r.dist.invalidateOffloads();
    r.feed(fwd());
    r.feed(fwd());
    r.feed(fwd());
    expect(r.calls).toHaveLength(5);
    // Closing the flow clears its entries: a new flow in the same slot starts unoffloaded.
    r.action = () => ({ out: 1, tag: 1 });
    r.feed(fwd());
    const f = r.dist.lookup(17, ip4('198.18.0.1'), ip4('203.0.113.9'), 1234, 53)!;
    expect(f.offloads).toBe(1);
    f.close();
    expect(f.offloads).toBe(0);
    r.action = () => null;
    const before = r.calls.length;
    r.feed(fwd());
    r.feed(fwd());
    expect(r.calls.length - before).toBe(2);
  });

  test('offload refuses ICMP, calls outside a handler, bad tags and ports, one MAC without the other', () => {
    const r = rig();
    const results: boolean[] = [];
    r.action = (flow) => {
      results.push(flow.offload({ out: 1, tag: 256 }), flow.offload({ out: -1 }), flow.offload({ out: 1, dstMac: GW_MAC }), flow.offload({ out: 1, sport: 70000 }));
      return null;
    };
    r.feed(fwd());
    expect(results).toEqual([false, false, false, false]);
    r.action = () => ({ out: 1 });
    r.feed(frame({ proto: 'icmp', src: '198.18.0.1', dst: '203.0.113.9', icmpType: 8, sport: 5 }));
    expect(r.offloaded).toEqual([false]);
    const f = r.dist.lookup(17, ip4('198.18.0.1'), ip4('203.0.113.9'), 1234, 53)!;
    expect(f.offload({ out: 1 })).toBe(false);
    expect(r.dist.snapshot()['flow.offloadsInstalled']).toBe(0);
  });

  test('no holds, no leaks: every offloaded packet is sent once', () => {
    const r = rig();
    for (let i = 0; i < 100; i++) r.feed(fwd({ sport: 1000 + (i % 10) }));
    expect(r.sink.sent).toHaveLength(100);
    expect(r.sink.dropped).toHaveLength(0);
    expect(r.sink.heldBySlot.size).toBe(0);
    expect(r.calls).toHaveLength(10);
    expect(r.dist.offloads.counts[7]).toBe(90);
  });
});

