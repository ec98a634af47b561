// Flow layer unit tests: one flow for both directions, ordered processing across awaits, bounded queues,
// overload counters, idle expiry per class, TCP open/close events, ICMP errors related to their flow, the
// async-loop style, user events, and held packets always sent or dropped (never leaked).
import { Verdict } from '../../reactor/app';
import {
  AsyncFlow, CREATE_FLOW, FlowAction, FlowDistributor, FlowEvent, FlowTable, HUGE_TABLE_MIN_BYTES, OVS_DEFAULT_TIMEOUTS, hugeTableMemory, PacketInfo, ParseStatus, TimeoutClass, Track,
} from '../../net/flow';
import type { Packet } from '../../net/packet';
import * as fs from 'fs';
import { native } from '../../native';
import { FakeSink, frame, packet, quote, settle } from './helpers';

const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04;

function harness<S>(opts: Partial<ConstructorParameters<typeof FlowDistributor<S>>[0]> & { createState?: () => S } = {}) {
  const sink = new FakeSink();
  const dist = new FlowDistributor<S>({ capacity: 64, createState: (() => ({})) as () => S, sink, ...opts });
  const info = new PacketInfo();
  const feed = (bytes: Uint8Array, port = 0): { pkt: Packet; v: number } => {
    const pkt = packet(bytes, port);
    expect(info.parse(pkt)).toBe(ParseStatus.Ok);
    const v = dist.process(pkt, port, info);
    sink.verdict(pkt, v);
    return { pkt, v };
  };
  return { sink, dist, info, feed };
}

const udp = (sport: number, dport: number, fwd = true, n = 0): Uint8Array =>
  fwd
    ? frame({ src: '198.18.0.1', dst: '198.18.1.1', sport, dport, payload: new Uint8Array([n & 255, n >> 8]) })
    : frame({ src: '198.18.1.1', dst: '198.18.0.1', sport: dport, dport: sport, payload: new Uint8Array([n & 255, n >> 8]) });

describe('FlowTable', () => {
  test('random inserts and removals agree with a Map; both orientations find an entry; the capacity holds', () => {
    const t = new FlowTable(500);
    const ref = new Map<string, number>();
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 6000; i++) {
      const a = 0xc6120000 + rnd(64), b = 0xc6130000 + rnd(64), pa = rnd(8), pb = rnd(4), proto = rnd(2) ? 6 : 17;
      const key = `${proto}/${a}/${b}/${pa}/${pb}`;
      if (rnd(3) === 0) {
        expect(t.remove(proto, b, a, pb, pa)).toBe(ref.delete(key));
      } else if (!ref.has(key)) {
        const ok = t.insert(proto, a, b, pa, pb, i);
        expect(ok).toBe(ref.size < 500);
        if (ok) ref.set(key, i);
      }
      expect(t.size).toBe(ref.size);
    }
    for (const [k, v] of ref) {
      const [proto, a, b, pa, pb] = k.split('/').map(Number);
      expect(t.get(proto, a, b, pa, pb)).toBe(v);
      expect(t.get(proto, b, a, pb, pa)).toBe(v);
    }
  });
});

/** Huge-page (2 MiB) kB of this process's anonymous memory, from /proc/self/smaps_rollup. */
function anonHugeKb(): number {
  const m = /AnonHugePages:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'));
  return m ? Number(m[1]) : 0;
}

