// Issue 9 item 8: the EAL's runtime directory. A clean exit removes /var/run/dpdk/<prefix>; a second
// instance on a live file prefix ends with a clear message (not "EAL init failed: Success"), and the first
// runs on undisturbed.
import * as fs from 'fs';
import { filePrefix, lastStats, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { CLI_PATH, runCli, startProcess } from '../../tools/proc';
import { waitFor } from '../../tools/wait';

describe('EAL runtime directory', () => {
  const dir = tmpDir('ealdir');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a clean exit leaves no /var/run/dpdk/<prefix>; a second instance on a live prefix is refused clearly', async () => {
    const prefix = filePrefix('rd');
    const cfg = writeJson(dir, 'c.json', { eal: { vdevs: ['net_null0'], filePrefix: prefix }, ports: [{ name: 'net_null0' }], statsIntervalMs: 100 });
    const first = startProcess(process.execPath, [CLI_PATH, 'run', 'l2fwd', '-c', cfg, '--stats', '--json']);
    try {
      await waitFor(() => lastStats(first.output()) !== null || !first.running(), { timeoutMs: 20000, what: 'the first instance to run' });
      expect(fs.existsSync(`/var/run/dpdk/${prefix}/config`)).toBe(true);
      const second = await runCli(['run', 'l2fwd', '-c', cfg], { timeoutMs: 30000 });
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(`EAL file prefix '${prefix}' is in use by another running DPDK process (pid ${first.pid}`);
      expect(second.stderr).not.toMatch(/Success/);
      expect(first.running()).toBe(true);
      const r = await first.stop({ signal: 'SIGINT', timeoutMs: 10000 });
      expect(r.code).toBe(0);
      expect(summaryOf(first.stdout()).leaked).toBe(0);
    } finally {
      if (first.running()) first.kill();
    }
    expect(fs.existsSync(`/var/run/dpdk/${prefix}`)).toBe(false);
  });

  test('a config error after the EAL started (a port it did not create) leaves no runtime directory', async () => {
    const prefix = filePrefix('rc');
    const cfg = writeJson(dir, 'p.json', { eal: { vdevs: ['net_af_packet0,iface=nsnoiface9'], filePrefix: prefix }, ports: [{ name: 'net_af_packet0' }] });
    const r = await runCli(['run', 'l2fwd', '-c', cfg], { timeoutMs: 30000 });
    expect(r.code).toBe(2);
    expect(fs.existsSync(`/var/run/dpdk/${prefix}`)).toBe(false);
  });
});
