// The control socket: `netstar ls`, `netstar ctl` and `netstar top` against a running instance; the socket is
// 0600 and another uid is refused; `ctl stop` stops the instance cleanly; top renders under tmux.
import * as fs from 'fs';
import * as path from 'path';
import { generateUdpFlowsPcap } from '../../tools/pcapgen';
import { PcapWriter } from '../../tools/pcap';
import { CLI_PATH, runCli, runCommand, startCli, type ManagedProcess } from '../../tools/proc';
import { filePrefix, lastStats, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { waitFor } from '../../tools/wait';

const dir = tmpDir('ctl');
const runDir = path.join(dir, 'run');
fs.mkdirSync(runDir, { mode: 0o755 });
// World-traversable on purpose: only the socket's own mode keeps other users out.
fs.chmodSync(dir, 0o755);
fs.chmodSync(runDir, 0o755);
const env = { ...process.env, NETSTAR_RUN_DIR: runDir };
const TMUX = `nstest${process.pid}`;
afterAll(async () => {
  await runCommand('tmux', ['-L', TMUX, 'kill-server'], { timeoutMs: 5000 }).catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

const N = 1200;
const name = `ctltest${process.pid}`;
const sock = path.join(runDir, `${name}.sock`);

describe('control socket', () => {
  let cli: ManagedProcess;
  beforeAll(async () => {
    const inPcap = path.join(dir, 'in.pcap'), empty = path.join(dir, 'empty.pcap');
    generateUdpFlowsPcap(inPcap, { flows: N, frameSize: 100 });
    PcapWriter.open(empty).close();
    const cfg = writeJson(dir, 'l2.json', {
      eal: { vdevs: [`net_pcap0,rx_pcap=${inPcap},tx_pcap=${path.join(dir, 'sink.pcap')}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${path.join(dir, 'out.pcap')}`], filePrefix: filePrefix('ct') },
      ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }], statsIntervalMs: 200,
    });
    cli = startCli(['run', 'l2fwd', '-c', cfg, '--stats', '--json', '--name', name], { env });
    await cli.waitForOutput(/control socket .*ctltest/, 20000);
    await waitFor(() => (lastStats(cli.output())?.ports[1].tx ?? 0) >= N || !cli.running(), { timeoutMs: 30000, what: `${N} packets through l2fwd` });
    expect(cli.running()).toBe(true);
  });
  afterAll(async () => {
    if (cli.running()) await cli.stop({ timeoutMs: 10000 });
  });

  test('the socket is mode 0600 and netstar ls lists the instance', async () => {
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    expect(fs.statSync(sock).isSocket()).toBe(true);
    const r = await runCli(['ls', '--json'], { env, timeoutMs: 20000 });
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { instance: string; app: string; pid: number; socket: string }[];
    expect(list).toEqual([expect.objectContaining({ instance: name, app: 'l2fwd', pid: cli.pid, socket: sock })]);
  });

  test('ctl stats gives the exact counters', async () => {
    const r = await runCli(['ctl', name, 'stats'], { env, timeoutMs: 20000 });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { ports: { name: string; rx: number; tx: number; device: { ipackets: number; obytes: number } }[]; pools: { inUse: number; size: number }[]; shards: { held: number }[] };
    expect(s.ports.map((p) => p.name)).toEqual(['net_pcap0', 'net_pcap1']);
    expect(s.ports[0].rx).toBe(N);
    expect(s.ports[0].device.ipackets).toBe(N);
    expect(s.ports[1].tx).toBe(N);
    expect(s.ports[1].device.obytes).toBe(N * 100);
    expect(s.pools[0].size).toBe(8191);
    expect(s.shards[0].held).toBe(0);
  });

  test('an unknown command is answered with the list; a missing instance is named', async () => {
    const bad = await runCli(['ctl', name, 'frobnicate'], { env, timeoutMs: 20000 });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown command 'frobnicate'; commands: help, ping, stats, app, metrics, stop, capture/);
    const gone = await runCli(['ctl', 'nosuchinstance', 'ping'], { env, timeoutMs: 20000 });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/nosuchinstance: no such running instance/);
    // raw JSON lines, as any client would speak them
    const raw = await runCommand('/usr/bin/python3', ['-c', `import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'{"cmd":"ping"}\\nhelp\\n'); f=s.makefile(); print(f.readline().strip()); print(f.readline().strip())`, sock], { timeoutMs: 10000 });
    const [ping, help] = raw.stdout.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; result: Record<string, unknown> });
    expect(ping).toEqual({ ok: true, result: expect.objectContaining({ instance: name, app: 'l2fwd', pid: cli.pid }) });
    expect(Object.keys(help.result)).toEqual(['help', 'ping', 'stats', 'app', 'metrics', 'stop', 'capture']);
  });

  test('another uid is refused', async () => {
    const r = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI_PATH, 'ctl', sock, 'ping'], { env, timeoutMs: 20000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/permission denied \(the socket belongs to another user\)/);
    // and the same request as root succeeds (the refusal is the socket's mode, not a broken socket)
    const ok = await runCli(['ctl', sock, 'ping'], { env, timeoutMs: 20000 });
    expect(ok.code).toBe(0);
  });

  test('netstar top renders ports, shards and pools under tmux and quits on q', async () => {
    const cmd = `env NETSTAR_RUN_DIR=${runDir} ${process.execPath} ${CLI_PATH} top ${name} -i 0.3`;
    await runCommand('tmux', ['-L', TMUX, 'new-session', '-d', '-s', 'top', '-x', '150', '-y', '40', cmd], { timeoutMs: 10000, check: true });
    let screen = '';
    await waitFor(async () => {
      screen = (await runCommand('tmux', ['-L', TMUX, 'capture-pane', '-p', '-t', 'top'], { timeoutMs: 5000 })).stdout;
      return /rates over/.test(screen);
    }, { timeoutMs: 20000, what: 'a second top screen' });
    expect(screen).toMatch(new RegExp(`^netstar top - ${name} \\(l2fwd, pid ${cli.pid}\\)`, 'm'));
    // traffic is over: rates are 0, totals exact
    expect(screen).toMatch(new RegExp(`^net_pcap0 +0 +0 +0 +0 +${N} +0 +0 +0 +0 +0$`, 'm'));
    expect(screen).toMatch(new RegExp(`^net_pcap1 +0 +0 +0 +0 +0 +${N} +0 +0 +0 +0$`, 'm'));
    expect(screen).toMatch(/^SHARD +CORE +BUSY %/m);
    expect(screen).toMatch(/^mb_\d+_0 +\d+ +\d+ +8191$/m);
    await runCommand('tmux', ['-L', TMUX, 'send-keys', '-t', 'top', 'q'], { timeoutMs: 5000, check: true });
    await waitFor(async () => (await runCommand('tmux', ['-L', TMUX, 'has-session', '-t', 'top'], { timeoutMs: 5000 })).code !== 0,
      { timeoutMs: 10000, what: 'top to quit on q' });
  });

  test('ls prunes a socket nobody answers on', async () => {
    const stale = path.join(runDir, 'stale.sock');
    await runCommand('/usr/bin/python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale], { timeoutMs: 10000, check: true });
    expect(fs.existsSync(stale)).toBe(true);
    const r = await runCli(['ls', '--json'], { env, timeoutMs: 20000 });
    expect((JSON.parse(r.stdout) as { instance: string }[]).map((x) => x.instance)).toEqual([name]);
    expect(fs.existsSync(stale)).toBe(false);
  });

  test('ctl stop stops the instance cleanly and removes its socket', async () => {
    const r = await runCli(['ctl', name, 'stop'], { env, timeoutMs: 20000 });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ stopping: true });
    const info = await cli.exited;
    expect(info.code).toBe(0);
    const s = summaryOf(cli.stdout());
    expect(s.leaked).toBe(0);
    expect(s.heldAtClose).toBe(0);
    expect(s.ports[1].tx).toBe(N);
    expect(fs.existsSync(sock)).toBe(false);
  });
});
