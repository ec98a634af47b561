// TCP state machine, smoltcp manner: feed one segment in, assert the exact segments out (sequence and
// acknowledgement numbers, flags, window, options). The stack's ISN is fixed at 1000, the peer's at 5000.

import { TcpListener, TcpSocket, TcpState } from '../../net/stack';
import { Harness, PEER_PORT, Seg, T0, baseConfig, segOf } from './helpers';

const ISS = 1000;
const IRS = 5000;

/** Passive open with the peer's SYN carrying `syn` options; returns the accepted socket. */
async function acceptOne(h: Harness, syn: Partial<Seg> = {}, ack: Partial<Seg> = {}, port = 80): Promise<[TcpSocket, TcpListener]> {
  const l = h.stack.tcpListen(port);
  h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460, dstPort: port, ...syn });
  h.segs();
  h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192, dstPort: port, ...ack });
  const s = await l.accept();
  expect(s.state).toBe(TcpState.Established);
  return [s, l];
}

describe('handshake', () => {
  test('passive open: SYN -> SYN-ACK -> ACK', async () => {
    const h = new Harness();
    const l = h.stack.tcpListen(80);
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460 });
    expect(h.segs()).toEqual([{ seq: ISS, ack: IRS + 1, flags: 'SYN,ACK', window: 16384, mss: 1460 }]);
    expect(l.halfOpen).toBe(1);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192 });
    expect(h.segs()).toEqual([]);
    const s = await l.accept();
    expect(s.state).toBe(TcpState.Established);
    expect(s.remotePort).toBe(PEER_PORT);
    expect(s.remoteAddress).toBe('198.18.0.2');
    expect(l.halfOpen).toBe(0);
    expect(h.stack.counters.tcpPassiveOpens).toBe(1);
  });

  test('active open: SYN, SYN-ACK, ACK; MSS taken from the peer', async () => {
    const h = new Harness();
    const p = h.stack.tcpConnect('198.18.0.2', 80);
    h.poll();
    const out = h.out();
    expect(out.map((x) => x.tcp?.srcPort)).toEqual([50000]);
    expect(out[0].tcp?.dstPort).toBe(80);
    expect(out[0].ethDst).toBe('02:00:00:00:00:02');
    expect(out[0].ip?.df).toBe(true);
    expect(out[0].ip?.ttl).toBe(64);
    expect(out.map(segOf)).toEqual([{ seq: ISS, flags: 'SYN', window: 16384, mss: 1460 }]);
    h.tcp({ seq: IRS, ack: ISS + 1, flags: 'SYN,ACK', window: 8192, mss: 1200, srcPort: 80, dstPort: 50000 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384 }]);
    const s = await p;
    expect(s.state).toBe(TcpState.Established);
    expect(s.info().mss).toBe(1200);
  });

  test('active open refused by RST', async () => {
    const h = new Harness();
    const p = h.stack.tcpConnect('198.18.0.2', 80);
    h.poll();
    h.segs();
    h.tcp({ seq: 0, ack: ISS + 1, flags: 'RST,ACK', window: 0, srcPort: 80, dstPort: 50000 });
    await expect(p).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(h.stack.tcp.connections).toBe(0);
  });

  test('SYN retransmitted with backoff, then ETIMEDOUT', async () => {
    const h = new Harness(baseConfig({ tcp: { synRetries: 2 } }));
    const p = h.stack.tcpConnect('198.18.0.2', 80);
    h.poll();
    expect(h.segs().map((s) => s.seq)).toEqual([ISS]);
    h.advance(999);
    expect(h.segs()).toEqual([]);
    h.advance(1);
    expect(h.segs()).toEqual([{ seq: ISS, flags: 'SYN', window: 16384, mss: 1460 }]);
    h.advance(1999);
    expect(h.segs()).toEqual([]);
    h.advance(1);
    expect(h.segs().length).toBe(1);
    h.advance(4000);
    await expect(p).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(h.stack.counters.tcpTimeouts).toBe(1);
  });

  test('lost SYN-ACK: the retransmitted SYN gets the same SYN-ACK', () => {
    const h = new Harness();
    h.stack.tcpListen(80);
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460 });
    const first = h.segs();
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460 });
    expect(h.segs()).toEqual(first);
  });

  test('simultaneous open: SYN crosses SYN, both SYN-ACK, ESTABLISHED', async () => {
    const h = new Harness();
    const p = h.stack.tcpConnect('198.18.0.2', 80);
    h.poll();
    expect(h.segs()).toEqual([{ seq: ISS, flags: 'SYN', window: 16384, mss: 1460 }]);
    // The peer's own SYN arrives: SYN-RECEIVED, our SYN again with an ACK.
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460, srcPort: 80, dstPort: 50000 });
    expect(h.segs()).toEqual([{ seq: ISS, ack: IRS + 1, flags: 'SYN,ACK', window: 16384, mss: 1460 }]);
    // The peer's SYN-ACK acknowledges our SYN.
    h.tcp({ seq: IRS, ack: ISS + 1, flags: 'SYN,ACK', window: 8192, mss: 1460, srcPort: 80, dstPort: 50000 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384 }]);
    const s = await p;
    expect(s.state).toBe(TcpState.Established);
  });

  test('SYN to a full accept queue is dropped and counted', async () => {
    const h = new Harness();
    const l = h.stack.tcpListen(80, { backlog: 1 });
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460 });
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192 });
    h.segs();
    expect(l.pending).toBe(1);
    h.tcp({ seq: 9000, flags: 'SYN', window: 8192, mss: 1460, srcPort: PEER_PORT + 1 });
    expect(h.segs()).toEqual([]);
    expect(h.stack.counters.tcpListenOverflow).toBe(1);
    // Once accepted there is room again.
    await l.accept();
    h.tcp({ seq: 9000, flags: 'SYN', window: 8192, mss: 1460, srcPort: PEER_PORT + 1 });
    expect(h.segs()).toEqual([{ seq: ISS, ack: 9001, flags: 'SYN,ACK', window: 16384, mss: 1460 }]);
  });

  test('half-open limit (synBacklog) without SYN cookies drops SYNs and counts them', () => {
    const h = new Harness(baseConfig({ tcp: { synBacklog: 2, synCookies: false } }));
    h.stack.tcpListen(80);
    for (let i = 0; i < 3; i++) h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460, srcPort: PEER_PORT + i });
    expect(h.segs().length).toBe(2);
    expect(h.stack.counters.tcpSynQueueOverflow).toBe(1);
  });
});

