// Issue 9, faults under load: SIGKILL, then a restart on the same EAL file prefix (and the same control-socket
// name). Nothing of the killed instance ran its cleanup: its runtime directory (/var/run/dpdk/<prefix>) and its
// control socket are left behind, with no process holding them. The second instance must see that the owner
// is gone (not refuse the prefix as live), say that it cleaned the stale directory, forward all of its
// traffic, exit 0 with every mbuf back, and remove the directory at its clean exit.
import * as fs from 'fs';
import * as path from 'path';
import { readPcap, writePcap } from '../../tools/pcap';
import { filePrefix, lastStats, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { startCli } from '../../tools/proc';
import { waitFor } from '../../tools/wait';

const N = 400;

function frame(i: number): Uint8Array {
  const b = Buffer.alloc(64);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45; b.writeUInt16BE(50, 16); b[22] = 64; b[23] = 17;
  b.writeUInt32BE(0xc6120000 + i, 26); b.writeUInt32BE(0xc6130001, 30);
  return b;
}

describe('SIGKILL, then a restart on the same file prefix', () => {
  const dir = tmpDir('restart');
  const runDir = path.join(dir, 'run');
  const env = { ...process.env, NETSTAR_RUN_DIR: runDir };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the second instance takes over the dead prefix, forwards everything, exits 0 balanced and leaves no runtime dir', async () => {
    const inPcap = path.join(dir, 'in.pcap'), empty = path.join(dir, 'empty.pcap');
    writePcap(inPcap, Array.from({ length: N }, (_, i) => ({ data: frame(i) })));
    writePcap(empty, []);
    const prefix = filePrefix('rk');
    const ealDir = `/var/run/dpdk/${prefix}`;
    const name = `restart-${prefix}`;
    // The first instance replays its file without end (under load when killed); the second once (exact counts).
    const config = (run: string, endless: boolean): string => writeJson(dir, `${run}.json`, {
      eal: {
        vdevs: [`net_pcap0,rx_pcap=${inPcap},tx_pcap=/dev/null${endless ? ',infinite_rx=1' : ''}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${endless ? '/dev/null' : path.join(dir, `out-${run}.pcap`)}`],
        filePrefix: prefix,
      },
      ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }], statsIntervalMs: 50,
    });
    const forwarded = (p: ReturnType<typeof startCli>): number => lastStats(p.output())?.ports[1].tx ?? 0;

    // 1. The first instance is killed outright in the middle of forwarding.
    const first = startCli(['run', 'l2fwd', '-c', config('a', true), '--name', name, '--stats', '--json'], { env });
    try {
      await waitFor(() => forwarded(first) >= 20 * N || !first.running(), { timeoutMs: 20000, what: 'the first instance to be forwarding' });
      expect(first.running()).toBe(true);
      const before = forwarded(first);
      await waitFor(() => forwarded(first) > before || !first.running(), { timeoutMs: 5000, what: 'the first instance to go on forwarding' });
      expect(first.running()).toBe(true);
      first.kill();
      const ex = await first.exited;
      expect(ex.signal).toBe('SIGKILL');
    } finally {
      if (first.running()) first.kill();
    }
    // What a SIGKILL leaves: the EAL's runtime files and the control socket, their owner gone.
    expect(fs.existsSync(path.join(ealDir, 'config'))).toBe(true);
    expect(fs.existsSync(path.join(runDir, `${name}.sock`))).toBe(true);

    // 2. Same prefix, same instance name: it must start, forward, and stop cleanly.
    const second = startCli(['run', 'l2fwd', '-c', config('b', false), '--name', name, '--stats', '--json'], { env });
    try {
      await waitFor(() => forwarded(second) >= N || !second.running(), { timeoutMs: 20000, what: `the second instance to forward ${N} frames` });
      expect(second.running()).toBe(true);
      expect(second.stderr()).toMatch(`EAL file prefix '${prefix}': stale runtime directory ${ealDir} left by a DPDK process that is gone`);
      expect(second.stderr()).not.toMatch(/in use by another running DPDK process/);
      const r = await second.stop({ signal: 'SIGINT', timeoutMs: 15000 });
      expect(r.killed).toBe(false);
      expect(r.code).toBe(0);
    } finally {
      if (second.running()) second.kill();
    }
    const s = summaryOf(second.stdout());
    expect(s.exitCode).toBe(0);
    expect(s.leaked).toBe(0);
    expect(s.heldAtClose).toBe(0);
    expect(s.poolsInUse.every((n) => n === 0)).toBe(true);
    expect(s.ports[0].rx).toBe(N);
    expect(s.ports[0].dropped).toBe(0);
    expect(s.ports[1].tx).toBe(N);
    expect(readPcap(path.join(dir, 'out-b.pcap')).length).toBe(N);
    // The clean exit removes the runtime directory and the control socket.
    expect(fs.existsSync(ealDir)).toBe(false);
    expect(fs.existsSync(path.join(runDir, `${name}.sock`))).toBe(false);
  });
});
