// `npm run bench -- <name> [--json] [--rounds N] [--seconds S] [--plot out.svg]`: benchmarks that measure this
// project beside a reference in the same run (and chart both per round).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { benchL2fwd } from './l2fwd';
import { benchForward } from './forward';
import { benchRings } from './rings';
import { benchHttpd } from './httpd';
import { benchLb } from './lb';
import { benchOvsNat } from './ovs-nat';
import { benchCapture } from './capture';
import type { BenchResult } from './common';
import { plotBench } from './plot';
import { runReport } from './report';
import { benchL3engine } from './l3engine';
import { benchMonitor } from './monitor';
import { benchHalfback } from './halfback';
import { benchMica } from './mica';
import { benchStatelessNf } from './stateless-nf';

export interface BenchOptions { rounds: number; seconds: number; json: boolean; core: number; connections?: number; profile?: boolean }
const BENCHES: Record<string, (o: BenchOptions) => Promise<unknown>> = {
  l2fwd: benchL2fwd,
  forward: benchForward,
  rings: benchRings,
  httpd: benchHttpd,
  lb: benchLb,
  'ovs-nat': benchOvsNat,
  capture: benchCapture,
  l3engine: benchL3engine,
  monitor: benchMonitor,
  halfback: benchHalfback,
  mica: benchMica,
  'stateless-nf': benchStatelessNf,
};

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '6' },
      core: { type: 'string', default: '1' },
      /** httpd: wrk connections */
      connections: { type: 'string' },
      /** httpd: also profile our shard (node --cpu-prof) and say where a request's time goes */
      profile: { type: 'boolean', default: false },
      /** write ours and the reference per round as an SVG chart */
      plot: { type: 'string' },
      /** with `all`: write <dir>/report.md and one chart per bench */
      report: { type: 'string' },
    },
  });
  const name = positionals[0];
  if (!name || (!BENCHES[name] && name !== 'all')) {
    process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [--json] [--rounds N] [--seconds S] [--core C] [--plot out.svg] [--profile] [--connections N]\n` +
      '       npm run bench -- all --report <dir>   (every bench; <dir>/report.md with the table and one chart per bench)\n');
    return 2;
  }
  if ((name === 'all') !== (values.report !== undefined)) {
    process.stderr.write('bench: --report <dir> goes with `all` (and `all` needs --report)\n');
    return 2;
  }
  const rounds = Number(values.rounds), seconds = Number(values.seconds), core = Number(values.core);
  if (!(rounds >= 1) || !(seconds >= 3) || !Number.isInteger(core)) {
    process.stderr.write('bench: --rounds must be >= 1, --seconds >= 3, --core an integer\n');
    return 2;
  }
  if (values.plot && !fs.existsSync(path.dirname(path.resolve(values.plot)))) {
    process.stderr.write(`bench: --plot ${values.plot}: directory ${path.dirname(path.resolve(values.plot))} does not exist\n`);
    return 2;
  }
  const connections = values.connections === undefined ? undefined : Number(values.connections);
  if (connections !== undefined && !(Number.isInteger(connections) && connections >= 1)) {
    process.stderr.write('bench: --connections must be a positive integer\n');
    return 2;
  }
  if (name === 'all') {
    const o = { rounds, seconds, json: false, core, connections, profile: values.profile === true };
    const runs = Object.fromEntries(Object.entries(BENCHES).map(([n, f]) => [n, () => f(o)]));
    const outcomes = await runReport(runs, values.report!, `npm run bench -- ${process.argv.slice(2).join(' ')}`);
    const failed = outcomes.filter((b) => !b.result).map((b) => b.name);
    process.stdout.write(`\nreport: ${path.join(values.report!, 'report.md')}${failed.length ? ` (failed: ${failed.join(', ')})` : ''}\n`);
    return failed.length ? 1 : 0;
  }
  const res = (await BENCHES[name]({ rounds, seconds, json: values.json === true, core, connections, profile: values.profile === true })) as BenchResult;
  if (values.plot) {
    await plotBench(res, values.plot);
    // stderr: with --json the last stdout line stays the result
    process.stderr.write(`bench: plot of ${res.rounds?.length ?? 0} round(s) written to ${values.plot}\n`);
  }
  return 0;
}

main().then((c) => process.exit(c), (e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
