// Logs: pino records (JSON or text) on stderr with levels chosen by --log-level / NETSTAR_LOG_LEVEL; stdout
// keeps only data, and the STATS line keeps its format.
import * as fs from 'fs';
import { runCli } from '../../tools/proc';
import { filePrefix, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { configureLog, logger, textLine } from '../../reactor/log';

const dir = tmpDir('log');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const cfg = (): string => writeJson(dir, `null${Math.random().toString(36).slice(2)}.json`, {
  eal: { vdevs: ['net_null0'], filePrefix: filePrefix('lg') }, ports: [{ name: 'net_null0' }], statsIntervalMs: 200,
});

const STATS_KEYS = ['t', 'dt', 'ports', 'busyMs', 'idleMs', 'held', 'shards', 'app'];
const SHARD_KEYS = ['fwdIn', 'fwdOut', 'fwdDropped', 'ringFull', 'steered', 'steeredByRule', 'shedNewFlow', 'appErrors', 'leaks', 'toStack', 'toNf', 'held', 'busyMs', 'idleMs', 'sleeps', 'loops'];

function checkStdoutIsData(stdout: string): void {
  const lines = stdout.trim().split('\n');
  const stats = lines.filter((l) => l.startsWith('STATS '));
  expect(stats.length).toBeGreaterThan(0);
  for (const l of stats) {
    const o = JSON.parse(l.slice(6)) as Record<string, unknown>;
    expect(Object.keys(o)).toEqual(STATS_KEYS);
    expect(Object.keys((o.shards as Record<string, unknown>[])[0])).toEqual(SHARD_KEYS);
    expect(Object.keys((o.ports as Record<string, unknown>[])[0])).toEqual(['name', 'rxPps', 'txPps', 'drops', 'rx', 'tx']);
  }
  // nothing else but the summary line
  expect(lines.filter((l) => !l.startsWith('STATS '))).toHaveLength(1);
  const s = summaryOf(stdout);
  expect(s.leaked).toBe(0);
  expect(s.heldAtClose).toBe(0);
}

describe('CLI logs', () => {
  test('JSON records on stderr with fields; stdout holds only STATS lines and the summary', async () => {
    const r = await runCli(['run', 'l2fwd', '-c', cfg(), '-d', '1', '--stats', '--json', '--log-format', 'json'], { timeoutMs: 30000 });
    expect(r.code).toBe(0);
    const recs = r.stderr.trim().split('\n').filter((l) => l.length).map((l) => JSON.parse(l) as Record<string, unknown>);
    const start = recs.find((o) => typeof o.msg === 'string' && /^l2fwd on 1 shard\(s\); ports: net_null0 \(net_null, /.test(o.msg));
    expect(start).toMatchObject({ level: 30, app: 'l2fwd', shards: 1 });
    expect(typeof start!.time).toBe('number');
    expect(typeof start!.pid).toBe('number');
    checkStdoutIsData(r.stdout);
  });

  test('--log-level warn hides info; the data on stdout is the same', async () => {
    const r = await runCli(['run', 'l2fwd', '-c', cfg(), '-d', '1', '--stats', '--json', '--log-level', 'warn'], { timeoutMs: 30000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    checkStdoutIsData(r.stdout);
  });

  test('NETSTAR_LOG_LEVEL does the same as the flag; text lines read netstar: …', async () => {
    const quiet = await runCli(['run', 'l2fwd', '-c', cfg(), '-d', '1', '--json'], { timeoutMs: 30000, env: { ...process.env, NETSTAR_LOG_LEVEL: 'error' } });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    const loud = await runCli(['run', 'l2fwd', '-c', cfg(), '-d', '1', '--json'], { timeoutMs: 30000, env: { ...process.env, NETSTAR_LOG_LEVEL: 'info' } });
    expect(loud.code).toBe(0);
    expect(loud.stderr).toMatch(/^netstar: l2fwd on 1 shard\(s\); ports: net_null0 \(net_null, [0-9A-F:]{17}\) app=l2fwd shards=1$/m);
  });

  test('a config error is an error record (level 50, code) and exit 2', async () => {
    const r = await runCli(['run', 'nosuchapp', '--log-format', 'json'], { timeoutMs: 30000 });
    expect(r.code).toBe(2);
    const recs = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ level: 50, code: 'ERR_CONFIG' });
    expect(recs[0].msg).toMatch(/^unknown app 'nosuchapp'/);
  });

  test('an unknown level is refused with the list', async () => {
    const r = await runCli(['run', 'l2fwd', '--log-level', 'loud'], { timeoutMs: 30000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Allowed choices are fatal, error, warn, info, debug, trace, silent/);
  });
});

describe('logger', () => {
  afterAll(() => configureLog());
  test('levels filter; text form names the level and shows fields', () => {
    const got: string[] = [];
    configureLog({ level: 'info', format: 'text', out: { write: (s) => got.push(s) } });
    logger().debug('hidden');
    logger().info({ port: 'p0' }, 'up');
    logger().warn({ shard: 1, count: 3 }, 'held too long');
    expect(got).toEqual(['netstar: up port=p0\n', 'netstar: warning: held too long shard=1 count=3\n']);
    const json: string[] = [];
    configureLog({ level: 'debug', format: 'json', out: { write: (s) => json.push(s) } });
    logger().debug({ a: 1 }, 'shown');
    expect(JSON.parse(json[0])).toMatchObject({ level: 20, a: 1, msg: 'shown' });
    expect(textLine('not json')).toBe('not json');
  });
});