describe('FlowTable memory', () => {
  const thp = fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
  const thpOn = !thp.includes('[never]');

  test('a big table gets huge-page memory (when THP is not off) and behaves exactly like an ordinary one', () => {
    const before = anonHugeKb();
    const big = new FlowTable(131072, hugeTableMemory);
    const plain = new FlowTable(131072);
    expect({ huge: big.hugeMemory, plain: plain.hugeMemory }).toEqual({ huge: thpOn, plain: false });
    // The kernel backed the 4 MiB of slots with 2 MiB pages (they were faulted in at allocation).
    if (thpOn) expect(anonHugeKb() - before).toBeGreaterThanOrEqual(2048);
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const mismatches: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const a = (0xc6120000 + rnd(4096)) >>> 0, b = 0xc0000209, pa = rnd(65536), pb = 9;
      const same = rnd(4) === 0
        ? big.remove(17, a, b, pa, pb) === plain.remove(17, a, b, pa, pb)
        : big.insert(17, a, b, pa, pb, i) === plain.insert(17, a, b, pa, pb, i);
      if (!same || big.get(17, b, a, pb, pa) !== plain.get(17, b, a, pb, pa)) mismatches.push(i);
    }
    expect(mismatches).toEqual([]);
    expect(big.size).toBe(plain.size);
    expect(big.size).toBeGreaterThan(1000);
  });

  test('small tables stay in ordinary memory; memory that is too small is refused', () => {
    expect(hugeTableMemory(HUGE_TABLE_MIN_BYTES - 16)).toBeNull();
    expect(new FlowTable(1000, hugeTableMemory).hugeMemory).toBe(false);
    expect(() => new FlowTable(1000, () => ({ buffer: new ArrayBuffer(64), huge: false }))).toThrow(/64 bytes given, 32768 needed/);
  });

  test('the distributor reports where its table lives', () => {
    const sink = new FakeSink();
    const big = new FlowDistributor({ capacity: 65536, createState: () => ({}), sink });
    const small = new FlowDistributor({ capacity: 64, createState: () => ({}), sink });
    expect(big.snapshot()['flow.tableHugePages']).toBe(thpOn ? 1 : 0);
    expect(small.snapshot()['flow.tableHugePages']).toBe(0);
  });

  test('native.memory.hugeBuffer checks its argument', () => {
    for (const bad of [0, -1, 1.5, 2 ** 31, Number.NaN]) expect(() => native.memory.hugeBuffer(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => (native.memory.hugeBuffer as unknown as (x: unknown) => unknown)('4096')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    const r = native.memory.hugeBuffer(3 << 20);
    expect(r.buffer.byteLength).toBe(3 << 20);
    const u = new Uint8Array(r.buffer);
    expect(u.every((x) => x === 0)).toBe(true);
    u[u.length - 1] = 7;
    expect(u[u.length - 1]).toBe(7);
  });
});

describe('FlowDistributor', () => {
  test('both directions reach one flow; direction and New are reported; forward goes to the other port', () => {
    const seen: [number, number, number][] = [];
    const { dist, feed, sink } = harness({
      handler: (f: AsyncFlow) => {
        seen.push([f.direction, f.events, f.inPort]);
        return FlowAction.Forward;
      },
    });
    feed(udp(1000, 53), 0);
    feed(udp(1000, 53, false), 1);
    feed(udp(1000, 53), 0);
    expect(dist.active).toBe(1);
    expect(seen.map((s) => s[0])).toEqual([0, 1, 0]);
    expect(seen[0][1] & FlowEvent.New).toBeTruthy();
    expect(seen[1][1] & FlowEvent.New).toBeFalsy();
    expect(seen[1][1] & FlowEvent.Open).toBeTruthy();
    expect(sink.sent.map((s) => s.port)).toEqual([1, 0, 1]);
    expect(dist.counters.flowsCreated).toBe(1);
  });

  test('packets stay in order while the handler awaits; queued packets wait, held, then go out in order', async () => {
    const order: number[] = [];
    const { dist, feed, sink } = harness({
      handler: async (f: AsyncFlow) => {
        const p = f.packet!;
        const n = p.bytes[p.offset + 42];
        order.push(n);
        // Every third packet awaits a little, others a different amount: without ordering they would reorder.
        await new Promise((r) => setTimeout(r, n % 3 === 0 ? 5 : 1));
        return FlowAction.Forward;
      },
    });
    for (let n = 0; n < 30; n++) expect(feed(udp(1000, 53, true, n)).v).toBe(Verdict.STOLEN);
    expect(dist.held).toBe(30);
    for (let i = 0; i < 100 && sink.sent.length < 30; i++) await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(sink.sent.map((s) => s.data[42])).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(sink.heldBySlot.size).toBe(0);
    expect(dist.held).toBe(0);
  });

  test('a synchronous handler after an async one: mixed answers keep order; an async handler may change the packet', async () => {
    let k = 0;
    const { feed, sink } = harness({
      handler: (f: AsyncFlow) => {
        const p = f.packet!;
        if (k++ % 2 === 0) return FlowAction.Forward;
        return Promise.resolve().then(() => {
          p.trimBack(1); // visible in what is sent
          return FlowAction.Forward;
        });
      },
    });
    for (let n = 0; n < 10; n++) feed(udp(1000, 53, true, n));
    await settle();
    expect(sink.sent.map((s) => s.data[42])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sink.sent.map((s) => s.data.length)).toEqual([44, 43, 44, 43, 44, 43, 44, 43, 44, 43]);
    expect(sink.heldBySlot.size).toBe(0);
  });

  test('bounded per-flow queue: beyond it packets drop and are counted; the rest go out when the handler answers', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => { release = r; });
    const { dist, feed, sink } = harness({
      maxQueuedPerFlow: 8,
      handler: async () => {
        await gate;
        return FlowAction.Forward;
      },
    });
    for (let n = 0; n < 20; n++) feed(udp(1000, 53, true, n));
    expect(dist.counters.flowQueueFull).toBe(11);
    expect(sink.dropped.length).toBe(11);
    expect(dist.held).toBe(9);
    release();
    await settle();
    expect(sink.sent.map((s) => s.data[42])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(sink.heldBySlot.size).toBe(0);
  });

  test('overload: total queue, new flows waiting, and a full table drop with counters and no growth', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => { release = r; });
    const { dist, feed, sink } = harness({
      capacity: 10,
      maxQueued: 5,
      maxPendingNew: 4,
      handler: async () => {
        await gate;
        return FlowAction.Forward;
      },
    });
    // Four new flows pending: the fifth new flow is refused.
    for (let i = 0; i < 5; i++) feed(udp(2000 + i, 53));
    expect(dist.counters.newFlowQueueFull).toBe(1);
    expect(dist.active).toBe(4);
    // Queued behind pending handlers: 5 in total at most.
    for (let i = 0; i < 8; i++) feed(udp(2000 + (i % 4), 53));
    expect(dist.counters.queueFull).toBe(3);
    release();
    await settle();
    expect(sink.heldBySlot.size).toBe(0);
    // Table: 10 flows, the 11th and later are refused.
    const { dist: d2, feed: f2 } = harness({ capacity: 10 });
    for (let i = 0; i < 15; i++) f2(udp(3000 + i, 53));
    expect(d2.active).toBe(10);
    expect(d2.counters.tableFull).toBe(5);
    expect(d2.table.size).toBe(10);
  });

  test('handler errors drop the packet and count; the flow goes on', async () => {
    let n = 0;
    const { dist, feed, sink } = harness({
      handler: (): FlowAction | Promise<FlowAction> => {
        n++;
        if (n === 1) throw new Error('sync boom');
        if (n === 2) return Promise.reject(new Error('async boom'));
        return FlowAction.Forward;
      },
    });
    feed(udp(1000, 53, true, 0));
    feed(udp(1000, 53, true, 1));
    feed(udp(1000, 53, true, 2));
    await settle();
    expect(dist.counters.handlerErrors).toBe(2);
    expect(sink.dropped.length).toBe(2);
    expect(sink.sent.map((s) => s.data[42])).toEqual([2]);
    expect(sink.heldBySlot.size).toBe(0);
  });

  test('CloseForward removes the flow; packets queued behind it start a new flow', async () => {
    const flowsSeen = new Set<number>();
    let first = true;
    const { dist, feed, sink } = harness({
      handler: async (f: AsyncFlow) => {
        flowsSeen.add(f.gen * 1000 + f.index);
        await Promise.resolve();
        if (first) {
          first = false;
          return FlowAction.CloseForward;
        }
        return FlowAction.Forward;
      },
    });
    for (let n = 0; n < 3; n++) feed(udp(1000, 53, true, n));
    await settle();
    expect(sink.sent.map((s) => s.data[42])).toEqual([0, 1, 2]);
    expect(dist.counters.flowsClosed).toBe(1);
    expect(dist.counters.flowsCreated).toBe(2);
    expect(dist.counters.redispatched).toBe(2);
    expect(flowsSeen.size).toBe(2);
    expect(dist.active).toBe(1);
  });

  test('idle expiry per class: UDP single/bidirectional timeouts, a Timeout event, then a fresh flow', () => {
    const events: number[] = [];
    const { dist, feed } = harness({
      timeouts: { OtherFirst: 100, OtherMultiple: 100, OtherBidir: 300 },
      handler: (f: AsyncFlow) => {
        events.push(f.events);
        return FlowAction.Forward;
      },
    });
    dist.now = 0;
    feed(udp(1000, 53));
    dist.now = 50;
    feed(udp(1001, 53));
    feed(udp(1001, 53, false));
    expect(dist.nextExpiry()).toBe(100);
    expect(dist.expire(99)).toBe(0);
    expect(dist.expire(100)).toBe(1); // the one-way flow
    expect(events[events.length - 1]).toBe(FlowEvent.Timeout);
    expect(dist.active).toBe(1);
    expect(dist.nextExpiry()).toBe(350);
    expect(dist.expire(349)).toBe(0);
    expect(dist.expire(350)).toBe(1);
    expect(dist.active).toBe(0);
    expect(dist.counters.flowsExpired).toBe(2);
    dist.now = 400;
    feed(udp(1000, 53));
    expect(dist.counters.flowsCreated).toBe(3);
  });

  test('TCP: handshake raises Open, FINs raise Fin, both acknowledged raise Close; classes follow; RST closes', () => {
    const evs: number[] = [];
    let flow: AsyncFlow | null = null;
    const { feed } = harness({
      handler: (f: AsyncFlow) => {
        evs.push(f.events);
        flow = f;
        return FlowAction.Forward;
      },
    });
    const c = (flags: number, seq: number, ack: number, fwd = true): Uint8Array =>
      fwd
        ? frame({ proto: 'tcp', src: '198.18.0.1', dst: '198.18.1.1', sport: 4000, dport: 80, flags, seq, ack })
        : frame({ proto: 'tcp', src: '198.18.1.1', dst: '198.18.0.1', sport: 80, dport: 4000, flags, seq, ack });
    feed(c(SYN, 100, 0));
    expect(flow!.tclass).toBe(TimeoutClass.TcpFirstPacket);
    feed(c(SYN | ACK, 500, 101, false));
    expect(flow!.tclass).toBe(TimeoutClass.TcpOpening);
    feed(c(ACK, 101, 501));
    expect(evs[2] & FlowEvent.Open).toBeTruthy();
    expect(flow!.tclass).toBe(TimeoutClass.TcpEstablished);
    feed(c(FIN | ACK, 101, 501));
    expect(evs[3] & FlowEvent.Fin).toBeTruthy();
    expect(flow!.tclass).toBe(TimeoutClass.TcpClosing);
    feed(c(FIN | ACK, 501, 102, false));
    expect(flow!.tclass).toBe(TimeoutClass.TcpFinWait);
    feed(c(ACK, 102, 502));
    expect(evs[5] & FlowEvent.Close).toBeTruthy();
    expect(flow!.tclass).toBe(TimeoutClass.TcpClosed);
    expect(flow!.track & Track.Closed).toBeTruthy();

    const { feed: feed2 } = harness({ handler: (f: AsyncFlow) => { evs.push(f.events); return FlowAction.Forward; } });
    evs.length = 0;
    feed2(c(SYN, 1, 0));
    feed2(c(RST | ACK, 0, 2, false));
    expect(evs[1] & FlowEvent.Rst).toBeTruthy();
    expect(evs[1] & FlowEvent.Close).toBeTruthy();
  });

  test('an ICMP error quoting a packet of a flow reaches that flow as Related, in the reverse direction', () => {
    const seen: [number, number][] = [];
    const { feed, dist } = harness({
      handler: (f: AsyncFlow) => {
        seen.push([f.events, f.direction]);
        return FlowAction.Forward;
      },
    });
    const out = udp(1000, 53);
    feed(out, 0);
    feed(frame({ proto: 'icmp', src: '198.18.1.1', dst: '198.18.0.1', icmpType: 3, icmpCode: 3, quoted: quote(out) }), 1);
    expect(seen[1][0] & FlowEvent.Related).toBeTruthy();
    expect(seen[1][1]).toBe(1);
    // An error about a flow that does not exist is dropped and counted.
    feed(frame({ proto: 'icmp', src: '198.18.1.1', dst: '198.18.0.1', icmpType: 3, icmpCode: 3, quoted: quote(udp(9, 9)) }), 1);
    expect(dist.counters.relatedNoFlow).toBe(1);
  });

  test('onMiss decides which packets may start flows; onNewFlow may add a second key (a NAT reply tuple)', () => {
    const { dist, feed, sink } = harness({
      onMiss: (_p: Packet, info: PacketInfo, port: number) => (port === 0 ? CREATE_FLOW : (info.kSport === 53 ? Verdict.DROP : Verdict.DROP)),
      onNewFlow: (f: AsyncFlow) => f.addKey(17, 0xc6130001, 0xc6120063, 53, 40000, 1),
      handler: (f: AsyncFlow) => (f.direction === 1 ? FlowAction.Forward : FlowAction.Forward),
    });
    feed(udp(1000, 53), 1); // unsolicited on port 1
    expect(dist.active).toBe(0);
    feed(udp(1000, 53), 0);
    expect(dist.active).toBe(1);
    // A reply carrying the translated tuple finds the same flow, as direction 1.
    feed(frame({ src: '198.19.0.1', dst: '198.18.0.99', sport: 53, dport: 40000 }), 1);
    expect(dist.counters.flowsCreated).toBe(1);
    expect(sink.sent.map((s) => s.port)).toEqual([1, 0]);
    expect(dist.table.size).toBe(2);
  });

  test('async loop style: for await over the flow, answers per packet, the loop ends on timeout', async () => {
    const log: string[] = [];
    const { dist, feed, sink } = harness({
      timeouts: { OtherFirst: 10, OtherMultiple: 10, OtherBidir: 10 },
      onNewFlow: (f: AsyncFlow) => {
        f.runLoop(async (flow) => {
          for await (const ev of flow) {
            if (ev & FlowEvent.Timeout) {
              log.push('timeout');
              continue;
            }
            const n = flow.packet!.bytes[flow.packet!.offset + 42];
            await new Promise((r) => setTimeout(r, 1));
            log.push(`pkt${n}`);
            if (n === 1) flow.answer(FlowAction.Drop);
          }
          log.push('end');
        });
        return true;
      },
    });
    dist.now = 0;
    for (let n = 0; n < 4; n++) feed(udp(1000, 53, true, n));
    for (let i = 0; i < 50 && sink.sent.length + sink.dropped.length < 4; i++) await new Promise((r) => setTimeout(r, 2));
    expect(sink.sent.map((s) => s.data[42])).toEqual([0, 2, 3]);
    expect(sink.dropped.length).toBe(1);
    dist.expire(1000);
    await settle();
    expect(log).toEqual(['pkt0', 'pkt1', 'pkt2', 'pkt3', 'timeout', 'end']);
    expect(sink.heldBySlot.size).toBe(0);
  });

  test('user events: a filter raises an event only for flows watching it; unwatched packets skip the handler', () => {
    let calls = 0;
    const big = new FlowDistributor({ capacity: 8, createState: () => ({}), sink: new FakeSink() });
    const BIG = big.registerEvent((p) => p.length > 100);
    const sink = new FakeSink();
    const dist = new FlowDistributor({
      capacity: 8, createState: () => ({}), sink,
      onNewFlow: (f) => { f.watchEvents(FlowEvent.New | BIG); return true; },
      handler: (f) => {
        calls++;
        return f.events & BIG ? FlowAction.Drop : FlowAction.Forward;
      },
    });
    expect(dist.registerEvent((p) => p.length > 100)).toBe(BIG);
    const info = new PacketInfo();
    const go = (b: Uint8Array): void => {
      const p = packet(b);
      info.parse(p);
      sink.verdict(p, dist.process(p, 0, info));
    };
    go(frame({ src: '198.18.0.1', dst: '198.18.1.1', payload: new Uint8Array(10) }));
    go(frame({ src: '198.18.0.1', dst: '198.18.1.1', payload: new Uint8Array(10) }));
    go(frame({ src: '198.18.0.1', dst: '198.18.1.1', payload: new Uint8Array(200) }));
    expect(calls).toBe(2);
    expect(sink.sent.length).toBe(2);
    expect(sink.dropped.length).toBe(1);
  });

  test('take(): a handler that disposes of the packet itself, now or after an await', async () => {
    const { feed, sink } = harness({
      handler: async (f: AsyncFlow) => {
        const mine = f.take()!;
        await Promise.resolve();
        sink.send(mine, 7);
        return FlowAction.Stolen;
      },
    });
    feed(udp(1, 2));
    feed(udp(1, 2));
    await settle();
    expect(sink.sent.map((s) => s.port)).toEqual([7, 7]);
    expect(sink.heldBySlot.size).toBe(0);
  });

  test('dropAll at stop frees every held packet', () => {
    const { dist, feed, sink } = harness({ handler: () => new Promise<FlowAction>(() => {}) });
    for (let i = 0; i < 5; i++) feed(udp(1000 + (i % 2), 53));
    expect(sink.heldBySlot.size).toBe(5);
    expect(dist.dropAll()).toBe(5);
    expect(sink.heldBySlot.size).toBe(0);
    expect(dist.active).toBe(0);
  });

  test('a flow made before the first tick is not idle since time 0 (regression: it expired at the first pass)', async () => {
    // Timeouts of half this process's age: a flow clock starting at 0 would see the flow idle for longer.
    const half = Math.max(50, Math.floor(performance.now() / 2));
    const t = Object.fromEntries(Object.keys(OVS_DEFAULT_TIMEOUTS).map((k) => [k, half])) as typeof OVS_DEFAULT_TIMEOUTS;
    const { dist, feed } = harness({ timeouts: t });
    feed(udp(1000, 53));
    expect(dist.active).toBe(1);
    expect(dist.expire(performance.now())).toBe(0);
    expect(dist.active).toBe(1);
  });
});
