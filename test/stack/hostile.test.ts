// Hostile input: truncated, mutated and random frames, and well-formed but absurd TCP segments,
// must never throw out of receive() or accepts(), never trip the exception counter, and leave the
// stack working.

import { IpProtocol, MAC_BROADCAST } from '../../net/wire';
import { Stack, TcpSocket, TcpState } from '../../net/stack';
import { Harness, PEER_IP, PEER_MAC, Prng, STACK_IP, Seg, arpFrame, baseConfig, ipFrame, tcpFrame, udpFrame } from './helpers';

const ISS = 1000;
const IRS = 5000;

async function setup(): Promise<{ h: Harness; s: TcpSocket }> {
  const h = new Harness(baseConfig({ tcp: { sack: true, timestamps: true, windowScale: true } }));
  const l = h.stack.tcpListen(80);
  h.stack.udpBind(53);
  h.tcp({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460, sackPerm: true, ws: 2, ts: [1, 0] });
  h.tcp({ seq: IRS + 1, ack: ISS + 1, flags: 'ACK', window: 8192, ts: [2, 1000] });
  const s = await l.accept();
  h.out();
  return { h, s };
}

function corpus(): Uint8Array[] {
  return [
    arpFrame(1, [PEER_MAC, PEER_IP], [0, STACK_IP], MAC_BROADCAST),
    arpFrame(2, [PEER_MAC, PEER_IP], [0, STACK_IP]),
    tcpFrame({ seq: IRS, flags: 'SYN', window: 8192, mss: 1460, sackPerm: true, ws: 7, ts: [5, 0] }),
    tcpFrame({ seq: IRS + 1, ack: ISS + 1, flags: 'PSH,ACK', window: 100, ts: [9, 1000], sack: [[1, 2], [3, 4], [5, 6]], len: 40 }),
    tcpFrame({ seq: IRS + 1, ack: ISS + 1, flags: 'FIN,ACK', window: 100, len: 3 }),
    udpFrame(5353, 53, new Uint8Array(30)),
    ipFrame(IpProtocol.Icmp, new Uint8Array([8, 0, 0xf7, 0xff, 0, 0, 0, 0])),
    ipFrame(IpProtocol.Icmp, new Uint8Array(40), {}, { identification: 9, moreFragments: true, options: new Uint8Array([7, 7, 4, 0, 0, 0, 0, 0]) }),
    ipFrame(IpProtocol.Udp, new Uint8Array(24), {}, { identification: 9, fragmentOffset: 40 }),
    ipFrame(IpProtocol.Icmp, new Uint8Array([3, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])),
  ];
}

function assertSane(stack: Stack): void {
  expect(stack.counters.rxExceptions).toBe(0);
  expect(Number.isNaN(stack.pollAt())).toBe(false);
}

