// ovs-nat over net_pcap: 1,024 UDP flows (tools/pcapgen) go in on the inside port, four datagrams each
// (round after round); the outside pcap is checked with tshark — every datagram translated to the NAT range,
// unique translated tuples, each flow's datagrams translated alike, TTL decremented, MACs rewritten to the
// static gateway, IP and UDP checksums good. Rounds 1-3 go through the conntrack handler (new, new as the
// state becomes MULTIPLE, est — which offloads the flow), round 4 through the offloaded fast path: the same
// bytes on the wire, counted as ct.est. And no mbuf leaks.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { generateUdpFlowsPcap } from '../../tools/pcapgen';
import { readPcap, writePcap } from '../../tools/pcap';
import { filePrefix, runUntilSent, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { frame } from '../flow/helpers';
import { internetChecksum } from '../../net/wire/checksum';

describe('ovs-nat pcap in -> pcap out', () => {
  const dir = tmpDir('natpcap');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /**
   * Runs ovs-nat between two net_pcap ports (in.pcap into the inside port, the outside port writing out.pcap)
   * with a static gateway neighbor and the given SNAT range, until `expectTx` datagrams left; returns its summary.
   */
  async function runNat(name: string, files: { inPcap: string; outPcap: string }, snat: { addresses: string; ports: string }, expectTx: number, extra: Record<string, unknown> = {}): Promise<ReturnType<typeof summaryOf>> {
    const empty = path.join(dir, `${name}-empty.pcap`), sink = path.join(dir, `${name}-sink.pcap`);
    writePcap(empty, []);
    const cfg = writeJson(dir, `${name}.json`, {
      eal: { vdevs: [`net_pcap0,rx_pcap=${files.inPcap},tx_pcap=${sink}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${files.outPcap}`], filePrefix: filePrefix(name) },
      ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }],
      statsIntervalMs: 100,
      ...extra,
      app: {
        inside: { port: 0, address: '198.18.255.254/16' },
        outside: { port: 1, address: '198.19.255.254/24', gateway: '198.19.255.1' },
        neighbors: [{ ip: '198.19.255.1', mac: '02:00:00:00:00:fe' }],
        checkDstMac: false,
        snat: [{ src: '198.18.0.0/16', ...snat }],
      },
    });
    const s = await runUntilSent('ovs-nat', cfg, 1, expectTx, `ovs-nat to send ${expectTx} datagrams`);
    expect(s.leaked).toBe(0);
    expect(s.heldAtClose).toBe(0);
    return s;
  }

  test('1,024 UDP flows x 4 rounds: translated, unique tuples, TTL and MACs rewritten, checksums good (tshark); round 4 offloaded', async () => {
    const inPcap = path.join(dir, 'in.pcap'), outPcap = path.join(dir, 'out.pcap');
    const onePcap = path.join(dir, 'one.pcap');
    generateUdpFlowsPcap(onePcap, { flows: 1024, frameSize: 80 });
    const one = readPcap(onePcap);
    const ROUNDS = 4, N = 1024 * ROUNDS;
    writePcap(inPcap, Array.from({ length: ROUNDS }, () => one).flat().map((r) => ({ data: r.data })));
    const s = await runNat('np', { inPcap, outPcap }, { addresses: '198.19.255.10-198.19.255.13', ports: '20000-29999' }, N);
    expect(s.app['ct.snat']).toBe(1024);
    expect(s.ports[1].tx).toBe(N);
    // Rounds 1 and 2 are ct new, 3 and 4 est (round 4 counted by its offload tag); round 4 took the fast path.
    expect({
      new: s.app['ct.new'], est: s.app['ct.est'], offloaded: s.app['flow.offloaded'], installed: s.app['flow.offloadsInstalled'], fallbacks: s.app['flow.offloadFallbacks'],
    }).toEqual({ new: 2048, est: 2048, offloaded: 1024, installed: 1024, fallbacks: 0 });
    // Those 1,024 were handled by the native executor inside the RX burst (never described to JS).
    expect({ attached: s.app['flow.offloadNative'], native: s.app['flow.offloadedNative'] }).toEqual({ attached: 1, native: 1024 });

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
    const notSame = Array.from({ length: 1024 }, (_, i) => i).filter((i) => !Buffer.from(out[3072 + i].data).equals(Buffer.from(out[2048 + i].data)));
    expect(notSame).toEqual([]);
    // The hash spreads flows over the address range.
    expect(new Set(rows.map((f) => f[0])).size).toBe(4);
    expect(rows.every((f) => f[2].startsWith('198.19.') && f[3] === '63' && f[4] === '02:00:00:00:00:fe')).toBe(true);
    // Checksum status 1 = good.
    expect(rows.filter((f) => f[5] !== '1' || f[6] !== '1')).toEqual([]);
  });
  test('the native executor hands JS what it must not take, in order: TTL 1, a bad UDP checksum, IP options; the rest it rewrites exactly', async () => {
    // Bursts of 8 (config burst 8; net_pcap returns exactly that many): three rounds of 4 flows x 2 datagrams
    // set up and offload the flows, then one burst of edge cases. Flow 3 carries IP options throughout, so
    // the native parser never takes it (JS's offload path does).
    const inPcap = path.join(dir, 'edge-in.pcap'), outPcap = path.join(dir, 'edge-out.pcap');
    let n = 0;
    const dg = (f: number, o: { ttl?: number; badSum?: boolean } = {}): Uint8Array => {
      // Payload: the flow, then a sequence number over the whole file; flows 1 and 2 have an odd length (the
      // checksum's last word is half a byte) — flow 2 is taken natively, flow 1's corrupt datagram refused.
      const payload = f === 1 || f === 2 ? [f, n++, 2, 3, 4, 5, 6] : [f, n++, 2, 3, 4, 5, 6, 7];
      let b = frame({ src: `198.18.0.${10 + f}`, dst: '198.19.9.9', sport: 5000 + f, dport: 9999, ttl: o.ttl ?? 64, payload: new Uint8Array(payload) });
      if (f === 3) {
        // Four bytes of options (NOP NOP NOP EOL) after the IPv4 header; IHL 6; the header checksum redone.
        const x = new Uint8Array(b.length + 4);
        x.set(b.subarray(0, 34));
        x.set([1, 1, 1, 0], 34);
        x.set(b.subarray(34), 38);
        x[14] = 0x46;
        const tot = ((x[16] << 8) | x[17]) + 4;
        x[16] = tot >> 8; x[17] = tot & 255;
        x[24] = 0; x[25] = 0;
        const c = internetChecksum(x, 14, 24);
        x[24] = c >> 8; x[25] = c & 255;
        b = x;
      }
      if (o.badSum) b[b.length - 1] ^= 0xff;
      return b;
    };
    const round = (): Uint8Array[] => [0, 1, 2, 3, 0, 1, 2, 3].map((f) => dg(f));
    const rounds = [...round(), ...round(), ...round()];
    const edge = [dg(0, { ttl: 1 }), dg(0), dg(1, { badSum: true }), dg(1), dg(2), dg(2), dg(3), dg(3)];
    writePcap(inPcap, [...rounds, ...edge].map((data) => ({ data })));
    const s = await runNat('npe', { inPcap, outPcap }, { addresses: '198.19.255.10', ports: '20000-20100' }, 30, { burst: 8 });
    // Round 3 (flows 0-2, twice each) and the two plain datagrams of flow 2 in the edge burst went natively;
    // in the edge burst flow 0 and flow 1 follow their refused first datagram to JS.
    expect({
      sent: s.ports[1].tx, ttl: s.app['drop.ttl'], badL4: s.app['drop.badL4Checksum'], native: s.app['flow.offloadedNative'], installed: s.app['flow.offloadsInstalled'],
    }).toEqual({ sent: 30, ttl: 1, badL4: 1, native: 8, installed: 4 });
    const rows = execFileSync('tshark', ['-r', outPcap, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields',
      '-e', 'ip.src', '-e', 'udp.srcport', '-e', 'ip.ttl', '-e', 'eth.dst', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status', '-e', 'data'], { encoding: 'utf8' })
      .trim().split('\n').map((l) => l.split('\t'));
    expect(rows).toHaveLength(30);
    // Every datagram translated, TTL 63, to the gateway, checksums good; each flow kept one translated port.
    expect(rows.filter((f) => f[0] !== '198.19.255.10' || f[2] !== '63' || f[3] !== '02:00:00:00:00:fe' || f[4] !== '1' || f[5] !== '1')).toEqual([]);
    const portOf = new Map<string, Set<string>>();
    for (const f of rows) {
      const flow = f[6].slice(0, 2);
      if (!portOf.has(flow)) portOf.set(flow, new Set());
      portOf.get(flow)!.add(f[1]);
    }
    expect([...portOf.keys()].sort()).toEqual(['00', '01', '02', '03']);
    expect([...portOf.values()].every((v) => v.size === 1)).toBe(true);
    // Order within each flow is kept (natively sent datagrams leave before JS's of the same burst: order across
    // flows may change, never within one); all but the TTL-1 and bad-checksum datagrams arrived.
    const seqs = new Map<string, number[]>();
    for (const f of rows) {
      const flow = f[6].slice(0, 2), seq = parseInt(f[6].slice(2, 4), 16);
      if (!seqs.has(flow)) seqs.set(flow, []);
      seqs.get(flow)!.push(seq);
    }
    for (const [flow, list] of seqs) expect({ flow, inOrder: list.every((x, i) => i === 0 || x > list[i - 1]) }).toEqual({ flow, inOrder: true });
    expect([...seqs.values()].flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 32 }, (_, i) => i).filter((i) => i !== 24 && i !== 26));
  });
});
