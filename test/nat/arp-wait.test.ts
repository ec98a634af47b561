// Packets waiting for a next hop that never answers ARP (issue 9 item 5): when the resolution fails, everything
// waiting on that neighbour — the held head of each flow and the packets queued behind it — is dropped at once
// and counted, instead of one packet per ARP cycle; after a short hold a new packet tries again.
import { FlowDistributor, PacketInfo, ParseStatus, CounterSet } from '../../net/flow';
import { CT_COUNTERS, Conn, conntrackHandler, startTracking } from '../../net/conntrack';
import { L3 } from '../../net/l3';
import type { Packet } from '../../net/packet';
import { FakeSink, frame, ip, packet, settle } from '../flow/helpers';

const INSIDE = 0, OUTSIDE = 1;
const RETRY_MS = 100, TRIES = 3;

function setup(): { l3: L3; dist: FlowDistributor<Conn>; sink: FakeSink; counters: CounterSet<string>; requests: number[]; info: PacketInfo } {
  const requests: number[] = [];
  const l3 = new L3([
    { port: INSIDE, ip: ip('198.18.1.1'), mask: 0xffffff00, gateway: 0, mac: 0x020000000001 },
    { port: OUTSIDE, ip: ip('198.18.2.1'), mask: 0xffffff00, gateway: 0, mac: 0x020000000002 },
  ], {
    alloc: () => packet(new Uint8Array(0)),
    // The ARP request's target address (bytes 38..41 of the frame).
    send: (p: Packet) => { requests.push(p.view.getUint32(p.offset + 38)); },
    drop: () => undefined,
  }, { retryMs: RETRY_MS, tries: TRIES, refreshMs: 60_000, maxWaiting: 256 });
  const counters = new CounterSet<string>([...CT_COUNTERS]);
  const sink = new FakeSink();
  const dist = new FlowDistributor<Conn>({
    capacity: 64,
    createState: () => new Conn(),
    sink,
    handler: conntrackHandler(l3, counters, { offload: false }),
    defaultOut: [OUTSIDE, INSIDE],
    preprocess: false,
    onNewFlow: (flow, _pkt, pi, inPort) => {
      const c = flow.state;
      c.reset();
      c.proto = pi.kProto;
      c.oSrc = c.tSrc = pi.src >>> 0; c.oDst = c.tDst = pi.dst >>> 0; c.oSport = c.tSport = pi.sport; c.oDport = c.tDport = pi.dport;
      c.inPort0 = inPort;
      c.outPort0 = inPort === INSIDE ? OUTSIDE : INSIDE;
      c.nextHop0 = l3.nextHop(c.outPort0, c.tDst);
      c.nextHop1 = l3.nextHop(c.inPort0, c.oSrc);
      startTracking(flow, c, pi, l3);
      return true;
    },
  });
  return { l3, dist, sink, counters, requests, info: new PacketInfo() };
}

function send(t: ReturnType<typeof setup>, sport: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const p = packet(frame({ proto: 'udp', src: '198.18.1.10', dst: '198.18.2.99', sport, dport: 53, payload: new Uint8Array([i]) }), INSIDE);
    expect(t.info.parse(p)).toBe(ParseStatus.Ok);
    t.sink.verdict(p, t.dist.process(p, INSIDE, t.info));
  }
}

async function at(t: ReturnType<typeof setup>, now: number): Promise<void> {
  t.dist.setNow(now);
  t.l3.tick(now);
  await settle();
}

describe('ARP resolution failure', () => {
  test('every packet waiting on the unresolved neighbour is dropped at once and counted; a later packet tries again', async () => {
    const t = setup();
    await at(t, 0);
    // Two flows to the same unresolved next hop: 20 datagrams and 5.
    send(t, 5000, 20);
    send(t, 5001, 5);
    await settle();
    expect(t.sink.heldBySlot.size).toBe(25);
    expect(t.sink.dropped.length).toBe(0);
    expect(t.requests).toEqual([ip('198.18.2.99')]);
    // The retries go out; nothing is given up before the last one has had its time.
    for (let now = 10; now < RETRY_MS * TRIES; now += 10) await at(t, now);
    expect(t.requests.length).toBe(TRIES);
    expect(t.sink.heldBySlot.size).toBe(25);
    // The resolution fails: all 25 go in the same pass (before the fix: the two heads, then one per 3 s cycle).
    await at(t, RETRY_MS * TRIES);
    expect(t.sink.dropped.length).toBe(25);
    expect(t.sink.heldBySlot.size).toBe(0);
    expect(t.sink.sent.length).toBe(0);
    const c = t.counters.snapshot();
    expect(c['drop.arp']).toBe(25);
    const l3c = t.l3.snapshot();
    expect(l3c['l3.arpFailed']).toBe(1);
    expect(l3c['l3.arpGaveUp']).toBe(25);
    expect(l3c['l3.pending']).toBe(0);
    expect(t.dist.held).toBe(0);
    // No new request cycle was started by the queued packets.
    expect(t.requests.length).toBe(TRIES);
    // After the hold (one retry interval) a new packet resolves again, and is sent once the neighbour answers.
    await at(t, RETRY_MS * TRIES + RETRY_MS + 1);
    send(t, 5000, 1);
    await settle();
    expect(t.requests.length).toBe(TRIES + 1);
    t.l3.learn(ip('198.18.2.99'), 0x02000000aa99, OUTSIDE);
    await settle();
    expect(t.sink.sent.length).toBe(1);
    expect(t.sink.sent[0].port).toBe(OUTSIDE);
    // Destination MAC written from the learned neighbour.
    expect(Array.from(t.sink.sent[0].data.subarray(0, 6))).toEqual([0x02, 0, 0, 0, 0xaa, 0x99]);
    expect(t.sink.heldBySlot.size).toBe(0);
  });
});
