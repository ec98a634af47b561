// A shard that dies stops the whole process with a clear message and a non-zero exit.
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../../tools/proc';
import { filePrefix, tmpDir, writeJson } from '../../tools/netstar';

describe('a dying shard', () => {
  const dir = tmpDir('crash');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('stops the process with a clear message and exit 1, and the other shard stops cleanly', async () => {
    const cfg = writeJson(dir, 'c.json', {
      eal: { vdevs: ['net_null0', 'net_null1,no-rx=1'], filePrefix: filePrefix('cr') },
      ports: [{ name: 'net_null0' }, { name: 'net_null1' }], shards: 2, app: { crashShard: 1, afterMs: 300 },
    });
    const r = await runCli(['run', path.join(__dirname, 'apps', 'crash.js'), '-c', cfg], { timeoutMs: 30000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/shard 1 died: Error: deliberate crash in afterBurst/);
  });
});
