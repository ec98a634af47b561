// Monitor unit tests on scapy-built TCP pcaps: both endpoints' state machines through open, half-close and
// close; CONN_START once with a retransmitted SYN; REXMIT; NEW_DATA and ppeek across out-of-order arrival;
// FIRST vs LAST on overlapping segments with different bytes; sequence wraparound and window scaling; RST in
// and out of window; hostile input; user events (chained, more than 32); async handlers in per-flow order;
// stop monitoring a side; inline hold-until-inspected; bounded buffers and flow table.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Events, Monitor, TCP_STATE_NAMES, compileFilter, type Conn, type MosEvent, type Side } from '../../mos';
import { PacketInfo, ParseStatus } from '../../net/flow';
import { Verdict } from '../../reactor/app';
import { writePcap } from '../../tools/pcap';
import { FakeSink, frame, packet } from '../flow/helpers';
import { feed, scapyPcap, settle } from './harness';

const dir = fs.mkdtempSync('/tmp/mos-unit-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const pcap = (name: string) => scapyPcap(name, path.join(dir, `${name}.pcap`));

interface Ctx { log: string[] }
function mk(opts: Partial<ConstructorParameters<typeof Monitor<Ctx>>[0]> = {}) {
  const sink = new FakeSink();
  const mon = new Monitor<Ctx>({ sink, createContext: () => ({ log: [] }), resetContext: (c) => { c.log = []; }, ...opts });
  return { sink, mon };
}
const td = new TextDecoder();
const str = (b: Uint8Array | null) => (b === null ? null : td.decode(b));

describe('monitor: endpoint emulation', () => {
  test('basic: CONN_START once with a retransmitted SYN; states per side through open, half-close, close; REXMIT; streams', async () => {
    const { sink, mon } = mk();
    const starts: number[] = [], ends: number[] = [];
    const states: string[][] = [[], []];
    const rexmit: string[] = [];
    const data: string[][] = [[], []];
    let pktNo = 0;
    mon.on(Events.CONN_START, () => { starts.push(pktNo); });
    mon.on(Events.CONN_END, () => { ends.push(pktNo); });
    mon.on(Events.STATE_CHANGE, (c, side) => { states[side].push(TCP_STATE_NAMES[c.state(side)]); });
    mon.on(Events.REXMIT, (c, side) => { rexmit.push(`${pktNo}:${side}`); });
    mon.on(Events.NEW_DATA, (c, side) => { data[side].push(str(c.peek(side))!); });
    const recs = pcap('basic');
    const fed = await feed(mon, sink, recs, { onPacket: (i) => { pktNo = i + 1; } });
    expect(starts).toEqual([1]);
    expect(ends).toEqual([recs.length]);
    expect(states[0]).toEqual(['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'TIME_WAIT']);
    expect(states[1]).toEqual(['SYN_RCVD', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSED']);
    // frame 2: the SYN again (raised on the server's stream side); 12: the hole filled late (seq below what
    // was sent: mOS and this monitor call it a retransmission, tshark too here); 13: segment 1 again.
    expect(rexmit).toEqual(['2:1', '12:0', '13:0']);
    // The server receives "hello " then "world"; the client gets A*100, then B*100+C*100 at once (the hole
    // filled), then "tail".
    expect(data[1]).toEqual(['hello ', 'world']);
    expect(data[0]).toEqual(['A'.repeat(100), 'B'.repeat(100) + 'C'.repeat(100), 'tail']);
    // inline: every packet forwarded to the other port, the flow closed at CONN_END
    expect(fed.verdicts.every((v, i) => v === (recs[i].data[28] === 0 ? 1 : 0))).toBe(true);
    expect(sink.sent).toHaveLength(recs.length);
    expect(mon.dist.active).toBe(0);
    expect(mon.pool.used).toBe(0);
    expect(mon.counters).toMatchObject({ flows: 1, rexmits: 3, synRexmits: 1, connEnds: 1, orphans: 0 });
  });

  test('window scaling, SACK and sequence state seen per endpoint', async () => {
    const { sink, mon } = mk();
    const seen: Record<string, number>[] = [];
    mon.on(Events.PKT_IN, (c, side) => {
      if (c.seg.sackBlocks > 0) seen.push({ side, sack: c.seg.sackBlocks, clientWin: c.ep[0].win, serverWin: c.ep[1].win, una1: c.ep[1].una, sent1: c.ep[1].sent });
    });
    await feed(mon, sink, pcap('basic'));
    // The client's SACK (frame 11): windows scaled by the SYNs' shifts (client 500<<7, server 1000<<8); the
    // server has sent 300 bytes, 100 acknowledged.
    expect(seen).toEqual([{ side: 0, sack: 1, clientWin: 500 * 128, serverWin: 1000 * 256, una1: 100, sent1: 300 }]);
  });

  test('ppeek at offsets across out-of-order arrival, fragments reported', async () => {
    const { sink, mon } = mk();
    const got: unknown[] = [];
    mon.on(Events.PKT_IN, (c) => {
      if (c.seg.side === 1 && c.seg.length === 100 && c.seg.offset === 200) {
        // segment 3 arrived before segment 2: readable at its offset, not before
        got.push(c.fragments(0), str(c.ppeek(0, 200, 100)), c.ppeek(0, 150, 100), str(c.ppeek(0, 0, 10)), c.streamEnd(0));
      }
      if (c.seg.side === 1 && c.seg.offset === 100 && c.seg.length === 100) got.push(str(c.ppeek(0, 90, 20)), c.fragments(0), c.streamEnd(0));
    });
    await feed(mon, sink, pcap('basic'));
    expect(got).toEqual([[{ start: 200, end: 300 }], 'C'.repeat(100), null, 'A'.repeat(10), 100, 'A'.repeat(10) + 'B'.repeat(10), [], 300]);
  });

  test.each([
    ['first', 'A'.repeat(10) + 'B'.repeat(5) + 'E'.repeat(5) + 'D'.repeat(10) + 'F'.repeat(5)],
    ['last', 'A'.repeat(5) + 'B'.repeat(10) + 'E'.repeat(10) + 'D'.repeat(5) + 'F'.repeat(5)],
  ])('overlap policy %s on segments with conflicting bytes', async (policy, expected) => {
    const { sink, mon } = mk({ overlap: policy as 'first' | 'last' });
    const conflicts: number[] = [];
    let stream = '';
    mon.on(Events.PKT_IN, (c) => {
      if (c.seg.length > 0) conflicts.push(c.seg.conflict);
      if (c.seg.length > 0 && c.seg.offset === 30) stream = str(c.ppeek(1, 0, 35))!;
    });
    await feed(mon, sink, pcap('overlap'));
    // [0,10) A, [5,15) B, [20,30) D out of order, [15,25) E, [30,35) F: 5 conflicting bytes twice
    expect(stream).toBe(expected);
    expect(conflicts).toEqual([0, 5, 0, 5, 0]);
  });

  test('sequence wraparound: ISNs just below 2^32, streams contiguous across the wrap', async () => {
    const { sink, mon } = mk();
    let c0: Conn<Ctx> | null = null;
    const lens: number[] = [];
    mon.on(Events.NEW_DATA, (c, side) => { c0 = c; lens.push(side, c.streamEnd(side)); });
    let snap: unknown = null;
    mon.on(Events.PKT_IN, (c) => {
      if (c.seg.side === 0 && c.seg.length === 0 && c.seg.ack !== 0 && c.ep[0].sent === 600) {
        const b = c.ppeek(1, 0, 600)!;
        snap = { ok: b.every((x, k) => x === k % 251), across: Array.from(c.ppeek(1, 150, 100)!.slice(48, 52)), srv: c.ppeek(0, 0, 200)!.every((x, k) => x === (7 * k) % 256), una0: c.ep[0].una, una1: c.ep[1].una, winS: c.ep[1].win };
      }
    });
    await feed(mon, sink, pcap('wrap'));
    expect(c0).not.toBeNull();
    expect(lens).toEqual([1, 200, 1, 400, 1, 600, 0, 100, 0, 200]);
    expect(snap).toEqual({ ok: true, across: [198, 199, 200, 201].map((k) => k % 251), srv: true, una0: 600, una1: 200, winS: 8192 * 8 });
  });

  test('RST out of window ignored (counted), in window closes both sides', async () => {
    const { sink, mon } = mk();
    const states: string[] = [];
    mon.on(Events.STATE_CHANGE, (c, side) => { states.push(`${side}:${TCP_STATE_NAMES[c.state(side)]}`); });
    let end = 0;
    mon.on(Events.CONN_END, () => { end++; });
    await feed(mon, sink, pcap('rst'));
    expect(states.slice(-2)).toEqual(['0:CLOSED', '1:CLOSED']);
    expect(end).toBe(1);
    expect(mon.counters).toMatchObject({ rstOutOfWindow: 2, rstAccepted: 1 });
  });

  test('hostile input: orphan, SYN+FIN, data before the handshake, bad options: counted, no crash', async () => {
    const { sink, mon } = mk();
    const orphans: number[] = [];
    mon.on(Events.ORPHAN, (c) => { orphans.push(c.seg.length); });
    const early: string[] = [];
    mon.on(Events.NEW_DATA, (c, side) => { early.push(`${side}:${str(c.peek(side))}`); });
    const fed = await feed(mon, sink, pcap('hostile'));
    expect(fed.parseErrors).toBe(0);
    expect(orphans).toEqual([6]);
    expect(early).toEqual(['1:early', '1:zzz']);
    expect(mon.counters).toMatchObject({ orphans: 1, synFin: 1 });
    // truncated and garbage TCP never reach the monitor through a parse error; raw junk through PacketInfo
    const info = new PacketInfo();
    let bad = 0;
    for (let n = 0; n < 2000; n++) {
      const f = frame({ proto: 'tcp', src: '198.18.0.9', dst: '198.18.1.1', sport: 1000 + (n % 7), dport: 80, flags: n & 0x3f, seq: n * 7919, payload: new Uint8Array(n % 40) });
      // corrupt the data offset and a few bytes
      f[46] = (n * 37) & 0xf0;
      f[54 + (n % 10)] = n & 255;
      const p = packet(f, 0);
      if (info.parse(p) !== ParseStatus.Ok) { bad++; continue; }
      sink.verdict(p, mon.process(p, 0, info));
    }
    await settle();
    expect(bad).toBeGreaterThan(0);
    expect(sink.heldBySlot.size).toBe(0);
  });
});

describe('monitor: events and handlers', () => {
  test('user events: a chain over NEW_DATA, 40 of them (beyond mOS 32), raised from filters on the right side', async () => {
    const { sink, mon } = mk();
    const hasWorld = mon.defineEvent(Events.NEW_DATA, (c, side) => side === 1 && str(c.ppeek(1, 0, c.streamEnd(1))!)!.includes('world'));
    const chained = mon.defineEvent(hasWorld, (c) => c.streamEnd(1) === 11);
    let fired: string[] = [];
    mon.on(chained, (c, side) => { fired.push(`chained:${side}:${c.seg.offset}`); });
    mon.on(hasWorld, (c, side) => { fired.push(`world:${side}`); }, { side: 'server' });
    mon.on(hasWorld, () => { fired.push('never'); }, { side: 'client' });
    const many: MosEvent[] = [];
    let e: MosEvent = Events.PKT_IN;
    for (let i = 0; i < 40; i++) many.push((e = mon.defineEvent(e, () => true)));
    let deepest = 0;
    mon.on(many[39], () => { deepest++; });
    const recs = pcap('basic');
    await feed(mon, sink, recs);
    expect(fired).toEqual(['world:1', 'chained:1:6']);
    expect(deepest).toBe(recs.length);
    fired = [];
  });

  test('async handlers keep the per-flow order; later packets are held meanwhile (inline hold-until-inspected)', async () => {
    const { sink, mon } = mk();
    const order: number[] = [];
    const gates: (() => void)[] = [];
    mon.on(Events.PKT_IN, async (c) => {
      const n = c.ep[0].packets + c.ep[1].packets;
      if (n === 5) await new Promise<void>((r) => gates.push(r));
      order.push(n);
    });
    const recs = pcap('basic');
    await feed(mon, sink, recs);
    // packet 5 waits for its verdict; the rest of the flow is held behind it, nothing dropped or reordered
    expect(order).toEqual([1, 2, 3, 4]);
    expect(sink.sent).toHaveLength(4);
    expect(mon.dist.held).toBe(recs.length - 4);
    gates[0]();
    await settle(20);
    expect(order).toEqual(Array.from({ length: recs.length }, (_, i) => i + 1));
    expect(sink.sent).toHaveLength(recs.length);
    expect(sink.heldBySlot.size).toBe(0);
    // an async function's every call returns a promise: each packet's verdict waited for one
    expect(mon.counters.asyncHandlers).toBe(recs.length);
  });

  test('drop a packet inline; passive mode never forwards; stop monitoring one side', async () => {
    const a = mk();
    a.mon.on(Events.NEW_DATA, (c, side) => { if (side === 1 && str(c.peek(1)) === 'world') c.drop(); });
    const recs = pcap('basic');
    const fa = await feed(a.mon, a.sink, recs);
    expect(fa.verdicts.filter((v) => v === Verdict.DROP)).toHaveLength(1);
    const b = mk({ mode: 'passive' });
    const fb = await feed(b.mon, b.sink, recs);
    expect(fb.verdicts.every((v) => v === Verdict.DROP)).toBe(true);
    const c = mk();
    const data: string[] = [];
    c.mon.on(Events.CONN_START, (conn) => conn.stopMonitoring(0));
    c.mon.on(Events.NEW_DATA, (conn, side) => { data.push(`${side}:${str(conn.peek(side))}`); });
    await feed(c.mon, c.sink, recs);
    expect(data).toEqual(['1:hello ', '1:world']);
    const d = mk();
    let calls = 0;
    d.mon.on(Events.PKT_IN, (conn) => { calls++; conn.dropFlow(); });
    const fd = await feed(d.mon, d.sink, recs);
    expect(calls).toBe(1);
    expect(fd.verdicts.every((v) => v === Verdict.DROP)).toBe(true);
  });

  test('first-packet filter (expression) and the stream iterator', async () => {
    const f = compileFilter('tcp and dst port 80 and not src host 198.18.0.99');
    const { sink, mon } = mk({ filter: f });
    const chunks: string[] = [];
    mon.on(Events.CONN_START, (c) => {
      void (async () => { for await (const ch of c.stream(1)) chunks.push(td.decode(ch)); chunks.push('END'); })();
    });
    await feed(mon, sink, [...pcap('basic'), ...pcap('wrap')]);
    await settle(10);
    expect(sink.heldBySlot.size).toBe(0);
    expect(chunks).toEqual(['hello ', 'world', 'END']);
    expect(mon.counters.filteredOut).toBeGreaterThan(0);
    expect(() => compileFilter('port')).toThrow(/unexpected end/);
    expect(() => compileFilter('dst port 99999')).toThrow(/bad number/);
  });

  test('TIMEOUT then CONN_END for an idle flow, buffers returned', async () => {
    const { sink, mon } = mk({ timeouts: { TcpEstablished: 1000, TcpOpening: 1000, TcpClosing: 1000 } });
    const evs: string[] = [];
    mon.on(Events.TIMEOUT, (c) => { evs.push(`timeout:${str(c.ppeek(1, 0, 5))}`); });
    mon.on(Events.CONN_END, () => { evs.push('end'); });
    const recs = pcap('basic').slice(0, 8);
    await feed(mon, sink, recs);
    expect(mon.pool.used).toBeGreaterThan(0);
    mon.dist.expire(mon.dist.now + 5000);
    await settle();
    expect(evs).toEqual(['timeout:hello', 'end']);
    expect(mon.pool.used).toBe(0);
    expect(mon.dist.active).toBe(0);
  });
});

describe('monitor: inject', () => {
  test('an IPS cut: RSTs injected both ways with the right sequence numbers, addresses and checksums (tshark)', async () => {
    const { sink, mon } = mk({ alloc: (n) => packet(new Uint8Array(n), 0) });
    mon.on(Events.NEW_DATA, (c, side) => {
      if (side === 1 && str(c.ppeek(1, 6, 5)) === 'world') {
        expect(mon.inject(c, 1, 0x04)).toBe(true); // to the client, as if from the server
        expect(mon.inject(c, 0, 0x04)).toBe(true); // to the server, as if from the client
        c.dropFlow();
      }
    });
    const recs = pcap('basic');
    await feed(mon, sink, recs);
    const injected = sink.sent.filter((x) => x.data.length === 54 && (x.data[47] & 0x04) !== 0);
    expect(injected.map((x) => x.port)).toEqual([0, 1]);
    const f = path.join(dir, 'injected.pcap');
    writePcap(f, injected.map((x) => ({ data: x.data })));
    const rows = execFileSync('tshark', ['-r', f, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'tcp.relative_sequence_numbers:FALSE', '-T', 'fields',
      '-e', 'ip.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'tcp.dstport', '-e', 'tcp.seq', '-e', 'tcp.ack', '-e', 'tcp.flags.reset', '-e', 'tcp.checksum.status', '-e', 'ip.checksum.status', '-e', 'eth.dst'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').map((l) => l.split('\t'));
    // reset flag set, TCP and IPv4 checksums good (status 1), Ethernet addresses of the side's last frame
    expect(rows).toEqual([
      ['198.18.1.1', '80', '198.18.0.1', '40000', '5001', '1012', '1', '1', '1', '02:00:00:00:00:01'],
      ['198.18.0.1', '40000', '198.18.1.1', '80', '1012', '5001', '1', '1', '1', '02:00:00:00:00:02'],
    ]);
    expect(mon.counters.injected).toBe(2);
  });
});

describe('monitor: bounds', () => {
  test('an overrun raises ERROR with the lost byte count and never grows the buffer', async () => {
    const { sink, mon } = mk({ bufferBytes: 64 });
    const errs: string[] = [];
    mon.on(Events.ERROR, (c) => { errs.push(`${c.lastError.kind}:${c.lastError.side}:${c.lastError.bytes}`); });
    let lost = 0, tail = '';
    mon.on(Events.CONN_END, (c) => { lost = c.takeLost(0); tail = str(c.peek(0))!; });
    await feed(mon, sink, pcap('basic'));
    // The client's stream through a 64-byte ring, nobody reading: 100 A (the first 36 skipped), C at
    // [200,300) out of order (head moves to 236: 200 more skipped), B fills the hole (stored only from 236
    // on: nothing of it fits), then 'tail' at [300,304) (4 more skipped). The ring holds C[64..100) + tail.
    expect(errs).toEqual(['overrun:0:36', 'overrun:0:200', 'overrun:0:4']);
    expect(lost).toBe(240);
    expect(tail).toBe('C'.repeat(60) + 'tail');
  });

  test('1M flows through a 4096-flow table with a 1 MiB buffer budget: table and memory bounded, drops counted', async () => {
    const { sink, mon } = mk({ maxFlows: 4096, bufferBytes: 1024, maxBufferBytes: 1 << 20 });
    const info = new PacketInfo({ verifyIpChecksum: false });
    const base = frame({ proto: 'tcp', src: '198.18.0.1', dst: '198.19.0.1', sport: 1, dport: 80, flags: 0x02, seq: 1 });
    const p = packet(base, 0);
    if (global.gc) global.gc();
    const heap0 = process.memoryUsage().heapUsed;
    for (let n = 0; n < 1_000_000; n++) {
      // vary the source address and port in place (the checksums do not matter to the monitor)
      p.bytes[p.offset + 28] = (n >> 16) & 255; p.bytes[p.offset + 29] = (n >> 8) & 255; p.bytes[p.offset + 33] = n & 255;
      info.parse(p);
      sink.verdict(p, mon.process(p, 0, info));
      if (n % 100000 === 0) sink.sent.length = 0;
    }
    sink.sent.length = 0;
    if (global.gc) global.gc();
    const grown = process.memoryUsage().heapUsed - heap0;
    expect(mon.dist.active).toBe(4096);
    expect(mon.dist.counters.tableFull).toBe(1_000_000 - 4096);
    expect(mon.pool.used).toBeLessThanOrEqual(1 << 20);
    // 4096 flow objects with their state: well under 64 MiB whatever 1M flows did
    expect(grown).toBeLessThan(64 * 1024 * 1024);
  });
});
