// App settings through one helper (appSettings): every app's settings(config) rejects bad input with one
// NetstarError('ERR_CONFIG') listing every issue with its path, and hands defaults and cross-field checks on.
import { z } from 'zod';
import { NetstarError, appSettings, parseConfig, type AppModule, type Config } from '../../index';
import { APPS } from '../../reactor/app';

function config(app: unknown, ports = 2): Config {
  return parseConfig({
    eal: { vdevs: Array.from({ length: ports }, (_, i) => `net_null${i}`) },
    ports: Array.from({ length: ports }, (_, i) => ({ name: `net_null${i}` })),
    app,
  });
}

function thrown(fn: () => unknown): NetstarError {
  try {
    fn();
  } catch (e) {
    if (e instanceof NetstarError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('appSettings', () => {
  const schema = z.object({
    port: z.number().int().min(1).max(65535).default(7),
    nested: z.object({ ratio: z.number().max(1) }).strict().optional(),
    list: z.array(z.string()).default([]),
  }).strict();

  test('defaults are applied and the then-step sees the parsed object and the config', () => {
    const settings = appSettings('demo', schema, (s, c) => ({ ...s, ports: c.ports.length }));
    expect(settings(config({ list: ['a'] }))).toEqual({ port: 7, list: ['a'], ports: 2 });
  });

  test('every issue is listed with its path under app., in one ERR_CONFIG error', () => {
    const settings = appSettings('demo', schema);
    const e = thrown(() => settings(config({ port: 0, nested: { ratio: 2 }, list: [1], extra: true })));
    expect(e.code).toBe('ERR_CONFIG');
    const lines = e.message.split('\n');
    expect(lines[0]).toBe('invalid app settings for demo:');
    expect(lines.slice(1).map((l) => l.trim().split(':')[0]).sort()).toEqual(['app', 'app.list.0', 'app.nested.ratio', 'app.port']);
    expect(e.message).toMatch(/app: Unrecognized key\(s\) in object: 'extra'/);
  });

  test('every app of the APPS table declares its settings through it (same error shape for a bad field)', () => {
    for (const [name, mod] of Object.entries(APPS)) {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const app = (require(`../../${mod}`) as { default: AppModule }).default;
      const e = thrown(() => app.settings(config({ noSuchSetting: 1 })));
      expect([name, e.code]).toEqual([name, 'ERR_CONFIG']);
      expect([name, e.message.split('\n')[0]]).toEqual([name, `invalid app settings for ${name}:`]);
      expect(e.message).toMatch(/^ {2}app: Unrecognized key\(s\) in object: 'noSuchSetting'$/m);
    }
  });
});
