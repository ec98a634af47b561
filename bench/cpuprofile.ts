// Where a thread's time goes, from a V8 .cpuprofile (`node --cpu-prof`): self time per part of NetStar
// (stack, packet layer, runtime, app, native addon calls, GC, idle) and the top functions.
import * as fs from 'fs';
import * as path from 'path';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** self ms by category, largest first */
  categories: [string, number][];
  /** self ms by function (name file:line), largest first */
  top: [string, number][];
}

/** Which part of the system a frame belongs to. */
export function category(cf: CallFrame): string {
  const u = cf.url;
  if (cf.functionName === '(idle)') return 'idle (shard asleep)';
  if (cf.functionName === '(garbage collector)') return 'GC';
  if (cf.functionName === '(program)') return 'V8/native, unattributed';
  if (u.includes('/net/stack/')) return 'TCP/IP stack (JS)';
  if (u.includes('/apps/')) return 'app (JS)';
  // The fast-call wrappers of net/qp.js only set parameter words: their self time is the native call inside
  // (V8 attributes an addon call to its JS caller), i.e. the PMD's RX/TX, here af_packet's syscalls and copies.
  if (u.endsWith('/net/qp.js') && /^(rx|tx|txRx|ringPut|ringGet|free|alloc|copy)$/.test(cf.functionName)) return 'native rx/tx (DPDK PMD: af_packet syscalls, copies)';
  if (u.includes('/native/')) return 'native addon calls (DPDK rx/tx, af_packet, mbufs)';
  if (u.includes('/reactor/')) return 'runtime: poll loop, timers, tasks (JS)';
  if (u.includes('/net/')) return 'packet and queue layer (JS)';
  if (u.startsWith('node:') || u.startsWith('internal/')) return 'Node internals';
  if (u === '') return 'native addon calls (DPDK rx/tx, af_packet, mbufs)';
  return 'other JS';
}

export function summarize(file: string): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const cats = new Map<string, number>(), fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id)!.callFrame;
    const ms = us / 1000;
    total += ms;
    const c = category(cf);
    cats.set(c, (cats.get(c) ?? 0) + ms);
    const name = `${cf.functionName || '(anonymous)'} ${cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : ''}`.trim();
    fns.set(name, (fns.get(name) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return { file, totalMs: total, categories: sorted(cats), top: sorted(fns).slice(0, 20) };
}

/**
 * The profile of the busiest worker thread (`CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`, thread 0 is
 * the main thread; with one shard the only worker is the shard).
 */
export function shardProfile(dir: string): string | null {
  let best: string | null = null, bestBusy = -1;
  for (const f of fs.readdirSync(dir)) {
    const m = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(f);
    if (!m || m[1] === '0') continue;
    const s = summarize(path.join(dir, f));
    const busy = s.totalMs - (s.categories.find(([c]) => c.startsWith('idle'))?.[1] ?? 0);
    if (busy > bestBusy) { best = path.join(dir, f); bestBusy = busy; }
  }
  return best;
}

/** Text for a report: categories as % of the busy (non-idle) time, then the top functions. */
export function formatSummary(s: ProfileSummary, requests?: number): string {
  const idle = s.categories.find(([c]) => c.startsWith('idle'))?.[1] ?? 0;
  const busy = s.totalMs - idle;
  const lines = [`profile ${path.basename(s.file)}: ${s.totalMs.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms busy${requests ? `, ${(busy * 1000 / requests).toFixed(2)} µs busy per request` : ''}`];
  for (const [c, ms] of s.categories) {
    if (c.startsWith('idle')) continue;
    lines.push(`  ${((100 * ms) / busy).toFixed(1).padStart(5)} %  ${c}${requests ? `  (${(ms * 1000 / requests).toFixed(2)} µs/request)` : ''}`);
  }
  lines.push('  top functions (self time):');
  for (const [f, ms] of s.top) if (!f.startsWith('(idle)')) lines.push(`  ${((100 * ms) / busy).toFixed(1).padStart(5)} %  ${f}`);
  return lines.join('\n');
}
