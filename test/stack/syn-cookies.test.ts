// SYN cookies (RFC 4987 3.6), exact segments in and out: past the half-open limit a SYN gets a SYN-ACK whose
// sequence number is a cookie and no state; the handshake's ACK opens the connection; a forged or stale ACK
// is answered with a reset and counted; connections already open are untouched by a flood.
import { TcpState } from '../../net/stack';
import { COOKIE_MSS, SYN_COOKIE_PERIOD_MS } from '../../net/stack/socket/syn-cookies';
import { Harness, PEER_PORT, baseConfig } from './helpers';

const IRS = 5000;

/** A harness whose listener on port 80 has a half-open limit of 2, already filled by two SYNs. */
function fullListener(): Harness {
  // The neighbour entry outlives the stale-cookie wait (no ARP in the way of the answers).
  const h = new Harness(baseConfig({ tcp: { synBacklog: 2 }, arp: { entryTimeout: 1e9, reachableTime: 1e9 } }));
  h.stack.tcpListen(80);
  for (let i = 0; i < 2; i++) h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460, srcPort: 30000 + i });
  expect(h.segs().length).toBe(2);
  return h;
}

describe('SYN cookies', () => {
  test('past the half-open limit a SYN gets a stateless SYN-ACK: unscaled window, our MSS, no other options', () => {
    const h = fullListener();
    const before = h.stack.tcp.connections;
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1400, ws: 7, sackPerm: true, ts: [1, 0] });
    const [sa] = h.segs();
    expect(sa).toEqual({ seq: sa.seq, ack: IRS + 1, flags: 'SYN,ACK', window: 16384, mss: 1460 });
    expect(h.stack.tcp.connections).toBe(before); // nothing stored
    expect(h.stack.counters.tcpSynCookiesSent).toBe(1);
    expect(h.stack.counters.tcpSynQueueOverflow).toBe(0);
  });

  test('the ACK carrying the cookie opens the connection with the MSS the cookie kept; data flows both ways', async () => {
    const h = fullListener();
    const l = h.stack.tcpListen(81);
    // Fill 81's half-open queue too, then a cookie handshake on it.
    for (let i = 0; i < 2; i++) h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460, srcPort: 41000 + i, dstPort: 81 });
    h.segs();
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1400, dstPort: 81 });
    const [sa] = h.segs();
    const cookie = sa.seq;
    h.tcp({ seq: IRS + 1, ack: cookie + 1, flags: 'ACK', window: 8192, dstPort: 81, data: new TextEncoder().encode('hello') });
    expect(h.stack.counters.tcpSynCookiesRecv).toBe(1);
    const s = await l.accept();
    expect(s.state).toBe(TcpState.Established);
    expect(s.remotePort).toBe(PEER_PORT);
    // 1400 is not in the table: the largest value under it is kept.
    expect(s.info().mss).toBe(COOKIE_MSS.filter((m) => m <= 1400).pop());
    const got = await s.read();
    expect(new TextDecoder().decode(got!)).toBe('hello');
    h.poll();
    // Our ACK of the 5 bytes: sequence right after the cookie, unscaled window.
    expect(h.segs()).toContainEqual({ seq: cookie + 1, ack: IRS + 6, flags: 'ACK', window: 16384 });
    await s.write(new TextEncoder().encode('world'));
    h.poll();
    expect(h.segs()).toContainEqual({ seq: cookie + 1, ack: IRS + 6, flags: 'PSH,ACK', window: 16384, len: 5 });
  });

  test('a forged cookie, another peer ISN or a stale cookie gets a reset and is counted', () => {
    const h = fullListener();
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460, srcPort: 42000 });
    const [sa] = h.segs();
    // Wrong cookie bits.
    h.tcp({ seq: IRS + 1, ack: (sa.seq ^ 0x10) + 1, flags: 'ACK', window: 8192, srcPort: 42000 });
    // The right cookie, but not for this peer ISN.
    h.tcp({ seq: IRS + 2, ack: sa.seq + 1, flags: 'ACK', window: 8192, srcPort: 42000 });
    // The right cookie from another port.
    h.tcp({ seq: IRS + 1, ack: sa.seq + 1, flags: 'ACK', window: 8192, srcPort: 42001 });
    expect(h.segs().map((x) => x.flags)).toEqual(['RST', 'RST', 'RST']);
    expect(h.stack.counters.tcpSynCookiesFailed).toBe(3);
    expect(h.stack.counters.tcpSynCookiesRecv).toBe(0);
    // Valid for two periods, then stale.
    h.advance(2 * SYN_COOKIE_PERIOD_MS + 1);
    h.out(); // the half-open entries' SYN-ACK retransmissions
    h.tcp({ seq: IRS + 1, ack: sa.seq + 1, flags: 'ACK', window: 8192, srcPort: 42000 });
    expect(h.segs().map((x) => x.flags)).toEqual(['RST']);
    expect(h.stack.counters.tcpSynCookiesRecv).toBe(0);
  });

  test('a flood of 10,000 spoofed SYNs stores nothing beyond the limit; a real client still connects', async () => {
    const h = new Harness(baseConfig({ tcp: { synBacklog: 64 } }));
    const l = h.stack.tcpListen(80);
    for (let i = 0; i < 10_000; i++) h.tcp({ seq: (i * 7919) >>> 0, flags: 'SYN', window: 1024, mss: 536, srcPort: 1024 + (i % 60000) }, {});
    h.segs();
    expect(l.halfOpen).toBe(64);
    expect(h.stack.tcp.connections).toBe(64);
    expect(h.stack.counters.tcpSynCookiesSent).toBe(10_000 - 64);
    h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460, srcPort: 65000 });
    const [sa] = h.segs();
    h.tcp({ seq: IRS + 1, ack: sa.seq + 1, flags: 'ACK', window: 8192, srcPort: 65000 });
    const s = await l.accept();
    expect(s.remotePort).toBe(65000);
  });
});
