// Waiting on a condition with a deadline (never sleep-and-hope): polling a predicate,
// and watching a child process's output for a pattern.
import type { ChildProcess } from 'node:child_process';

/** Options for {@link waitFor}. */
export interface WaitOptions {
  /** Deadline for the whole wait, in milliseconds. Default 5000. */
  timeoutMs?: number;
  /** Pause between two evaluations of the condition, in milliseconds. Default 50. */
  intervalMs?: number;
  /** What is being waited for; appears in the timeout error ("timed out after 5000 ms waiting for <what>"). */
  what?: string;
}

/** Thrown by {@link waitFor} and {@link waitForOutput} when the deadline passes. */
export class WaitTimeoutError extends Error {
  constructor(
    message: string,
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(message);
    this.name = 'WaitTimeoutError';
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Result of racing one evaluation of the condition against the remaining time. */
type Attempt = { kind: 'value'; value: boolean } | { kind: 'error'; error: unknown } | { kind: 'deadline' };

async function attempt(cond: () => boolean | Promise<boolean>, remainingMs: number): Promise<Attempt> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Attempt>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'deadline' }), Math.max(0, remainingMs));
  });
  const run = (async (): Promise<Attempt> => {
    try {
      return { kind: 'value', value: (await cond()) === true };
    } catch (error) {
      return { kind: 'error', error };
    }
  })();
  try {
    return await Promise.race([run, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Evaluates `cond` until it returns true, or rejects with a {@link WaitTimeoutError} naming `what` once
 * `timeoutMs` has passed. A condition that throws counts as "not yet"; the last error is quoted in the
 * timeout message. A condition that hangs is cut off by the deadline too.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, opts: WaitOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = Math.max(1, opts.intervalMs ?? 50);
  const what = opts.what ?? 'condition';
  const start = Date.now();
  let lastError: unknown;
  let tries = 0;
  for (;;) {
    const remaining = timeoutMs - (Date.now() - start);
    const result = await attempt(cond, remaining);
    tries++;
    if (result.kind === 'value' && result.value) return;
    if (result.kind === 'error') lastError = result.error;
    const left = timeoutMs - (Date.now() - start);
    if (result.kind === 'deadline' || left <= 0) {
      const detail = lastError === undefined ? '' : `; last error: ${describeError(lastError)}`;
      throw new WaitTimeoutError(
        `timed out after ${timeoutMs} ms waiting for ${what} (${tries} evaluation${tries === 1 ? '' : 's'}${detail})`,
        what,
        timeoutMs,
      );
    }
    await delay(Math.min(intervalMs, left));
  }
}

/**
 * Something that accumulates a process's output and reports new output (ManagedProcess in proc.ts
 * implements it). With a source, output printed before the wait started is matched too.
 */
export interface OutputSource {
  /** All output seen so far (stdout and stderr interleaved as they arrived). */
  output(): string;
  /** Calls `listener` on every new chunk; returns a function that unsubscribes. */
  onOutput(listener: (chunk: string) => void): () => void;
  /** Calls `listener` once when the process has exited (at once if it already has); returns an unsubscribe. */
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): () => void;
  /** A name for error messages. */
  describe(): string;
}

function isOutputSource(x: ChildProcess | OutputSource): x is OutputSource {
  return typeof (x as OutputSource).onOutput === 'function' && typeof (x as OutputSource).output === 'function';
}

/** Wraps a bare ChildProcess: only output that arrives after this call is seen. */
function childSource(child: ChildProcess): OutputSource {
  let seen = '';
  const listeners = new Set<(chunk: string) => void>();
  const onData = (data: Buffer | string): void => {
    const chunk = data.toString();
    seen += chunk;
    if (seen.length > 1 << 20) seen = seen.slice(-(1 << 19));
    for (const l of listeners) l(chunk);
  };
  return {
    output: () => seen,
    onOutput: (listener) => {
      if (listeners.size === 0) {
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
      }
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) {
          child.stdout?.off('data', onData);
          child.stderr?.off('data', onData);
        }
      };
    },
    onExit: (listener) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        listener(child.exitCode, child.signalCode);
        return () => undefined;
      }
      const h = (code: number | null, signal: NodeJS.Signals | null): void => listener(code, signal);
      child.once('exit', h);
      return () => child.off('exit', h);
    },
    describe: () => `pid ${child.pid ?? '?'} (${child.spawnfile})`,
  };
}

function tail(text: string, max = 2000): string {
  return text.length <= max ? text : `…${text.slice(-max)}`;
}

/**
 * Resolves with the first match of `regex` in the output of `child` (stdout and stderr). Rejects with a
 * {@link WaitTimeoutError} after `timeoutMs`, or with an Error at once if the process exits without a
 * match; both messages quote the tail of the output. For a bare ChildProcess only output arriving after the
 * call is seen; pass a ManagedProcess (proc.ts) to also match what was printed earlier.
 */
export function waitForOutput(
  child: ChildProcess | OutputSource,
  regex: RegExp,
  timeoutMs = 10000,
): Promise<RegExpMatchArray> {
  const src = isOutputSource(child) ? child : childSource(child);
  // A global or sticky regex keeps lastIndex between calls; match with a fresh non-stateful copy.
  const re = new RegExp(regex.source, regex.flags.replace(/[gy]/g, ''));
  return new Promise<RegExpMatchArray>((resolve, reject) => {
    let done = false;
    const cleanups: Array<() => void> = [];
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      for (const c of cleanups) c();
      fn();
    };
    const check = (): boolean => {
      const m = src.output().match(re);
      if (m) finish(() => resolve(m));
      return m !== null;
    };
    if (check()) return;
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new WaitTimeoutError(
              `timed out after ${timeoutMs} ms waiting for ${re} in the output of ${src.describe()}; output so far:\n${tail(src.output())}`,
              String(re),
              timeoutMs,
            ),
          ),
        ),
      timeoutMs,
    );
    cleanups.push(() => clearTimeout(timer));
    cleanups.push(src.onOutput(() => void check()));
    const offExit = src.onExit((code, signal) => {
      // Output may still be in flight in the pipes when 'exit' fires; give it one turn before giving up.
      setImmediate(() => {
        if (check()) return;
        finish(() =>
          reject(
            new Error(
              `${src.describe()} exited (code ${code}, signal ${signal}) before printing ${re}; output:\n${tail(src.output())}`,
            ),
          ),
        );
      });
    });
    if (done) offExit();
    else cleanups.push(offExit);
  });
}
