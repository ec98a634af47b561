// The monitor against independent oracles on the same pcaps: REXMIT per packet against tshark's
// tcp.analysis flags (a segment carrying sequence space already seen: tshark splits it by timing and ACKs
// into retransmission / spurious / fast retransmission / out-of-order; the monitor, like mOS, has one
// event), and each direction's reassembled bytes against tcpflow's streams.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Events, Monitor, type Conn } from '../../mos';
import { formatIp } from '../../net/flow';
import { FakeSink, feed, scapyPcap } from './harness';

const dir = fs.mkdtempSync('/tmp/mos-oracle-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const REXMIT_FILTER = 'tcp.analysis.retransmission or tcp.analysis.spurious_retransmission or tcp.analysis.fast_retransmission or tcp.analysis.out_of_order';

/** tcpflow's file name for a direction: zero-padded dotted address, port. */
const tfName = (a: number, ap: number, b: number, bp: number): string => {
  const pad = (ip: number) => formatIp(ip).split('.').map((x) => x.padStart(3, '0')).join('.');
  return `${pad(a)}.${String(ap).padStart(5, '0')}-${pad(b)}.${String(bp).padStart(5, '0')}`;
};

async function check(file: string): Promise<{ flows: number; rexmits: number; bytes: number }> {
  const recs = fs.existsSync(file) ? (await import('../../net/pcap')).readPcap(file) : [];
  const sink = new FakeSink();
  const mon = new Monitor<{ s: Buffer[][] }>({ sink, createContext: () => ({ s: [[], []] }), resetContext: (c) => { c.s = [[], []]; }, bufferBytes: 1 << 16, mode: 'passive' });
  const rexmitFrames: number[] = [];
  let frameNo = 0;
  const streams = new Map<string, Buffer>();
  mon.on(Events.REXMIT, () => { rexmitFrames.push(frameNo); });
  mon.on(Events.NEW_DATA, (c, side) => { c.ctx.s[side].push(Buffer.from(c.peek(side))); });
  const keep = (c: Conn<{ s: Buffer[][] }>): void => {
    // rcv[1] (the server's) holds what the client sent
    streams.set(tfName(c.cAddr, c.cPort, c.sAddr, c.sPort), Buffer.concat(c.ctx.s[1]));
    streams.set(tfName(c.sAddr, c.sPort, c.cAddr, c.cPort), Buffer.concat(c.ctx.s[0]));
  };
  mon.on(Events.CONN_END, keep);
  await feed(mon, sink, recs, { onPacket: (i) => { frameNo = i + 1; } });
  for (const f of mon.dist.liveFlows()) keep(f.state);
  expect(mon.counters.overrunBytes).toBe(0);

  const tshark = execFileSync('tshark', ['-r', file, '-Y', REXMIT_FILTER, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .trim().split('\n').filter((l) => l.length > 0).map(Number);
  expect(rexmitFrames).toEqual(tshark);

  const out = path.join(dir, path.basename(file) + '.flow');
  fs.mkdirSync(out);
  execFileSync('tcpflow', ['-r', file, '-o', out], { stdio: 'ignore' });
  const files = fs.readdirSync(out).filter((f) => /^\d{3}\./.test(f));
  // every tcpflow stream equals ours; ours has no stream tcpflow lacks (empty directions are absent there)
  const mismatched = files.filter((f) => !fs.readFileSync(path.join(out, f)).equals(streams.get(f) ?? Buffer.alloc(0)));
  expect(mismatched).toEqual([]);
  const extra = [...streams].filter(([k, v]) => v.length > 0 && !files.includes(k)).map(([k]) => k);
  expect(extra).toEqual([]);
  return { flows: mon.counters.flows, rexmits: rexmitFrames.length, bytes: [...streams.values()].reduce((a, b) => a + b.length, 0) };
}

describe('monitor vs tshark and tcpflow', () => {
  test.each([1, 2, 3])('scapy flows, seed %i: REXMIT frames = tshark, streams = tcpflow', async (seed) => {
    const f = path.join(dir, `oracle${seed}.pcap`);
    scapyPcap('oracle', f, seed);
    const r = await check(f);
    expect(r.flows).toBe(40);
    expect(r.rexmits).toBeGreaterThan(20);
    expect(r.bytes).toBeGreaterThan(40 * 1000);
  });
  test('the hand-made scenarios too', async () => {
    for (const name of ['basic', 'wrap']) {
      const f = path.join(dir, `${name}.pcap`);
      scapyPcap(name, f);
      await check(f);
    }
  });
});
