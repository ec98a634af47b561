// Tests of the waiting and child-process helpers: deadlines with clear messages, output matching,
// SIGINT-then-SIGKILL stopping, command timeouts.
import { spawn } from 'node:child_process';
import { waitFor, waitForOutput, WaitTimeoutError } from '../../tools/wait';
import { runCommand, startProcess, CommandError, CLI_PATH } from '../../tools/proc';

describe('waitFor', () => {
  test('resolves once the condition holds', async () => {
    let n = 0;
    await waitFor(() => ++n >= 3, { intervalMs: 5, what: 'three polls' });
    expect(n).toBe(3);
    const t0 = Date.now();
    await waitFor(async () => Date.now() - t0 > 30, { intervalMs: 5, timeoutMs: 2000 });
  });

  test('times out with a message naming what it waited for', async () => {
    const t0 = Date.now();
    const p = waitFor(() => false, { timeoutMs: 200, intervalMs: 20, what: 'the moon to turn blue' });
    await expect(p).rejects.toThrow(WaitTimeoutError);
    await expect(p).rejects.toThrow(/timed out after 200 ms waiting for the moon to turn blue/);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1500);
  });

  test('a hanging condition is cut off by the deadline; a throwing one is quoted', async () => {
    const t0 = Date.now();
    await expect(
      waitFor(() => new Promise<boolean>(() => undefined), { timeoutMs: 150, what: 'a hanging probe' }),
    ).rejects.toThrow(/a hanging probe/);
    expect(Date.now() - t0).toBeLessThan(1500);
    await expect(
      waitFor(
        () => {
          throw new Error('connection refused');
        },
        { timeoutMs: 100, intervalMs: 10, what: 'the server' },
      ),
    ).rejects.toThrow(/waiting for the server .*last error: connection refused/);
  });
});

describe('waitForOutput and ManagedProcess', () => {
  test('matches output printed before and after the call', async () => {
    const p = startProcess('sh', ['-c', 'echo "listening on port 4242"; sleep 0.2; echo late >&2; exec sleep 30']);
    try {
      const m = await p.waitForOutput(/port (\d+)/, 5000);
      expect(m[1]).toBe('4242');
      await waitForOutput(p, /late/, 5000);
      expect(p.stderr()).toBe('late\n');
      expect(p.stdout()).toBe('listening on port 4242\n');
    } finally {
      const r = await p.stop();
      expect(r.killed).toBe(false);
      expect(r.signal).toBe('SIGINT');
    }
  });

  test('times out naming the pattern and quoting the output; fails fast when the process exits', async () => {
    const p = startProcess('sh', ['-c', 'echo starting; exec sleep 30']);
    try {
      await expect(p.waitForOutput(/ready/, 300)).rejects.toThrow(/timed out after 300 ms waiting for \/ready\/.*\n.*starting/s);
    } finally {
      await p.stop();
    }
    const q = startProcess('sh', ['-c', 'echo oops; exit 4']);
    const t0 = Date.now();
    await expect(q.waitForOutput(/ready/, 10000)).rejects.toThrow(/exited \(code 4, signal null\) before printing \/ready\/;[\s\S]*oops/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test('works on a bare ChildProcess', async () => {
    // Own process group, so that the kill below also reaches `sleep`, which holds the pipes open.
    const child = spawn('sh', ['-c', 'sleep 0.1; echo hello-bare; sleep 30'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const closed = new Promise((resolve) => child.once('close', resolve));
    try {
      const m = await waitForOutput(child, /hello-(\w+)/, 5000);
      expect(m[1]).toBe('bare');
    } finally {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      await closed;
    }
  });

  test('stop() SIGKILLs a process that ignores SIGINT, at the deadline', async () => {
    const p = startProcess('sh', ['-c', 'trap "" INT; echo armed; while :; do sleep 1; done']);
    await p.waitForOutput(/armed/, 5000);
    const t0 = Date.now();
    const r = await p.stop({ signal: 'SIGINT', timeoutMs: 300 });
    expect(r.killed).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(p.running()).toBe(false);
  });

  test('a command that cannot start reports it', async () => {
    const p = startProcess('/nonexistent/binary', []);
    const info = await p.exited;
    expect(info.code).toBeNull();
    expect(p.output()).toMatch(/spawn error/);
    await expect(runCommand('/nonexistent/binary', [])).rejects.toThrow(/cannot run/);
  });
});

describe('runCommand', () => {
  test('captures output and exit code; input goes to stdin', async () => {
    const r = await runCommand('sh', ['-c', 'cat; echo err >&2; exit 5'], { input: 'piped' });
    expect(r).toMatchObject({ code: 5, stdout: 'piped', stderr: 'err\n' });
  });

  test('kills on deadline and rejects', async () => {
    const t0 = Date.now();
    const e = await runCommand('sleep', ['30'], { timeoutMs: 200 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CommandError);
    expect((e as CommandError).timedOut).toBe(true);
    expect((e as CommandError).message).toMatch(/sleep 30 timed out after 200 ms/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  test('CLI path points into dist', () => {
    expect(CLI_PATH).toMatch(/dist\/cli\/netstar\.js$/);
  });
});
