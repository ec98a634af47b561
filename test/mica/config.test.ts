// Bad settings for the MICA apps: a clear message and exit 2, never a crash.
import * as fs from 'fs';
import { runCli } from '../../tools/proc';
import { filePrefix, tmpDir, writeJson } from '../../tools/netstar';

const dir = tmpDir('micacfg');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const withStack = (app: Record<string, unknown>, closedPorts = 'nf') => ({
  eal: { vdevs: ['net_null0'], filePrefix: filePrefix('mcf') },
  ports: [{ name: 'net_null0', stack: { address: '198.18.40.1/24', closedPorts } }], app,
});

const cases: [string, string, Record<string, unknown>, RegExp][] = [
  ['mica-server without "closedPorts": "nf"', 'mica-server', withStack({}, 'rst'), /needs "stack".*"closedPorts": "nf"/],
  ['mica-server with too little memory', 'mica-server', withStack({ memoryMb: 1, partitions: 64 }), /need 64 KiB/],
  ['mica-server buckets not a power of two', 'mica-server', withStack({ buckets: 6 }), /app\.buckets: a power of two/],
  ['mica-server partitions past port 65535', 'mica-server', withStack({ udpPort: 65535, partitions: 2 }), /runs past 65535/],
  ['mica-client without servers', 'mica-client', withStack({}), /app\.servers/],
  ['stateless-nf with the mica backend and no mica settings', 'stateless-nf', {
    eal: { vdevs: ['net_null0', 'net_null1'], filePrefix: filePrefix('mcs') },
    ports: [{ name: 'net_null0', stack: { address: '198.18.40.1/24', closedPorts: 'nf' } }, { name: 'net_null1', stack: { address: '198.18.41.1/24', closedPorts: 'nf' } }],
    app: {},
  }, /backend "mica" needs app\.mica/],
];

describe('MICA apps reject bad settings clearly', () => {
  test.each(cases)('%s', async (_name, app, cfg, message) => {
    const r = await runCli(['run', app, '-c', writeJson(dir, `${app}.json`, cfg)], { timeoutMs: 30000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at .+\(.*\.js:\d+/);
  });
});
