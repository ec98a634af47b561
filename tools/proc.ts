// Child processes for tests, benches and the demo: run a command to completion with a deadline, or start a
// long-running one (e.g. `node dist/cli/netstar.js ...`), watch its output, stop it with SIGINT, SIGKILL after.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as path from 'node:path';
import { waitForOutput, type OutputSource } from './wait';

/** The compiled CLI: dist/cli/netstar.js (this file runs as dist/tools/proc.js). */
export const CLI_PATH: string = path.resolve(__dirname, '..', 'cli', 'netstar.js');

/** How a process ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Outcome of {@link runCommand}. */
export interface RunResult extends ExitInfo {
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Options for {@link runCommand}. */
export interface RunOptions {
  /** Deadline; on expiry the process group gets SIGKILL and the call rejects. Default 10000. */
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  /** Reject when the exit code is not 0. Default false. */
  check?: boolean;
}

/** A command that timed out, failed to start, or (with `check`) exited non-zero. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly result: RunResult | undefined,
    readonly timedOut: boolean,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

function quote(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function tail(text: string, max = 2000): string {
  return text.length <= max ? text : `…${text.slice(-max)}`;
}

/** Sends `signal` to the process group led by `pid` (children started detached), or to `pid` alone. */
function signalProcess(pid: number, signal: NodeJS.Signals, group: boolean): boolean {
  try {
    process.kill(group ? -pid : pid, signal);
    return true;
  } catch {
    if (!group) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Runs `cmd args` to completion (no shell) in its own process group and captures stdout and stderr.
 * Rejects with a {@link CommandError} if it cannot start, exceeds `timeoutMs` (the whole group is killed
 * with SIGKILL first), or, with `check`, exits with a code other than 0.
 */
export function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 10000;
  const command = quote(cmd, args);
  const start = Date.now();
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalProcess(child.pid, 'SIGKILL', true);
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CommandError(`cannot run ${command}: ${e.message}`, command, undefined, false));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        code,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        durationMs: Date.now() - start,
      };
      if (timedOut) {
        reject(
          new CommandError(
            `${command} timed out after ${timeoutMs} ms (killed); stderr: ${tail(result.stderr)}`,
            command,
            result,
            true,
          ),
        );
      } else if (opts.check && code !== 0) {
        reject(
          new CommandError(
            `${command} exited with code ${code}${signal ? ` (signal ${signal})` : ''}: ${tail(result.stderr || result.stdout)}`,
            command,
            result,
            false,
          ),
        );
      } else {
        resolve(result);
      }
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // the child may exit without reading
      child.stdin.end(opts.input);
    }
  });
}

/** Synchronous variant for exit handlers, where nothing asynchronous runs any more. Never throws. */
export function runCommandSync(cmd: string, args: readonly string[], timeoutMs = 5000): RunResult {
  const start = Date.now();
  const r = spawnSync(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout?.toString() ?? '',
    stderr: r.error ? r.error.message : (r.stderr?.toString() ?? ''),
    durationMs: Date.now() - start,
  };
}

/** Options for {@link startProcess}. */
export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Own process group (signals go to the whole group). Default true. */
  detached?: boolean;
  /** Output kept in memory; older output is dropped beyond it. Default 8 MiB. */
  maxOutputBytes?: number;
  /** A name for error messages. Default: the command line. */
  name?: string;
}

/** Options for {@link ManagedProcess.stop}. */
export interface StopOptions {
  /** Default SIGINT. */
  signal?: NodeJS.Signals;
  /** How long to wait for exit after the signal before SIGKILL. Default 5000. */
  timeoutMs?: number;
}

/** Outcome of {@link ManagedProcess.stop}. */
export interface StopResult extends ExitInfo {
  /** True when the deadline passed and the process had to be killed with SIGKILL. */
  killed: boolean;
}

const liveProcesses = new Set<ManagedProcess>();

/**
 * A long-running child whose output is recorded. Every ManagedProcess still running when the test file
 * finishes (jest afterAll) or the Node process exits is killed with SIGKILL.
 */
