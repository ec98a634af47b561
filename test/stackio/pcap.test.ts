// Our IPv4 reassembly and fragmentation, independent of the kernel: scapy fragments (out of order, one
// duplicated) replayed through net_pcap into the stack; tshark checks the echo reply it wrote.
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { filePrefix, runUntilSent, tmpDir, writeJson } from '../../tools/netstar';

describe('stack reassembly through net_pcap', () => {
  const dir = tmpDir('reasm');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a 4000-byte echo request in shuffled, duplicated fragments gets a whole, correct (fragmented) reply', async () => {
    const inp = path.join(dir, 'in.pcap'), out = path.join(dir, 'out.pcap');
    // our port's MAC as net_pcap reports it is 02:70:63:61:70:00 ("pcap" + index)
    execFileSync('/usr/bin/python3', ['-c', `
from scapy.all import *
import random
random.seed(5)
payload = bytes((i * 13) & 255 for i in range(4000))
pkt = IP(src='198.18.7.1', dst='198.18.7.2', id=4242)/ICMP(type=8, id=77, seq=1)/Raw(payload)
frags = fragment(pkt, fragsize=1000)
frags = frags + [frags[1]]          # a duplicate
random.shuffle(frags)
eth = Ether(src='02:00:00:00:00:01', dst='02:70:63:61:70:00')
arp = Ether(src='02:00:00:00:00:01', dst='ff:ff:ff:ff:ff:ff')/ARP(op=1, hwsrc='02:00:00:00:00:01', psrc='198.18.7.1', pdst='198.18.7.2')
wrpcap('${inp}', [arp] + [eth/f for f in frags])
`]);
    const cfg = writeJson(dir, 'cfg.json', {
      eal: { vdevs: [`net_pcap0,rx_pcap=${inp},tx_pcap=${out}`], filePrefix: filePrefix('ra') },
      ports: [{ name: 'net_pcap0', stack: { address: '198.18.7.2/24' } }],
      statsIntervalMs: 100, app: { port: 7 },
    });
    expect((await runUntilSent('echo', cfg, 0, 4, 'the reply to be sent (ARP reply + 3 fragments)', 20000)).leaked).toBe(0);
    // tshark reassembles our reply: one echo reply, id 77 seq 1, 4000 bytes of the same payload, checksums good.
    const j = JSON.parse(execFileSync('tshark', ['-r', out, '-o', 'ip.defragment:TRUE', '-o', 'ip.check_checksum:TRUE', '-Y', 'icmp.type == 0', '-T', 'json', '-x'], { encoding: 'utf8' })) as { _source: { layers: Record<string, Record<string, unknown>> } }[];
    expect(j).toHaveLength(1);
    const L = j[0]._source.layers;
    expect(L.icmp['icmp.ident']).toBe('77');
    expect(L.icmp['icmp.seq']).toBe('1');
    expect(L.icmp['icmp.checksum.status']).toBe('1');
    const data = String((L.icmp as Record<string, Record<string, unknown>>)['data']['data.data']).split(':').map((h) => parseInt(h, 16));
    expect(data).toHaveLength(4000);
    expect(data.every((b, i) => b === ((i * 13) & 255))).toBe(true);
    // and it went out as fragments no larger than the MTU
    const sizes = execFileSync('tshark', ['-r', out, '-o', 'ip.defragment:FALSE', '-Y', 'ip.src == 198.18.7.2 and ip.proto == 1', '-T', 'fields', '-e', 'frame.len'], { encoding: 'utf8' }).trim().split('\n').map(Number);
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1514);
  });
});
