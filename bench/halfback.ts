// `bench halfback`: flow completion times of 100 KB responses fetched with curl through linkem (25 ms each
// way: 50 ms RTT; 0, 1, 3, 5 % loss each way): the halfback proxy, the same proxy with its default sender,
// and direct Linux TCP (the proxy namespace routing instead). p50 and p99 per setting; the JSON line is p99
// at 3 % loss, halfback vs direct Linux (target <= 0.5). Flows per setting: 200 (NETSTAR_BENCH_FLOWS).
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { withTopology, type Topology } from '../tools/netns';
import { hopConfig } from '../tools/hop';
import type { ManagedProcess } from '../tools/proc';
import { BenchResult, CLI, finish, printTable } from './common';

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

type Variant = 'halfback' | 'default' | 'linux';

async function waitOut(p: ManagedProcess, re: RegExp): Promise<void> {
  await p.waitForOutput(re, 30000);
}

async function measure(topo: Topology, dir: string, variant: Variant, loss: number, flows: number, tag: string): Promise<number[]> {
  const dirn = { delayMs: 25, loss, limit: 20000 };
  const em = topo.spawn('mid', process.execPath, [CLI, 'run', 'linkem', '-c', writeCfg(dir, `em-${tag}.json`, hopConfig(`nsbh${process.pid}${tag}m`, 'la', 'lb', { ab: dirn, ba: dirn, seed: 5 })), '--stats']);
  let px: ManagedProcess | null = null;
  try {
    await waitOut(em, /^STATS /m);
    let url: string;
    if (variant === 'linux') {
      url = 'http://198.18.8.1:8080/f.bin';
    } else {
      const af = (i: number) => `net_af_packet${i},iface=p${i},framesz=8192,blocksz=8192,framecnt=512`;
      px = topo.spawn('prx', process.execPath, [CLI, 'run', 'halfback', '-c', writeCfg(dir, `px-${tag}.json`, {
        eal: { vdevs: [af(0), af(1)], filePrefix: `nsbh${process.pid}${tag}p` },
        pool: { size: 8191, dataRoom: 8192 + 128 },
        ports: [{ name: 'net_af_packet0', stack: { address: '198.18.7.2/24' } }, { name: 'net_af_packet1', stack: { address: '198.18.8.2/24' } }],
        statsIntervalMs: 500,
        app: { listen: { port: 0, tcpPort: 8080 }, upstream: { port: 1, address: '198.18.8.1', tcpPort: 8080 }, sender: variant, defaultRttMs: 50 },
      }), '--stats']);
      await waitOut(px, /^STATS /m);
      url = 'http://198.18.7.2:8080/f.bin';
    }
    const fct: number[] = [];
    for (let i = 0; i < flows; i++) {
      const r = await topo.exec('cli', 'curl', ['-s', '-o', '/dev/null', '-m', '30', '-w', '%{time_total} %{size_download}', url], { timeoutMs: 40000 });
      const [t, n] = r.stdout.trim().split(' ').map(Number);
      if (r.code !== 0 || n !== 100 * 1024) throw new Error(`${variant} fetch ${i} failed (code ${r.code}, ${n} bytes)`);
      fct.push(t * 1000);
    }
    return fct;
  } finally {
    if (px !== null) await px.stop({ timeoutMs: 15000 });
    await em.stop({ timeoutMs: 15000 });
  }
}

function writeCfg(dir: string, name: string, o: unknown): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, JSON.stringify(o));
  return f;
}

export async function benchHalfback(o: { rounds: number; seconds: number; json: boolean; core: number }): Promise<BenchResult> {
  const say = (s: string): void => { if (!o.json) process.stdout.write(s); };
  const flows = Number(process.env.NETSTAR_BENCH_FLOWS ?? 200);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsbench-hb-'));
  const losses = [0, 0.01, 0.03, 0.05];
  const rows: string[][] = [['loss', 'halfback p50/p99 ms', 'proxy default p50/p99', 'Linux direct p50/p99']];
  let res: BenchResult = { bench: 'halfback', ours: NaN, ref: NaN, unit: 'ms p99 FCT @3% loss', ratio: NaN };
  try {
    await withTopology('hbb', async (topo) => {
      for (const n of ['cli', 'mid', 'prx', 'srv']) await topo.ns(n);
      await topo.veth('cli', 'vc', 'mid', 'la', { disableOffloads: true });
      await topo.veth('mid', 'lb', 'prx', 'p0', { disableOffloads: true });
      await topo.veth('prx', 'p1', 'srv', 'vs', { disableOffloads: true });
      for (const [ns, i] of [['cli', 'vc'], ['mid', 'la'], ['mid', 'lb'], ['prx', 'p0'], ['prx', 'p1'], ['srv', 'vs']]) await topo.sysctl(ns, `net.ipv6.conf.${i}.disable_ipv6`, '1');
      await topo.addr('cli', 'vc', '198.18.7.1/24');
      await topo.addr('srv', 'vs', '198.18.8.1/24');
      // direct Linux: the proxy namespace routes (its addresses unused by the netstar proxy runs' stacks)
      await topo.exec('cli', 'ip', ['route', 'add', '198.18.8.0/24', 'via', '198.18.7.254']);
      await topo.exec('srv', 'ip', ['route', 'add', '198.18.7.0/24', 'via', '198.18.8.254']);
      await topo.sysctl('prx', 'net.ipv4.ip_forward', '1');
      const www = path.join(dir, 'www');
      fs.mkdirSync(www);
      fs.writeFileSync(path.join(www, 'f.bin'), crypto.randomBytes(100 * 1024));
      const http = topo.spawn('srv', 'python3', ['-m', 'http.server', '8080', '--bind', '198.18.8.1', '--directory', www]);
      await new Promise((r) => setTimeout(r, 1000));
      try {
        for (const loss of losses) {
          const out: Record<Variant, number[]> = { halfback: [], default: [], linux: [] };
          for (const v of ['halfback', 'default', 'linux'] as Variant[]) {
            if (v === 'linux') {
              await topo.addr('prx', 'p0', '198.18.7.254/24');
              await topo.addr('prx', 'p1', '198.18.8.254/24');
            }
            try {
              out[v] = await measure(topo, dir, v, loss, flows, `${v[0]}${Math.round(loss * 100)}`);
            } finally {
              if (v === 'linux') {
                await topo.exec('prx', 'ip', ['addr', 'flush', 'dev', 'p0']);
                await topo.exec('prx', 'ip', ['addr', 'flush', 'dev', 'p1']);
              }
            }
            say(`loss ${loss * 100}%: ${v} p50 ${quantile(out[v], 0.5).toFixed(0)} ms, p99 ${quantile(out[v], 0.99).toFixed(0)} ms\n`);
          }
          const f = (xs: number[]) => `${quantile(xs, 0.5).toFixed(0)} / ${quantile(xs, 0.99).toFixed(0)}`;
          rows.push([`${loss * 100}%`, f(out.halfback), f(out.default), f(out.linux)]);
          if (loss === 0.03) {
            res = { bench: 'halfback', ours: +quantile(out.halfback, 0.99).toFixed(1), ref: +quantile(out.linux, 0.99).toFixed(1), unit: 'ms p99 FCT @3% loss', ratio: 0 };
            res.ratio = +(res.ours / res.ref).toFixed(3);
          }
        }
      } finally {
        await http.stop();
      }
    });
    printTable(rows);
    say(`(100 KB responses, ${flows} sequential curl fetches per setting; linkem 25 ms each way with that loss each way; target p99 halfback <= 0.5x Linux at 3 %)\n`);
    finish(res, o.json);
    return res;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
