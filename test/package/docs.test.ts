// `npm run docs`: TypeDoc builds the API reference from the TSDoc of the package entry (index.ts). Checked on
// a copy written elsewhere: the entry's main names have pages carrying their doc comments.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCommand } from '../../tools/proc';

const REPO = path.resolve(__dirname, '..', '..', '..');

describe('API reference', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'netstar-docs-'));
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  test('typedoc (typedoc.json, entry index.ts) writes pages for the app contract, ShardContext and the harness', async () => {
    const r = await runCommand(process.execPath, [path.join(REPO, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], { cwd: REPO, timeoutMs: 240000 });
    expect({ code: r.code, errors: (r.stdout + r.stderr).match(/Found (\d+) errors/)?.[1] }).toEqual({ code: 0, errors: '0' });
    const page = (p: string): string => fs.readFileSync(path.join(out, p), 'utf8');
    expect(page('interfaces/ShardContext.html')).toMatch(/Keeps a packet past the current call/);
    expect(page('interfaces/AppModule.html')).toMatch(/createShard/);
    expect(page('functions/runNf.html')).toMatch(/Runs an NF over net_pcap ports in a child process/);
    expect(page('interfaces/RunNfOptions.html')).toMatch(/settleMs/);
    // Verdict's page (a variable or a namespace, by how it is re-exported) names its members.
    const verdict = ['variables', 'namespaces'].map((d) => path.join(out, d, 'Verdict.html')).find((f) => fs.existsSync(f));
    expect(verdict && fs.readFileSync(verdict, 'utf8')).toMatch(/STOLEN/);
  }, 300000);
});