describe('resets', () => {
  test('SYN to a closed port: RST,ACK with seq 0 and ack = SEG.SEQ + SEG.LEN', () => {
    const h = new Harness();
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, dstPort: 81 });
    expect(h.segs()).toEqual([{ seq: 0, ack: IRS + 1, flags: 'RST,ACK', window: 0 }]);
    expect(h.stack.counters.tcpNoSocket).toBe(1);
  });

  test('ACK to a closed port: RST with seq = SEG.ACK; RST to a closed port: silence', () => {
    const h = new Harness();
    h.tcp({ seq: IRS, ack: 777, flags: 'ACK', window: 8192, dstPort: 81, len: 10 });
    expect(h.segs()).toEqual([{ seq: 777, flags: 'RST', window: 0 }]);
    h.tcp({ seq: IRS, ack: 777, flags: 'RST,ACK', window: 0, dstPort: 81 });
    expect(h.segs()).toEqual([]);
  });

  test('ACK to a listening port without a connection: RST', () => {
    const h = new Harness();
    h.stack.tcpListen(80);
    h.tcp({ seq: IRS, ack: 4242, flags: 'ACK', window: 8192 });
    expect(h.segs()).toEqual([{ seq: 4242, flags: 'RST', window: 0 }]);
  });

  test('RST at RCV.NXT resets the connection; reads reject ECONNRESET', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    const r = s.read();
    h.tcp({ seq: IRS + 1, flags: 'RST', window: 0 });
    expect(h.segs()).toEqual([]);
    await expect(r).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(s.state).toBe(TcpState.Closed);
    expect(await s.closed).toMatchObject({ code: 'ECONNRESET' });
    expect(h.stack.tcp.connections).toBe(0);
  });

  test('RST inside the window but not at RCV.NXT: challenge ACK (RFC 5961), connection kept', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    h.tcp({ seq: IRS + 101, flags: 'RST', window: 0 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384 }]);
    expect(s.state).toBe(TcpState.Established);
    expect(h.stack.counters.tcpChallengeAcks).toBe(1);
  });

  test('RST outside the window is ignored', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    h.tcp({ seq: IRS + 1 + 100000, flags: 'RST', window: 0 });
    h.tcp({ seq: IRS - 5000, flags: 'RST', window: 0 });
    expect(h.segs()).toEqual([]);
    expect(s.state).toBe(TcpState.Established);
  });

  test('SYN on an established connection: challenge ACK', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    h.tcp({ seq: IRS + 50, flags: 'SYN', window: 8192, mss: 1460 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384 }]);
    expect(s.state).toBe(TcpState.Established);
  });

  test('ACK for data never sent: ACK back, segment dropped', async () => {
    const h = new Harness();
    await acceptOne(h);
    h.tcp({ seq: IRS + 1, ack: ISS + 5000, flags: 'ACK', window: 8192, len: 10 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384 }]);
  });

  test('abort() sends RST,ACK and fails pending reads with ECONNABORTED', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    const r = s.read();
    s.abort();
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'RST,ACK', window: 0 }]);
    await expect(r).rejects.toMatchObject({ code: 'ECONNABORTED' });
  });

  test('close() with unread data resets', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'PSH,ACK', window: 8192, len: 10 });
    h.segs();
    s.close();
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 11, flags: 'RST,ACK', window: 0 }]);
  });
});

