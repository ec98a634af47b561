// Issue 9 item 6: stops. Packets held by handlers that never finish do not make a stop wait out the leak
// deadline: they are dropped and counted after stopGraceMs; a second SIGINT drops them at once (the summary
// and mbuf balance still come out); a SIGINT during start-up ends the run cleanly with a summary.
import * as fs from 'fs';
import * as path from 'path';
import { writePcap } from '../../tools/pcap';
import { filePrefix, lastStats, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { CLI_PATH, startProcess } from '../../tools/proc';
import { waitFor } from '../../tools/wait';

const N = 300;
const HOLDER = path.join(__dirname, 'apps', 'holder.js');

function frame(i: number): Uint8Array {
  const b = Buffer.alloc(64);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45; b.writeUInt16BE(50, 16); b[23] = 17; b.writeUInt32BE(0xc6120000 + i, 26);
  return b;
}

describe('stopping', () => {
  const dir = tmpDir('stop');
  const inPcap = path.join(dir, 'in.pcap'), empty = path.join(dir, 'empty.pcap');
  beforeAll(() => {
    writePcap(inPcap, Array.from({ length: N }, (_, i) => ({ data: frame(i) })));
    writePcap(empty, []);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const config = (label: string, shards: number, extra: Record<string, unknown> = {}) => writeJson(dir, `${label}.json`, {
    eal: { vdevs: [`net_pcap0,rx_pcap=${inPcap},tx_pcap=${path.join(dir, `s0${label}.pcap`)}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${path.join(dir, `s1${label}.pcap`)}`], filePrefix: filePrefix(label) },
    ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }], shards, cores: shards === 2 ? [0, 1] : [0], statsIntervalMs: 50,
    // A leak deadline far past every deadline of this test: a stop that waited it out would fail the test.
    leakDeadlineMs: 120000,
    ...extra,
  });

  async function holdAll(label: string, shards: number, extra: Record<string, unknown> = {}) {
    const p = startProcess(process.execPath, [CLI_PATH, 'run', HOLDER, '-c', config(label, shards, extra), '--stats', '--json']);
    await waitFor(() => (lastStats(p.output())?.held ?? 0) >= N || !p.running(), { timeoutMs: 30000, what: `${N} packets held` });
    return p;
  }

  for (const shards of [1, 2]) {
    test(`${shards} shard(s): one SIGINT stops after the grace period, held packets dropped and counted`, async () => {
      const p = await holdAll(`g${shards}`, shards);
      const r = await p.stop({ signal: 'SIGINT', timeoutMs: 15000 });
      expect(r.killed).toBe(false);
      expect(r.code).toBe(0);
      const s = summaryOf(p.stdout());
      expect(s.shards.reduce((a, x) => a + (x as unknown as { droppedAtStop: number }).droppedAtStop, 0)).toBe(N);
      expect(s.ports[0].rx).toBe(N);
      expect(s.ports[0].dropped).toBe(N);
      expect(s.leaked).toBe(0);
      expect(s.heldAtClose).toBe(0);
    });
  }

  test('a second SIGINT during a long grace period drops held packets at once; summary and balance still come out', async () => {
    const p = await holdAll('h2', 2, { stopGraceMs: 60000 });
    p.signal('SIGINT');
    await waitFor(() => /stopping \(again to drop held packets at once\)/.test(p.stderr()), { timeoutMs: 10000, what: 'the first signal to be taken' });
    p.signal('SIGINT');
    const r = await p.stop({ signal: 'SIGINT', timeoutMs: 15000 });
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
    expect(p.stderr()).toMatch(/SIGINT again: dropping held packets and stopping now/);
    const s = summaryOf(p.stdout());
    expect(s.shards.reduce((a, x) => a + (x as unknown as { droppedAtStop: number }).droppedAtStop, 0)).toBe(N);
    expect(s.leaked).toBe(0);
  });

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    test(`${sig} during start-up ends the run cleanly with a summary`, async () => {
      const p = startProcess(process.execPath, [CLI_PATH, 'run', 'l2fwd', '-c', config(`st${sig}`, 2), '--json'], { env: { ...process.env, NETSTAR_DEBUG: '1' } });
      // The CLI catches stop signals from its first module on (it says so under NETSTAR_DEBUG): send as soon as
      // it does, before the addon, the EAL and the shards are up.
      await waitFor(() => /catching stop signals/.test(p.stderr()) || !p.running(), { timeoutMs: 10000, intervalMs: 2, what: 'the CLI to catch stop signals' });
      const startedBefore = /on \d+ shard\(s\)/.test(p.stdout());
      p.signal(sig);
      const r = await p.stop({ signal: sig, timeoutMs: 20000 });
      expect(startedBefore).toBe(false);
      expect(r.killed).toBe(false);
      expect(r.signal).toBeNull();
      expect(r.code).toBe(0);
      const s = summaryOf(p.stdout());
      expect(s.leaked).toBe(0);
    });
  }
});
