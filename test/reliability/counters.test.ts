// Issue 9 item 7: counters add up. Two shards, both ports flooded (net_pcap infinite_rx), tiny cross-shard rings
// that drop when full: after the stop, every frame a port received is accounted for exactly once — sent on
// the other port, dropped at that port's TX, or dropped and charged to the receiving port:
//   rx(p) = tx(q) + txDropped(q) + dropped(p)   for l2fwd's p -> q.
// Frames over the buffer size (chained mbufs) are counted as received and dropped.
import * as fs from 'fs';
import * as path from 'path';
import { writePcap } from '../../tools/pcap';
import { filePrefix, lastStats, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { CLI_PATH, startProcess } from '../../tools/proc';
import { waitFor } from '../../tools/wait';

function udp(i: number, len: number): Uint8Array {
  const b = Buffer.alloc(len);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45; b.writeUInt16BE(len - 14, 16); b[22] = 64; b[23] = 17;
  b.writeUInt32BE(0xc6120000 + i, 26); b.writeUInt32BE(0xc6130000 + (i * 7919) % 65536, 30);
  b.writeUInt16BE(1024 + i, 34); b.writeUInt16BE(2048 + i, 36); b.writeUInt16BE(len - 34, 38);
  return b;
}

describe('counters add up', () => {
  const dir = tmpDir('counters');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('2 shards, both ports flooded, full rings dropping: rx = forwarded + dropped per port', async () => {
    const a = path.join(dir, 'a.pcap'), b = path.join(dir, 'b.pcap');
    writePcap(a, Array.from({ length: 256 }, (_, i) => ({ data: udp(i, 64 + (i % 8) * 8) })));
    writePcap(b, Array.from({ length: 256 }, (_, i) => ({ data: udp(1000 + i, 64) })));
    const cfg = writeJson(dir, 'c.json', {
      eal: { vdevs: [`net_pcap0,rx_pcap=${a},tx_pcap=/dev/null,infinite_rx=1`, `net_pcap1,rx_pcap=${b},tx_pcap=/dev/null,infinite_rx=1`], filePrefix: filePrefix('cnt') },
      ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }], shards: 2, cores: [0, 1], ringSize: 64, backpressure: 'drop',
      statsIntervalMs: 100, app: { mode: 'mac', peers: ['02:00:00:00:00:10', '02:00:00:00:00:11'] },
    });
    const p = startProcess(process.execPath, [CLI_PATH, 'run', 'l2fwd', '-c', cfg, '--stats', '--json']);
    try {
      await waitFor(() => {
        const st = lastStats(p.output()) as unknown as { shards?: { fwdDropped: number }[]; ports: { rx: number }[] } | null;
        return !p.running() || (st !== null && st.ports[0].rx > 200000 && st.ports[1].rx > 200000 && (st.shards ?? []).some((s) => s.fwdDropped > 0));
      }, { timeoutMs: 60000, what: 'both ports to receive and a full ring to drop' });
      const r = await p.stop({ signal: 'SIGINT', timeoutMs: 15000 });
      expect(r.code).toBe(0);
    } finally {
      if (p.running()) p.kill();
    }
    const s = summaryOf(p.stdout());
    expect(s.leaked).toBe(0);
    for (const [pi, q] of [[0, 1], [1, 0]]) {
      const P = s.ports[pi], Q = s.ports[q];
      expect(P.dropped).toBeLessThanOrEqual(P.rx);
      expect(Q.tx + Q.txDropped + P.dropped).toBe(P.rx);
    }
  });

  test('frames over the buffer size are counted in rx and dropped', async () => {
    const a = path.join(dir, 'big.pcap'), e = path.join(dir, 'e.pcap'), out = path.join(dir, 'out.pcap');
    // dataRoom 512 (384 bytes of data after the headroom): 1000-byte frames arrive as chained mbufs.
    writePcap(a, Array.from({ length: 60 }, (_, i) => ({ data: udp(i, i % 3 === 0 ? 1000 : 100) })));
    writePcap(e, []);
    const cfg = writeJson(dir, 'big.json', {
      eal: { vdevs: [`net_pcap0,rx_pcap=${a},tx_pcap=${path.join(dir, 'sink.pcap')}`, `net_pcap1,rx_pcap=${e},tx_pcap=${out}`], filePrefix: filePrefix('big') },
      ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }], pool: { dataRoom: 512 }, statsIntervalMs: 100,
      app: { mode: 'mac', peers: ['02:00:00:00:00:10', '02:00:00:00:00:11'] },
    });
    const p = startProcess(process.execPath, [CLI_PATH, 'run', 'l2fwd', '-c', cfg, '--stats', '--json']);
    try {
      await waitFor(() => !p.running() || (lastStats(p.output())?.ports[0].rx ?? 0) >= 60, { timeoutMs: 20000, what: '60 frames received' });
      const r = await p.stop({ signal: 'SIGINT', timeoutMs: 15000 });
      expect(r.code).toBe(0);
    } finally {
      if (p.running()) p.kill();
    }
    const s = summaryOf(p.stdout());
    expect(s.ports[0].rx).toBe(60);
    expect(s.ports[0].dropped).toBe(20);
    expect(s.shards[0].lcore.rxMultiseg).toBe(20);
    expect(s.ports[1].tx).toBe(40);
    expect(s.leaked).toBe(0);
  });
});
