// Issue 9 item 2: malformed frames never kill a shard. A pcap with zero-length records (net_pcap delivers them
// as empty mbufs) and 1–13-byte runts between valid frames, through l2fwd and linkem on 1 and 2 shards: the
// run ends cleanly (exit 0), every valid frame comes out, each bad one is counted, and every mbuf returns.
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { writePcap } from '../../tools/pcap';
import { filePrefix, runUntilSent, tmpDir, writeJson } from '../../tools/netstar';

const VALID = 200, EMPTY = 4, RUNTS = 13; // runts of 1..13 bytes

function udpFrame(i: number): Uint8Array {
  const len = 60 + (i * 7) % 140, b = Buffer.alloc(len);
  Buffer.from([2, 0xbb, 0, 0, 0, 1, 2, 0xaa, 0, 0, 0, i & 0xff]).copy(b, 0);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45; b.writeUInt16BE(len - 14, 16); b[22] = 64; b[23] = 17;
  b.writeUInt32BE(0xc6120001 + (i % 50), 26); b.writeUInt32BE(0xc6130009, 30);
  b.writeUInt16BE(1000 + i, 34); b.writeUInt16BE(53, 36); b.writeUInt16BE(len - 34, 38);
  b.fill(i & 0xff, 42);
  return b;
}

describe('malformed frames from a pcap', () => {
  const dir = tmpDir('malformed');
  const inPcap = path.join(dir, 'in.pcap'), empty = path.join(dir, 'empty.pcap');
  beforeAll(() => {
    const recs: { data: Uint8Array }[] = [];
    for (let i = 0; i < VALID; i++) {
      recs.push({ data: udpFrame(i) });
      if (i % 50 === 10) recs.push({ data: new Uint8Array(0) });
      if (i % 15 === 3 && i / 15 < RUNTS) recs.push({ data: Uint8Array.from({ length: Math.floor(i / 15) + 1 }, (_, k) => k) });
    }
    expect(recs.length).toBe(VALID + EMPTY + RUNTS);
    writePcap(inPcap, recs);
    writePcap(empty, []);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = async (app: string, shards: number, appSettings: Record<string, unknown>, label: string) => {
    const outPcap = path.join(dir, `out-${label}.pcap`);
    const cfg = writeJson(dir, `${label}.json`, {
      eal: { vdevs: [`net_pcap0,rx_pcap=${inPcap},tx_pcap=${path.join(dir, `sink-${label}.pcap`)}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${outPcap}`], filePrefix: filePrefix(label) },
      ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }], shards, cores: shards === 2 ? [0, 1] : [0], statsIntervalMs: 100, app: appSettings,
    });
    return { s: await runUntilSent(app, cfg, 1, app === 'l2fwd' ? VALID : VALID + RUNTS, `${label} to send its frames`), outPcap };
  };

  test('an app that sends packets with a bad length (0, past the buffer) loses only those, counted; the shard lives', async () => {
    const label = 'badlen';
    const cfg = writeJson(dir, `${label}.json`, {
      eal: { vdevs: [`net_pcap0,rx_pcap=${inPcap},tx_pcap=${path.join(dir, 'sink-badlen.pcap')}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${path.join(dir, 'out-badlen.pcap')}`], filePrefix: filePrefix(label) },
      ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }], statsIntervalMs: 100,
    });
    const total = VALID + RUNTS, bad = Math.floor(total / 5);
    const s = await runUntilSent(path.join(__dirname, 'apps', 'badlen.js'), cfg, 1, total - bad, 'badlen to send');
    expect(s.exitCode).toBe(0);
    expect(s.ports[0].rx).toBe(VALID + EMPTY + RUNTS);
    expect(s.ports[0].dropped).toBe(EMPTY);
    expect(s.ports[1].tx).toBe(total - bad);
    expect(s.ports[1].dropped).toBe(bad);
    expect((s.shards[0] as unknown as { badPackets: number }).badPackets).toBe(bad);
    expect(s.appErrors).toBe(0);
    expect(s.leaked).toBe(0);
  });

  for (const shards of [1, 2]) {
    test(`l2fwd, ${shards} shard(s): valid frames forwarded, empty and runt frames dropped and counted`, async () => {
      const { s, outPcap } = await run('l2fwd', shards, { mode: 'mac', peers: ['02:00:00:00:00:10', '02:00:00:00:00:11'] }, `l2m${shards}`);
      expect(s.exitCode).toBe(0);
      expect(s.ports[0].rx).toBe(VALID + EMPTY + RUNTS);
      expect(s.ports[0].dropped).toBe(EMPTY + RUNTS);
      expect(s.ports[1].tx).toBe(VALID);
      expect(s.shards.reduce((a, x) => a + x.lcore.rxEmpty, 0)).toBe(EMPTY);
      expect(s.leaked).toBe(0);
      expect(s.heldAtClose).toBe(0);
      const lens = execFileSync('tshark', ['-r', outPcap, '-T', 'fields', '-e', 'frame.len'], { encoding: 'utf8' }).trim().split('\n').map(Number);
      expect(lens.sort((a, b) => a - b)).toEqual(Array.from({ length: VALID }, (_, i) => udpFrame(i).length).sort((a, b) => a - b));
    });

    test(`linkem, ${shards} shard(s): every non-empty frame passes (runts too), empty ones are dropped and counted`, async () => {
      const { s, outPcap } = await run('linkem', shards, { ab: { delayMs: 1 } }, `lk${shards}`);
      expect(s.exitCode).toBe(0);
      expect(s.ports[0].rx).toBe(VALID + EMPTY + RUNTS);
      expect(s.ports[0].dropped).toBe(EMPTY);
      expect(s.ports[1].tx).toBe(VALID + RUNTS);
      expect(s.leaked).toBe(0);
      expect(s.heldAtClose).toBe(0);
      const n = execFileSync('tshark', ['-r', outPcap, '-T', 'fields', '-e', 'frame.len'], { encoding: 'utf8' }).trim().split('\n').length;
      expect(n).toBe(VALID + RUNTS);
    });
  }
});
