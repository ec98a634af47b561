// Bad config and bad arguments: a clear message, a non-zero exit, never a crash or a stack trace.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCli } from '../../tools/proc';
import { filePrefix, tmpDir, writeJson } from '../../tools/netstar';

const dir = tmpDir('clierr');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const base = () => ({ eal: { vdevs: ['net_null0'], filePrefix: filePrefix('ce') }, ports: [{ name: 'net_null0' }] });

const cases: [string, () => string[], RegExp, number][] = [
  ['config file that is not JSON', () => { fs.writeFileSync(path.join(dir, 'bad.json'), '{ "eal": '); return ['run', 'l2fwd', '-c', path.join(dir, 'bad.json')]; }, /not valid JSON/, 2],
  ['config file that does not exist', () => ['run', 'l2fwd', '-c', path.join(dir, 'nope.json')], /cannot read config file/, 2],
  ['unknown vdev driver', () => ['run', 'l2fwd', '-c', writeJson(dir, 'v.json', { ...base(), eal: { vdevs: ['net_bogus0'] } })], /unknown vdev driver 'net_bogus'/, 2],
  ['port that is not configured', () => ['run', 'l2fwd', '-c', writeJson(dir, 'p.json', { ...base(), ports: [{ name: 'net_null7' }] })], /port 'net_null7' is neither a configured vdev/, 2],
  ['no ports', () => ['run', 'l2fwd', '-c', writeJson(dir, 'np.json', { ...base(), ports: [] })], /at least one port/, 2],
  ['zero shards', () => ['run', 'l2fwd', '-c', writeJson(dir, 'z.json', { ...base(), shards: 0 })], /shards/, 2],
  ['unknown key', () => ['run', 'l2fwd', '-c', writeJson(dir, 'k.json', { ...base(), portz: [] })], /Unrecognized key/, 2],
  ['bad app settings', () => ['run', 'l2fwd', '-c', writeJson(dir, 'a.json', { ...base(), app: { mode: 'teleport' } })], /app\.mode/, 2],
  ['unknown app', () => ['run', 'nosuchapp', '-c', writeJson(dir, 'u.json', base())], /unknown app 'nosuchapp'/, 2],
  ['bad --shards', () => ['run', 'l2fwd', '-c', writeJson(dir, 's.json', base()), '--shards', '0'], /must be a positive integer/, 1],
  ['af_packet on an interface that does not exist', () => ['run', 'l2fwd', '-c', writeJson(dir, 'i.json', { eal: { vdevs: ['net_af_packet0,iface=nsnoiface0'], filePrefix: filePrefix('ci') }, ports: [{ name: 'net_af_packet0' }] })], /was not created by the EAL/, 2],
  ['an RSS key of the wrong length', () => ['run', 'l2fwd', '-c', writeJson(dir, 'rk.json', { ...base(), ports: [{ name: 'net_null0', rss: { key: 'ab'.repeat(41) } }] })], /ports\.0\.rss\.key: .*40 or 52 bytes in hex/, 2],
  ['MBUF_FAST_FREE asked for with two shards', () => ['run', 'l2fwd', '-c', writeJson(dir, 'ff.json', { ...base(), shards: 2, ports: [{ name: 'net_null0', mbufFastFree: true }] })], /mbufFastFree with 2 shards/, 2],
  ['MBUF_FAST_FREE on a device without it', () => ['run', 'l2fwd', '-c', writeJson(dir, 'ff1.json', { ...base(), shards: 1, ports: [{ name: 'net_null0', mbufFastFree: true }] })], /port 'net_null0': .*does not offer MBUF_FAST_FREE/, 2],
  ['a stack address with prefix /40', () => ['run', 'l2fwd', '-c', writeJson(dir, 'sa.json', { ...base(), ports: [{ name: 'net_null0', stack: { address: '1.2.3.4/40' } }] })], /ports\.0\.stack\.address: an IPv4 address with a prefix length of 0\.\.32/, 2],
  ['a stack address with an octet over 255', () => ['run', 'l2fwd', '-c', writeJson(dir, 'so.json', { ...base(), ports: [{ name: 'net_null0', stack: { address: '1.2.3.400/24' } }] })], /ports\.0\.stack\.address/, 2],
  ['128 shards on this machine', () => ['run', 'l2fwd', '-c', writeJson(dir, 'sh.json', { ...base(), shards: 128 })], new RegExp(`shards: 128 shards asked for, but this machine has ${os.cpus().length} core\\(s\\)`), 2],
  ['a core that does not exist', () => ['run', 'l2fwd', '-c', writeJson(dir, 'q.json', { ...base(), shards: 1, cores: [4096] })], /core 4096 does not exist/, 2],
];

describe('netstar CLI rejects bad input clearly', () => {
  test.each(cases)('%s', async (_name, args, message, code) => {
    const r = await runCli(args(), { timeoutMs: 30000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at .+\(.*\.js:\d+/); // no stack trace
  });
});

test('a bogus EAL flag: its error once on stderr, no EAL usage text on stdout, exit 2', async () => {
  const r = await runCli(['run', 'l2fwd', '-c', writeJson(dir, 'eb.json', { ...base(), eal: { ...base().eal, extraArgs: ['--bogus-flag'] } })], { timeoutMs: 30000 });
  expect(r.code).toBe(2);
  expect(r.stdout).not.toMatch(/Usage|EAL common options/);
  expect(r.stderr.match(/bogus-flag'/g)).toHaveLength(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^netstar: eal: the EAL refused its arguments .*unrecognized option '--bogus-flag'/);
});
