// Bench plots: the SVG that `--plot` writes is well-formed XML (checked by Python's XML parser, not ours)
// and draws every series with every round's value.
import * as fs from 'fs';
import * as path from 'path';
import { runCommand } from '../../tools/proc';
import { tmpDir } from '../../tools/netstar';
import { plotData } from '../../bench/plot';
import type { BenchResult } from '../../bench/common';
import { reportMarkdown } from '../../bench/report';

const dir = tmpDir('plot');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const res: BenchResult = {
  bench: 'l2fwd', ours: 4.2, ref: 5.1, unit: 'Mpps', ratio: 0.824,
  rounds: [{ ours: 4.125, ref: 5.25 }, { ours: 4.2, ref: 5.1 }, { ours: 4.375, ref: 4.875 }],
  labels: { ours: 'netstar l2fwd', ref: 'testpmd mac' },
};

/** Parses the SVG with Python's ElementTree; prints, per series, the round→value pairs its points carry. */
const READER = `
import sys, json, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == '{http://www.w3.org/2000/svg}svg', root.tag
pts, texts = [], []
for el in root.iter():
    lab = el.get('aria-label')
    if lab and el.get('aria-roledescription') == 'point': pts.append(lab)
    if el.tag.endswith('}text') and el.text: texts.append(el.text)
lines = [el for el in root.iter() if el.get('aria-roledescription') == 'line mark container' or (el.get('class') or '').startswith('mark-line')]
print(json.dumps({'points': pts, 'texts': texts, 'lineGroups': len(lines)}))
`;

describe('bench --plot', () => {
  test('the SVG parses as XML and carries both series, every round', async () => {
    // vega ships as ES modules, which jest's sandbox cannot import: render in a real Node process
    const file = path.join(dir, 'l2fwd.svg'), input = path.join(dir, 'l2fwd.json');
    fs.writeFileSync(input, JSON.stringify(res));
    const p = await runCommand(process.execPath, [path.resolve(__dirname, '..', '..', 'bench', 'plot.js'), input, file], { timeoutMs: 60000 });
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    const r = await runCommand('/usr/bin/python3', ['-c', READER, file], { timeoutMs: 20000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = JSON.parse(r.stdout) as { points: string[]; texts: string[]; lineGroups: number };
    // one point per round and series, labelled with its values
    expect(got.points).toHaveLength(6);
    for (const [i, rr] of res.rounds!.entries()) {
      expect(got.points).toContain(`round: ${i + 1}; Mpps: ${rr.ours}; series: netstar l2fwd`);
      expect(got.points).toContain(`round: ${i + 1}; Mpps: ${rr.ref}; series: testpmd mac`);
    }
    // the legend names both series; the axis says the unit
    expect(got.texts).toEqual(expect.arrayContaining(['netstar l2fwd', 'testpmd mac', 'Mpps', 'round']));
    expect(got.lineGroups).toBeGreaterThan(0);
  });

  test('a result without per-round figures is refused by the plot command', async () => {
    const input = path.join(dir, 'none.json');
    fs.writeFileSync(input, JSON.stringify({ ...res, rounds: undefined }));
    const p = await runCommand(process.execPath, [path.resolve(__dirname, '..', '..', 'bench', 'plot.js'), input, path.join(dir, 'none.svg')], { timeoutMs: 60000 });
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/bench l2fwd reported no per-round figures/);
    expect(fs.existsSync(path.join(dir, 'none.svg'))).toBe(false);
  });

  test('extra series are plotted too; a result without rounds is refused', () => {
    const rows = plotData({ ...res, extraSeries: [{ name: 'offload off', values: [1, 2, 3] }] });
    expect(rows).toHaveLength(9);
    expect(rows.filter((x) => x.series === 'offload off').map((x) => x.value)).toEqual([1, 2, 3]);
    expect(() => plotData({ ...res, rounds: undefined })).toThrow(/no per-round figures/);
  });
});

describe('bench all --report', () => {
  test('the markdown table has every bench, its rounds and chart, and the failures', () => {
    const md = reportMarkdown([
      { name: 'l2fwd', result: res, seconds: 40 },
      { name: 'ovs-nat', error: 'Error: ovs-vswitchd did not start\n    at x', seconds: 3 },
    ], { command: 'npm run bench -- all --report r', when: new Date('2026-01-02T03:04:05Z'), plots: new Set(['l2fwd']) });
    const lines = md.split('\n');
    expect(lines[0]).toBe('# NetStar.ts benchmark report');
    expect(lines[2]).toMatch(/^2026-01-02T03:04:05\.000Z · `npm run bench -- all --report r` · /);
    expect(lines).toContain('| l2fwd (netstar l2fwd vs testpmd mac) | 4.20 | 5.10 | Mpps | 0.82 | 4.13 / 5.25, 4.20 / 5.10, 4.38 / 4.88 | [l2fwd.svg](l2fwd.svg) |');
    expect(lines).toContain('| ovs-nat | failed | | | | Error: ovs-vswitchd did not start | |');
    expect(lines).toContain('![l2fwd](l2fwd.svg)');
    expect(md).toMatch(/## Failures\n\n### ovs-nat\n\n```\nError: ovs-vswitchd did not start\n    at x\n```/);
  });
});
