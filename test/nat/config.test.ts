// ovs-nat and load-balancer config errors: the CLI exits 2 with the path of each problem, no stack trace.
import * as fs from 'fs';
import { runCli } from '../../tools/proc';
import { filePrefix, tmpDir, writeJson } from '../../tools/netstar';

const dir = tmpDir('natcfg');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const base = (app: Record<string, unknown>) => ({
  eal: { vdevs: ['net_null0', 'net_null1'], filePrefix: filePrefix('nc') }, ports: [{ name: 'net_null0' }, { name: 'net_null1' }], app,
});
const nat = { inside: { port: 0, address: '198.18.1.1/24' }, outside: { port: 1, address: '198.18.2.1/24' } };
const lb = { client: { port: 0, address: '198.18.1.1/24' }, backend: { port: 1, address: '198.18.2.1/24' } };

const cases: [string, string, Record<string, unknown>, RegExp][] = [
  ['nat: missing outside', 'ovs-nat', { inside: nat.inside }, /app\.outside/],
  ['nat: a bad prefix', 'ovs-nat', { ...nat, inside: { port: 0, address: '198.18.1.1/33' } }, /app\.inside\.address/],
  ['nat: same port twice', 'ovs-nat', { ...nat, outside: { port: 0, address: '198.18.2.1/24' } }, /different ports/],
  ['nat: a port beyond the configured ones', 'ovs-nat', { ...nat, outside: { port: 5, address: '198.18.2.1/24' } }, /app\.outside\.port 5/],
  ['nat: a backwards address range', 'ovs-nat', { ...nat, snat: [{ addresses: '198.18.2.9-198.18.2.1' }] }, /bad address range/],
  ['nat: an unknown timeout name', 'ovs-nat', { ...nat, timeouts: { tcp_forever: 1 } }, /app\.timeouts/],
  ['lb: a table size that is not prime', 'load-balancer', { ...lb, tableSize: 65536 }, /not prime/],
  ['lb: health ports overlapping SNAT ports', 'load-balancer', { ...lb, health: { ports: '2000-3000' } }, /overlaps/],
  ['lb: a backend without port', 'load-balancer', { ...lb, vips: [{ vip: '198.18.1.100', port: 80, backends: [{ ip: '198.18.2.10' }] }] }, /app\.vips\.0\.backends\.0\.port/],
  ['lb: a backends file that does not exist', 'load-balancer', { ...lb, backendsFile: '/nonexistent/backends.json' }, /cannot read backends file/],
];

describe('ovs-nat and load-balancer reject bad settings clearly', () => {
  test.each(cases)('%s', async (_name, app, settings, message) => {
    const r = await runCli(['run', app, '-c', writeJson(dir, 'c.json', base(settings))], { timeoutMs: 30000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at .+\(.*\.js:\d+/);
  });
});
