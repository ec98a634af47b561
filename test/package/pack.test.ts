// The package as a user gets it: `npm pack`, install the tarball into a new project outside the repository
// (no network: the dependencies are copied from the repository's node_modules first, so npm only adds the
// tarball), compile a small NF there with tsc against `import … from 'netstar'`, run it with the packed CLI
// (`netstar run ./my-nf.js`) over net_pcap, and run it again through the packed harness (runNf).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCommand, startProcess } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { filePrefix, lastStats, summaryOf } from '../../tools/netstar';
import { readPcap, writePcap } from '../../tools/pcap';

const REPO = path.resolve(__dirname, '..', '..', '..');
const MODULES = fs.realpathSync(path.join(REPO, 'node_modules'));
const TSC = path.join(MODULES, 'typescript', 'bin', 'tsc');

/** Copies `names` and everything they depend on from the repository's node_modules into `dest` (with bin links). */
function copyDependencies(names: string[], dest: string): string[] {
  const seen = new Set<string>();
  const todo = [...names];
  while (todo.length) {
    const n = todo.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    const src = path.join(MODULES, n);
    const pj = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; bin?: string | Record<string, string> };
    fs.cpSync(src, path.join(dest, 'node_modules', n), { recursive: true, dereference: true });
    // npm re-fetches an installed package whose bin link is missing: make them as npm would.
    const bins = typeof pj.bin === 'string' ? { [n.split('/').pop()!]: pj.bin } : pj.bin ?? {};
    for (const [b, file] of Object.entries(bins)) {
      fs.mkdirSync(path.join(dest, 'node_modules', '.bin'), { recursive: true });
      fs.symlinkSync(path.join('..', n, file), path.join(dest, 'node_modules', '.bin', b));
    }
    // Nested copies travel with their parent; the rest are hoisted in the repository as npm left them.
    for (const d of Object.keys(pj.dependencies ?? {})) if (!fs.existsSync(path.join(src, 'node_modules', d))) todo.push(d);
  }
  return [...seen];
}

// The user's NF: a MAC-swapping reflector over ShardContext, typed against the package's declarations.
const NF_SOURCE = `import { Verdict, NetstarError, type AppModule, type ShardApp, type ShardContext, type Packet } from 'netstar';

interface Settings { out: number }

const reflector: AppModule<Settings> = {
  name: 'reflector',
  settings(config) {
    const out = (config.app as { out?: unknown }).out ?? 0;
    if (typeof out !== 'number' || !Number.isInteger(out) || out < 0 || out >= config.ports.length)
      throw new NetstarError('ERR_CONFIG', 'app.out must be a port index');
    return { out };
  },
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    let reflected = 0, runts = 0;
    return {
      onPacket(pkt: Packet): Verdict {
        if (pkt.length < 14) { runts++; return Verdict.DROP; }
        const b = pkt.bytes, o = pkt.offset;
        for (let i = 0; i < 6; i++) { const t = b[o + i]; b[o + i] = b[o + 6 + i]; b[o + 6 + i] = t; }
        reflected++;
        return Verdict.port(s.out);
      },
      counters: () => ({ reflected, runts, shards: ctx.count }),
    };
  },
};
export default reflector;
`;

// A user's check with the packed harness: frames in, frames out, counters, mbuf balance (printed as JSON).
const CHECK_SOURCE = `import { runNf, type NfResult } from 'netstar';

const frames: Uint8Array[] = JSON.parse(process.argv[2]).map((h: string) => Uint8Array.from(Buffer.from(h, 'hex')));
runNf({ app: './my-nf.js', settings: { out: 1 }, ports: [{ frames }, {}] }).then((r: NfResult) => {
  console.log(JSON.stringify({ out: r.output.map((p) => p.map((f) => Buffer.from(f).toString('hex'))), counters: r.counters, mbufs: r.mbufs, exitCode: r.exitCode }));
}, (e: Error) => { console.error(e.message); process.exit(1); });
`;

/** 64 frames (distinct MACs and payloads) and one runt. */
function frames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) {
    const f = new Uint8Array(64 + (i % 9) * 20);
    f.set([0x02, 0x10, 0, 0, 0, i], 0);
    f.set([0x02, 0x20, 0, 0, 0, i], 6);
    f.set([0x08, 0x00], 12);
    for (let k = 14; k < f.length; k++) f[k] = (i + 3 * k) & 255;
    out.push(f);
    if (i === 31) out.push(new Uint8Array(9));
  }
  return out;
}
const reflected = (input: Uint8Array[]): string[] => input.filter((f) => f.length >= 14)
  .map((f) => Buffer.concat([Buffer.from(f.subarray(6, 12)), Buffer.from(f.subarray(0, 6)), Buffer.from(f.subarray(12))]).toString('hex'));