export class ManagedProcess implements OutputSource {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly name: string;
  /** Resolves when the process has exited and its output pipes are drained. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  private readonly group: boolean;
  private readonly maxOutput: number;
  private all = '';
  private out = '';
  private err = '';
  private exit: ExitInfo | undefined;
  private readonly listeners = new Set<(chunk: string) => void>();
  private readonly exitListeners = new Set<(code: number | null, signal: NodeJS.Signals | null) => void>();

  constructor(cmd: string, args: readonly string[], opts: StartOptions = {}) {
    this.name = opts.name ?? quote(cmd, args);
    this.group = opts.detached ?? true;
    this.maxOutput = opts.maxOutputBytes ?? 8 << 20;
    const spawnOpts: SpawnOptions = {
      cwd: opts.cwd,
      env: opts.env,
      detached: this.group,
      stdio: ['ignore', 'pipe', 'pipe'],
    };
    this.child = spawn(cmd, args, spawnOpts);
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.on('error', (e) => {
        this.append(`[spawn error: ${e.message}]\n`, 'err');
        if (this.child.pid === undefined) this.finish({ code: null, signal: null }, resolve);
      });
      this.child.on('close', (code, signal) => this.finish({ code, signal }, resolve));
    });
    this.child.stdout?.on('data', (d: Buffer) => this.append(d.toString(), 'out'));
    this.child.stderr?.on('data', (d: Buffer) => this.append(d.toString(), 'err'));
    if (this.child.pid === undefined) {
      // spawn failed ('error' follows on the next tick and settles `exited`).
      this.pid = -1;
    } else {
      this.pid = this.child.pid;
      liveProcesses.add(this);
      ensureProcessExitHook();
    }
  }

  private finish(info: ExitInfo, resolve: (i: ExitInfo) => void): void {
    if (this.exit) return;
    this.exit = info;
    liveProcesses.delete(this);
    resolve(info);
    for (const l of this.exitListeners) l(info.code, info.signal);
    this.exitListeners.clear();
  }

  private append(chunk: string, which: 'out' | 'err'): void {
    this.all = trimHead(this.all + chunk, this.maxOutput);
    if (which === 'out') this.out = trimHead(this.out + chunk, this.maxOutput);
    else this.err = trimHead(this.err + chunk, this.maxOutput);
    for (const l of this.listeners) l(chunk);
  }

  /** stdout and stderr interleaved as they arrived. */
  output(): string {
    return this.all;
  }
  stdout(): string {
    return this.out;
  }
  stderr(): string {
    return this.err;
  }
  describe(): string {
    return `${this.name} (pid ${this.pid})`;
  }
  onOutput(listener: (chunk: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): () => void {
    if (this.exit) {
      listener(this.exit.code, this.exit.signal);
      return () => undefined;
    }
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /** Undefined while running; how it ended once it has exited (and its pipes are drained). */
  exitInfo(): ExitInfo | undefined {
    return this.exit;
  }
  running(): boolean {
    return this.exit === undefined;
  }

  /** See {@link waitForOutput}; output printed before the call counts. */
  waitForOutput(regex: RegExp, timeoutMs = 10000): Promise<RegExpMatchArray> {
    return waitForOutput(this, regex, timeoutMs);
  }

  /** Sends a signal (to the whole process group when started detached). */
  signal(sig: NodeJS.Signals): void {
    if (this.exit === undefined && this.pid > 0) signalProcess(this.pid, sig, this.group);
  }

  /** SIGKILL now (whole group), without waiting. */
  kill(): void {
    this.signal('SIGKILL');
  }

  /**
   * Sends `signal` (default SIGINT, like Ctrl-C) and waits up to `timeoutMs` for the exit; past the
   * deadline the group gets SIGKILL and `killed` is true. Resolves at once if it has already exited.
   */
  async stop(opts: StopOptions = {}): Promise<StopResult> {
    if (this.exit) return { ...this.exit, killed: false };
    const timeoutMs = opts.timeoutMs ?? 5000;
    this.signal(opts.signal ?? 'SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((r) => {
      timer = setTimeout(() => r('deadline'), timeoutMs);
    });
    const first = await Promise.race([this.exited, deadline]);
    clearTimeout(timer);
    if (first !== 'deadline') return { ...first, killed: false };
    this.kill();
    // SIGKILL cannot be ignored; the bound only guards against a process stuck in the kernel (D state).
    let timer2: NodeJS.Timeout | undefined;
    const hard = new Promise<ExitInfo>((r) => {
      timer2 = setTimeout(() => r({ code: null, signal: 'SIGKILL' }), 5000);
    });
    const info = await Promise.race([this.exited, hard]);
    clearTimeout(timer2);
    return { ...info, killed: true };
  }
}

function trimHead(s: string, max: number): string {
  return s.length > max ? s.slice(s.length - max) : s;
}

/** Starts a long-running child; see {@link ManagedProcess}. */
export function startProcess(cmd: string, args: readonly string[], opts: StartOptions = {}): ManagedProcess {
  return new ManagedProcess(cmd, args, opts);
}

/** Starts `node dist/cli/netstar.js <args>` with the current Node binary. */
export function startCli(args: readonly string[], opts: StartOptions = {}): ManagedProcess {
  return new ManagedProcess(process.execPath, [CLI_PATH, ...args], { name: `netstar ${args.join(' ')}`, ...opts });
}

/** Runs `node dist/cli/netstar.js <args>` to completion; see {@link runCommand}. */
export function runCli(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand(process.execPath, [CLI_PATH, ...args], opts);
}

/** SIGKILLs every ManagedProcess still running; returns how many there were. */
export function killAllProcesses(): number {
  const n = liveProcesses.size;
  for (const p of liveProcesses) p.kill();
  return n;
}

let exitHookInstalled = false;

/**
 * On Node exit, SIGKILL leftover children. Under jest the test's `process` is a sandboxed copy whose
 * 'exit' event never fires, so additionally register an afterAll hook in the test file that loaded us.
 */
function ensureProcessExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    killAllProcesses();
  });
}

registerJestAfterAll(async () => {
  const left = [...liveProcesses];
  killAllProcesses();
  await Promise.all(left.map((p) => p.exited));
});

/**
 * Registers `fn` as a jest afterAll hook of the test file being loaded, if this runs under jest at the
 * top level of a test file (hooks cannot be added from inside a running test; that case is ignored).
 */
export function registerJestAfterAll(fn: () => Promise<void> | void): void {
  const g = globalThis as { afterAll?: (fn: () => Promise<void> | void, timeout?: number) => void };
  if (typeof g.afterAll !== 'function') return;
  try {
    g.afterAll(fn, 60000);
  } catch {
    // not at top level of a test file
  }
}
