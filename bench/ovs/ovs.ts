// A private, throw-away OVS-DPDK (Debian's openvswitch-switch-dpdk, userspace datapath) for benchmarks:
// installs the package on demand, runs ovsdb-server and ovs-vswitchd as children of this process with
// their own run/db/log directory (no systemd, nothing under /etc or /var/run/openvswitch), and stops and
// removes everything again, also on failure and on SIGINT/SIGTERM.
import { ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** The DPDK build of ovs-vswitchd in openvswitch-switch-dpdk; we run it by this path whatever the alternative says. */
export const OVS_VSWITCHD_DPDK = '/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk';
const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
const TOOLS = ['ovsdb-tool', 'ovsdb-server', 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl'];
const INSTALL_HINT = 'apt-get install -y openvswitch-switch-dpdk && update-alternatives --set ovs-vswitchd /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk';

/** Thrown when OVS-DPDK cannot be had or cannot run here; the message says why. */
export class OvsUnavailable extends Error {}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function missing(): string[] {
  const m = TOOLS.filter((t) => !which(t));
  if (!fs.existsSync(OVS_VSWITCHD_DPDK)) m.push(OVS_VSWITCHD_DPDK);
  if (!fs.existsSync(OVS_SCHEMA)) m.push(OVS_SCHEMA);
  return m;
}

/** The system's own OVS daemons (started by a package's postinst where a service manager runs), if alive. */
function systemDaemons(): number[] {
  const pids: number[] = [];
  for (const f of ['/var/run/openvswitch/ovs-vswitchd.pid', '/var/run/openvswitch/ovsdb-server.pid']) {
    try {
      const pid = Number(fs.readFileSync(f, 'utf8').trim());
      if (pid > 0) {
        process.kill(pid, 0);
        pids.push(pid);
      }
    } catch {
      // no pidfile or no such process
    }
  }
  return pids;
}

/**
 * Makes sure OVS with DPDK is installed (apt-get on demand, as root) and that the `ovs-vswitchd`
 * alternative is the DPDK build. Returns the version line of the DPDK ovs-vswitchd. Throws
 * {@link OvsUnavailable} with a clear message when that cannot be done.
 */
export function ensureOvsDpdk(log: (s: string) => void): string {
  if (missing().length > 0) {
    if (process.getuid && process.getuid() !== 0) {
      throw new OvsUnavailable(`OVS-DPDK is not installed (${missing().join(', ')} missing) and installing it needs root: ${INSTALL_HINT}`);
    }
    log('OVS-DPDK is not installed: apt-get install -y openvswitch-switch-dpdk ...\n');
    const before = systemDaemons();
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const apt = (args: string[]): { ok: boolean; out: string } => {
      const r = spawnSync('apt-get', args, { env, encoding: 'utf8', maxBuffer: 64 << 20 });
      return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
    };
    let r = apt(['install', '-y', '--no-install-recommends', 'openvswitch-switch-dpdk']);
    if (!r.ok) {
      // An old or missing package list: refresh once and try again.
      apt(['update']);
      r = apt(['install', '-y', '--no-install-recommends', 'openvswitch-switch-dpdk']);
    }
    // Where invoke-rc.d is allowed to start services, the postinst starts the system's OVS (on
    // /etc/openvswitch/conf.db): it was started by this install, so stop it again.
    const started = systemDaemons().filter((p) => !before.includes(p));
    if (started.length > 0) {
      log(`stopping the system OVS daemons the package install started (${started.join(', ')})\n`);
      spawnSync('/usr/share/openvswitch/scripts/ovs-ctl', ['stop'], { stdio: 'ignore' });
      for (const p of systemDaemons().filter((q) => started.includes(q))) {
        try { process.kill(p, 'SIGTERM'); } catch { /* gone */ }
      }
    }
    if (!r.ok || missing().length > 0) {
      throw new OvsUnavailable(`could not install openvswitch-switch-dpdk (${missing().join(', ')} still missing):\n${r.out.slice(-1500)}\nInstall it by hand: ${INSTALL_HINT}`);
    }
  }
  // The alternative, as the package documents it; we run the DPDK binary by its path anyway.
  let current = '';
  try { current = fs.realpathSync('/usr/sbin/ovs-vswitchd'); } catch { /* no alternative yet */ }
  if (current !== OVS_VSWITCHD_DPDK) {
    const r = spawnSync('update-alternatives', ['--set', 'ovs-vswitchd', OVS_VSWITCHD_DPDK], { encoding: 'utf8' });
    if (r.status !== 0) log(`warning: update-alternatives --set ovs-vswitchd ${OVS_VSWITCHD_DPDK} failed (${(r.stderr ?? '').trim()}); running the DPDK build by its path\n`);
  }
  let version = '';
  try {
    version = execFileSync(OVS_VSWITCHD_DPDK, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  } catch (e) {
    throw new OvsUnavailable(`${OVS_VSWITCHD_DPDK} --version failed: ${(e as Error).message}`);
  }
  if (!/DPDK/.test(version)) throw new OvsUnavailable(`${OVS_VSWITCHD_DPDK} is not built with DPDK:\n${version}`);
  return version.split('\n').filter((l) => l.trim() !== '').join(', ');
}

export interface OvsDpdkOptions {
  /** private directory for the database, sockets, pidfiles and logs (created if missing) */
  dir: string;
  /** bridge name: also the name of the bridge's internal (tap) port in the kernel, so keep it unique, ≤ 15 chars */
  bridge: string;
  /** EAL --file-prefix */
  filePrefix: string;
  /** EAL main lcore (OVS's non-PMD threads) */
  mainCore: number;
  /** the one PMD core */
  pmdCore: number;
  /** EAL -m, MB of (non-huge) memory */
  memoryMb: number;
  /** EAL --vdev values */
  vdevs: string[];
  /** the bridge's DPDK ports: name, devargs, OpenFlow port number */
  ports: { name: string; devargs: string; ofport: number }[];
}

interface Daemon { name: string; child: ChildProcess; exited: Promise<number | null>; done: boolean; how: string; stderr: string; ctl: string }

/** Work to do when a signal stops the process while OVS runs (after OVS is stopped), e.g. removing temp files. */
const abortHooks = new Set<() => void>();
export function onAbort(f: () => void): () => void {
  abortHooks.add(f);
  return () => { abortHooks.delete(f); };
}

/** Child processes alive in this process, killed (SIGKILL) if it exits without stopping them. */
const alive = new Set<ChildProcess>();
/** Bridges (persistent taps) of instances not yet stopped, deleted by the same exit hook. */
const bridges = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of alive) {
      try { c.kill('SIGKILL'); } catch { /* gone */ }
    }
    for (const b of bridges) if (fs.existsSync(`/sys/class/net/${b}`)) spawnSync('ip', ['link', 'delete', b], { stdio: 'ignore' });
  });
}

