// ovs-nat against OVS-DPDK conntrack NAT on the same devices: net_pcap (1,024 UDP flows of 64 B,
// infinite_rx) into net_null. OVS: Debian's openvswitch-switch-dpdk (3.1, userspace datapath), one PMD
// core, the flow `ip,in_port=<pcap> actions=ct(commit,nat(src=<range>)),output:<null>`. Ours: apps/ovs-nat,
// one shard on the same core, the same SNAT range, with flow offload (the default) and, as a second figure,
// without it. Alternating runs (never concurrently); medians of per-second Mpps of the output port.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { generateUdpFlowsPcap } from '../tools/pcapgen';
import { BenchResult, CLI, finish, median, printTable, roundsOf, runFor } from './common';
import { OvsDpdk, ensureOvsDpdk, onAbort } from './ovs/ovs';

export interface OvsNatBenchOptions { rounds: number; seconds: number; json: boolean; core: number }

const FLOWS = 1024;
const NAT_ADDRS = '198.51.100.1-198.51.100.254';
const NAT_PORTS = '1024-65535';
const PCAP_OFPORT = 1;
const NULL_OFPORT = 2;

/** The OpenFlow rules: SNAT every IP packet from the pcap port in conntrack, then out the null port. */
export function ovsNatFlows(): string[] {
  return [
    `table=0,priority=10,ip,in_port=${PCAP_OFPORT},actions=ct(commit,nat(src=${NAT_ADDRS}:${NAT_PORTS})),output:${NULL_OFPORT}`,
    'table=0,priority=0,actions=drop',
  ];
}

/**
 * Our side: an L3 hop with the pcap port inside (the sources' /16) and the null port outside (a static
 * gateway neighbor, so nothing waits on ARP), SNAT of the sources to the same range as OVS. OVS's flow
 * matches no MAC, so neither do we (checkDstMac false); checksums are verified on both sides (OVS's
 * userspace conntrack checks them on devices without RX checksum offload, like net_pcap).
 */
export function ovsNatConfig(vdevs: string[], core: number, mainCore: number, filePrefix: string, offload = true): unknown {
  return {
    eal: { vdevs, mainCore, filePrefix },
    pool: { size: 16383, cacheSize: 256 },
    ports: [{ name: 'net_pcap0' }, { name: 'net_null0' }],
    shards: 1,
    cores: [core],
    app: {
      inside: { port: 0, address: '198.18.255.254/16' },
      outside: { port: 1, address: '203.0.113.1/24', gateway: '203.0.113.2' },
      neighbors: [{ ip: '203.0.113.2', mac: '02:00:00:00:00:fe' }],
      checkDstMac: false,
      snat: [{ src: '198.18.0.0/16', addresses: NAT_ADDRS, ports: NAT_PORTS }],
      offload,
    },
  };
}

interface Stats { ports: { txPps: number }[]; app?: Record<string, number> }

/** Our ovs-nat with --stats: TX pps samples of the null port (warm-up dropped) and the last app counters. */
async function oursNat(cfgFile: string, seconds: number, skip = 2): Promise<{ pps: number[]; app: Record<string, number> }> {
  const samples: number[] = [];
  let app: Record<string, number> = {};
  const r = await runFor(process.execPath, [CLI, 'run', 'ovs-nat', '-c', cfgFile, '--stats', '-q', '-d', String(seconds)], seconds + 30, (l) => {
    if (!l.startsWith('STATS ')) return;
    const s = JSON.parse(l.slice(6)) as Stats;
    samples.push(s.ports[1].txPps);
    if (s.app) app = s.app;
  });
  if (samples.length <= skip) throw new Error(`netstar ovs-nat gave no statistics (exit ${r.code}):\n${r.out.slice(-2000)}`);
  if (r.code !== 0) throw new Error(`netstar ovs-nat exited with ${r.code}:\n${r.out.slice(-2000)}`);
  return { pps: samples.slice(skip), app };
}

/** One OVS run: start, install the flows, measure, check that it translated, stop (always). */
async function ovsRun(dir: string, vdevs: string[], core: number, mainCore: number, round: number, seconds: number): Promise<number[]> {
  const ovs = await OvsDpdk.start({
    dir: path.join(dir, `ovs-r${round}`),
    bridge: `nsbovs${process.pid % 100000}`,
    filePrefix: `ovsb${process.pid}r${round}`,
    mainCore,
    pmdCore: core,
    memoryMb: 512,
    vdevs,
    ports: [
      { name: 'pcap0', devargs: 'net_pcap0', ofport: PCAP_OFPORT },
      { name: 'null0', devargs: 'net_null0', ofport: NULL_OFPORT },
    ],
  });
  try {
    await ovs.addFlows(ovsNatFlows());
    const rxq = await ovs.appctl(['dpif-netdev/pmd-rxq-show']);
    if (!new RegExp(`core_id ${core}\\b`).test(rxq) || !/pcap0/.test(rxq)) throw new Error(`OVS's PMD is not polling pcap0 on core ${core}:\n${rxq}`);
    const pps = await ovs.txPps(NULL_OFPORT, seconds);
    // The rate counts only if OVS really translated: every flow has a conntrack entry whose reply goes
    // to an address of the NAT range.
    const ct = await ovs.appctl(['dpctl/dump-conntrack']);
    const natted = ct.split('\n').filter((l) => /reply=\(src=[^)]*dst=198\.51\.100\.\d+/.test(l)).length;
    if (natted < FLOWS) throw new Error(`OVS translated only ${natted} of ${FLOWS} flows:\n${ct.slice(0, 1500)}`);
    return pps;
  } finally {
    await ovs.stop();
  }
}

