// ovs-nat over net_pcap: 1,024 UDP flows (bench/pcapgen) go in on the inside port, four datagrams each
// (round after round); the outside pcap is checked with tshark — every datagram translated to the NAT range,
// unique translated tuples, each flow's datagrams translated alike, TTL decremented, MACs rewritten to the
// static gateway, IP and UDP checksums good. Rounds 1-3 go through the conntrack handler (new, new as the
// state becomes MULTIPLE, est — which offloads the flow), round 4 through the offloaded fast path: the same
// bytes on the wire, counted as ct.est. And no mbuf leaks.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { generateUdpFlowsPcap } from '../../bench/pcapgen';
import { readPcap, writePcap } from '../../net/pcap';
import { startCli } from '../helpers/proc';
import { waitFor } from '../helpers/wait';
import { filePrefix, lastStats, summaryOf, tmpDir, writeJson } from '../helpers/netstar';

describe('ovs-nat pcap in -> pcap out', () => {
  const dir = tmpDir('natpcap');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('1,024 UDP flows x 4 rounds: translated, unique tuples, TTL and MACs rewritten, checksums good (tshark); round 4 offloaded', async () => {
    const inPcap = path.join(dir, 'in.pcap'), outPcap = path.join(dir, 'out.pcap'), empty = path.join(dir, 'empty.pcap'), sink = path.join(dir, 'sink.pcap');
    const onePcap = path.join(dir, 'one.pcap');
    generateUdpFlowsPcap(onePcap, { flows: 1024, frameSize: 80 });
    const one = readPcap(onePcap);
    const ROUNDS = 4, N = 1024 * ROUNDS;
    writePcap(inPcap, Array.from({ length: ROUNDS }, () => one).flat().map((r) => ({ data: r.data })));
    writePcap(empty, []);
    const cfg = writeJson(dir, 'cfg.json', {
      eal: { vdevs: [`net_pcap0,rx_pcap=${inPcap},tx_pcap=${sink}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${outPcap}`], filePrefix: filePrefix('np') },
      ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }],
      statsIntervalMs: 100,
      app: {
        inside: { port: 0, address: '198.18.255.254/16' },
        outside: { port: 1, address: '198.19.255.254/24', gateway: '198.19.255.1' },
        neighbors: [{ ip: '198.19.255.1', mac: '02:00:00:00:00:fe' }],
        checkDstMac: false,
        snat: [{ src: '198.18.0.0/16', addresses: '198.19.255.10-198.19.255.13', ports: '20000-29999' }],
      },
    });
    const p = startCli(['run', 'ovs-nat', '-c', cfg, '--stats', '--json']);
    try {
      await waitFor(() => (lastStats(p.output())?.ports[1].tx ?? 0) >= N || !p.running(), { timeoutMs: 30000, what: `ovs-nat to send ${N} datagrams` });
      const r = await p.stop({ timeoutMs: 10000 });
      expect(r.killed).toBe(false);
      expect(r.code).toBe(0);
    } finally {
      if (p.running()) p.kill();
    }
    const s = summaryOf(p.stdout());
    expect(s.leaked).toBe(0);
    expect(s.heldAtClose).toBe(0);
    expect(s.app['ct.snat']).toBe(1024);
    expect(s.ports[1].tx).toBe(N);
    // Rounds 1 and 2 are ct new, 3 and 4 est (round 4 counted by its offload tag); round 4 took the fast path.
    expect({
      new: s.app['ct.new'], est: s.app['ct.est'], offloaded: s.app['flow.offloaded'], installed: s.app['flow.offloadsInstalled'], fallbacks: s.app['flow.offloadFallbacks'],
    }).toEqual({ new: 2048, est: 2048, offloaded: 1024, installed: 1024, fallbacks: 0 });

    const rows = execFileSync('tshark', ['-r', outPcap, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields',
      '-e', 'ip.src', '-e', 'udp.srcport', '-e', 'ip.dst', '-e', 'ip.ttl', '-e', 'eth.dst', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status'], { encoding: 'utf8' })
      .trim().split('\n').map((l) => l.split('\t'));
    expect(rows).toHaveLength(N);
    const natAddrs = new Set(['198.19.255.10', '198.19.255.11', '198.19.255.12', '198.19.255.13']);
    expect(rows.every((f) => natAddrs.has(f[0]))).toBe(true);
    expect(rows.every((f) => Number(f[1]) >= 20000 && Number(f[1]) <= 29999)).toBe(true);
    // Translated tuples are unique (an address:port may serve several destinations, as in OVS: the reply
    // tuple must be unique, not the pair).
    expect(new Set(rows.map((f) => `${f[0]}:${f[1]}>${f[2]}`)).size).toBe(1024);
    // Each round carries the flows in the same order: every flow left translated the same way 4 times, the
    // offloaded round (4) exactly as the handler's rounds.
    const differing = rows.slice(0, 1024).filter((f, i) => [1, 2, 3].some((k) => rows[i + 1024 * k].slice(0, 3).join() !== f.slice(0, 3).join()));
    expect(differing).toEqual([]);
    // Byte for byte: each offloaded datagram (round 4) equals the handler's translation of the same input
    // (round 3), checksums included.
    const out = readPcap(outPcap);
    const notSame = out.slice(2048, 3072).map((r, i) => i).filter((i) => !Buffer.from(out[3072 + i].data).equals(Buffer.from(out[2048 + i].data)));
    expect(notSame).toEqual([]);
    // The hash spreads flows over the address range.
    expect(new Set(rows.map((f) => f[0])).size).toBe(4);
    expect(rows.every((f) => f[2].startsWith('198.19.') && f[3] === '63' && f[4] === '02:00:00:00:00:fe')).toBe(true);
    // Checksum status 1 = good.
    expect(rows.filter((f) => f[5] !== '1' || f[6] !== '1')).toEqual([]);
  });
});
