// `netstar run <path>` with a user's own module, as a new user writes one: CommonJS `module.exports = app`,
// a compiled default export, a relative path resolved against the working directory, an absolute path, a bare
// file name; and clear refusals (exit 2) for a module that is not an app, one that throws, one that is missing.
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../../tools/proc';
import { filePrefix, tmpDir, writeJson } from '../../tools/netstar';
import { runNf } from '../../tools/harness';

const INDEX = path.resolve(__dirname, '..', '..', 'index.js');

/** A MAC-swapping reflector written as a user would, in plain JS; `exportLine` decides the module form. */
function reflectorSource(exportLine: string): string {
  return `const { Verdict } = require(${JSON.stringify(INDEX)});
const app = {
  name: 'reflector',
  settings(config) { return { tag: config.app.tag ?? 0 }; },
  createShard(ctx, s) {
    let swapped = 0, runts = 0;
    return {
      onPacket(pkt, port) {
        if (pkt.length < 14) { runts++; return Verdict.DROP; }
        const b = pkt.bytes, o = pkt.offset;
        for (let i = 0; i < 6; i++) { const t = b[o + i]; b[o + i] = b[o + 6 + i]; b[o + 6 + i] = t; }
        swapped++;
        return Verdict.port(port);
      },
      counters() { return { swapped, runts, tag: s.tag }; },
    };
  },
};
${exportLine}
`;
}

/** 40 frames with distinct addresses and payloads, and one 8-byte runt in the middle. */
function frames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) {
    const f = new Uint8Array(60 + i);
    f.set([0x02, 0xbb, 0, 0, 0, i], 0);       // dst
    f.set([0x02, 0xaa, 0, 0, 1, i], 6);       // src
    f.set([0x88, 0xb5], 12);                  // local experimental ethertype
    for (let k = 14; k < f.length; k++) f[k] = (i * 7 + k) & 255;
    out.push(f);
    if (i === 20) out.push(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  }
  return out;
}

/** The oracle: each frame of 14+ bytes with its two MACs exchanged, runts gone. */
function swapped(input: Uint8Array[]): Buffer[] {
  return input.filter((f) => f.length >= 14).map((f) => Buffer.concat([Buffer.from(f.subarray(6, 12)), Buffer.from(f.subarray(0, 6)), Buffer.from(f.subarray(12))]));
}

describe('netstar run <user module>', () => {
  const dir = tmpDir('userapp');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'cjs-nf.js'), reflectorSource('module.exports = app;'));
  fs.writeFileSync(path.join(dir, 'esm-nf.js'), reflectorSource(`Object.defineProperty(exports, '__esModule', { value: true });\nexports.default = app;`));
  fs.writeFileSync(path.join(dir, 'not-an-app.js'), `module.exports = { name: 'half', settings() { return {}; } };\n`);
  fs.writeFileSync(path.join(dir, 'throws.js'), `throw new Error('boom while loading');\n`);

  test.each([
    ['CommonJS module.exports = app, relative path ./cjs-nf.js', './cjs-nf.js'],
    ['CommonJS, bare file name cjs-nf.js (no slash)', 'cjs-nf.js'],
    ['compiled default export (exports.default), absolute path', path.join(dir, 'esm-nf.js')],
  ])('%s: runs, every frame reflected with its MACs swapped, runt dropped, mbufs balanced', async (_what, app) => {
    const input = frames();
    // The CLI runs in `dir`: relative app paths resolve against it, not against the CLI's own location.
    const r = await runNf({ app, cwd: dir, settings: { tag: 7 }, ports: [{ frames: input }] });
    expect(r.exitCode).toBe(0);
    expect(r.counters).toEqual({ swapped: 40, runts: 1, tag: 7 });
    expect(r.ports[0]).toMatchObject({ rx: 41, tx: 40, dropped: 1 });
    expect(r.output[0].map((f) => Buffer.from(f).toString('hex'))).toEqual(swapped(input).map((f) => f.toString('hex')));
    expect(r.mbufs).toEqual({ held: 0, leaked: 0 });
  });

  const cfg = (): string => writeJson(dir, 'null.json', { eal: { vdevs: ['net_null0'], filePrefix: filePrefix('ua') }, ports: [{ name: 'net_null0' }] });
  test.each([
    ['a module that is not an app', './not-an-app.js', /'\.\/not-an-app\.js' does not export an app: `export default app` or `module\.exports = app`/],
    ['a module that throws while loading', './throws.js', /cannot load app module '.*\/throws\.js': boom while loading/],
    ['a path that does not exist', './nope.js', /app module '.*\/nope\.js' does not exist/],
    ['a name that is an Object property, not an app', 'constructor', /unknown app 'constructor'/],
  ])('%s: exit 2 with a clear message, no stack trace', async (_what, app, message) => {
    const r = await runCli(['run', app, '-c', cfg()], { cwd: dir, timeoutMs: 30000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at .+\(.*\.js:\d+/);
  });
});