describe('hostile input', () => {
  test('every truncation of every frame kind', async () => {
    const { h } = await setup();
    for (const f of corpus()) {
      for (let n = 0; n <= f.length; n++) {
        // A throw fails the test by itself; expect() around 50k calls only costs time.
        h.stack.accepts(f, 0, n);
        h.stack.receive(f, 0, n, h.now);
        h.stack.poll(h.now);
      }
    }
    assertSane(h.stack);
  });

  test('random mutations of valid frames, and lengths outside the buffer', async () => {
    const { h } = await setup();
    const r = new Prng(42);
    const base = corpus();
    for (let i = 0; i < 20000; i++) {
      const f = base[r.below(base.length)].slice();
      const flips = 1 + r.below(6);
      for (let k = 0; k < flips; k++) {
        // Mostly headers: that is where lengths and offsets live.
        const at = r.next() < 0.8 ? r.below(Math.min(f.length, 80)) : r.below(f.length);
        f[at] = r.next() < 0.5 ? f[at] ^ (1 << r.below(8)) : r.u32() & 0xff;
      }
      const off = r.next() < 0.1 ? r.below(20) : 0;
      const len = r.next() < 0.1 ? r.below(f.length + 50) : f.length - off;
      h.stack.accepts(f, off, len);
      h.stack.receive(f, off, len, h.now);
      if (i % 64 === 0) {
        h.now += 10;
        h.stack.poll(h.now);
      }
    }
    h.out();
    assertSane(h.stack);
  });

  test('random garbage frames', () => {
    const h = new Harness();
    const r = new Prng(7);
    for (let i = 0; i < 5000; i++) {
      const f = r.bytes(r.below(1600));
      if (f.length >= 15 && r.next() < 0.7) {
        f.set([2, 0, 0, 0, 0, 1], 0);
        f.set(r.next() < 0.5 ? [0x08, 0x00, 0x45] : [0x08, 0x06], 12);
      }
      h.stack.accepts(f, 0, f.length);
      h.stack.receive(f, 0, f.length, h.now);
    }
    h.stack.poll(h.now);
    assertSane(h.stack);
  });

  test('well-formed but absurd TCP segments (valid checksums) against a live connection', async () => {
    const { h, s } = await setup();
    const r = new Prng(2024);
    const flagSets = ['SYN', 'ACK', 'RST', 'FIN', 'SYN,ACK', 'FIN,ACK', 'RST,ACK', 'PSH,ACK', 'SYN,FIN', 'SYN,RST', 'FIN,PSH,ACK', ''];
    // A reader keeps the receive window moving, as an application would.
    void (async () => {
      try {
        for (;;) {
          const c = await s.read();
          if (c === null) break;
        }
      } catch {
        // A reset is a fine outcome of fuzzing.
      }
    })();
    for (let i = 0; i < 20000; i++) {
      const near = r.next() < 0.7;
      const seg: Seg = {
        seq: near ? IRS + 1 + r.below(20000) - 5000 : r.u32(),
        ack: near ? ISS + 1 + r.below(3000) - 1000 : r.u32(),
        flags: flagSets[r.below(flagSets.length)],
        window: r.below(65536),
        len: r.next() < 0.5 ? 0 : r.below(1500),
        srcPort: r.next() < 0.8 ? 40000 : 40000 + r.below(5),
        dstPort: r.next() < 0.9 ? 80 : r.below(65536),
      };
      if (r.next() < 0.3) seg.mss = r.below(65536);
      if (r.next() < 0.3) seg.ws = r.below(256);
      if (r.next() < 0.3) seg.ts = [r.next() < 0.5 ? 10 + i : r.u32(), r.u32()];
      if (r.next() < 0.3 && !seg.ts) {
        const n = 1 + r.below(3);
        seg.sack = [];
        for (let k = 0; k < n; k++) {
          const left = near ? ISS + r.below(4000) : r.u32();
          seg.sack.push([left, r.next() < 0.8 ? left + r.below(3000) : r.u32()]);
        }
      }
      if (r.next() < 0.05) seg.sackPerm = true;
      const f = tcpFrame(seg);
      h.stack.receive(f, 0, f.length, h.now);
      if (i % 16 === 0) {
        if (s.state === TcpState.Established && r.next() < 0.3) void s.write(new Uint8Array(r.below(4000))).catch(() => undefined);
        h.now += r.below(50);
        h.stack.poll(h.now);
        await Promise.resolve();
      }
      if (i % 1000 === 0) h.out();
    }
    h.advance(120000);
    h.out();
    assertSane(h.stack);
    // Still works: a fresh connection from another port completes (the ARP entry expired meanwhile).
    h.stack.addNeighbor(PEER_IP, PEER_MAC);
    const l2 = h.stack.tcpListen(8080);
    h.tcp({ seq: 1, flags: 'SYN', window: 8192, mss: 1460, srcPort: 33333, dstPort: 8080 });
    const synack = h.out().map((p) => p.tcp).filter((t) => t && t.flags === 'SYN,ACK');
    expect(synack.length).toBe(1);
    h.tcp({ seq: 2, ack: (synack[0]!.seq + 1) >>> 0, flags: 'ACK', window: 8192, srcPort: 33333, dstPort: 8080 });
    const s2 = await l2.accept();
    expect(s2.state).toBe(TcpState.Established);
  });

  test('random IPv4 fragments never exceed the reassembly limits', () => {
    const h = new Harness(baseConfig({ reassembly: { maxDatagrams: 8, maxBytes: 100000 } }));
    const r = new Prng(5);
    for (let i = 0; i < 3000; i++) {
      const len = r.below(1480);
      const f = ipFrame(r.next() < 0.5 ? IpProtocol.Icmp : IpProtocol.Udp, r.bytes(len), {}, {
        identification: r.below(32),
        fragmentOffset: r.below(8192) * 8,
        moreFragments: r.next() < 0.8,
      });
      h.stack.receive(f, 0, f.length, h.now);
      if (h.stack.iface.reassembler.inProgress > 8 || h.stack.iface.reassembler.bytesHeld > 100000) {
        throw new Error(`reassembly limits exceeded after ${i} fragments`);
      }
      if (i % 100 === 0) h.advance(1000);
    }
    assertSane(h.stack);
  });
});
