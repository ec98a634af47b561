// runNf, the NF harness: two shards over one pcap port (steered), the stop condition, and failures that must
// reach the caller with the CLI's own message (bad settings, a run that never settles).
import { generateUdpFlowsPcap } from '../../tools/pcapgen';
import { readPcap } from '../../tools/pcap';
import { tmpDir } from '../../tools/netstar';
import { NfRunError, runNf } from '../../tools/harness';
import * as fs from 'fs';
import * as path from 'path';

describe('runNf', () => {
  const dir = tmpDir('harness');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const flows = path.join(dir, 'flows.pcap');
  generateUdpFlowsPcap(flows, { flows: 500, frameSize: 96 });

  test('l2fwd macswap on two shards: every frame comes out once, MACs swapped, the rest intact; mbufs balanced', async () => {
    const r = await runNf({ app: 'l2fwd', settings: { mode: 'macswap' }, shards: 2, ports: [{ pcap: flows }, { frames: [] }] });
    expect(r.exitCode).toBe(0);
    expect(r.summary.shards).toHaveLength(2);
    expect(r.ports.map((p) => [p.rx, p.tx, p.dropped])).toEqual([[500, 0, 0], [0, 500, 0]]);
    expect(r.output[0]).toHaveLength(0);
    // Two shards may interleave flows: compare as sorted multisets of the expected bytes.
    const want = readPcap(flows).map((x) => Buffer.concat([x.data.subarray(6, 12), x.data.subarray(0, 6), x.data.subarray(12)]).toString('hex')).sort();
    expect(r.output[1].map((f) => Buffer.from(f).toString('hex')).sort()).toEqual(want);
    expect(r.mbufs).toEqual({ held: 0, leaked: 0 });
  });

  test('a custom stop condition; a relative pcap path is taken against cwd', async () => {
    const seen: number[] = [];
    const r = await runNf({
      app: 'l2fwd', settings: { mode: 'io' }, cwd: dir, ports: [{ pcap: 'flows.pcap' }, {}],
      until: (p) => { seen.push(p.input[0]); return p.ports[1].tx >= 500; },
    });
    expect(seen.every((n) => n === 500)).toBe(true);
    expect(r.output[1].map((f) => Buffer.from(f).toString('hex'))).toEqual(readPcap(flows).map((x) => x.data.toString('hex')));
    expect(r.mbufs).toEqual({ held: 0, leaked: 0 });
  });

  test('a port with a stack (ports[i].config): an ARP request for its address gets the reply; the stack\'s steady mbufs do not stall the stop', async () => {
    // who-has 198.18.7.2 tell 198.18.7.1 (02:00:00:00:00:01), padded to 60 bytes.
    const req = Buffer.alloc(60);
    Buffer.from('ffffffffffff02000000000108060001080006040001020000000001c6120701000000000000c6120702', 'hex').copy(req);
    const r = await runNf({ app: 'echo', settings: { port: 7 }, ports: [{ frames: [req], config: { stack: { address: '198.18.7.2/24' } } }] });
    // net_pcap's MAC is 02:70:63:61:70:00 ("pcap" + index).
    expect(r.output[0].map((f) => Buffer.from(f).toString('hex'))).toEqual(['020000000001027063617000080600010800060400020270636170' + '00c6120702020000000001c6120701']);
    expect(r.mbufs).toEqual({ held: 0, leaked: 0 });
  });

  test('bad settings reject with the CLI message', async () => {
    const e = await runNf({ app: 'l2fwd', settings: { mode: 'teleport' }, ports: [{}] }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(NfRunError);
    expect((e as NfRunError).exitCode).toBe(2);
    expect((e as NfRunError).message).toMatch(/app\.mode/);
  });

  test('a condition that never holds rejects at the deadline, after stopping the CLI', async () => {
    const e = await runNf({ app: 'l2fwd', ports: [{ pcap: flows }, {}], until: () => false, timeoutMs: 3000 }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(NfRunError);
    expect((e as NfRunError).message).toMatch(/timed out after 3000 ms waiting for l2fwd to process its input \(500 \+ 0 frames\) \(\d+ evaluations\); last STATS: \{"ports":\[\{"rx":500,"tx":0,"drops":0\},\{"rx":0,"tx":500,"drops":0\}\],"held":0\}/);
    expect((e as NfRunError).exitCode).toBe(0);
  });
});