export async function benchOvsNat(o: OvsNatBenchOptions): Promise<BenchResult> {
  const say = (s: string): void => { if (!o.json) process.stdout.write(s); };
  const version = ensureOvsDpdk((s) => process.stderr.write(s));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-ovs-'));
  const removeDir = (): void => fs.rmSync(dir, { recursive: true, force: true });
  const offAbort = onAbort(removeDir);
  try {
    const pcap = path.join(dir, 'flows.pcap');
    generateUdpFlowsPcap(pcap, { flows: FLOWS, frameSize: 64 });
    const vdevs = [`net_pcap0,rx_pcap=${pcap},infinite_rx=1`, 'net_null0,no-rx=1'];
    const mainCore = o.core === 0 ? 1 : 0;
    const cfgFile = path.join(dir, 'ovs-nat.json');
    say(`${version}; no hugepages (EAL --no-huge --legacy-mem); PMD on core ${o.core}\n`);
    const ours: number[] = [], ref: number[] = [], noOffload: number[] = [];
    const runOurs = async (r: number, offload: boolean): Promise<number> => {
      fs.writeFileSync(cfgFile, JSON.stringify(ovsNatConfig(vdevs, o.core, mainCore, `nsbo${process.pid}r${r}${offload ? '' : 'n'}`, offload)));
      const u = await oursNat(cfgFile, o.seconds);
      const snat = u.app['ct.snat'];
      if (typeof snat === 'number' && snat < FLOWS) throw new Error(`netstar ovs-nat translated only ${snat} of ${FLOWS} flows (counters: ${JSON.stringify(u.app)})`);
      // With offload on, the steady state must really be offloaded; with it off, nothing may be.
      const off = u.app['flow.offloaded'] ?? 0;
      if (offload ? off === 0 : off !== 0) throw new Error(`netstar ovs-nat (offload ${offload}) offloaded ${off} packets`);
      return median(u.pps) / 1e6;
    };
    for (let r = 0; r < o.rounds; r++) {
      const t = median(await ovsRun(dir, vdevs, o.core, mainCore, r, o.seconds)) / 1e6;
      const m = await runOurs(r, true);
      const n = await runOurs(r, false);
      ref.push(t);
      ours.push(m);
      noOffload.push(n);
      say(`round ${r + 1}: OVS-DPDK ${t.toFixed(2)} Mpps, netstar ovs-nat ${m.toFixed(2)} Mpps (offload off: ${n.toFixed(2)})\n`);
    }
    const res: BenchResult = { bench: 'ovs-nat', ours: +median(ours).toFixed(3), ref: +median(ref).toFixed(3), unit: 'Mpps', ratio: 0, rounds: roundsOf(ours, ref), labels: { ours: 'netstar ovs-nat', ref: 'OVS-DPDK conntrack NAT' }, extraSeries: [{ name: 'netstar ovs-nat, offload off', values: noOffload }] };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    printTable([
      ['', 'netstar ovs-nat', 'OVS-DPDK ct(nat)', 'ratio'],
      ['median Mpps', res.ours.toFixed(2), res.ref.toFixed(2), res.ratio.toFixed(2)],
      ['rounds', ours.map((x) => x.toFixed(2)).join(' '), ref.map((x) => x.toFixed(2)).join(' '), ''],
      ['offload off', `${median(noOffload).toFixed(2)} (${noOffload.map((x) => x.toFixed(2)).join(' ')})`, '', (median(noOffload) / res.ref).toFixed(2)],
    ]);
    process.stdout.write(`(net_pcap ${FLOWS.toLocaleString('en-US')} UDP flows of 64 B, infinite_rx -> net_null; SNAT to ${NAT_ADDRS}:${NAT_PORTS}; `
      + `OVS userspace datapath, one PMD, flow ct(commit,nat(src=...)),output, no hugepages; ours 1 shard; core ${o.core} each; `
      + `${o.rounds} alternating rounds of ${o.seconds} s; target ratio >= 3)\n`);
    finish(res, o.json);
    return res;
  } finally {
    offAbort();
    removeDir();
  }
}
