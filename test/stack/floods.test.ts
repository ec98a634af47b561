// Floods at the stack stay bounded: an ARP flood from 100,000 senders keeps the neighbour table at its size
// limit (the oldest evicted, counted) while a real neighbour keeps working; a flood of ICMP echo requests
// and of UDP to closed ports is answered within the ICMP rate limit, never more.
import { Harness, PEER_IP, PEER_MAC, STACK_IP, arpFrame, baseConfig, ipFrame } from './helpers';
import { IpProtocol } from '../../net/wire';

describe('floods at the stack', () => {
  test('ARP flood from 100,000 senders: the table stays at cacheSize, real traffic still flows', async () => {
    const h = new Harness(baseConfig({ arp: { cacheSize: 1024 } }));
    const u = h.stack.udpBind(7);
    for (let i = 0; i < 100_000; i++) {
      const sender = (0xc6120000 + 10 + i) >>> 0; // 198.18.x.y, on-link
      const f = arpFrame(1, [0x020000100000 + i, sender], [0, STACK_IP]);
      h.stack.receive(f, 0, f.length, h.now);
      if (h.stack.neighbors().length > 1024) throw new Error(`neighbour table grew past its limit after ${i} requests`);
    }
    h.out();
    expect(h.stack.neighbors().length).toBeLessThanOrEqual(1024);
    // The real peer (learned again if it was evicted) still gets its echo.
    h.stack.addNeighbor(PEER_IP, PEER_MAC);
    u.sendTo(new Uint8Array([1, 2, 3]), '198.18.0.2', 9);
    h.poll();
    const sent = h.out().filter((p) => p.ip?.protocol === IpProtocol.Udp);
    expect(sent.length).toBe(1);
    u.close();
  });

  test('UDP to closed ports at 100,000 datagrams: port-unreachable answers stay within the ICMP rate limit', () => {
    const h = new Harness();
    for (let i = 0; i < 100_000; i++) {
      const f = ipFrame(IpProtocol.Udp, new Uint8Array([0, 1, 0x30, 0x39, 0, 8, 0, 0]), {});
      h.stack.receive(f, 0, f.length, h.now);
    }
    const icmp = h.out().filter((p) => p.ip?.protocol === IpProtocol.Icmp).length;
    expect(icmp).toBeLessThan(200);
    expect(h.stack.counters.icmpRateLimited).toBeGreaterThan(99_000);
  });
});
