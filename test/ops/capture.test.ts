// Capture to pcapng: tshark and capinfos read every file we write, with the right interfaces, directions,
// counts, bytes and nanosecond timestamps; interface statistics are checked by an independent block parser
// (Python); filters, snap length and the ring of files; start and stop at run time over the control socket.
import * as fs from 'fs';
import * as path from 'path';
import { generateUdpFlowsPcap } from '../../tools/pcapgen';
import { PcapWriter } from '../../tools/pcap';
import { runCli, runCommand, startCli } from '../../tools/proc';
import { filePrefix, lastStats, summaryOf, tmpDir, writeJson, type Summary } from '../../tools/netstar';
import { waitFor } from '../../tools/wait';

const dir = tmpDir('cap');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, NETSTAR_RUN_DIR: path.join(dir, 'run') };
const N = 500;
const inPcap = path.join(dir, 'in.pcap'), empty = path.join(dir, 'empty.pcap');
generateUdpFlowsPcap(inPcap, { flows: N, frameSize: 100 });
PcapWriter.open(empty).close();

function pcapConfig(label: string, capture: Record<string, unknown>): string {
  return writeJson(dir, `${label}.json`, {
    eal: { vdevs: [`net_pcap0,rx_pcap=${inPcap},tx_pcap=${path.join(dir, `${label}-sink.pcap`)}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${path.join(dir, `${label}-out.pcap`)}`], filePrefix: filePrefix('cp') },
    ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }], statsIntervalMs: 200, ...(capture ? { capture } : {}),
  });
}

/** Runs l2fwd until all N went out on port 1, stops it; returns the summary. */
async function runPcap(cfg: string): Promise<Summary> {
  const p = startCli(['run', 'l2fwd', '-c', cfg, '--stats', '--json'], { env });
  await waitFor(() => (lastStats(p.output())?.ports[1].tx ?? 0) >= N || !p.running(), { timeoutMs: 30000, what: 'l2fwd to forward the pcap' });
  const r = await p.stop({ timeoutMs: 15000 });
  expect(r.killed).toBe(false);
  expect(r.code).toBe(0);
  const s = summaryOf(p.stdout());
  expect(s.leaked).toBe(0);
  expect(s.heldAtClose).toBe(0);
  return s;
}

