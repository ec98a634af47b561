// l2fwd over net_pcap: frames made by scapy go in, the written pcap is checked with tshark and scapy. Run
// through the NF harness (tools/harness.ts runNf), as a user's own test would.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../tools/netstar';
import { runNf } from '../../tools/harness';

const PY = '/usr/bin/python3';

describe('l2fwd pcap in -> pcap out', () => {
  const dir = tmpDir('l2pcap');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('every frame is forwarded with rewritten MACs and an intact payload; runts are dropped and counted', async () => {
    const inPcap = path.join(dir, 'in.pcap');
    // 300 frames of varied sizes and protocols, plus 2 runts (10 bytes) that must be dropped.
    execFileSync(PY, ['-c', `
from scapy.all import *
import random
random.seed(7)
pk=[]
for i in range(300):
    size=random.randint(0,1400)
    l4 = UDP(sport=1000+i,dport=53) if i%3 else TCP(sport=2000+i,dport=80,flags='S')
    pk.append(Ether(src='02:aa:00:00:00:%02x'%(i%256),dst='02:bb:00:00:00:01')/IP(src='198.18.0.%d'%(i%250+1),dst='198.19.0.9')/l4/Raw(bytes([i%256])*size))
pk.insert(100, Raw(b'0123456789'))
pk.insert(200, Raw(b'abcdefghij'))
wrpcap('${inPcap}', pk)
`]);
    // Port 0 reads in.pcap, port 1 reads nothing; the harness keeps out0.pcap / out1.pcap in `dir`.
    const r = await runNf({
      app: 'l2fwd',
      settings: { mode: 'mac', peers: ['02:00:00:00:00:10', '02:00:00:00:00:11'] },
      ports: [{ pcap: inPcap }, {}],
      outDir: dir,
    });
    expect(r.exitCode).toBe(0);
    expect(r.ports[0].rx).toBe(302);
    expect(r.ports[0].dropped).toBe(2);
    expect(r.ports[1].tx).toBe(300);
    expect(r.output[1]).toHaveLength(300);
    expect(r.output[0]).toHaveLength(0);
    expect(r.mbufs).toEqual({ held: 0, leaked: 0 });
    const outPcap = r.outputPcaps[1];

    // tshark: 300 frames, all with the rewritten addresses; src is port 1's MAC as the EAL reported it.
    const fields = execFileSync('tshark', ['-r', outPcap, '-T', 'fields', '-e', 'eth.src', '-e', 'eth.dst', '-e', 'frame.len', '-e', 'ip.src'], { encoding: 'utf8' })
      .trim().split('\n').map((l) => l.split('\t'));
    expect(fields).toHaveLength(300);
    const srcs = new Set(fields.map((f) => f[0]));
    expect(srcs.size).toBe(1);
    expect(fields.every((f) => f[1] === '02:00:00:00:00:11')).toBe(true);
    // scapy: bytes after the two MACs are identical, frame by frame, in order.
    const cmp = execFileSync(PY, ['-c', `
from scapy.all import *
a=[bytes(p) for p in rdpcap('${inPcap}') if len(bytes(p))>=14]
b=[bytes(p) for p in rdpcap('${outPcap}')]
print(len(a), len(b), sum(1 for x,y in zip(a,b) if x[12:]==y[12:] and len(x)==len(y)))
`], { encoding: 'utf8' }).trim().split(' ').map(Number);
    expect(cmp).toEqual([300, 300, 300]);
  });
});
