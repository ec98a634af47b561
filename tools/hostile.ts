// The hostile run: seeded, structure-aware mutations of valid flows (truncation at every length, bad lengths
// and checksums, random options and flags, fragments, VLAN/QinQ, zero-length and oversized frames) through an
// app over net_pcap, on 1 and 2 shards, optionally with the sanitizer build of the addon. Each run must exit 0
// with every mbuf back and every received frame accounted for; the peak RSS is reported.
//   npm run hostile -- <app|all> [--frames N] [--shards 1,2] [--seed S] [--asan] [--json]
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  ArpRepr, ArpView, EthernetRepr, EthernetView, EtherType, IcmpView, Ipv4Repr, Ipv4View, TcpRepr, TcpView, UdpRepr, UdpView,
} from '../net/wire';
import { PcapWriter } from './pcap';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'netstar.js');

/** xorshift32: the same seed gives the same frames on every machine. */
class Rng {
  constructor(private s: number) { if (this.s === 0) this.s = 0x9e3779b9; }
  u32(): number { let x = this.s; x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; this.s = x; return x; }
  int(n: number): number { return this.u32() % n; }
  chance(p: number): boolean { return this.u32() / 2 ** 32 < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
}

const ip = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
const MAC_PORT0 = 0x020000000010, MAC_PORT1 = 0x020000000011, MAC_HOST = 0x02aa00000001;

interface Endpoints { src: number; dst: number; sport: number; dport: number; dstMac: number; srcMac: number }

/** A valid frame of one of the kinds apps see: UDP, TCP (with options), ICMP echo/error, ARP, a fragment. */
function validFrame(r: Rng, e: Endpoints): Uint8Array {
  const kind = r.int(7);
  const vlans = r.chance(0.1) ? (r.chance(0.5) ? [{ tpid: 0x8100, pcp: 0, dei: 0, vid: r.int(4096) }] : [{ tpid: 0x88a8, pcp: 1, dei: 0, vid: 7 }, { tpid: 0x8100, pcp: 0, dei: 0, vid: r.int(4096) }]) : [];
  const l2 = 14 + 4 * vlans.length;
  if (kind === 0) {
    const b = new Uint8Array(l2 + 28);
    EthernetRepr.emit({ dst: 0xffffffffffff, src: e.srcMac, etherType: EtherType.Arp, vlans }, new EthernetView().wrap(b));
    ArpRepr.emit({ operation: 1 + r.int(2), senderHw: e.srcMac, senderIp: e.src, targetHw: 0, targetIp: e.dst }, new ArpView().wrap(b, l2));
    return b;
  }
  const payload = new Uint8Array(r.chance(0.2) ? r.int(1400) : r.int(64)).map(() => r.int(256));
  let l4len: number, proto: number;
  const tcpRepr = {
    srcPort: e.sport, dstPort: e.dport, seq: r.u32(), ack: r.u32(), flags: r.chance(0.5) ? r.pick([0x02, 0x12, 0x10, 0x18, 0x11, 0x04]) : r.int(0x200), window: r.int(65536),
    mss: r.chance(0.5) ? 1460 : null, windowScale: r.chance(0.3) ? r.int(15) : null, sackPermitted: r.chance(0.3),
    timestamps: r.chance(0.3) ? { tsVal: r.u32(), tsEcr: r.u32() } : null, sackBlocks: r.chance(0.2) ? [[r.u32(), r.u32()] as [number, number]] : [], payloadLength: payload.length,
  };
  if (kind <= 2) { proto = 17; l4len = 8 + payload.length; } else if (kind <= 4) { proto = 6; l4len = TcpRepr.bufferLen(tcpRepr); } else { proto = 1; l4len = 8 + (kind === 6 ? 28 : payload.length); }
  const options = r.chance(0.1) ? new Uint8Array(4 * (1 + r.int(10))).map(() => r.int(256)) : undefined;
  const ipRepr = {
    src: e.src, dst: e.dst, protocol: proto, payloadLength: l4len, ttl: r.chance(0.05) ? r.int(2) : 64, identification: r.int(65536),
    moreFragments: r.chance(0.05), fragmentOffset: r.chance(0.05) ? 8 * (1 + r.int(100)) : 0, options,
  };
  const hl = Ipv4Repr.headerLen(ipRepr);
  const b = new Uint8Array(l2 + hl + l4len);
  EthernetRepr.emit({ dst: e.dstMac, src: e.srcMac, etherType: EtherType.Ipv4, vlans }, new EthernetView().wrap(b));
  const v4 = new Ipv4View().wrap(b, l2);
  Ipv4Repr.emit(ipRepr, v4);
  const l4 = l2 + hl;
  if (proto === 17) UdpRepr.emit({ srcPort: e.sport, dstPort: e.dport, payloadLength: payload.length }, new UdpView().wrap(b, l4), e.src, e.dst, payload, { checksum: r.chance(0.9) });
  else if (proto === 6) TcpRepr.emit(tcpRepr, new TcpView().wrap(b, l4), e.src, e.dst, payload);
  else {
    const icmp = new IcmpView().wrap(b, l4);
    if (kind === 5) { b[l4] = r.pick([8, 0]); b.set(payload, l4 + 8); b[l4 + 4] = e.sport >> 8; b[l4 + 5] = e.sport & 255; }
    else {
      // An error quoting a UDP datagram of the reverse direction (IPv4 header + 8 bytes).
      b[l4] = r.pick([3, 11, 12]); b[l4 + 1] = r.int(16);
      const q = new Ipv4View().wrap(b, l4 + 8);
      Ipv4Repr.emit({ src: e.dst, dst: e.src, protocol: 17, payloadLength: 8, ttl: 1 }, q);
      const u = l4 + 28;
      b[u] = e.dport >> 8; b[u + 1] = e.dport & 255; b[u + 2] = e.sport >> 8; b[u + 3] = e.sport & 255; b[u + 5] = 8;
    }
    icmp.fillChecksum();
  }
  return b;
}

/** One mutation (or none) of a valid frame. */
function mutate(r: Rng, f: Uint8Array): Uint8Array {
  switch (r.int(10)) {
    case 0: return f.subarray(0, r.int(f.length + 1)); // truncation at any length, zero included
    case 1: { const b = f.slice(); for (let i = 0, n = 1 + r.int(4); i < n; i++) b[r.int(Math.min(b.length, 80))] = r.int(256); return b; } // header bytes
    case 2: { const b = f.slice(); if (b.length > 17) { b[16] = r.int(256); b[17] = r.int(256); } return b; } // IPv4 total length
    case 3: { const b = f.slice(); if (b.length > 14) b[14] = (b[14] & 0xf0) | r.int(16); return b; } // IHL
    case 4: { const b = f.slice(); if (b.length > 39) { b[38] = r.int(256); b[39] = r.int(256); } return b; } // UDP length / TCP seq bytes
    case 5: { const b = f.slice(); if (b.length > 46) b[46] = r.int(256); return b; } // TCP data offset (no VLAN)
    case 6: { const b = f.slice(); if (b.length > 25) { b[24] ^= 0xff; } return b; } // IPv4 checksum
    case 7: { const b = new Uint8Array(f.length + 1 + r.int(32)); b.set(f); for (let i = f.length; i < b.length; i++) b[i] = r.int(256); return b; } // trailing garbage
    default: return f;
  }
}

interface AppRun { app: string; config: (eal: { vdevs: string[]; filePrefix: string }, shards: number) => Record<string, unknown>; flows: Endpoints[] }

function flows(r: Rng, n: number, src: string, dst: string, dstMac: number, dports: number[]): Endpoints[] {
  const s = ip(src), d = ip(dst);
  return Array.from({ length: n }, (_, i) => ({ src: s + (i % 200), dst: d + (i % 3), sport: 1024 + r.int(60000), dport: r.pick(dports), dstMac, srcMac: MAC_HOST + (i % 50) }));
}

const stack0 = (extra: Record<string, unknown> = {}) => ({ stack: { address: '198.18.0.1/16', ...extra } });

const APPS: Record<string, (r: Rng) => AppRun> = {
  l2fwd: (r) => ({ app: 'l2fwd', flows: flows(r, 64, '198.18.1.1', '198.19.0.1', MAC_PORT0, [53, 80]), config: () => ({ app: { mode: 'mac', peers: ['02:00:00:00:00:20', '02:00:00:00:00:21'] } }) }),
  linkem: (r) => ({ app: 'linkem', flows: flows(r, 64, '198.18.1.1', '198.19.0.1', MAC_PORT0, [53, 80]), config: () => ({ app: { ab: { delayMs: 1, jitterMs: 1, loss: 0.01, duplicate: 0.02, reorder: 0.02 }, ba: { rateMbps: 100 }, seed: 7 } }) }),
  echo: (r) => ({ app: 'echo', flows: flows(r, 64, '198.18.1.1', '198.18.0.1', MAC_PORT0, [7, 7, 9]), config: () => ({ ports0: stack0(), app: { port: 7 } }) }),
  httpd: (r) => ({ app: 'httpd', flows: flows(r, 64, '198.18.1.1', '198.18.0.1', MAC_PORT0, [80, 80, 81]), config: () => ({ ports0: stack0(), app: { port: 80 } }) }),
  iperf3: (r) => ({ app: 'iperf3', flows: flows(r, 64, '198.18.1.1', '198.18.0.1', MAC_PORT0, [5201, 5201, 5202]), config: () => ({ ports0: stack0(), app: { port: 5201 } }) }),
  'ovs-nat': (r) => ({
    app: 'ovs-nat', flows: flows(r, 256, '198.18.1.1', '198.19.0.1', MAC_PORT0, [53, 80, 443]),
    config: () => ({ app: {
      inside: { port: 0, address: '198.18.255.254/16' }, outside: { port: 1, address: '198.19.255.254/24', gateway: '198.19.255.1' },
      neighbors: [{ ip: '198.19.255.1', mac: '02:00:00:00:00:fe' }], checkDstMac: false, snat: [{ src: '198.18.0.0/16', addresses: '198.19.255.254', ports: '1024-65535' }],
    } }),
  }),
  'load-balancer': (r) => ({
    app: 'load-balancer', flows: flows(r, 256, '198.18.1.2', '198.18.1.1', MAC_PORT0, [80, 53, 81]),
    config: () => ({ app: {
      client: { port: 0, address: '198.18.1.1/24' }, backend: { port: 1, address: '198.18.2.1/24' },
      vips: [{ vip: '198.18.1.1', port: 80, backends: [{ ip: '198.18.2.10', port: 8080 }, { ip: '198.18.2.11', port: 8080 }] },
        { vip: '198.18.1.1', port: 53, proto: 'udp', backends: [{ ip: '198.18.2.10', port: 5353 }] }],
      neighbors: [{ ip: '198.18.2.10', mac: '02:00:00:00:01:10' }, { ip: '198.18.2.11', mac: '02:00:00:00:01:11' }], health: { enabled: false }, checkDstMac: false,
    } }),
  }),
  // The mOS-style monitors, inline between the two ports: reassembly, both endpoints' TCP state, their apps' parsers.
  midstat: (r) => ({ app: 'midstat', flows: flows(r, 128, '198.18.1.1', '198.19.0.1', MAC_PORT0, [80, 443, 53]), config: () => ({ app: {} }) }),
  'simple-firewall': (r) => ({
    app: 'simple-firewall', flows: flows(r, 128, '198.18.1.1', '198.19.0.1', MAC_PORT0, [80, 443, 53]),
    config: () => ({ app: { rules: [{ match: 'tcp and dst port 443', action: 'deny' }, { match: 'udp', action: 'allow' }] } }),
  }),
  ids: (r) => ({ app: 'ids', flows: flows(r, 128, '198.18.1.1', '198.19.0.1', MAC_PORT0, [80, 443, 53]), config: () => ({ app: { patterns: ['GET /', 'passwd', 'ZZZZ'] } }) }),
  abacus: (r) => ({ app: 'abacus', flows: flows(r, 128, '198.18.1.1', '198.19.0.1', MAC_PORT0, [80, 443, 53]), config: () => ({ app: { subscribers: ['198.18.1.0/24'] } }) }),
  // MICA requests are parsed straight from UDP datagrams: mutated ones reach the wire-format parser.
  'mica-server': (r) => ({ app: 'mica-server', flows: flows(r, 64, '198.18.1.1', '198.18.0.1', MAC_PORT0, [9000, 9001, 9002]), config: () => ({ ports0: stack0({ closedPorts: 'nf' }), app: { memoryMb: 8 } }) }),
};

export interface HostileResult {
  app: string; shards: number; frames: number; exitCode: number | null; rx: number; tx: number; dropped: number;
  /** frames the devices could not take (no free mbuf: the app held many, e.g. linkem's delay line), missed or errored */
  deviceDropped: number;
  leaked: number; heldAtClose: number; appErrors: number; peakRssMb: number; ok: boolean; problems: string[];
}

function writeFrames(file: string, r: Rng, run: AppRun, n: number): void {
  const w = PcapWriter.open(file);
  try {
    for (let i = 0; i < n; i++) {
      const k = r.int(1000);
      let f: Uint8Array;
      if (k === 0) f = new Uint8Array(0);
      else if (k === 1) f = new Uint8Array(r.pick([1515, 2048, 3000, 9000, 65535])).map(() => r.int(256)); // oversized
      else f = mutate(r, validFrame(r, r.pick(run.flows)));
      w.write(f, i * 1000);
    }
  } finally {
    w.close();
  }
}

interface Summary { ports: { rx: number; tx: number; dropped: number; device?: { rxNombuf?: number; imissed?: number; ierrors?: number } }[]; leaked: number; heldAtClose: number; appErrors: number; exitCode: number }

export async function hostileRun(name: string, shards: number, frames: number, seed: number, asan: boolean): Promise<HostileResult> {
  const r = new Rng(seed ^ (shards * 0x1000193));
  const run = APPS[name](r);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ns-hostile-${name}-`));
  try {
    const in0 = path.join(dir, 'in0.pcap'), in1 = path.join(dir, 'in1.pcap');
    writeFrames(in0, r, run, Math.ceil(frames * 0.8));
    // The other direction: replies from the far side (mutated too).
    const back = { ...run, flows: run.flows.map((e) => ({ ...e, src: e.dst, dst: e.src, sport: e.dport, dport: e.sport, dstMac: MAC_PORT1 })) };
    writeFrames(in1, r, back, Math.floor(frames * 0.2));
    const eal = { vdevs: [`net_pcap0,rx_pcap=${in0},tx_pcap=${path.join(dir, 'out0.pcap')}`, `net_pcap1,rx_pcap=${in1},tx_pcap=${path.join(dir, 'out1.pcap')}`], filePrefix: `hostile${process.pid}${shards}${name.replace(/\W/g, '')}` };
    const c = run.config(eal, shards) as Record<string, unknown> & { ports0?: Record<string, unknown> };
    const ports0 = c.ports0 ?? {};
    delete c.ports0;
    const cfg = { eal, ports: [{ name: 'net_pcap0', ...ports0 }, { name: 'net_pcap1' }], shards, statsIntervalMs: 100, ...c };
    const cfgFile = path.join(dir, 'cfg.json');
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    const env = { ...process.env };
    const cmd = asan ? path.join(ROOT, 'scripts', 'asan.sh') : process.execPath;
    const args = asan ? [process.execPath, CLI, 'run', run.app, '-c', cfgFile, '--stats', '--json'] : [CLI, 'run', run.app, '-c', cfgFile, '--stats', '--json'];
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '', peakKb = 0, lastRx = -1, stableSince = Date.now();
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    let done = false;
    void exited.then(() => { done = true; });
    // Wait until the ports stop receiving (the pcaps are read once) for 1.5 s, with a deadline.
    const deadline = Date.now() + 60_000 + frames / 50;
    while (!done && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 200));
      try {
        const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch { /* exited */ }
      const lines = out.split('\n').filter((l) => l.startsWith('STATS '));
      if (!lines.length) continue;
      const st = JSON.parse(lines[lines.length - 1].slice(6)) as { ports: { rx: number }[] };
      const rx = st.ports.reduce((a, p) => a + p.rx, 0);
      if (rx !== lastRx) { lastRx = rx; stableSince = Date.now(); } else if (Date.now() - stableSince > 1500) break;
    }
    if (!done) child.kill('SIGINT');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const exitCode = await exited;
    clearTimeout(killTimer);
    const problems: string[] = [];
    let s: Summary | null = null;
    for (const l of out.trim().split('\n').reverse()) {
      if (!l.startsWith('{')) continue;
      try { const o = JSON.parse(l) as Summary; if (Array.isArray(o.ports) && 'leaked' in o) { s = o; break; } } catch { /* not it */ }
    }
    if (exitCode !== 0) problems.push(`exit ${exitCode}: ${err.trim().split('\n').slice(-3).join(' | ')}`);
    if (!s) problems.push('no summary');
    const rx = s ? s.ports.reduce((a, p) => a + p.rx, 0) : 0, tx = s ? s.ports.reduce((a, p) => a + p.tx, 0) : 0, dropped = s ? s.ports.reduce((a, p) => a + p.dropped, 0) : 0;
    if (s && s.leaked !== 0) problems.push(`${s.leaked} mbufs not returned`);
    if (s && s.heldAtClose !== 0) problems.push(`${s.heldAtClose} mbufs held at close`);
    if (s && rx === 0) problems.push('no frame received');
    // Every frame in the pcaps was received, or the device counted it as not taken: no mbuf (rx_nombuf), missed,
    // or an error (net_pcap: an oversized frame whose chain of mbufs could not be allocated).
    const deviceDropped = s ? s.ports.reduce((a, p) => a + (p.device?.rxNombuf ?? 0) + (p.device?.imissed ?? 0) + (p.device?.ierrors ?? 0), 0) : 0;
    if (s && rx + deviceDropped !== frames) problems.push(`frames not accounted for: rx ${rx} + device drops ${deviceDropped} != ${frames} given`);
    if (/AddressSanitizer|runtime error:/.test(err)) problems.push(`sanitizer: ${err.split('\n').find((l) => /ERROR|runtime error/.test(l))}`);
    return {
      app: name, shards, frames, exitCode, rx, tx, dropped, deviceDropped, leaked: s?.leaked ?? -1, heldAtClose: s?.heldAtClose ?? -1,
      appErrors: s?.appErrors ?? -1, peakRssMb: Math.round(peakKb / 1024), ok: problems.length === 0, problems,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const HOSTILE_APPS = Object.keys(APPS);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (k: string, d: string): string => { const i = argv.indexOf(k); return i >= 0 && argv[i + 1] ? argv[i + 1] : d; };
  const which = argv[0] && !argv[0].startsWith('--') ? argv[0] : 'all';
  const names = which === 'all' ? HOSTILE_APPS : which.split(',');
  for (const n of names) if (!APPS[n]) { process.stderr.write(`hostile: unknown app '${n}' (have: ${HOSTILE_APPS.join(', ')})\n`); process.exit(2); }
  const frames = Number(opt('--frames', '20000')), seed = Number(opt('--seed', '1')), asan = argv.includes('--asan');
  const shardList = opt('--shards', '1,2').split(',').map(Number);
  const results: HostileResult[] = [];
  for (const n of names) for (const sh of shardList) {
    const res = await hostileRun(n, sh, frames, seed, asan);
    results.push(res);
    process.stdout.write(`${res.ok ? 'ok  ' : 'FAIL'} ${n.padEnd(14)} shards ${sh}  frames ${frames}  rx ${res.rx}  tx ${res.tx}  dropped ${res.dropped}  device drops ${res.deviceDropped}  appErrors ${res.appErrors}  peak RSS ${res.peakRssMb} MB${res.problems.length ? '  ' + res.problems.join('; ') : ''}\n`);
  }
  if (argv.includes('--json')) process.stdout.write(JSON.stringify(results) + '\n');
  process.exit(results.every((x) => x.ok) ? 0 : 1);
}

if (require.main === module) void main();
