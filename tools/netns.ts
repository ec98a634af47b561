// Topologies in Linux network namespaces for tests, the demo and benches: namespaces, veth pairs (both ends
// always in test namespaces), addresses from 198.18.0.0/15, commands and children inside them, guaranteed removal.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import {
  ManagedProcess,
  registerJestAfterAll,
  runCommand,
  runCommandSync,
  type RunResult,
  type StartOptions,
} from './proc';

/** Every namespace made by this helper is named `nst<pid>-<token>-<label>-<name>`. */
export const NETNS_PREFIX = 'nst';

const NAME_RE = /^[A-Za-z0-9_]{1,16}$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
/** Bound on every `ip`/`ethtool` call made by the helper itself. */
const ADMIN_TIMEOUT_MS = 10000;

/** Options for {@link Topology.veth}. */
export interface VethOptions {
  /** MTU of both ends. */
  mtu?: number;
  /** MAC address of the first / second end (default: random from the kernel). */
  macA?: string;
  macB?: string;
  /** Turn off TSO/GSO/GRO and checksum offloads on both ends (see {@link Topology.disableOffloads}). */
  disableOffloads?: boolean;
}

/** Options for {@link Topology.exec}. */
export interface ExecOptions {
  /** Deadline; the command is killed with SIGKILL and the call rejects when it passes. Default 10000. */
  timeoutMs?: number;
  /** Reject when the exit code is not 0. Default false. */
  check?: boolean;
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const liveTopologies = new Set<Topology>();
let staleCleaned = false;

/** Whether `pid` is a running process (a zombie counts as dead). */
function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    return stat.charAt(close + 2) !== 'Z';
  } catch {
    return false;
  }
}