describe('data and acknowledgements', () => {
  test('in-order data is ACKed after the delayed-ACK timeout', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'PSH,ACK', window: 8192, len: 100 });
    expect(h.segs()).toEqual([]);
    h.advance(39);
    expect(h.segs()).toEqual([]);
    h.advance(1);
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 101, flags: 'ACK', window: 16284 }]);
    expect(h.stack.counters.tcpDelayedAcks).toBe(1);
    const d = await s.read();
    expect(d?.length).toBe(100);
  });

  test('every second full-sized segment is ACKed at once', async () => {
    const h = new Harness(baseConfig({ tcp: { recvBuffer: 65536 } }));
    await acceptOne(h);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192, len: 1460 });
    expect(h.segs()).toEqual([]);
    h.tcp({ seq: IRS + 1461, ack: ISS + 1, flags: 'ACK', window: 8192, len: 1460 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 2921, flags: 'ACK', window: 65535 - 2920 + 1 }]);
  });

  test('data sent, ACKed; PSH on the last segment; MSS-sized segments', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h, { mss: 1000 });
    await s.write(new Uint8Array(2500).fill(7));
    h.poll();
    expect(h.segs()).toEqual([
      { seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384, len: 1000 },
      { seq: ISS + 1001, ack: IRS + 1, flags: 'ACK', window: 16384, len: 1000 },
      { seq: ISS + 2001, ack: IRS + 1, flags: 'PSH,ACK', window: 16384, len: 500 },
    ]);
    h.tcp({ seq: IRS + 1, ack: ISS + 2501, flags: 'ACK', window: 8192 });
    expect(h.segs()).toEqual([]);
    expect(s.writableLength).toBe(65536);
  });

  test('a write larger than the send buffer waits for room (backpressure)', async () => {
    const h = new Harness(baseConfig({ tcp: { sendBuffer: 4000 } }));
    const [s] = await acceptOne(h, { mss: 1000 });
    let done = false;
    const w = s.write(new Uint8Array(6000)).then(() => (done = true));
    h.poll();
    expect(h.segs().map((x) => x.len)).toEqual([1000, 1000, 1000, 1000]);
    await h.settle();
    expect(done).toBe(false);
    h.tcp({ seq: IRS + 1, ack: ISS + 3001, flags: 'ACK', window: 8192 });
    await w;
    h.poll();
    expect(h.segs().map((x) => [x.seq, x.len])).toEqual([
      [ISS + 4001, 1000],
      [ISS + 5001, 1000],
    ]);
  });

  test('out-of-order data is held and delivered when the hole fills; immediate ACKs', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    const data = new Uint8Array(300).map((_, i) => i);
    h.tcp({ seq: IRS + 101, ack: ISS + 1, flags: 'ACK', window: 8192, data: data.subarray(100, 200) });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384 }]);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192, data: data.subarray(0, 100) });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 201, flags: 'ACK', window: 16184 }]);
    expect(Array.from((await s.read()) as Uint8Array)).toEqual(Array.from(data.subarray(0, 200)));
  });

  test('a duplicate segment is ACKed at once and not delivered twice', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192, len: 50 });
    h.advance(40);
    h.segs();
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192, len: 50 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 51, flags: 'ACK', window: 16334 }]);
    expect((await s.read())?.length).toBe(50);
    expect(s.readableLength).toBe(0);
  });

  test('reading a full window sends a window update', async () => {
    const h = new Harness(baseConfig({ tcp: { recvBuffer: 4000 } }));
    const [s] = await acceptOne(h, { mss: 1000 });
    for (let i = 0; i < 4; i++) h.tcp({ seq: IRS + 1 + 1000 * i, ack: ISS + 1, flags: 'ACK', window: 8192, len: 1000 });
    expect(h.segs()).toEqual([
      { seq: ISS + 1, ack: IRS + 2001, flags: 'ACK', window: 2000 },
      { seq: ISS + 1, ack: IRS + 4001, flags: 'ACK', window: 0 },
    ]);
    expect((await s.read())?.length).toBe(4000);
    h.poll();
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 4001, flags: 'ACK', window: 4000 }]);
  });
});

