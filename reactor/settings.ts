// App settings from zod schemas: one helper turns a schema (and an optional step for what the schema cannot say,
// e.g. checks against the ports) into an AppModule's settings(config), with one error format for every app.
import type { z } from 'zod';
import { NetstarError } from '../native';
import type { Config } from './config';

/** One NetstarError('ERR_CONFIG') listing every issue of a failed parse, each with its path under `where`. */
export function settingsError(app: string, error: z.ZodError, where = 'app', what = 'app settings'): NetstarError {
  const lines = error.issues.map((i) => `  ${[where, ...i.path].join('.')}: ${i.message}`);
  return new NetstarError('ERR_CONFIG', `invalid ${what} for ${app}:\n${lines.join('\n')}`);
}

/**
 * An AppModule's `settings` from a zod schema of `config.app`: parses it (defaults applied) and throws
 * NetstarError('ERR_CONFIG') listing every issue with its path (`app.pairs.0.1: …`). `then` turns the parsed
 * object into what the shards get and may throw NetstarError('ERR_CONFIG') for checks across fields or against
 * the rest of the config (port counts, stacks).
 *
 *   settings: appSettings('echo', schema, (s, config) => { if (!config.ports[s.portIndex]?.stack) throw …; return s; })
 */
export function appSettings<Z extends z.ZodTypeAny, T = z.output<Z>>(
  name: string,
  schema: Z,
  then?: (parsed: z.output<Z>, config: Config) => T,
): (config: Config) => T {
  return (config: Config): T => {
    const r = schema.safeParse(config.app);
    if (!r.success) throw settingsError(name, r.error);
    return then ? then(r.data as z.output<Z>, config) : (r.data as T);
  };
}
