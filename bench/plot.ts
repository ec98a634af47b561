// `npm run bench -- <name> --plot out.svg`: ours and the reference per round as an SVG line chart, a
// vega-lite spec compiled and rendered by vega in Node (no browser, no canvas).
import * as fs from 'fs';
import type { BenchResult } from './common';

/** vega and vega-lite ship as ES modules only: load them with a real dynamic import from CommonJS. */
const importEsm = new Function('s', 'return import(s)') as (s: string) => Promise<unknown>;

interface VegaLite { compile(spec: object): { spec: object } }
interface VegaView { toSVG(): Promise<string>; finalize(): void }
interface Vega { parse(spec: object): object; View: new (runtime: object, o: { renderer: 'none' }) => VegaView }

export interface PlotPoint { round: number; series: string; value: number }

/** The rows behind the chart: one per round and series. */
export function plotData(res: BenchResult): PlotPoint[] {
  if (!res.rounds || res.rounds.length === 0) throw new Error(`bench ${res.bench} reported no per-round figures to plot`);
  const ours = res.labels?.ours ?? 'netstar', ref = res.labels?.ref ?? 'reference';
  const rows: PlotPoint[] = [];
  res.rounds.forEach((r, i) => {
    rows.push({ round: i + 1, series: ours, value: r.ours });
    rows.push({ round: i + 1, series: ref, value: r.ref });
  });
  for (const x of res.extraSeries ?? []) x.values.forEach((v, i) => rows.push({ round: i + 1, series: x.name, value: v }));
  return rows;
}

export function plotSpec(res: BenchResult): object {
  const data = plotData(res);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `bench ${res.bench}: median ratio ${res.ratio.toFixed(2)}`, subtitle: `${res.labels?.ours ?? 'netstar'} vs ${res.labels?.ref ?? 'reference'}, ${res.unit} per round` },
    width: 480, height: 280,
    data: { values: data },
    mark: { type: 'line', point: { size: 60 }, tooltip: true },
    encoding: {
      x: { field: 'round', type: 'ordinal', title: 'round', axis: { labelAngle: 0 } },
      y: { field: 'value', type: 'quantitative', title: res.unit, scale: { zero: true } },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom' } },
    },
    config: { font: 'sans-serif' },
  };
}

/** Renders a vega-lite spec to an SVG document. */
export async function renderSvg(spec: object): Promise<string> {
  const vl = (await importEsm('vega-lite')) as VegaLite;
  const vega = (await importEsm('vega')) as Vega;
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes the per-round chart of a bench result to `file` (SVG). */
export async function plotBench(res: BenchResult, file: string): Promise<void> {
  const svg = await renderSvg(plotSpec(res));
  fs.writeFileSync(file, svg.startsWith('<?xml') ? svg : `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`);
}

// `node dist/bench/plot.js result.json out.svg`: charts a saved bench result (a BenchResult with rounds).
if (require.main === module) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    process.stderr.write('usage: node dist/bench/plot.js result.json out.svg\n');
    process.exit(2);
  }
  plotBench(JSON.parse(fs.readFileSync(input, 'utf8')) as BenchResult, output).then(() => process.exit(0), (e: unknown) => {
    process.stderr.write(`plot: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