/** A private OVS-DPDK instance: one netdev bridge with DPDK ports, PMD on one core. */
export class OvsDpdk {
  private daemons: Daemon[] = [];
  private readonly env: NodeJS.ProcessEnv;
  private readonly sock: string;
  private onSignal: ((sig: NodeJS.Signals) => void) | null = null;
  private stopped = false;

  private constructor(readonly o: OvsDpdkOptions) {
    this.sock = path.join(o.dir, 'db.sock');
    this.env = { ...process.env, OVS_RUNDIR: o.dir, OVS_DBDIR: o.dir, OVS_LOGDIR: o.dir, OVS_SYSCONFDIR: o.dir };
  }

  /** The EAL arguments OVS gets (other_config:dpdk-extra). */
  static dpdkExtra(o: OvsDpdkOptions): string {
    // OVS 3.1 appends --in-memory unless --legacy-mem is given, and DPDK refuses --in-memory with
    // --no-huge (which implies legacy memory): so --no-huge needs an explicit --legacy-mem.
    // -l pins the EAL main thread (OVS would take the first core of its affinity otherwise).
    return ['--no-huge', '--legacy-mem', '-m', String(o.memoryMb), '--no-pci', `--file-prefix=${o.filePrefix}`,
      '-l', String(o.mainCore), '--log-level=error', ...o.vdevs.map((v) => `--vdev=${v}`)].join(' ');
  }