function parseNetnsList(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

function ownerPid(nsName: string): number | undefined {
  const m = /^[A-Za-z]+(\d+)-/.exec(nsName);
  return m ? Number(m[1]) : undefined;
}

function checkCidr(cidr: string): void {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (v4) {
    const octets = v4.slice(1, 5).map(Number);
    const len = Number(v4[5]);
    if (octets.some((o) => o > 255) || len > 32) throw new Error(`bad IPv4 address ${cidr}`);
    if (octets[0] !== 198 || (octets[1] !== 18 && octets[1] !== 19)) {
      throw new Error(`test addresses must come from 198.18.0.0/15, got ${cidr}`);
    }
    return;
  }
  // IPv6: the benchmarking range 2001:2::/48 (RFC 5180) or link-local.
  if (/^(2001:2:(0{0,4}:|:)|fe80:)[0-9a-f:]*\/\d{1,3}$/i.test(cidr)) return;
  throw new Error(`test addresses must be IPv4 from 198.18.0.0/15 (or IPv6 from 2001:2::/48), got ${cidr}`);
}

/**
 * A set of network namespaces joined by veth pairs, owned by one test. Namespace names get a unique
 * per-topology prefix; interface names are chosen by the test (≤ 15 chars) and live inside the namespaces,
 * so they never clash. `destroy()` kills spawned children and everything else running in the namespaces,
 * then deletes the namespaces (which deletes their veths). A topology still alive when its jest test file
 * ends, or when Node exits or gets SIGINT/SIGTERM/SIGHUP, is destroyed then; namespaces left by a process
 * that no longer exists are removed by the first `create` of the next run.
 */
export class Topology {
  /** Full namespace names start with this, e.g. `nst4242-k3f9x-l2-`. */
  readonly prefix: string;
  private readonly namespaces = new Map<string, string>();
  private readonly children = new Set<ManagedProcess>();
  private destroying: Promise<void> | undefined;

  private constructor(readonly label: string) {
    const token = randomBytes(4).readUInt32BE(0).toString(36).slice(0, 5).padStart(5, '0');
    const safe = label.replace(/[^A-Za-z0-9]/g, '').slice(0, 12) || 't';
    this.prefix = `${NETNS_PREFIX}${process.pid}-${token}-${safe}-`;
  }

  /** Makes an empty topology; the first call in a process also cleans namespaces of dead earlier runs. */
  static async create(label = 'topo'): Promise<Topology> {
    if (!staleCleaned) {
      staleCleaned = true;
      await Topology.cleanupStale(NETNS_PREFIX);
    }
    const topo = new Topology(label);
    liveTopologies.add(topo);
    installExitHooks();
    return topo;
  }

  /** Names of all network namespaces on the machine (`ip netns list`). */
  static async listNamespaces(): Promise<string[]> {
    const r = await runCommand('ip', ['netns', 'list'], { timeoutMs: ADMIN_TIMEOUT_MS, check: true });
    return parseNetnsList(r.stdout);
  }

  /**
   * Deletes namespaces whose names start with `prefix` and whose owner process (the pid in the name) no
   * longer exists, killing whatever still runs in them. Returns the names removed.
   */
  static async cleanupStale(prefix: string = NETNS_PREFIX): Promise<string[]> {
    const stale = (await Topology.listNamespaces()).filter((n) => {
      if (!n.startsWith(prefix)) return false;
      const pid = ownerPid(n);
      return pid !== undefined && pid !== process.pid && !pidAlive(pid);
    });
    for (const ns of stale) await removeNamespace(ns);
    return stale;
  }

  /** Destroys every topology of this module instance that is still alive. */
  static async destroyAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const t of [...liveTopologies]) {
      try {
        await t.destroy();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'Topology.destroyAll failed');
  }

  /** The full (machine-wide) name of the topology namespace called `name` here. */
  nsName(name: string): string {
    const full = this.namespaces.get(name);
    if (full === undefined) throw new Error(`topology ${this.label}: no namespace '${name}' (create it with ns())`);
    return full;
  }

  /** Namespaces of this topology, short name → full name. */
  namespaceNames(): ReadonlyMap<string, string> {
    return this.namespaces;
  }

  /** Creates namespace `name` with `lo` up; returns its full name (for `ip netns exec` and the like). */
  async ns(name: string): Promise<string> {
    this.assertAlive();
    if (!NAME_RE.test(name)) throw new Error(`bad namespace name '${name}' (want [A-Za-z0-9_]{1,16})`);
    if (this.namespaces.has(name)) throw new Error(`topology ${this.label}: namespace '${name}' exists`);
    const full = this.prefix + name;
    // Registered before creation so that destroy() removes it even if a later step fails.
    this.namespaces.set(name, full);
    await admin(['netns', 'add', full]);
    await admin(['-n', full, 'link', 'set', 'lo', 'up']);
    return full;
  }

  /**
   * Creates a veth pair `ifA`@`nsA` ↔ `ifB`@`nsB`. The ends are created directly inside their namespaces
   * (never in the root namespace), then given the MTU / MACs asked for and brought up.
   */
  async veth(nsA: string, ifA: string, nsB: string, ifB: string, opts: VethOptions = {}): Promise<void> {
    this.assertAlive();
    const a = this.nsName(nsA);
    const b = this.nsName(nsB);
    for (const i of [ifA, ifB]) {
      if (!IFNAME_RE.test(i)) throw new Error(`bad interface name '${i}' (1..15 of [A-Za-z0-9_.-])`);
    }
    for (const m of [opts.macA, opts.macB]) {
      if (m !== undefined && !MAC_RE.test(m)) throw new Error(`bad MAC address '${m}'`);
    }
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65535)) {
      throw new Error(`bad MTU ${opts.mtu}`);
    }
    const args = ['-n', a, 'link', 'add', ifA];
    if (opts.macA !== undefined) args.push('address', opts.macA);
    if (opts.mtu !== undefined) args.push('mtu', String(opts.mtu));
    args.push('type', 'veth', 'peer', 'name', ifB);
    if (opts.macB !== undefined) args.push('address', opts.macB);
    if (opts.mtu !== undefined) args.push('mtu', String(opts.mtu));
    args.push('netns', b);
    await admin(args);
    if (opts.disableOffloads) {
      await this.disableOffloads(nsA, ifA);
      await this.disableOffloads(nsB, ifB);
    }
    await admin(['-n', a, 'link', 'set', ifA, 'up']);
    await admin(['-n', b, 'link', 'set', ifB, 'up']);
  }

  /** Adds an address (`198.18.0.1/24`; must lie in 198.18.0.0/15) to `ifname` in `ns`. */
  async addr(ns: string, ifname: string, cidr: string): Promise<void> {
    this.assertAlive();
    checkCidr(cidr);
    await admin(['-n', this.nsName(ns), 'addr', 'add', cidr, 'dev', ifname]);
  }

  /** Runs `ip <args>` inside `ns` (e.g. `['route', 'add', 'default', 'via', '198.18.0.1']`); rejects on failure. */
  async ip(ns: string, args: readonly string[]): Promise<RunResult> {
    this.assertAlive();
    return admin(['-n', this.nsName(ns), ...args]);
  }

  /** Sets a per-namespace sysctl, e.g. `sysctl('r', 'net.ipv4.ip_forward', '1')`. */
  async sysctl(ns: string, key: string, value: string): Promise<void> {
    if (!/^net\.[A-Za-z0-9_.-]+$/.test(key) || key.includes('..')) throw new Error(`bad net sysctl key '${key}'`);
    const file = `/proc/sys/${key.replace(/\./g, '/')}`;
    await this.exec(ns, 'sh', ['-c', 'printf "%s\\n" "$1" > "$2"', 'sh', value, file], { check: true });
  }

  /** MAC address of `ifname` in `ns` (lower case, colon separated). */
  async mac(ns: string, ifname: string): Promise<string> {
    const r = await this.ip(ns, ['-j', 'link', 'show', 'dev', ifname]);
    const parsed: unknown = JSON.parse(r.stdout);
    const first: unknown = Array.isArray(parsed) ? parsed[0] : undefined;
    const address = (first as { address?: unknown } | undefined)?.address;
    if (typeof address !== 'string' || !MAC_RE.test(address)) {
      throw new Error(`no MAC address for ${ifname} in ${ns}: ${r.stdout}`);
    }
    return address.toLowerCase();
  }

  /**
   * `ethtool -K <if> tso off gso off gro off tx off rx off` in `ns`: without it veth hands a user-space
   * reader (AF_PACKET) oversized TSO/GSO frames and packets with partial checksums.
   */
  async disableOffloads(ns: string, ifname: string): Promise<void> {
    await this.exec(ns, 'ethtool', ['-K', ifname, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rx', 'off'], {
      check: true,
    });
  }

  /**
   * Runs `cmd args` inside `ns` (`ip netns exec`) to completion with a deadline; resolves with the exit
   * code and output (rejects on timeout, or on a non-zero exit with `check`).
   */
  async exec(ns: string, cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<RunResult> {
    this.assertAlive();
    return runCommand('ip', ['netns', 'exec', this.nsName(ns), cmd, ...args], {
      timeoutMs: opts.timeoutMs ?? 10000,
      check: opts.check,
      input: opts.input,
      env: opts.env,
      cwd: opts.cwd,
    });
  }

  /**
   * Starts a long-running `cmd args` inside `ns` in its own process group. It is killed (whole group) by
   * `destroy()` if still running; stop it earlier with `.stop()` (SIGINT, deadline, then SIGKILL).
   */
  spawn(ns: string, cmd: string, args: readonly string[] = [], opts: StartOptions = {}): ManagedProcess {
    this.assertAlive();
    const child = new ManagedProcess('ip', ['netns', 'exec', this.nsName(ns), cmd, ...args], {
      name: `${cmd} ${args.join(' ')} [${ns}]`,
      ...opts,
      detached: true,
    });
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  /**
   * Kills spawned children (SIGKILL to their process groups) and anything else still running in the
   * namespaces, then deletes the namespaces and checks they are gone. Idempotent; keeps going past
   * errors and reports them all at the end.
   */
  destroy(): Promise<void> {
    if (!this.destroying) this.destroying = this.doDestroy();
    return this.destroying;
  }

  /** True once destroy() has been called. */
  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  private async doDestroy(): Promise<void> {
    const errors: string[] = [];
    const kids = [...this.children];
    for (const c of kids) c.kill();
    await Promise.all(kids.map((c) => c.stop({ signal: 'SIGKILL', timeoutMs: 3000 })));
    for (const full of this.namespaces.values()) {
      try {
        await removeNamespace(full);
      } catch (e) {
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    liveTopologies.delete(this);
    if (liveTopologies.size === 0) removeExitHooks();
    if (errors.length > 0) throw new Error(`topology ${this.label}: destroy failed: ${errors.join('; ')}`);
  }

  /** Synchronous destroy for exit and signal handlers. Never throws. */
  destroySync(): void {
    for (const c of this.children) c.kill();
    for (const full of this.namespaces.values()) {
      const pids = runCommandSync('ip', ['netns', 'pids', full], 3000);
      for (const p of pids.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      runCommandSync('ip', ['netns', 'del', full], 5000);
    }
    this.destroying ??= Promise.resolve();
    liveTopologies.delete(this);
  }

  private assertAlive(): void {
    if (this.destroying) throw new Error(`topology ${this.label} is destroyed`);
  }
}

/** `ip <args>` with the admin deadline; rejects on failure. */
function admin(args: readonly string[]): Promise<RunResult> {
  return runCommand('ip', args, { timeoutMs: ADMIN_TIMEOUT_MS, check: true });
}

async function pidsIn(ns: string): Promise<number[]> {
  const r = await runCommand('ip', ['netns', 'pids', ns], { timeoutMs: ADMIN_TIMEOUT_MS });
  if (r.code !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** Kills every process in `ns`, deletes it, and checks it is gone. A missing namespace is fine. */
async function removeNamespace(ns: string): Promise<void> {
  if (!(await Topology.listNamespaces()).includes(ns)) return;
  // A namespace stays alive (with its veths) while a process is in it, so empty it first.
  const deadline = Date.now() + 5000;
  for (;;) {
    const pids = (await pidsIn(ns)).filter((p) => p !== process.pid);
    if (pids.length === 0) break;
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(',')} in ${ns} survive SIGKILL`);
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const r = await runCommand('ip', ['netns', 'del', ns], { timeoutMs: ADMIN_TIMEOUT_MS });
  if ((await Topology.listNamespaces()).includes(ns)) {
    throw new Error(`cannot delete namespace ${ns}: ${r.stderr.trim()}`);
  }
}

/**
 * Creates a topology, runs `fn` with it, and destroys it whatever happens. An error from `fn` wins over
 * one from the cleanup (which is then printed).
 */
export async function withTopology<T>(label: string, fn: (topo: Topology) => Promise<T>): Promise<T> {
  const topo = await Topology.create(label);
  let result: T;
  try {
    result = await fn(topo);
  } catch (e) {
    try {
      await topo.destroy();
    } catch (cleanupError) {
      console.error(`withTopology(${label}): cleanup after failure also failed:`, cleanupError);
    }
    throw e;
  }
  await topo.destroy();
  return result;
}

// ---- last-resort cleanup -------------------------------------------------------------------------

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let hooksInstalled = false;

function destroyAllSync(): void {
  for (const t of [...liveTopologies]) t.destroySync();
}

function onExit(): void {
  destroyAllSync();
}

function onSignal(sig: NodeJS.Signals): void {
  destroyAllSync();
  removeExitHooks();
  // If nobody else handles this signal, die of it as the default action would have.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function removeExitHooks(): void {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

// Under jest the sandboxed `process` never sees 'exit' or signals: destroy leftovers when the file ends.
registerJestAfterAll(async () => {
  if (liveTopologies.size > 0) {
    console.warn(`netns: ${liveTopologies.size} topology(ies) not destroyed by the test; destroying them`);
  }
  await Topology.destroyAll();
});