describe('the packed package in a user project', () => {
  const proj = fs.mkdtempSync(path.join(os.tmpdir(), 'netstar-user-'));
  afterAll(() => fs.rmSync(proj, { recursive: true, force: true }));

  test('npm pack → install offline → tsc an NF against netstar → netstar run ./my-nf.js and runNf over net_pcap', async () => {
    expect(path.relative(REPO, proj).startsWith('..')).toBe(true);
    // Pack what was built (no prepack rebuild: the tests run from this very dist/).
    const pack = await runCommand('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', proj], { cwd: REPO, timeoutMs: 120000, check: true });
    const info = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    const files = new Set(info[0].files.map((f) => f.path));
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/netstar.js', 'dist/reactor/context.d.ts', 'dist/tools/harness.d.ts', 'build/Release/netstar.node', 'package.json'])
      expect({ f, packed: files.has(f) }).toEqual({ f, packed: true });
    expect([...files].filter((f) => /^dist\/(test|bench)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);

    // A new project: its dependencies on disk before npm runs, so `--offline` never needs the registry.
    // @types/node is the user's own dev dependency (npm would prune it as extraneous otherwise).
    const typesNode = (JSON.parse(fs.readFileSync(path.join(MODULES, '@types', 'node', 'package.json'), 'utf8')) as { version: string }).version;
    fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'my-nf', version: '1.0.0', private: true, devDependencies: { '@types/node': typesNode } }));
    const deps = Object.keys((JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
    copyDependencies([...deps, '@types/node'], proj);
    await runCommand('npm', ['install', `./${info[0].filename}`, '--offline', '--no-audit', '--no-fund'], { cwd: proj, timeoutMs: 120000, check: true });
    const installed = path.join(proj, 'node_modules', 'netstar');
    expect(fs.lstatSync(installed).isSymbolicLink()).toBe(false);
    expect(fs.existsSync(path.join(installed, 'build', 'Release', 'netstar.node'))).toBe(true);

    // tsc, strict, against the installed declarations (no path mapping back into the repository), and with the
    // declarations themselves checked (no skipLibCheck: they must stand alone, e.g. no jest types in them).
    fs.writeFileSync(path.join(proj, 'my-nf.ts'), NF_SOURCE);
    fs.writeFileSync(path.join(proj, 'check.ts'), CHECK_SOURCE);
    fs.writeFileSync(path.join(proj, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'commonjs', moduleResolution: 'node10', strict: true, esModuleInterop: true, types: ['node'], outDir: '.' },
      files: ['my-nf.ts', 'check.ts'],
    }));
    const tsc = await runCommand(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: proj, timeoutMs: 120000 });
    expect({ code: tsc.code, out: tsc.stdout }).toEqual({ code: 0, out: '' });
    // A type error in the NF is caught against the package's types (the declarations are not `any`).
    fs.writeFileSync(path.join(proj, 'bad.ts'), `import { Verdict } from 'netstar';\nconst v: string = Verdict.DROP;\nexport default v;\n`);
    const bad = await runCommand(process.execPath, [TSC, '--strict', '--noEmit', '--skipLibCheck', '--types', 'node', 'bad.ts'], { cwd: proj, timeoutMs: 120000 });
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toMatch(/bad\.ts\(2,7\): error TS2322/);

    // The packed CLI runs the compiled NF by relative path: port 0 reads in.pcap, the reflector sends on port 1.
    const input = frames();
    writePcap(path.join(proj, 'in.pcap'), input.map((data) => ({ data })));
    writePcap(path.join(proj, 'empty.pcap'), []);
    fs.writeFileSync(path.join(proj, 'nf.json'), JSON.stringify({
      eal: { vdevs: [`net_pcap0,rx_pcap=${proj}/in.pcap,tx_pcap=${proj}/out0.pcap`, `net_pcap1,rx_pcap=${proj}/empty.pcap,tx_pcap=${proj}/out1.pcap`], filePrefix: filePrefix('pk') },
      ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }],
      statsIntervalMs: 50,
      app: { out: 1 },
    }));
    const bin = path.join(proj, 'node_modules', '.bin', 'netstar');
    const p = startProcess(bin, ['run', './my-nf.js', '-c', 'nf.json', '--stats', '--json'], { cwd: proj });
    try {
      await waitFor(() => (lastStats(p.stdout())?.ports[1].tx ?? 0) >= 64 || !p.running(), { timeoutMs: 30000, what: 'the reflector to send 64 frames' });
      const r = await p.stop({ timeoutMs: 15000 });
      expect({ killed: r.killed, code: r.code }).toEqual({ killed: false, code: 0 });
      expect(p.stderr()).not.toMatch(/error|\n\s+at /i);
    } finally {
      if (p.running()) p.kill();
    }
    const s = summaryOf(p.stdout());
    expect(s.app).toEqual({ reflected: 64, runts: 1, shards: 1 });
    expect(s.ports.map((q) => [q.rx, q.tx, q.dropped])).toEqual([[65, 0, 1], [0, 64, 0]]);
    expect({ leaked: s.leaked, held: s.heldAtClose }).toEqual({ leaked: 0, held: 0 });
    expect(readPcap(path.join(proj, 'out1.pcap')).map((r) => r.data.toString('hex'))).toEqual(reflected(input));

    // The packed harness, called from the user's compiled script.
    const hexes = JSON.stringify(input.map((f) => Buffer.from(f).toString('hex')));
    const c = await runCommand(process.execPath, ['check.js', hexes], { cwd: proj, timeoutMs: 60000 });
    expect({ code: c.code, stderr: c.stderr }).toEqual({ code: 0, stderr: '' });
    const res = JSON.parse(c.stdout) as { out: string[][]; counters: Record<string, number>; mbufs: { held: number; leaked: number }; exitCode: number };
    expect(res.out).toEqual([[], reflected(input)]);
    expect(res.counters).toEqual({ reflected: 64, runts: 1, shards: 1 });
    expect(res.mbufs).toEqual({ held: 0, leaked: 0 });
    expect(res.exitCode).toBe(0);
  }, 300000);
});