  /** Creates the database, starts both daemons, configures DPDK, the bridge and its ports; stops everything if any step fails. */
  static async start(o: OvsDpdkOptions): Promise<OvsDpdk> {
    for (const v of o.vdevs) if (/\s/.test(v)) throw new Error(`vdev '${v}' has white space (OVS splits dpdk-extra on spaces)`);
    fs.mkdirSync(o.dir, { recursive: true });
    const ovs = new OvsDpdk(o);
    ovs.trapSignals();
    bridges.add(o.bridge);
    try {
      await ovs.startAll();
      return ovs;
    } catch (e) {
      await ovs.stop();
      throw e;
    }
  }

  private trapSignals(): void {
    installExitHook();
    // A signal while OVS runs: stop OVS (and wait for it), run the abort hooks, die as the signal asks.
    // A second signal finds no listener and kills at once (the exit hook SIGKILLs what is left).
    this.onSignal = (sig) => {
      const code = sig === 'SIGINT' ? 130 : 143;
      process.stderr.write(`${sig}: stopping OVS\n`);
      void this.stop().finally(() => {
        for (const f of abortHooks) {
          try { f(); } catch { /* best effort */ }
        }
        process.exit(code);
      });
    };
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  private async startAll(): Promise<void> {
    const { dir, bridge } = this.o;
    const db = path.join(dir, 'conf.db');
    fs.rmSync(db, { force: true });
    await this.run('ovsdb-tool', ['create', db, OVS_SCHEMA]);
    await this.daemon('ovsdb-server', 'ovsdb-server', [db, `--remote=punix:${this.sock}`]);
    await this.waitFor(async () => fs.existsSync(this.sock) && (await this.tryRun('ovs-vsctl', [`--db=unix:${this.sock}`, '--no-wait', 'show'])), 10_000, 'ovsdb-server to listen');
    // Everything goes into the database first; ovs-vswitchd reads it at start.
    const pmdMask = `0x${(1n << BigInt(this.o.pmdCore)).toString(16)}`;
    const vs = [`--db=unix:${this.sock}`, '--no-wait', '--timeout=20'];
    await this.run('ovs-vsctl', [...vs, 'init']);
    await this.run('ovs-vsctl', [...vs, 'set', 'Open_vSwitch', '.', 'other_config:dpdk-init=true',
      `other_config:dpdk-extra=${OvsDpdk.dpdkExtra(this.o)}`, `other_config:pmd-cpu-mask=${pmdMask}`]);
    await this.run('ovs-vsctl', [...vs, 'add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev', 'fail_mode=secure']);
    for (const p of this.o.ports) {
      await this.run('ovs-vsctl', [...vs, 'add-port', bridge, p.name, '--', 'set', 'Interface', p.name, 'type=dpdk',
        `options:dpdk-devargs=${p.devargs}`, `ofport_request=${p.ofport}`]);
    }
    const vsd = await this.daemon('ovs-vswitchd', OVS_VSWITCHD_DPDK, [`unix:${this.sock}`]);
    // Without --no-wait, ovs-vsctl waits until ovs-vswitchd has applied the configuration (ports up).
    await Promise.race([
      this.run('ovs-vsctl', [`--db=unix:${this.sock}`, '--timeout=90', 'set', 'Open_vSwitch', '.', 'external_ids:netstar-bench=ready'], 100_000),
      vsd.exited.then((code) => { throw new OvsUnavailable(`ovs-vswitchd died during start (exit ${code}):\n${this.logTail('ovs-vswitchd')}`); }),
    ]);
    const inited = (await this.run('ovs-vsctl', [`--db=unix:${this.sock}`, 'get', 'Open_vSwitch', '.', 'dpdk_initialized'])).trim();
    if (inited !== 'true') throw new OvsUnavailable(`OVS did not initialize DPDK:\n${this.logTail('ovs-vswitchd')}`);
    for (const p of this.o.ports) {
      const ofport = (await this.run('ovs-vsctl', [`--db=unix:${this.sock}`, 'get', 'Interface', p.name, 'ofport'])).trim();
      const err = (await this.run('ovs-vsctl', [`--db=unix:${this.sock}`, '--if-exists', 'get', 'Interface', p.name, 'error'])).trim();
      if (ofport !== String(p.ofport)) {
        throw new OvsUnavailable(`OVS could not add DPDK port ${p.name} (${p.devargs}): ofport ${ofport}, error ${err || '-'}\n${this.logTail('ovs-vswitchd')}`);
      }
    }
  }

  /** ovs-ofctl (OpenFlow 1.3) on the bridge. */
  ofctl(args: string[]): Promise<string> {
    return this.run('ovs-ofctl', ['-O', 'OpenFlow13', ...args.map((a) => (a === '@br' ? this.o.bridge : a))]);
  }

  /** ovs-appctl to ovs-vswitchd. */
  appctl(args: string[]): Promise<string> {
    return this.run('ovs-appctl', ['-t', this.ctlOf('ovs-vswitchd'), ...args]);
  }

  vsctl(args: string[]): Promise<string> {
    return this.run('ovs-vsctl', [`--db=unix:${this.sock}`, '--timeout=20', ...args]);
  }

  async addFlows(flows: string[]): Promise<void> {
    for (const f of flows) await this.ofctl(['add-flow', '@br', f]);
  }

  /** TX packets of an OpenFlow port, read live from the device (the database's statistics lag by 5 s). */
  async txPackets(ofport: number): Promise<number> {
    const out = await this.ofctl(['dump-ports', '@br', String(ofport)]);
    const m = new RegExp(`port\\s+${ofport}:[\\s\\S]*?tx pkts=(\\d+)`).exec(out);
    if (!m) throw new Error(`cannot read tx pkts of port ${ofport} from:\n${out}`);
    return Number(m[1]);
  }

  /** Per-second TX packet rates of `ofport`: `seconds` samples, the first `skip` (warm-up) dropped. */
  async txPps(ofport: number, seconds: number, skip = 2): Promise<number[]> {
    const rates: number[] = [];
    let t0 = process.hrtime.bigint();
    let n0 = await this.txPackets(ofport);
    for (let i = 0; i < seconds; i++) {
      await new Promise((r) => setTimeout(r, 1000 - Number(process.hrtime.bigint() - t0) / 1e6));
      if (this.exitedEarly()) throw new Error(`OVS died while measuring (${this.daemons.filter((d) => d.done).map((d) => `${d.name}: ${d.how}`).join(', ')}):\n${this.logTail('ovs-vswitchd')}`);
      const a = process.hrtime.bigint();
      const n = await this.txPackets(ofport);
      const b = process.hrtime.bigint();
      const t = (a + b) / 2n;
      rates.push((n - n0) / (Number(t - t0) / 1e9));
      t0 = t;
      n0 = n;
    }
    return rates.slice(skip);
  }

  /** Stops both daemons (exit --cleanup, then SIGTERM, then SIGKILL) and removes DPDK's runtime directory. Never throws. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const d of [...this.daemons].reverse()) {
      if (!d.done) {
        await this.tryRun('ovs-appctl', ['-t', d.ctl, 'exit', ...(d.name === 'ovs-vswitchd' ? ['--cleanup'] : [])], 15_000);
        if (!(await this.waitExit(d, 10_000))) {
          d.child.kill('SIGTERM');
          if (!(await this.waitExit(d, 5_000))) {
            d.child.kill('SIGKILL');
            await this.waitExit(d, 5_000);
          }
        }
      }
    }
    this.removeRuntime();
    // The bridge's internal port is a persistent tap that only `exit --cleanup` removes: if OVS died or
    // had to be killed, remove it here (its name is ours alone).
    if (fs.existsSync(`/sys/class/net/${this.o.bridge}`)) await this.tryRun('ip', ['link', 'delete', this.o.bridge]);
    bridges.delete(this.o.bridge);
    if (this.onSignal) {
      process.removeListener('SIGINT', this.onSignal);
      process.removeListener('SIGTERM', this.onSignal);
      this.onSignal = null;
    }
  }

  /** The tail of a daemon's log file and stderr, for error messages. */
  logTail(name: string, chars = 2500): string {
    let log = '';
    try { log = fs.readFileSync(path.join(this.o.dir, `${name}.log`), 'utf8'); } catch { /* none yet */ }
    const d = this.daemons.find((x) => x.name === name);
    const lines = `${log}${d?.stderr ?? ''}`.split('\n').filter((l) => !/\|(coverage|poll_loop)\|/.test(l));
    return lines.join('\n').slice(-chars);
  }

  private exitedEarly(): boolean {
    return this.daemons.some((d) => d.done);
  }

  private removeRuntime(): void {
    // DPDK leaves its runtime directory (config, fbarrays, mp_socket) behind.
    for (const base of ['/var/run/dpdk', '/run/dpdk']) {
      try { fs.rmSync(path.join(base, this.o.filePrefix), { recursive: true, force: true }); } catch { /* not there */ }
    }
  }

  private ctlOf(name: string): string {
    return path.join(this.o.dir, `${name}.ctl`);
  }

  private async daemon(name: string, bin: string, args: string[]): Promise<Daemon> {
    const { dir } = this.o;
    const ctl = this.ctlOf(name);
    const child = spawn(bin, [...args, `--pidfile=${path.join(dir, `${name}.pid`)}`, `--unixctl=${ctl}`,
      `--log-file=${path.join(dir, `${name}.log`)}`, '-vconsole:off', '--no-chdir'], { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
    alive.add(child);
    const d: Daemon = { name, child, done: false, how: '', stderr: '', ctl, exited: Promise.resolve(null) };
    child.stderr!.on('data', (b: Buffer) => { d.stderr = (d.stderr + b.toString()).slice(-8000); });
    d.exited = new Promise((resolve) => {
      child.on('error', (e) => { d.stderr += `\n${e.message}`; d.done = true; alive.delete(child); resolve(null); });
      child.on('exit', (code, sig) => { d.done = true; d.how = sig ? `killed by ${sig}` : `exit ${code}`; alive.delete(child); resolve(code ?? (sig ? -1 : null)); });
    });
    this.daemons.push(d);
    return d;
  }

  private async waitExit(d: Daemon, ms: number): Promise<boolean> {
    if (d.done) return true;
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([d.exited.then(() => true), new Promise<boolean>((res) => { timer = setTimeout(() => res(false), ms); })]);
    clearTimeout(timer);
    return r;
  }

  private async waitFor(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.exitedEarly()) break;
      if (await cond()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    const d = this.daemons[this.daemons.length - 1];
    throw new OvsUnavailable(`timed out waiting for ${what}${d ? `:\n${this.logTail(d.name)}` : ''}`);
  }

  private run(cmd: string, args: string[], timeout = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(cmd, args, { env: this.env, timeout, encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
        else resolve(stdout);
      });
    });
  }

  private async tryRun(cmd: string, args: string[], timeout = 10_000): Promise<boolean> {
    try {
      await this.run(cmd, args, timeout);
      return true;
    } catch {
      return false;
    }
  }
}
