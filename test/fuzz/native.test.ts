// A short pass of the native libFuzzer targets (clang, ASan + UBSan) in CI: any crash, out-of-bounds access
// or undefined behaviour found in the time given fails the test. `npm run fuzz -- all --seconds N` is the
// long version.
import { spawnSync } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..', '..');
const SECONDS = Number(process.env.NETSTAR_FUZZ_SECONDS ?? 15);

test(`native fuzz targets run ${SECONDS}s each with no sanitizer report`, () => {
  const r = spawnSync('bash', [path.join(root, 'scripts', 'fuzz.sh'), 'all', '--seconds', String(SECONDS)], { cwd: root, encoding: 'utf8', timeout: (SECONDS * 4 + 180) * 1000 });
  const out = `${r.stdout}\n${r.stderr}`;
  expect({ status: r.status, out: r.status === 0 ? '' : out }).toEqual({ status: 0, out: '' });
  // Every target really ran (libFuzzer prints its executed-unit count at the end).
  const runs = [...out.matchAll(/stat::number_of_executed_units:\s+(\d+)/g)].map((m) => Number(m[1]));
  expect(runs.length).toBeGreaterThan(0);
  for (const n of runs) expect(n).toBeGreaterThan(1000);
}, 600_000);
