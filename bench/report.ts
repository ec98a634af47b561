// `npm run bench -- all --report <dir>`: every benchmark in turn, then <dir>/report.md (the table of ours vs
// reference, per-round figures, the command and machine) with one SVG chart per bench beside it.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BenchResult } from './common';
import { plotBench } from './plot';

export interface BenchOutcome { name: string; result?: BenchResult; error?: string; seconds: number }

function fmt(x: number): string {
  return Math.abs(x) >= 1000 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** The markdown of a report (charts named `<bench>.svg` next to it). */
export function reportMarkdown(outcomes: BenchOutcome[], o: { command: string; when: Date; plots: Set<string> }): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '# NetStar.ts benchmark report',
    '',
    `${o.when.toISOString()} · \`${o.command}\` · ${os.cpus().length} × ${cpu} · Node ${process.version} · load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
    '',
    '| bench | ours | reference | unit | ratio | rounds (ours / reference) | chart |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const b of outcomes) {
    if (!b.result) {
      lines.push(`| ${b.name} | failed | | | | ${(b.error ?? '').split('\n')[0].replace(/\|/g, '\\|').slice(0, 200)} | |`);
      continue;
    }
    const r = b.result;
    const rounds = (r.rounds ?? []).map((x) => `${fmt(x.ours)} / ${fmt(x.ref)}`).join(', ');
    const who = r.labels ? ` (${r.labels.ours} vs ${r.labels.ref})` : '';
    lines.push(`| ${b.name}${who} | ${fmt(r.ours)} | ${fmt(r.ref)} | ${r.unit} | ${r.ratio.toFixed(2)} | ${rounds} | ${o.plots.has(b.name) ? `[${b.name}.svg](${b.name}.svg)` : ''} |`);
  }
  lines.push('');
  for (const b of outcomes) if (o.plots.has(b.name)) lines.push(`![${b.name}](${b.name}.svg)`, '');
  const failed = outcomes.filter((b) => !b.result);
  if (failed.length) {
    lines.push('## Failures', '');
    for (const b of failed) lines.push(`### ${b.name}`, '', '```', (b.error ?? '').slice(0, 4000), '```', '');
  }
  return lines.join('\n');
}

/** Runs the benches one after the other (a failure is recorded and the rest still run); writes the report. */
export async function runReport(benches: Record<string, () => Promise<unknown>>, dir: string, command: string): Promise<BenchOutcome[]> {
  fs.mkdirSync(dir, { recursive: true });
  const outcomes: BenchOutcome[] = [];
  const plots = new Set<string>();
  for (const [name, run] of Object.entries(benches)) {
    process.stdout.write(`\n== bench ${name} ==\n`);
    const t0 = Date.now();
    try {
      const result = (await run()) as BenchResult;
      outcomes.push({ name, result, seconds: (Date.now() - t0) / 1000 });
      if (result.rounds?.length) {
        await plotBench(result, path.join(dir, `${name}.svg`));
        plots.add(name);
      }
    } catch (e) {
      outcomes.push({ name, error: (e as Error)?.stack ?? String(e), seconds: (Date.now() - t0) / 1000 });
      process.stdout.write(`bench ${name} failed: ${(e as Error)?.message ?? String(e)}\n`);
    }
  }
  fs.writeFileSync(path.join(dir, 'report.md'), reportMarkdown(outcomes, { command, when: new Date(), plots }));
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(outcomes.map((b) => ({ name: b.name, seconds: b.seconds, ...(b.result ?? { error: b.error }) })), null, 2) + '\n');
  return outcomes;
}