describe('close', () => {
  test('active close: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, CLOSED after 2 MSL', async () => {
    const h = new Harness(baseConfig({ tcp: { msl: 500 } }));
    const [s] = await acceptOne(h);
    s.end();
    h.poll();
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'FIN,ACK', window: 16384 }]);
    expect(s.state).toBe(TcpState.FinWait1);
    h.tcp({ seq: IRS + 1, ack: ISS + 2, flags: 'ACK', window: 8192 });
    expect(s.state).toBe(TcpState.FinWait2);
    h.tcp({ seq: IRS + 1, ack: ISS + 2, flags: 'FIN,ACK', window: 8192 });
    expect(h.segs()).toEqual([{ seq: ISS + 2, ack: IRS + 2, flags: 'ACK', window: 16384 }]);
    expect(s.state).toBe(TcpState.TimeWait);
    expect(await s.read()).toBeNull();
    // A retransmitted FIN in TIME-WAIT is ACKed again and restarts the timer.
    h.advance(600);
    h.tcp({ seq: IRS + 1, ack: ISS + 2, flags: 'FIN,ACK', window: 8192 });
    expect(h.segs()).toEqual([{ seq: ISS + 2, ack: IRS + 2, flags: 'ACK', window: 16384 }]);
    h.advance(999);
    expect(s.state).toBe(TcpState.TimeWait);
    h.advance(1);
    expect(s.state).toBe(TcpState.Closed);
    expect(h.stack.tcp.connections).toBe(0);
  });

  test('passive close: CLOSE-WAIT, read() = null, LAST-ACK, CLOSED', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'FIN,ACK', window: 8192 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 2, flags: 'ACK', window: 16384 }]);
    expect(s.state).toBe(TcpState.CloseWait);
    expect(await s.read()).toBeNull();
    // Half-closed: we can still send.
    await s.write(new Uint8Array(10));
    s.end();
    h.poll();
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 2, flags: 'FIN,PSH,ACK', window: 16384, len: 10 }]);
    expect(s.state).toBe(TcpState.LastAck);
    h.tcp({ seq: IRS + 2, ack: ISS + 12, flags: 'ACK', window: 8192 });
    expect(s.state).toBe(TcpState.Closed);
    expect(await s.closed).toBeNull();
  });

  test('simultaneous close: FINs cross, CLOSING, TIME-WAIT', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    s.end();
    h.poll();
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'FIN,ACK', window: 16384 }]);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'FIN,ACK', window: 8192 });
    expect(h.segs()).toEqual([{ seq: ISS + 2, ack: IRS + 2, flags: 'ACK', window: 16384 }]);
    expect(s.state).toBe(TcpState.Closing);
    h.tcp({ seq: IRS + 2, ack: ISS + 2, flags: 'ACK', window: 8192 });
    expect(h.segs()).toEqual([]);
    expect(s.state).toBe(TcpState.TimeWait);
  });

  test('FIN-WAIT-1 straight to TIME-WAIT on a FIN that ACKs our FIN', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    s.end();
    h.poll();
    h.segs();
    h.tcp({ seq: IRS + 1, ack: ISS + 2, flags: 'FIN,ACK', window: 8192 });
    expect(h.segs()).toEqual([{ seq: ISS + 2, ack: IRS + 2, flags: 'ACK', window: 16384 }]);
    expect(s.state).toBe(TcpState.TimeWait);
  });

  test('FIN is retransmitted by the RTO', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    s.end();
    h.poll();
    expect(h.segs().length).toBe(1);
    h.advance(200);
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'FIN,ACK', window: 16384 }]);
  });

  test('a FIN ahead of a hole waits for the hole', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    h.tcp({ seq: IRS + 11, ack: ISS + 1, flags: 'FIN,ACK', window: 8192, len: 10 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384 }]);
    expect(s.state).toBe(TcpState.Established);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192, len: 10 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 22, flags: 'ACK', window: 16364 }]);
    expect(s.state).toBe(TcpState.CloseWait);
    expect((await s.read())?.length).toBe(20);
    expect(await s.read()).toBeNull();
  });

  test('data after close() is answered with RST', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    s.close();
    h.poll();
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'FIN,ACK', window: 16384 }]);
    h.tcp({ seq: IRS + 1, ack: ISS + 2, flags: 'ACK', window: 8192, len: 5 });
    expect(h.segs()).toEqual([{ seq: ISS + 2, ack: IRS + 1, flags: 'RST,ACK', window: 0 }]);
    expect(h.stack.counters.tcpAbortOnData).toBe(1);
  });

  test('a new SYN ends TIME-WAIT early (RFC 6191)', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    s.end();
    h.poll();
    h.tcp({ seq: IRS + 1, ack: ISS + 2, flags: 'FIN,ACK', window: 8192 });
    h.segs();
    expect(s.state).toBe(TcpState.TimeWait);
    h.tcp({ seq: IRS + 100000, flags: 'SYN', window: 8192, mss: 1460 });
    expect(h.segs()).toEqual([{ seq: ISS, ack: IRS + 100001, flags: 'SYN,ACK', window: 16384, mss: 1460 }]);
    expect(h.stack.counters.tcpTimeWaitReused).toBe(1);
  });
});

