// Structured logs (pino) for the CLI and the runtime's main thread: levels, JSON lines or `netstar: …` text,
// always on stderr and written synchronously (the CLI exits right after its last message). Data — STATS
// lines and the summary — stays on stdout and is not a log.
import * as fs from 'fs';
import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };
/** pino's own fields (and an error's code, implied by the message), not shown as key=value in text form */
const RESERVED = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'name', 'err', 'code']);

/** pino record → one human line: `netstar: msg key=value…`, level named unless info or error. */
export function textLine(record: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(record) as Record<string, unknown>;
  } catch {
    return record;
  }
  const lvl = LEVEL_NAMES[o.level as number] ?? String(o.level);
  const tag = lvl === 'info' || lvl === 'error' ? '' : `${lvl}: `;
  const extra = Object.entries(o).filter(([k]) => !RESERVED.has(k))
    .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join('');
  const err = o.err as { stack?: string } | undefined;
  return `netstar: ${tag}${String(o.msg ?? '')}${extra}${err?.stack ? `\n${err.stack}` : ''}\n`;
}

function syncStderr(): { write(s: string): void } {
  return { write: (s: string) => { fs.writeSync(2, s); } };
}

function make(level: LogLevel, format: LogFormat, out: { write(s: string): void }): Logger {
  const sink = format === 'json' ? out : { write: (s: string) => out.write(textLine(s)) };
  return pino({ level, base: { pid: process.pid }, messageKey: 'msg' }, sink);
}

function envLevel(): LogLevel {
  const v = process.env.NETSTAR_LOG_LEVEL;
  return (LOG_LEVELS as readonly string[]).includes(v ?? '') ? (v as LogLevel) : 'info';
}
function envFormat(): LogFormat {
  return process.env.NETSTAR_LOG_FORMAT === 'json' ? 'json' : 'text';
}

let current: Logger = make(envLevel(), envFormat(), syncStderr());

/** The process's logger (main thread). */
export function logger(): Logger {
  return current;
}

/** Sets level and format (CLI flags; NETSTAR_LOG_LEVEL / NETSTAR_LOG_FORMAT otherwise); `out` for tests. */
export function configureLog(o: { level?: LogLevel; format?: LogFormat; out?: { write(s: string): void } } = {}): Logger {
  current = make(o.level ?? envLevel(), o.format ?? envFormat(), o.out ?? syncStderr());
  return current;
}
