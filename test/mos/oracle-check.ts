// The monitor against its oracles on one pcap: the frames raising REXMIT against tshark's tcp.analysis flags
// (retransmission, spurious, fast, out-of-order), each direction's bytes against tcpflow's streams.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Events, Monitor, type Conn } from '../../mos';
import { formatIp } from '../../net/flow';
import { readPcap } from '../../tools/pcap';
import { FakeSink, feed } from './harness';

const REXMIT_FILTER = 'tcp.analysis.retransmission or tcp.analysis.spurious_retransmission or tcp.analysis.fast_retransmission or tcp.analysis.out_of_order';

/** tcpflow's file name for a direction: zero-padded dotted address, port. */
const tfName = (a: number, ap: number, b: number, bp: number): string => {
  const pad = (ip: number) => formatIp(ip).split('.').map((x) => x.padStart(3, '0')).join('.');
  return `${pad(a)}.${String(ap).padStart(5, '0')}-${pad(b)}.${String(bp).padStart(5, '0')}`;
};

/** Feeds `file` through a passive monitor; asserts REXMIT frames = tshark's, streams = tcpflow's. */
export async function checkAgainstOracles(file: string, dir: string): Promise<{ flows: number; rexmits: number; bytes: number }> {
  const recs = readPcap(file);
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

