// `npm run bench -- <name> [--json] [--rounds N] [--seconds S]`: benchmarks that measure this project
// beside a reference in the same run.
import { parseArgs } from 'node:util';
import { benchL2fwd } from './l2fwd';
import { benchForward } from './forward';
import { benchRings } from './rings';
import { benchHttpd } from './httpd';
import { benchLb } from './lb';
import { benchOvsNat } from './ovs-nat';
import { benchMica } from './mica';
import { benchStatelessNf } from './stateless-nf';

const BENCHES: Record<string, (o: { rounds: number; seconds: number; json: boolean; core: number }) => Promise<unknown>> = {
  l2fwd: benchL2fwd,
  forward: benchForward,
  rings: benchRings,
  httpd: benchHttpd,
  lb: benchLb,
  'ovs-nat': benchOvsNat,
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
    },
  });
  const name = positionals[0];
  if (!name || !BENCHES[name]) {
    process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [--json] [--rounds N] [--seconds S]\n`);
    return 2;
  }
  const rounds = Number(values.rounds), seconds = Number(values.seconds), core = Number(values.core);
  if (!(rounds >= 1) || !(seconds >= 3) || !Number.isInteger(core)) {
    process.stderr.write('bench: --rounds must be >= 1, --seconds >= 3, --core an integer\n');
    return 2;
  }
  await BENCHES[name]({ rounds, seconds, json: values.json === true, core });
  return 0;
}

main().then((c) => process.exit(c), (e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