describe('retransmission', () => {
  test('RTO fires after 200 ms (measured RTT 0, RTO min), then backs off 400, 800', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h);
    await s.write(new Uint8Array(100));
    h.poll();
    const first = h.segs();
    expect(first).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'PSH,ACK', window: 16384, len: 100 }]);
    h.advance(199);
    expect(h.segs()).toEqual([]);
    h.advance(1);
    expect(h.segs()).toEqual(first);
    h.advance(399);
    expect(h.segs()).toEqual([]);
    h.advance(1);
    expect(h.segs()).toEqual(first);
    h.advance(800);
    expect(h.segs()).toEqual(first);
    expect(h.stack.counters.tcpRtoExpired).toBe(3);
    expect(s.info().rtoExpirations).toBe(3);
    // An ACK ends it and resets the backoff.
    h.tcp({ seq: IRS + 1, ack: ISS + 101, flags: 'ACK', window: 8192 });
    h.advance(5000);
    expect(h.segs()).toEqual([]);
  });

  test('too many retransmissions: ETIMEDOUT', async () => {
    const h = new Harness(baseConfig({ tcp: { maxRetries: 3 } }));
    const [s] = await acceptOne(h);
    const r = s.read();
    await s.write(new Uint8Array(10));
    h.poll();
    h.advance(200 + 400 + 800 + 1600);
    await expect(r).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(h.segs().length).toBe(4);
  });

  test('RTO after go-back-N: cwnd one segment, then slow start', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h, { mss: 1000 });
    await s.write(new Uint8Array(4000));
    h.poll();
    expect(h.segs().length).toBe(4);
    h.advance(200);
    expect(h.segs().map((x) => [x.seq, x.len])).toEqual([[ISS + 1, 1000]]);
    h.tcp({ seq: IRS + 1, ack: ISS + 1001, flags: 'ACK', window: 8192 });
    expect(h.segs().map((x) => [x.seq, x.len])).toEqual([
      [ISS + 1001, 1000],
      [ISS + 2001, 1000],
    ]);
  });

  test('fast retransmit on the third duplicate ACK, NewReno partial ACK, full ACK ends recovery', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h, { mss: 1000, window: 65535 }, { window: 65535 });
    await s.write(new Uint8Array(10000));
    h.poll();
    expect(h.segs().length).toBe(10);
    // Segments 1 and 3 were lost: the peer ACKs 1001 four times (one ACK + 3 duplicates).
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 65535 });
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 65535 });
    expect(h.segs()).toEqual([]);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 65535 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384, len: 1000 }]);
    expect(s.info().inRecovery).toBe(true);
    // Partial ACK up to the second hole: retransmit it at once.
    h.tcp({ seq: IRS + 1, ack: ISS + 2001, flags: 'ACK', window: 65535 });
    expect(h.segs()).toEqual([{ seq: ISS + 2001, ack: IRS + 1, flags: 'ACK', window: 16384, len: 1000 }]);
    expect(h.stack.counters.tcpPartialAcks).toBe(1);
    // Full ACK.
    h.tcp({ seq: IRS + 1, ack: ISS + 10001, flags: 'ACK', window: 65535 });
    expect(s.info().inRecovery).toBe(false);
    expect(h.stack.counters.tcpFastRetransmits).toBe(1);
    expect(h.stack.counters.tcpRetransmits).toBe(2);
    expect(h.stack.counters.tcpRtoExpired).toBe(0);
  });

  test('SACK recovery retransmits only the holes', async () => {
    const h = new Harness(baseConfig({ tcp: { sack: true } }));
    const [s] = await acceptOne(h, { mss: 1000, window: 65535, sackPerm: true }, { window: 65535 });
    await s.write(new Uint8Array(10000));
    h.poll();
    expect(h.segs().length).toBe(10);
    // Segments at 1001 and 4001 lost; the peer SACKs what arrived after them.
    const A = ISS + 1;
    h.tcp({ seq: IRS + 1, ack: A + 1000, flags: 'ACK', window: 65535 });
    h.tcp({ seq: IRS + 1, ack: A + 1000, flags: 'ACK', window: 65535, sack: [[A + 2000, A + 3000]] });
    h.tcp({ seq: IRS + 1, ack: A + 1000, flags: 'ACK', window: 65535, sack: [[A + 2000, A + 4000]] });
    h.tcp({ seq: IRS + 1, ack: A + 1000, flags: 'ACK', window: 65535, sack: [[A + 5000, A + 6000], [A + 2000, A + 4000]] });
    const seqs = h.segs().map((x) => [x.seq, x.len]);
    expect(seqs[0]).toEqual([A + 1000, 1000]);
    h.tcp({ seq: IRS + 1, ack: A + 1000, flags: 'ACK', window: 65535, sack: [[A + 5000, A + 10000], [A + 2000, A + 4000]] });
    const more = h.segs().map((x) => [x.seq, x.len]);
    expect([...seqs, ...more]).toEqual([
      [A + 1000, 1000],
      [A + 4000, 1000],
    ]);
    h.tcp({ seq: IRS + 1, ack: A + 10000, flags: 'ACK', window: 65535 });
    expect(s.info().inRecovery).toBe(false);
  });
});

