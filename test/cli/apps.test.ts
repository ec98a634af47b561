// The CLI says what it has: `netstar apps`, an unknown app named before any config is read, and
// `netstar run <app> --help` printing the app's settings from its zod schema.
import * as path from 'path';
import { z } from 'zod';
import { runCli } from '../../tools/proc';
import { APPS, type AppModule } from '../../reactor/app';
import { settingLines, typeText } from '../../cli/apps';

const names = Object.keys(APPS);
function moduleOf(name: string): AppModule {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (require(path.resolve(__dirname, '..', '..', APPS[name])) as { default: AppModule }).default;
}

describe('netstar apps', () => {
  test('lists every registered app with its own description, one line each', async () => {
    const r = await runCli(['apps'], { timeoutMs: 30000 });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(names.length);
    for (const [i, n] of names.entries()) {
      const d = moduleOf(n).description;
      expect(typeof d).toBe('string');
      expect(d!.length).toBeGreaterThan(10);
      expect(lines[i]).toMatch(new RegExp(`^${n} +${d!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    }
  });

  test('every app publishes a settings schema that accepts an empty section or names what is required', () => {
    for (const n of names) {
      const s = moduleOf(n).settingsSchema;
      expect(s).toBeDefined();
      const lines = settingLines(s!);
      // An app without settings (l3reflect) publishes an empty schema: {} is its only valid section.
      if (lines.length === 0) {
        expect([n, s!.safeParse({}).success, s!.safeParse({ x: 1 }).success]).toEqual([n, true, false]);
        continue;
      }
      const required = lines.filter((l) => l.required && !l.path.includes('.') && !l.path.includes('['));
      const r = s!.safeParse({});
      // an empty section is valid exactly when no top-level key is required
      expect(r.success).toBe(required.length === 0);
      if (!r.success) expect(new Set(r.error.issues.map((i) => String(i.path[0])))).toEqual(new Set(required.map((l) => l.path)));
    }
  });
});

describe('netstar run <unknown app>', () => {
  test.each([
    ['without a config', ['run', 'nosuchapp']],
    ['with a config file that does not exist (never read)', ['run', 'nosuchapp', '-c', '/nonexistent/netstar.json']],
  ])('%s: names the app and lists the known ones', async (_what, args) => {
    const r = await runCli(args, { timeoutMs: 30000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown app 'nosuchapp'/);
    for (const n of names) expect(r.stderr).toContain(n);
    expect(r.stderr).not.toMatch(/config file|Required/);
  });

  test('a known app without -c asks for the config file', async () => {
    const r = await runCli(['run', 'l2fwd'], { timeoutMs: 30000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a config file is needed \(-c <file>\)/);
  });
});

describe('netstar run <app> --help', () => {
  test('httpd: every key with type, constraints and default', async () => {
    const r = await runCli(['run', 'httpd', '--help'], { timeoutMs: 30000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^httpd: HTTP\/1\.1 server/);
    expect(r.stdout).toMatch(/^ {2}port +integer \(>= 1, <= 65535\) +default 80$/m);
    expect(r.stdout).toMatch(/^ {2}portIndex +integer \(>= 0\) +default 0$/m);
    expect(r.stdout).toMatch(/^ {2}routes +record of string to string +default \{"\/":"hello from netstar\\n"\}$/m);
    expect(r.stdout).toMatch(/^ {2}root +string +optional$/m);
    expect(r.stdout).toMatch(/^ {2}keepAliveTimeoutMs +integer \(>= 100\) +default 15000$/m);
  });

  test('linkem: nested objects are listed by key path', async () => {
    const r = await runCli(['run', 'linkem', '--help'], { timeoutMs: 30000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}ab\.delayMs +number \(>= 0, <= 10000\) +default 0$/m);
    expect(r.stdout).toMatch(/^ {2}ba\.burst\.p +number \(>= 0, <= 1\) +required$/m);
    expect(r.stdout).toMatch(/^ {2}ba\.burst +object +optional$/m);
    expect(r.stdout).toMatch(/^ {2}seed +integer +default 1$/m);
  });

  test('an unknown app with --help is named as unknown', async () => {
    const r = await runCli(['run', 'nosuchapp', '--help'], { timeoutMs: 30000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown app 'nosuchapp'/);
  });

  test('run --help without an app lists the options and the apps', async () => {
    const r = await runCli(['run', '--help'], { timeoutMs: 30000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/-c, --config <file>/);
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^ {2}${n} `, 'm'));
  });
});

describe('schema introspection', () => {
  test('types, wrappers and array-of-object paths', () => {
    const s = z.object({
      a: z.number().int().min(1).max(9).default(3),
      b: z.enum(['x', 'y']).optional(),
      c: z.array(z.object({ d: z.string().regex(/^q+$/), e: z.boolean().default(false) })).default([]),
      f: z.string().refine((v) => v.length > 0, 'non-empty'),
      g: z.union([z.literal('all'), z.number()]),
      h: z.tuple([z.number().int(), z.number().int()]),
    }).strict();
    expect(settingLines(s)).toEqual([
      { path: 'a', type: 'integer (>= 1, <= 9)', required: false, default: '3' },
      { path: 'b', type: '"x" | "y"', required: false },
      { path: 'c', type: 'array of objects', required: false, default: '[]' },
      { path: 'c[].d', type: 'string (matching ^q+$)', required: true },
      { path: 'c[].e', type: 'boolean', required: false, default: 'false' },
      { path: 'f', type: 'string', required: true },
      { path: 'g', type: '"all" | number', required: true },
      { path: 'h', type: '[integer, integer]', required: true },
    ]);
    expect(typeText(z.number().gt(0).lt(1))).toBe('number (> 0, < 1)');
  });
});
