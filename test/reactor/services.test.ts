// Reactor services through the real runtime (two shards, traffic flowing): submitTo, invokeOnAll, errors
// across shards, Sharded<T>, and timers that fire in order and on time while the shard is busy.
import * as fs from 'fs';
import * as path from 'path';
import { startCli } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { filePrefix, summaryOf, tmpDir, writeJson } from '../../tools/netstar';

describe('reactor services across shards', () => {
  const dir = tmpDir('rsvc');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('submitTo returns values and errors, invokeOnAll reaches every shard, timers fire in order under load', async () => {
    const cfg = writeJson(dir, 'cfg.json', {
      eal: { vdevs: ['net_null0', 'net_null1,no-rx=1'], filePrefix: filePrefix('rs') },
      ports: [{ name: 'net_null0' }, { name: 'net_null1' }],
      shards: 2, app: { outDir: dir },
    });
    const p = startCli(['run', path.join(__dirname, 'apps', 'rtest.js'), '-c', cfg, '--json']);
    const out = path.join(dir, 'rtest.json');
    try {
      await waitFor(() => fs.existsSync(out) || !p.running(), { timeoutMs: 30000, what: 'rtest results' });
      if (!fs.existsSync(out)) throw new Error(`no results:\n${p.output().slice(-3000)}`);
      const stop = await p.stop({ timeoutMs: 15000 });
      expect(stop.code).toBe(0);
    } finally {
      if (p.running()) p.kill();
    }
    const r = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(r.crashed).toBeUndefined();
    expect(r.whoami).toEqual({ shard: 1, doubled: 42 });
    expect(r.self).toEqual({ shard: 0, doubled: 10 });
    expect(r.all).toEqual([{ shard: 0, doubled: 2 }, { shard: 1, doubled: 2 }]);
    expect(r.error).toEqual({ name: 'RemoteError', message: 'failed on shard 1: on purpose', remoteName: 'TypeError' });
    expect(r.missing).toMatch(/no task 'rtest.nosuchtask' is registered on shard 1/);
    expect(r.badShard).toMatch(/no shard 9/);
    expect(r.slow).toBe(1);
    expect(r.bigLen).toBe(100000);
    expect(r.tooBig).toMatch(/exceeds ring limit/);
    expect(r.manyOk).toBe(true);
    expect(r.counters).toEqual([1, 11]);
    expect(r.timerOrder).toEqual([1, 2, 3, 4]);
    expect(r.timerMaxLateMs).toBeLessThan(25); // tolerance while the shard forwards millions of packets/s (loaded 2-core CI)
    expect(r.rxDuringTimers).toBeGreaterThan(10000); // the shard was really busy meanwhile
    expect(r.intervalTicks).toBe(5);
    const s = summaryOf(p.stdout());
    expect(s.leaked).toBe(0);
  });
});