describe('windows and options', () => {
  test('zero window: persist probes with backoff until the window opens', async () => {
    const h = new Harness();
    const [s] = await acceptOne(h, { mss: 1000 }, { window: 1000 });
    await s.write(new Uint8Array(3000));
    h.poll();
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384, len: 1000 }]);
    h.tcp({ seq: IRS + 1, ack: ISS + 1001, flags: 'ACK', window: 0 });
    expect(h.segs()).toEqual([]);
    h.advance(199);
    expect(h.segs()).toEqual([]);
    h.advance(1);
    const probe = { seq: ISS + 1000, ack: IRS + 1, flags: 'ACK', window: 16384 };
    expect(h.segs()).toEqual([probe]);
    h.advance(399);
    expect(h.segs()).toEqual([]);
    h.advance(1);
    expect(h.segs()).toEqual([probe]);
    expect(h.stack.counters.tcpPersistProbes).toBe(2);
    h.tcp({ seq: IRS + 1, ack: ISS + 1001, flags: 'ACK', window: 4000 });
    expect(h.segs()).toEqual([
      { seq: ISS + 1001, ack: IRS + 1, flags: 'ACK', window: 16384, len: 1000 },
      { seq: ISS + 2001, ack: IRS + 1, flags: 'PSH,ACK', window: 16384, len: 1000 },
    ]);
    h.advance(5000);
    expect(h.segs().every((x) => x.len === 1000)).toBe(true);
  });

  test('a zero-window probe is answered with an ACK carrying the window', async () => {
    const h = new Harness(baseConfig({ tcp: { recvBuffer: 1000 } }));
    await acceptOne(h, { mss: 1000 });
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192, len: 1000 });
    h.advance(40);
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1001, flags: 'ACK', window: 0 }]);
    // Linux-style probe (old sequence number) and BSD-style probe (one byte at RCV.NXT).
    h.tcp({ seq: IRS + 1000, ack: ISS + 1, flags: 'ACK', window: 8192 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1001, flags: 'ACK', window: 0 }]);
    h.tcp({ seq: IRS + 1001, ack: ISS + 1, flags: 'ACK', window: 8192, len: 1 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1001, flags: 'ACK', window: 0 }]);
  });

  test('window scaling: offered when the peer offers, shifts applied both ways', async () => {
    const h = new Harness(baseConfig({ tcp: { windowScale: true, recvBuffer: 1 << 20 } }));
    const l = h.stack.tcpListen(80);
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1000, ws: 7 });
    expect(h.segs()).toEqual([{ seq: ISS, ack: IRS + 1, flags: 'SYN,ACK', window: 65535, mss: 1460, ws: 5 }]);
    // The peer's window 100 << 7 = 12800 bytes.
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 100 });
    const s = await l.accept();
    expect(s.info().sendWindow).toBe(12800);
    expect(s.info().windowScale).toBe(true);
    await s.write(new Uint8Array(20000));
    h.poll();
    const segs = h.segs();
    expect(segs.reduce((n, x) => n + (x.len ?? 0), 0)).toBe(10000);
    expect(segs[0].window).toBe((1 << 20) >> 5);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 100, len: 1000 });
    h.advance(40);
    expect(h.segs().map((x) => x.window)).toEqual([((1 << 20) - 1000) >> 5]);
  });

  test('no window scaling when the peer does not offer it', async () => {
    const h = new Harness(baseConfig({ tcp: { windowScale: true, recvBuffer: 1 << 20 } }));
    h.stack.tcpListen(80);
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1000 });
    expect(h.segs()).toEqual([{ seq: ISS, ack: IRS + 1, flags: 'SYN,ACK', window: 65535, mss: 1460 }]);
  });

  test('timestamps: echoed, used for RTT, PAWS drops old ones', async () => {
    const h = new Harness(baseConfig({ tcp: { timestamps: true } }));
    const l = h.stack.tcpListen(80);
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460, ts: [100, 0] });
    expect(h.segs()).toEqual([{ seq: ISS, ack: IRS + 1, flags: 'SYN,ACK', window: 16384, mss: 1460, ts: [T0, 100] }]);
    h.advance(30);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192, ts: [110, T0] });
    const s = await l.accept();
    expect(s.info().timestamps).toBe(true);
    expect(s.info().srtt).toBe(30);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'PSH,ACK', window: 8192, ts: [150, T0], len: 10 });
    h.advance(40);
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 11, flags: 'ACK', window: 16374, ts: [T0 + 70, 150] }]);
    // An older timestamp: PAWS drops the segment and ACKs.
    h.tcp({ seq: IRS + 11, ack: ISS + 1, flags: 'PSH,ACK', window: 8192, ts: [120, T0], len: 10 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 11, flags: 'ACK', window: 16374, ts: [T0 + 70, 150] }]);
    expect(h.stack.counters.tcpPawsDrop).toBe(1);
    expect(s.readableLength).toBe(10);
    // Payload room shrinks by the 12 option bytes.
    await s.write(new Uint8Array(3000));
    h.poll();
    expect(h.segs().map((x) => x.len)).toEqual([1448, 1448, 104]);
  });

  test('SACK blocks describe out-of-order data, most recent first', async () => {
    const h = new Harness(baseConfig({ tcp: { sack: true } }));
    const [s] = await acceptOne(h, { sackPerm: true });
    expect(s.info().sack).toBe(true);
    h.tcp({ seq: IRS + 1001, ack: ISS + 1, flags: 'ACK', window: 8192, len: 500 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1, flags: 'ACK', window: 16384, sack: [[IRS + 1001, IRS + 1501]] }]);
    h.tcp({ seq: IRS + 2001, ack: ISS + 1, flags: 'ACK', window: 8192, len: 500 });
    expect(h.segs()).toEqual([
      {
        seq: ISS + 1,
        ack: IRS + 1,
        flags: 'ACK',
        window: 16384,
        sack: [
          [IRS + 2001, IRS + 2501],
          [IRS + 1001, IRS + 1501],
        ],
      },
    ]);
    h.tcp({ seq: IRS + 1501, ack: ISS + 1, flags: 'ACK', window: 8192, len: 100 });
    expect(h.segs()).toEqual([
      {
        seq: ISS + 1,
        ack: IRS + 1,
        flags: 'ACK',
        window: 16384,
        sack: [
          [IRS + 1001, IRS + 1601],
          [IRS + 2001, IRS + 2501],
        ],
      },
    ]);
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192, len: 1000 });
    expect(h.segs()).toEqual([{ seq: ISS + 1, ack: IRS + 1601, flags: 'ACK', window: 16384 - 1600, sack: [[IRS + 2001, IRS + 2501]] }]);
  });

  test('SYN-ACK options: everything offered back when the peer offers everything', () => {
    const h = new Harness(baseConfig({ tcp: { sack: true, timestamps: true, windowScale: true, recvBuffer: 65536 } }));
    h.stack.tcpListen(80);
    h.tcp({ seq: IRS, flags: 'SYN', window: 64240, mss: 1460, ws: 7, sackPerm: true, ts: [42, 0] });
    expect(h.segs()).toEqual([
      { seq: ISS, ack: IRS + 1, flags: 'SYN,ACK', window: 65535, mss: 1460, ws: 1, sackPerm: true, ts: [T0, 42] },
    ]);
  });

  test('keep-alive probes an idle connection and gives up after count probes', async () => {
    const h = new Harness(baseConfig({ tcp: { keepAlive: { idle: 1000, interval: 100, count: 2 } } }));
    const [s] = await acceptOne(h);
    h.advance(999);
    expect(h.segs()).toEqual([]);
    h.advance(1);
    const probe = { seq: ISS, ack: IRS + 1, flags: 'ACK', window: 16384 };
    expect(h.segs()).toEqual([probe]);
    // Answered: idle again.
    h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192 });
    h.advance(999);
    expect(h.segs()).toEqual([]);
    h.advance(1);
    expect(h.segs()).toEqual([probe]);
    h.advance(100);
    expect(h.segs()).toEqual([probe]);
    h.advance(100);
    expect(s.state).toBe(TcpState.Closed);
    expect(s.error?.code).toBe('ETIMEDOUT');
    expect(h.stack.counters.tcpKeepAliveProbes).toBe(3);
  });

  test('Nagle (noDelay false) holds a small segment while one is in flight', async () => {
    const h = new Harness(baseConfig({ tcp: { noDelay: false } }));
    const [s] = await acceptOne(h);
    await s.write(new Uint8Array(10));
    h.poll();
    expect(h.segs().map((x) => x.len)).toEqual([10]);
    await s.write(new Uint8Array(10));
    await s.write(new Uint8Array(10));
    h.poll();
    expect(h.segs()).toEqual([]);
    h.tcp({ seq: IRS + 1, ack: ISS + 11, flags: 'ACK', window: 8192 });
    expect(h.segs().map((x) => [x.seq, x.len])).toEqual([[ISS + 11, 20]]);
  });
});