async function tshark(file: string, fields: string[], filter?: string): Promise<string[][]> {
  const r = await runCommand('tshark', ['-r', file, ...(filter ? ['-Y', filter] : []), '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { timeoutMs: 60000 });
  expect(r.code).toBe(0);
  expect(r.stderr.replace(/Running as user "root".*\n/g, '')).toBe('');
  return r.stdout.trim() ? r.stdout.trim().split('\n').map((l) => l.split('\t')) : [];
}

/** Interface statistics blocks, parsed from the raw file by Python (not by our writer's code). */
async function isbs(file: string): Promise<{ if: number; recv?: number; ifdrop?: number; osdrop?: number }[]> {
  const py = `
import struct, sys, json
d = open(sys.argv[1], 'rb').read(); i = 0; out = []
while i < len(d):
    t, n = struct.unpack_from('<II', d, i)
    if t == 5:
        ifid = struct.unpack_from('<I', d, i + 8)[0]; o = i + 20; e = {'if': ifid}
        while o < i + n - 4:
            code, ln = struct.unpack_from('<HH', d, o)
            if code == 0: break
            if code in (4, 5, 7): e[{4: 'recv', 5: 'ifdrop', 7: 'osdrop'}[code]] = struct.unpack_from('<Q', d, o + 4)[0]
            o += 4 + ((ln + 3) & ~3)
        out.append(e)
    i += n
print(json.dumps(out))
`;
  const r = await runCommand('/usr/bin/python3', ['-c', py, file], { timeoutMs: 20000, check: true });
  return JSON.parse(r.stdout) as { if: number; recv?: number; ifdrop?: number; osdrop?: number }[];
}

describe('capture to pcapng', () => {
  test('both directions of every port: interfaces, directions, bytes, ns timestamps, statistics', async () => {
    const file = path.join(dir, 'all.pcapng');
    const t0 = Date.now();
    const s = await runPcap(pcapConfig('all', { file }));
    const t1 = Date.now();
    expect(s.app['capture.captured']).toBe(2 * N);
    expect(s.app['capture.dropped']).toBe(0);
    const info = await runCommand('capinfos', [file], { timeoutMs: 20000, check: true });
    expect(info.stdout).toMatch(/Number of packets:\s+1000$/m);
    expect(info.stdout).toMatch(/Number of interfaces in file: 2/);
    expect(info.stdout).toMatch(/Name = net_pcap0\n\s+Description = netstar port 0/);
    expect(info.stdout).toMatch(/Name = net_pcap1\n\s+Description = netstar port 1/);
    expect((info.stdout.match(/Time precision = nanoseconds \(9\)/g) ?? []).length).toBe(2);
    const rows = await tshark(file, ['frame.interface_name', 'frame.p2p_dir', 'frame.len', 'frame.cap_len', 'udp.srcport', 'frame.time_epoch']);
    expect(rows).toHaveLength(2 * N);
    const rx = rows.filter((r) => r[0] === 'net_pcap0'), tx = rows.filter((r) => r[0] === 'net_pcap1');
    // p2p_dir: 1 received, 0 sent; the input file's flows in its order (source ports 1024…)
    expect(rx.map((r) => r[1])).toEqual(new Array(N).fill('1'));
    expect(tx.map((r) => r[1])).toEqual(new Array(N).fill('0'));
    expect(rx.map((r) => Number(r[4]))).toEqual(Array.from({ length: N }, (_, i) => 1024 + i));
    expect(tx.map((r) => Number(r[4]))).toEqual(Array.from({ length: N }, (_, i) => 1024 + i));
    for (const r of rows) expect([r[2], r[3]]).toEqual(['100', '100']);
    // nanosecond fractions, inside the run, in order
    for (const r of rows) expect(r[5]).toMatch(/^\d+\.\d{9}$/);
    const ts = rows.map((r) => Number(r[5]) * 1000);
    expect(Math.min(...ts)).toBeGreaterThanOrEqual(t0 - 1);
    expect(Math.max(...ts)).toBeLessThanOrEqual(t1 + 1);
    for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThanOrEqual(ts[i - 1]);
    // the same frames as the input file
    const inRows = await tshark(inPcap, ['frame.len', 'udp.srcport', 'ip.id']);
    expect((await tshark(file, ['frame.len', 'udp.srcport', 'ip.id'], 'frame.interface_id == 0'))).toEqual(inRows);
    expect(await isbs(file)).toEqual([{ if: 0, recv: N, ifdrop: 0, osdrop: 0 }, { if: 1, recv: 0, ifdrop: 0, osdrop: 0 }]);
  });

  test('filter, snap length and direction', async () => {
    const file = path.join(dir, 'f.pcapng');
    const s = await runPcap(pcapConfig('f', { file, filter: 'udp and (src port 1030 or src port 1100) and dst net 198.19.0.0/16 and not arp', snaplen: 60, direction: 'rx', ports: [0] }));
    expect(s.app['capture.captured']).toBe(2);
    const rows = await tshark(file, ['frame.interface_name', 'frame.cap_len', 'frame.len', 'udp.srcport']);
    expect(rows).toEqual([['net_pcap0', '60', '100', '1030'], ['net_pcap0', '60', '100', '1100']]);
    const info = await runCommand('capinfos', [file], { timeoutMs: 20000, check: true });
    expect(info.stdout).toMatch(/Number of interfaces in file: 1/);
    expect(info.stdout).toMatch(/Capture length = 60/);
  });

  test('--capture and --capture-filter on the command line; a predicate module', async () => {
    const file = path.join(dir, 'cli.pcapng');
    const cfg = pcapConfig('cli', undefined as unknown as Record<string, unknown>);
    const p = startCli(['run', 'l2fwd', '-c', cfg, '--stats', '--json', '--capture', file, '--capture-filter', 'src port 1500'], { env });
    await waitFor(() => (lastStats(p.output())?.ports[1].tx ?? 0) >= N || !p.running(), { timeoutMs: 30000, what: 'l2fwd to forward the pcap' });
    expect((await p.stop({ timeoutMs: 15000 })).code).toBe(0);
    expect(await tshark(file, ['frame.interface_name', 'udp.srcport'])).toEqual([['net_pcap0', '1500'], ['net_pcap1', '1500']]);

    // inbound packets whose UDP source port is a multiple of 100 (1100 … 1500), chosen by TS code
    const mod = path.join(dir, 'pred.js');
    fs.writeFileSync(mod, 'exports.default = (b, o, len, port, dir) => dir === 1 && len >= 36 && (((b[o + 34] << 8) | b[o + 35]) % 100) === 0;\n');
    const file2 = path.join(dir, 'pred.pcapng');
    const s = await runPcap(pcapConfig('pred', { file: file2, filterModule: mod, filter: 'udp' }));
    expect(s.app['capture.captured']).toBe(5);
    expect((await tshark(file2, ['frame.interface_name', 'udp.srcport'])).map((r) => r.join(' '))).toEqual(['1100', '1200', '1300', '1400', '1500'].map((x) => `net_pcap0 ${x}`));
  });

  test.each([
    ['a missing predicate module', { file: 'x.pcapng', filterModule: '/nonexistent/pred.js' }, /capture\.filterModule: \/nonexistent\/pred\.js does not exist/],
    ['a bad filter', { file: 'x.pcapng', filter: 'udp and port seventy' }, /invalid capture\.filter: filter 'udp and port seventy': a port number expected, got 'seventy'/],
    ['an unknown term', { file: 'x.pcapng', filter: 'udpp' }, /unknown term 'udpp'/],
    ['a missing directory', { file: '/nonexistent/dir/x.pcapng' }, /capture\.file: directory \/nonexistent\/dir does not exist/],
    ['a port that is not configured', { file: 'x.pcapng', ports: [5] }, /capture\.ports: no port 5/],
  ])('%s is a config error', async (_what, capture, msg) => {
    const c = { ...capture, file: capture.file.startsWith('/') ? capture.file : path.join(dir, capture.file) };
    const r = await runCli(['run', 'l2fwd', '-c', pcapConfig('bad', c)], { env, timeoutMs: 30000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
  });

  test('a ring of files keeps the newest, each one whole', async () => {
    const ringDir = path.join(dir, 'ring');
    fs.mkdirSync(ringDir);
    const s = await runPcap(pcapConfig('ring', { file: path.join(ringDir, 'cap.pcapng'), fileBytes: 20000, files: 3 }));
    expect(s.app['capture.captured']).toBe(2 * N);
    const files = fs.readdirSync(ringDir).sort();
    expect(files).toHaveLength(3);
    const nums = files.map((f) => Number(/^cap-(\d{4})\.pcapng$/.exec(f)![1]));
    expect(nums[1]).toBe(nums[0] + 1);
    expect(nums[2]).toBe(nums[0] + 2);
    expect(nums[0]).toBeGreaterThan(1); // older files were rotated away
    let total = 0;
    for (const f of files) {
      const rows = await tshark(path.join(ringDir, f), ['frame.interface_name', 'udp.srcport']);
      expect(rows.length).toBeGreaterThan(0);
      total += rows.length;
      if (f === files[2]) expect(rows[rows.length - 1]).toEqual(['net_pcap1', String(1024 + N - 1)]);
      expect(fs.statSync(path.join(ringDir, f)).size).toBeLessThan(20000 + 200);
    }
    expect(total).toBeLessThan(2 * N);
  });

  test('started and stopped at run time; a full queue drops (counted), forwarding goes on', async () => {
    const file = path.join(dir, 'rt.pcapng');
    const name = `caprt${process.pid}`;
    const cfg = writeJson(dir, 'rt.json', {
      eal: { vdevs: ['net_null0'], filePrefix: filePrefix('cr') }, ports: [{ name: 'net_null0' }], statsIntervalMs: 100,
      capture: { file, start: false, queueBytes: 1 << 16 },
    });
    const p = startCli(['run', 'l2fwd', '-c', cfg, '--stats', '--json', '--name', name], { env });
    try {
      await p.waitForOutput(/control socket/, 20000);
      const ctl = async (action: string): Promise<{ capturing: boolean; captured: number; dropped: number }> => {
        const r = await runCli(['ctl', name, 'capture', JSON.stringify({ action })], { env, timeoutMs: 20000 });
        expect(r.code).toBe(0);
        return JSON.parse(r.stdout) as { capturing: boolean; captured: number; dropped: number };
      };
      expect(await ctl('status')).toEqual({ capturing: false, captured: 0, dropped: 0, files: [] });
      expect((await ctl('start')).capturing).toBe(true);
      await waitFor(async () => (await ctl('status')).captured >= 2000, { timeoutMs: 20000, what: '2000 captured packets' });
      const stopped = await ctl('stop');
      expect(stopped.capturing).toBe(false);
      // The shard sees the flag on its next packet: wait until the count holds still across STATS intervals.
      let last = -1;
      await waitFor(async () => {
        const c = (await ctl('status')).captured;
        const same = c === last;
        last = c;
        return same;
      }, { timeoutMs: 10000, intervalMs: 300, what: 'capture to stop counting' });
      const txAtStop = lastStats(p.output())!.ports[0].tx;
      await waitFor(() => (lastStats(p.output())?.ports[0].tx ?? 0) > txAtStop + 100000, { timeoutMs: 20000, what: 'forwarding to go on after capture stopped' });
      expect((await ctl('status')).captured).toBe(last);
      const r = await p.stop({ timeoutMs: 15000 });
      expect(r.code).toBe(0);
      const s = summaryOf(p.stdout());
      expect(s.leaked).toBe(0);
      expect(s.app['capture.captured']).toBe(last);
      // 64 KiB of queue cannot hold what net_null sends between two writer passes
      expect(s.app['capture.dropped']).toBeGreaterThan(0);
      const rows = await tshark(file, ['frame.p2p_dir']);
      expect(rows).toHaveLength(last);
      const stats = await isbs(file);
      expect(stats).toHaveLength(1);
      expect(stats[0].osdrop).toBe(s.app['capture.dropped']);
      expect(stats[0].recv).toBe(s.ports[0].device.ipackets);
    } finally {
      if (p.running()) p.kill();
    }
  });
});
