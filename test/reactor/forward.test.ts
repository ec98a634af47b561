// Cross-shard forwarding through the real runtime: two shards, each reading its own pcap queue and sending
// every packet to the other; every packet arrives exactly once and every mbuf returns to its pool.
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { startCli } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { filePrefix, summaryOf, tmpDir, writeJson } from '../../tools/netstar';

const APP = path.join(__dirname, 'apps', 'fwdcheck.js');
const N = 4000;

function makePcaps(dir: string): { a: string; b: string; empty: string } {
  const a = path.join(dir, 'a.pcap'), b = path.join(dir, 'b.pcap'), empty = path.join(dir, 'e.pcap');
  execFileSync('/usr/bin/python3', ['-c', `
from scapy.all import *
import struct
def mk(lo, hi): return [Ether()/IP(src='198.18.0.1',dst='198.18.0.2')/UDP(sport=1000+(i%50),dport=9)/Raw(struct.pack('!I', i)+b'x'*20) for i in range(lo, hi)]
wrpcap('${a}', mk(0, ${N / 2}))
wrpcap('${b}', mk(${N / 2}, ${N}))
wrpcap('${empty}', [])
`]);
  return { a, b, empty };
}

async function runFwd(dir: string, app: Record<string, unknown>, label: string): Promise<{ shards: { fromDevice: number; thrown: number; seen: number[] }[]; summary: ReturnType<typeof summaryOf> }> {
  const { a, b, empty } = makePcaps(dir);
  const out = path.join(dir, label);
  fs.mkdirSync(out, { recursive: true });
  const cfg = writeJson(dir, `${label}.json`, {
    eal: { vdevs: [`net_pcap0,rx_pcap=${a},rx_pcap=${b},tx_pcap=${path.join(dir, 'o1.pcap')},tx_pcap=${path.join(dir, 'o2.pcap')}`, `net_pcap1,rx_pcap=${empty},rx_pcap=${empty},tx_pcap=${path.join(dir, 'x1.pcap')},tx_pcap=${path.join(dir, 'x2.pcap')}`], filePrefix: filePrefix(label) },
    ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }],
    shards: 2, statsIntervalMs: 100, ringSize: 256, backpressure: 'retry',
    app: { outDir: out, ...app },
  });
  const p = startCli(['run', APP, '-c', cfg, '--stats', '--json']);
  try {
    const expected = N - (typeof app.throwEvery === 'number' ? N / app.throwEvery : 0);
    await waitFor(() => {
      const lines = p.stdout().split('\n').filter((l) => l.startsWith('STATS '));
      if (!lines.length) return !p.running();
      const s = JSON.parse(lines[lines.length - 1].slice(6)) as { shards: { fwdIn: number }[] };
      return s.shards[0].fwdIn + s.shards[1].fwdIn >= expected || !p.running();
    }, { timeoutMs: 30000, what: `${expected} packets forwarded between shards` });
    const r = await p.stop({ timeoutMs: 15000 });
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
  } finally {
    if (p.running()) p.kill();
  }
  const shards = [0, 1].map((i) => JSON.parse(fs.readFileSync(path.join(out, `shard${i}.json`), 'utf8')));
  return { shards, summary: summaryOf(p.stdout()) };
}

describe('cross-shard forwarding', () => {
  const dir = tmpDir('xfwd');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each([['forward', false], ['unsafe', false], ['forward', true], ['unsafe', true]])('%s (batches: %s): every packet arrives exactly once and all mbufs return', async (mode, burst) => {
    const { shards, summary } = await runFwd(dir, { mode, burst }, `m${mode}${burst ? 'b' : 'p'}`);
    expect(shards[0].fromDevice + shards[1].fromDevice).toBe(N);
    const all = [...shards[0].seen, ...shards[1].seen].sort((x, y) => x - y);
    expect(all).toHaveLength(N);
    expect(all.every((v, i) => v === i)).toBe(true);
    // each shard saw exactly what the other read from its queue
    expect(shards[0].seen.length).toBe(shards[1].fromDevice);
    expect(shards[1].seen.length).toBe(shards[0].fromDevice);
    expect(summary.leaked).toBe(0);
    expect(summary.heldAtClose).toBe(0);
    expect(summary.poolsInUse).toEqual([0, 0]);
  });

  test('an exception in a handler drops its packet, is counted, and the shard keeps going', async () => {
    const { shards, summary } = await runFwd(dir, { mode: 'forward', throwEvery: 10 }, 'thr');
    const thrown = shards[0].thrown + shards[1].thrown;
    expect(thrown).toBe(N / 10);
    expect(summary.appErrors).toBe(thrown);
    const all = [...shards[0].seen, ...shards[1].seen];
    expect(all).toHaveLength(N - thrown);
    expect(all.every((v) => v % 10 !== 0)).toBe(true);
    expect(summary.leaked).toBe(0);
  });

  test('stop under load (both shards forwarding every packet) loses no mbuf', async () => {
    const out = path.join(dir, 'load');
    fs.mkdirSync(out, { recursive: true });
    const cfg = writeJson(dir, 'load.json', {
      eal: { vdevs: ['net_null0', 'net_null1,no-rx=1'], filePrefix: filePrefix('ld') },
      ports: [{ name: 'net_null0' }, { name: 'net_null1' }],
      shards: 2, statsIntervalMs: 100,
      app: { outDir: out, mode: 'forward', sendOut: true, record: false },
    });
    const p = startCli(['run', APP, '-c', cfg, '--stats', '--json']);
    try {
      await waitFor(() => {
        const lines = p.stdout().split('\n').filter((l) => l.startsWith('STATS '));
        if (!lines.length) return !p.running();
        const st = JSON.parse(lines[lines.length - 1].slice(6)) as { shards: { fwdIn: number }[] };
        return (st.shards[0].fwdIn > 100000 && st.shards[1].fwdIn > 100000) || !p.running();
      }, { timeoutMs: 30000, what: 'both shards forwarding under load' });
      if (!p.running()) throw new Error(`netstar exited early:\n${p.output().slice(-3000)}`);
      const r = await p.stop({ timeoutMs: 15000 });
      expect(r.killed).toBe(false);
      expect(r.code).toBe(0);
    } finally {
      if (p.running()) p.kill();
    }
    const s = summaryOf(p.stdout());
    expect(s.ports[0].tx).toBeGreaterThan(200000); // forwarded packets leave on their ingress port index (0)
    expect(s.leaked).toBe(0);
    expect(s.poolsInUse).toEqual([0, 0]);
  });
});
