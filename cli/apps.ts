// What the CLI knows about apps: `netstar apps` (one line each) and `netstar run <app> --help` (the app's
// settings, read from its zod schema: key paths, types, constraints, defaults).
import { z, type ZodTypeAny } from 'zod';
import { APPS } from '../reactor/app';
import { NetstarError } from '../native';
import { loadApp } from './runner';

/** The error for a name that is neither a built-in app nor a path: it lists the known apps. */
export function unknownAppError(name: string): NetstarError {
  return new NetstarError('ERR_CONFIG', `unknown app '${name}'; apps: ${Object.keys(APPS).join(', ')} (or a path to an app module; \`netstar apps\` says what each does)`);
}

/** Throws unknownAppError unless `name` is a built-in app or looks like a path to a module. */
export function checkAppName(name: string): void {
  const isPath = name.includes('/') || name.endsWith('.js');
  if (!isPath && !Object.prototype.hasOwnProperty.call(APPS, name)) throw unknownAppError(name);
}

/** `netstar apps`: one line per built-in app. */
export function appsListing(): string {
  const names = Object.keys(APPS);
  const w = Math.max(...names.map((n) => n.length));
  return names.map((n) => {
    const { app } = loadApp(n);
    return `${n.padEnd(w)}  ${app.description ?? '(no description)'}`;
  }).join('\n');
}

/** One settings entry: a key path (`ab.delayMs`, `backends[].ip`), its type text and default. */
export interface SettingLine { path: string; type: string; required: boolean; default?: string }

function numberText(d: z.ZodNumberDef): string {
  let t = 'number', lo: string | undefined, hi: string | undefined;
  for (const c of d.checks) {
    if (c.kind === 'int') t = 'integer';
    else if (c.kind === 'min') lo = `${c.inclusive ? '>=' : '>'} ${c.value}`;
    else if (c.kind === 'max') hi = `${c.inclusive ? '<=' : '<'} ${c.value}`;
  }
  const parts = [lo, hi].filter((x): x is string => x !== undefined);
  return parts.length ? `${t} (${parts.join(', ')})` : t;
}

function stringText(d: z.ZodStringDef): string {
  const notes: string[] = [];
  for (const c of d.checks) {
    if (c.kind === 'min' && c.value > 0) notes.push(`min length ${c.value}`);
    else if (c.kind === 'max') notes.push(`max length ${c.value}`);
    else if (c.kind === 'regex') notes.push(`matching ${c.regex.source}`);
  }
  return notes.length ? `string (${notes.join(', ')})` : 'string';
}

/** Strips wrappers that do not change the shape: defaults, optional, nullable, refinements. */
function unwrap(s: ZodTypeAny): { inner: ZodTypeAny; optional: boolean; def?: unknown; hasDefault: boolean } {
  let optional = false, hasDefault = false;
  let def: unknown;
  for (;;) {
    if (s instanceof z.ZodDefault) {
      if (!hasDefault) { hasDefault = true; def = (s._def as z.ZodDefaultDef).defaultValue(); }
      s = (s._def as z.ZodDefaultDef).innerType;
    } else if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
      optional = true;
      s = (s._def as { innerType: ZodTypeAny }).innerType;
    } else if (s instanceof z.ZodEffects) {
      s = (s._def as z.ZodEffectsDef).schema;
    } else if (s instanceof z.ZodLazy) {
      s = (s._def as z.ZodLazyDef).getter();
    } else if (s instanceof z.ZodBranded || s instanceof z.ZodReadonly || s instanceof z.ZodCatch) {
      s = (s._def as { innerType?: ZodTypeAny; type?: ZodTypeAny }).innerType ?? (s._def as { type: ZodTypeAny }).type;
    } else return { inner: s, optional, def, hasDefault };
  }
}

/** A short type text for one schema (objects are listed key by key by settingLines instead). */
export function typeText(schema: ZodTypeAny): string {
  const s = unwrap(schema).inner;
  if (s instanceof z.ZodNumber) return numberText(s._def);
  if (s instanceof z.ZodString) return stringText(s._def);
  if (s instanceof z.ZodBoolean) return 'boolean';
  if (s instanceof z.ZodEnum) return (s._def.values as string[]).map((v) => JSON.stringify(v)).join(' | ');
  if (s instanceof z.ZodNativeEnum) return Object.values(s._def.values as Record<string, unknown>).map((v) => JSON.stringify(v)).join(' | ');
  if (s instanceof z.ZodLiteral) return JSON.stringify(s._def.value);
  if (s instanceof z.ZodUnion || s instanceof z.ZodDiscriminatedUnion)
    return (s._def.options as ZodTypeAny[]).map((o) => typeText(o)).join(' | ');
  if (s instanceof z.ZodArray) {
    const el = unwrap(s._def.type).inner;
    return el instanceof z.ZodObject ? 'array of objects' : `array of ${typeText(el)}`;
  }
  if (s instanceof z.ZodTuple) return `[${(s._def.items as ZodTypeAny[]).map((i) => typeText(i)).join(', ')}]`;
  if (s instanceof z.ZodRecord) return `record of ${typeText(s._def.keyType)} to ${typeText(s._def.valueType)}`;
  if (s instanceof z.ZodObject) return 'object';
  if (s instanceof z.ZodUnknown || s instanceof z.ZodAny) return 'any';
  return s.constructor.name.replace(/^Zod/, '').toLowerCase();
}

/** Every setting of an object schema, depth first: nested objects and arrays of objects get their own lines. */
export function settingLines(schema: ZodTypeAny, prefix = ''): SettingLine[] {
  const out: SettingLine[] = [];
  const obj = unwrap(schema).inner;
  if (!(obj instanceof z.ZodObject)) return out;
  const shape = (obj as z.AnyZodObject).shape as Record<string, ZodTypeAny>;
  for (const [key, field] of Object.entries(shape)) {
    const u = unwrap(field);
    const path = prefix + key;
    const line: SettingLine = { path, type: typeText(field), required: !u.optional && !u.hasDefault };
    if (u.hasDefault) line.default = JSON.stringify(u.def);
    out.push(line);
    if (u.inner instanceof z.ZodObject) out.push(...settingLines(u.inner, `${path}.`));
    else if (u.inner instanceof z.ZodArray && unwrap(u.inner._def.type).inner instanceof z.ZodObject)
      out.push(...settingLines(u.inner._def.type, `${path}[].`));
  }
  return out;
}

/** `netstar run <app> --help`: the app's line and its settings table. */
export function appHelp(name: string): string {
  checkAppName(name);
  const { app } = loadApp(name);
  const head = `${app.name}: ${app.description ?? '(no description)'}\n\nusage: netstar run ${name} -c <config.json> [options]   (netstar run --help lists the options)\n`;
  if (!app.settingsSchema) return `${head}\nThis app does not publish a settings schema.`;
  const lines = settingLines(app.settingsSchema);
  if (lines.length === 0) return `${head}\nThis app has no settings.`;
  const w = Math.max(...lines.map((l) => l.path.length));
  const tw = Math.min(48, Math.max(...lines.map((l) => l.type.length)));
  const rows = lines.map((l) => {
    const tail = l.default !== undefined ? `default ${l.default}` : l.required ? 'required' : 'optional';
    return `  ${l.path.padEnd(w)}  ${l.type.padEnd(tw)}  ${tail}`;
  });
  return `${head}\nSettings (the config file's "app" section):\n${rows.join('\n')}`;
}
