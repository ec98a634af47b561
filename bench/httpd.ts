// `bench httpd`: our httpd (user-space stack over net_af_packet) against Node's http module on the kernel
// stack, both on one core, both loaded by the same wrk in a client namespace across a veth pair; req/s and
// latency percentiles of both and the ratio.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Topology } from '../tools/netns';
import { waitFor } from '../tools/wait';
import { BenchResult, CLI, median, printTable, finish } from './common';

interface WrkResult { rps: number; p50: number; p90: number; p99: number }

function ms(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    return m ? ms(m[1], m[2]) : NaN;
  };
  if (!rps) throw new Error(`could not parse wrk output:\n${out}`);
  return { rps: Number(rps[1]), p50: pct('50'), p90: pct('90'), p99: pct('99') };
}

export async function benchHttpd(o: { rounds: number; seconds: number; json: boolean; core: number }): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-'));
  const topo = await Topology.create('hb');
  const clientCore = o.core === 0 ? 1 : 0;
  try {
    await topo.ns('cli'); await topo.ns('us'); await topo.ns('kern');
    // client has two interfaces: one to our server, one to the kernel server
    await topo.veth('cli', 'c1', 'us', 'u1', { disableOffloads: true });
    await topo.veth('cli', 'c2', 'kern', 'k1', { disableOffloads: true });
    await topo.addr('cli', 'c1', '198.18.4.1/24');
    await topo.addr('cli', 'c2', '198.18.5.1/24');
    await topo.addr('kern', 'k1', '198.18.5.2/24');
    await topo.sysctl('us', 'net.ipv6.conf.u1.disable_ipv6', '1');
    const cfg = path.join(dir, 'httpd.json');
    fs.writeFileSync(cfg, JSON.stringify({
      eal: { vdevs: ['net_af_packet0,iface=u1,framecnt=4096'], mainCore: clientCore, filePrefix: `nsbh${process.pid}` },
      ports: [{ name: 'net_af_packet0', stack: { address: '198.18.4.2/24' } }],
      shards: 1, cores: [o.core], app: { port: 80, routes: { '/': 'hello from netstar\n' } },
    }));
    const ours = topo.spawn('us', process.execPath, [CLI, 'run', 'httpd', '-c', cfg, '-q']);
    const node = topo.spawn('kern', 'taskset', ['-c', String(o.core), process.execPath, '-e',
      "require('http').createServer((q, s) => { s.setHeader('Content-Type', 'text/plain'); s.end('hello from node\\n'); }).listen(80, '198.18.5.2')"]);
    for (const ip of ['198.18.4.2', '198.18.5.2'])
      await waitFor(async () => (await topo.exec('cli', 'curl', ['-s', '-o', '/dev/null', '-m', '2', `http://${ip}/`])).code === 0, { timeoutMs: 20000, what: `HTTP server at ${ip}` });
    const wrk = async (ip: string): Promise<WrkResult> => {
      const r = await topo.exec('cli', 'taskset', ['-c', String(clientCore), 'wrk', '-t1', '-c64', `-d${o.seconds}s`, '--latency', `http://${ip}/`], { timeoutMs: (o.seconds + 30) * 1000 });
      return parseWrk(r.stdout);
    };
    const a: WrkResult[] = [], b: WrkResult[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const x = await wrk('198.18.4.2');
      const y = await wrk('198.18.5.2');
      a.push(x);
      b.push(y);
      if (!o.json) process.stdout.write(`round ${r + 1}: netstar ${x.rps.toFixed(0)} req/s (p99 ${x.p99.toFixed(2)} ms), node http ${y.rps.toFixed(0)} req/s (p99 ${y.p99.toFixed(2)} ms)\n`);
    }
    await ours.stop({ timeoutMs: 10000 });
    await node.stop({ timeoutMs: 5000 });
    const med = (xs: WrkResult[], k: keyof WrkResult): number => median(xs.map((x) => x[k]));
    const res: BenchResult = { bench: 'httpd', ours: Math.round(med(a, 'rps')), ref: Math.round(med(b, 'rps')), unit: 'req/s', ratio: 0 };
    res.ratio = +(res.ours / res.ref).toFixed(3);
    printTable([
      ['', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms'],
      ['netstar httpd (own stack)', String(res.ours), med(a, 'p50').toFixed(2), med(a, 'p90').toFixed(2), med(a, 'p99').toFixed(2)],
      ['node http (kernel stack)', String(res.ref), med(b, 'p50').toFixed(2), med(b, 'p90').toFixed(2), med(b, 'p99').toFixed(2)],
      ['ratio', res.ratio.toFixed(2), '', '', ''],
    ]);
    process.stdout.write(`(wrk -t1 -c64 keep-alive on core ${clientCore}; each server on core ${o.core}; medians of ${o.rounds} rounds of ${o.seconds} s)\n`);
    finish(res, o.json);
    return res;
  } finally {
    await topo.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
