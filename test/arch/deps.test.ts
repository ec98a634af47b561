// The layering rule (.dependency-cruiser.js) over the real tree — no violation — and over a planted fixture
// tree with one back-import per rule, where each must be reported: the check cannot pass by checking nothing.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CONFIG = path.join(ROOT, '.dependency-cruiser.js');
const DEPCRUISE = path.join(ROOT, 'node_modules', '.bin', 'depcruise');

interface Violation { from: string; to: string; rule: { name: string; severity: string }; cycle?: unknown[] }
interface Result { summary: { violations: Violation[]; error: number; totalCruised: number } }

function cruise(cwd: string, targets: string[]): Result {
  const r = spawnSync(DEPCRUISE, ['--config', CONFIG, '--output-type', 'json', ...targets], { cwd, encoding: 'utf8', timeout: 180_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  const out = r.stdout.trim();
  if (!out.startsWith('{')) throw new Error(`depcruise printed no JSON (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(out) as Result;
}

function edges(res: Result): string[] {
  return res.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
}

describe('layering (dependency-cruiser)', () => {
  test('the tree has no back-import, no app importing internals or another app, no product code importing test/, no cycle', () => {
    // Every top-level folder of the tree that exists (tools/, mos/, mica/ join as they land).
    const targets = ['index.ts', 'native', 'net', 'reactor', 'apps', 'cli', 'bench', 'tools', 'mos', 'mica', 'test'].filter((t) => fs.existsSync(path.join(ROOT, t)));
    const res = cruise(ROOT, targets);
    expect(edges(res)).toEqual([]);
    // It looked at the whole tree (every app, the libraries, the tests), not at an empty selection.
    expect(res.summary.totalCruised).toBeGreaterThan(150);
  }, 240_000);

  test('a planted back-import of each kind is reported, and the allowed imports are not', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netstar-deps-'));
    try {
      const files: Record<string, string> = {
        'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'commonjs', target: 'es2022', strict: true } }),
        'native/index.ts': 'export const n = 1;\n',
        'net/ok.ts': "import { n } from '../native/index';\nexport const ok = n;\n",
        'net/bad.ts': "import { r } from '../reactor/r';\nexport const bad = r;\n",
        'reactor/r.ts': "import { ok } from '../net/ok';\nexport const r = ok;\n",
        'reactor/p.ts': "import { q } from './q';\nexport const p = () => q;\n",
        'reactor/q.ts': "import type { p } from './p';\nexport const q = 1;\nexport type P = typeof p;\n",
        'index.ts': "export { r } from './reactor/r';\nexport { ok } from './net/ok';\n",
        'net/lib/index.ts': "export { ok as lib } from '../ok';\n",
        'apps/good/index.ts': "import { r } from '../../index';\nimport { lib } from '../../net/lib/index';\nimport { helper } from './helper';\nexport default r + lib + helper;\n",
        'apps/good/helper.ts': 'export const helper = 2;\n',
        'apps/a/index.ts': "import { helper } from '../good/helper';\nimport { n } from '../../native/index';\nimport type { r } from '../../reactor/r';\nimport { ok } from '../../net/ok';\nexport const a: typeof r = helper + n + ok;\n",
        'apps/demo/d.ts': "import { h } from '../../test/helpers/h';\nimport { r } from '../../reactor/r';\nexport const d = h + r;\n",
        'bench/b.ts': "import { h } from '../test/helpers/h';\nexport const b = h;\n",
        'cli/main.ts': "import { h } from '../test/helpers/h';\nexport const m = h;\n",
        'test/helpers/h.ts': "import { r } from '../../reactor/r';\nexport const h = r;\n",
      };
      for (const [f, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        fs.writeFileSync(path.join(dir, f), text);
      }
      const res = cruise(dir, ['index.ts', 'native', 'net', 'reactor', 'apps', 'cli', 'bench', 'test']);
      expect(edges(res)).toEqual([
        'apps-not-other-apps: apps/a/index.ts -> apps/good/helper.ts',
        'apps-only-public-surface: apps/a/index.ts -> native/index.ts',
        'apps-only-public-surface: apps/a/index.ts -> net/ok.ts',
        'apps-only-public-surface: apps/a/index.ts -> reactor/r.ts',
        'net-not-reactor: net/bad.ts -> reactor/r.ts',
        // A cycle is reported once, at the module it is first found from (p imports q; q imports p's type).
        'no-circular: reactor/p.ts -> reactor/q.ts',
        // The demo and the benches share helpers with tests through tools/, never test/.
        'product-not-test: apps/demo/d.ts -> test/helpers/h.ts',
        'product-not-test: bench/b.ts -> test/helpers/h.ts',
        'product-not-test: cli/main.ts -> test/helpers/h.ts',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
