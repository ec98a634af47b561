// Tests of the namespace topology helper: real hosts ping across a veth pair, nothing is left behind
// (also when the test body throws, the process exits, gets SIGINT, or is killed), root namespace untouched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Topology, withTopology, NETNS_PREFIX } from '../../tools/netns';
import { runCommand, startProcess } from '../../tools/proc';
import { waitFor } from '../../tools/wait';

async function namespacesWith(prefix: string): Promise<string[]> {
  return (await Topology.listNamespaces()).filter((n) => n.startsWith(prefix)).sort();
}

async function rootLinks(): Promise<string[]> {
  const r = await runCommand('ip', ['-j', 'link', 'show'], { check: true });
  return (JSON.parse(r.stdout) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}

/** Running (a zombie waiting to be reaped counts as gone). */
function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('Topology', () => {
  test('two hosts on a veth pair ping each other; destroy leaves nothing', async () => {
    const rootBefore = await rootLinks();
    let prefix = '';
    await withTopology('ping', async (topo) => {
      prefix = topo.prefix;
      expect(prefix.startsWith(NETNS_PREFIX)).toBe(true);
      const h1 = await topo.ns('h1');
      await topo.ns('h2');
      expect(h1).toBe(`${prefix}h1`);
      await topo.veth('h1', 'eth0', 'h2', 'eth0', { mtu: 1400, macA: '02:00:00:aa:00:01', disableOffloads: true });
      await topo.addr('h1', 'eth0', '198.18.0.1/24');
      await topo.addr('h2', 'eth0', '198.18.0.2/24');

      expect(await namespacesWith(prefix)).toEqual([`${prefix}h1`, `${prefix}h2`].sort());
      // Both veth ends live in the test namespaces, none in the root namespace.
      expect(await rootLinks()).toEqual(rootBefore);
      expect(await topo.mac('h1', 'eth0')).toBe('02:00:00:aa:00:01');
      expect(await topo.mac('h2', 'eth0')).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      const link = await topo.ip('h2', ['-j', 'link', 'show', 'dev', 'eth0']);
      expect((JSON.parse(link.stdout) as Array<{ mtu: number }>)[0]?.mtu).toBe(1400);
      const features = await topo.exec('h1', 'ethtool', ['-k', 'eth0'], { check: true });
      expect(features.stdout).toMatch(/tcp-segmentation-offload: off/);
      expect(features.stdout).toMatch(/generic-segmentation-offload: off/);

      const ping = await topo.exec('h1', 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '198.18.0.2'], { timeoutMs: 8000 });
      expect(ping.stdout).toMatch(/2 received/);
      expect(ping.code).toBe(0);
    });
    expect(prefix).not.toBe('');
    expect(await namespacesWith(prefix)).toEqual([]);
    expect(await rootLinks()).toEqual(rootBefore);
  });

  test('a throwing test body still destroys namespaces and kills spawned children', async () => {
    let prefix = '';
    let sleeperPid = -1;
    await expect(
      withTopology('throws', async (topo) => {
        prefix = topo.prefix;
        await topo.ns('a');
        await topo.ns('b');
        await topo.veth('a', 'v0', 'b', 'v1');
        const sleeper = topo.spawn('a', 'sleep', ['1000']);
        sleeperPid = sleeper.pid;
        await waitFor(() => pidAlive(sleeperPid), { what: 'sleep to start', timeoutMs: 5000 });
        throw new Error('boom from the test body');
      }),
    ).rejects.toThrow('boom from the test body');
    expect(await namespacesWith(prefix)).toEqual([]);
    expect(sleeperPid).toBeGreaterThan(0);
    expect(pidAlive(sleeperPid)).toBe(false);
  });

  test('exec enforces its deadline and rejects bad input', async () => {
    await withTopology('limits', async (topo) => {
      await topo.ns('x');
      const t0 = Date.now();
      await expect(topo.exec('x', 'sleep', ['30'], { timeoutMs: 300 })).rejects.toThrow(/timed out after 300 ms/);
      expect(Date.now() - t0).toBeLessThan(3000);
      await expect(topo.addr('x', 'lo', '10.0.0.1/8')).rejects.toThrow(/198\.18\.0\.0\/15/);
      await expect(topo.veth('x', 'much-too-long-name', 'x', 'v1')).rejects.toThrow(/bad interface name/);
      await expect(topo.ns('x')).rejects.toThrow(/exists/);
      expect(() => topo.nsName('nope')).toThrow(/no namespace/);
      const r = await topo.exec('x', 'sh', ['-c', 'exit 3']);
      expect(r.code).toBe(3);
      await expect(topo.exec('x', 'sh', ['-c', 'exit 3'], { check: true })).rejects.toThrow(/exited with code 3/);
      await topo.sysctl('x', 'net.ipv4.ip_forward', '1');
      const f = await topo.exec('x', 'cat', ['/proc/sys/net/ipv4/ip_forward'], { check: true });
      expect(f.stdout.trim()).toBe('1');
    });
  });

  test('cleanupStale removes namespaces of dead owners (and their processes), keeps live owners', async () => {
    const deadPid = 4194305; // above the largest possible pid_max (2^22): never a live process
    const dead = `${NETNS_PREFIX}${deadPid}-z${process.pid}-stale-a`;
    const live = `${NETNS_PREFIX}1-z${process.pid}-stale-b`; // pid 1 always exists
    await runCommand('ip', ['netns', 'add', dead], { check: true });
    await runCommand('ip', ['netns', 'add', live], { check: true });
    const inside = startProcess('ip', ['netns', 'exec', dead, 'sleep', '1000']);
    try {
      await waitFor(async () => (await runCommand('ip', ['netns', 'pids', dead])).stdout.trim() !== '', {
        what: 'a process inside the stale namespace',
      });
      const removed = await Topology.cleanupStale(`${NETNS_PREFIX}`);
      expect(removed).toContain(dead);
      expect(removed).not.toContain(live);
      const left = await Topology.listNamespaces();
      expect(left).not.toContain(dead);
      expect(left).toContain(live);
      const exit = await inside.exited;
      expect(exit.signal).toBe('SIGKILL');
    } finally {
      inside.kill();
      await runCommand('ip', ['netns', 'del', dead]);
      await runCommand('ip', ['netns', 'del', live]);
    }
  });

  describe('a process that forgets destroy()', () => {
    const helper = path.resolve(__dirname, '..', '..', 'tools', 'netns.js');
    // Sets up a topology with a veth pair and a child, prints READY <prefix> <child pid>, then does `action`
    // when it gets SIGUSR2 (so that the test can look at the namespaces first).
    const script = (action: string): string => `
      const { Topology } = require(${JSON.stringify(helper)});
      (async () => {
        const topo = await Topology.create('orphan');
        await topo.ns('a'); await topo.ns('b');
        await topo.veth('a', 'v0', 'b', 'v1');
        const child = topo.spawn('a', 'sleep', ['1000']);
        process.once('SIGUSR2', () => { ${action} });
        setInterval(() => {}, 1000);
        console.log('READY ' + topo.prefix + ' ' + child.pid);
      })();`;

    async function runOrphan(action: string, finish: (p: ReturnType<typeof startProcess>) => Promise<void>) {
      const p = startProcess(process.execPath, ['-e', script(action)], { name: 'orphan script' });
      try {
        const m = await p.waitForOutput(/READY (\S+) (\d+)/, 15000);
        const prefix = m[1]!;
        const childPid = Number(m[2]);
        expect(await namespacesWith(prefix)).toHaveLength(2);
        p.signal('SIGUSR2');
        await finish(p);
        return { prefix, childPid };
      } finally {
        await p.stop({ signal: 'SIGKILL', timeoutMs: 2000 });
      }
    }

    test('cleaned on normal exit', async () => {
      const { prefix, childPid } = await runOrphan('process.exit(0);', async (p) => {
        expect((await p.exited).code).toBe(0);
      });
      expect(await namespacesWith(prefix)).toEqual([]);
      await waitFor(() => !pidAlive(childPid), { what: 'spawned child to die', timeoutMs: 3000 });
    });

    test('cleaned on an uncaught exception', async () => {
      const { prefix } = await runOrphan(`throw new Error('crash');`, async (p) => {
        expect((await p.exited).code).not.toBe(0);
      });
      expect(await namespacesWith(prefix)).toEqual([]);
    });

    test('cleaned on SIGINT, and the process still dies of SIGINT', async () => {
      const { prefix, childPid } = await runOrphan('', async (p) => {
        const r = await p.stop({ signal: 'SIGINT', timeoutMs: 10000 });
        expect(r.killed).toBe(false);
        expect(r.signal).toBe('SIGINT');
      });
      expect(await namespacesWith(prefix)).toEqual([]);
      await waitFor(() => !pidAlive(childPid), { what: 'spawned child to die', timeoutMs: 3000 });
    });

    test('after SIGKILL the namespaces stay until cleanupStale (run by the next create)', async () => {
      const { prefix, childPid } = await runOrphan('', async (p) => {
        const r = await p.stop({ signal: 'SIGKILL', timeoutMs: 5000 });
        expect(r.signal).toBe('SIGKILL');
      });
      expect(await namespacesWith(prefix)).toHaveLength(2);
      expect(pidAlive(childPid)).toBe(true); // its own process group survived the SIGKILL
      const removed = await Topology.cleanupStale();
      expect(removed.sort()).toEqual([`${prefix}a`, `${prefix}b`]);
      expect(await namespacesWith(prefix)).toEqual([]);
      await waitFor(() => !pidAlive(childPid), { what: 'orphaned child to be killed', timeoutMs: 3000 });
    });
  });

  test('nothing of this process is left at the end', async () => {
    expect(await namespacesWith(`${NETNS_PREFIX}${process.pid}-`)).toEqual([]);
  });
});
