// The control socket of a running instance (main thread): a Unix socket, mode 0600 in a 0700 directory, that
// speaks JSON lines — one request `{"cmd": "stats"}` (or just `stats`), one reply `{"ok": true, "result": …}`.
// `netstar ctl`, `netstar ls` and `netstar top` are its clients.
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { native, NetstarError } from '../native';
import type { Engine } from './engine';
import { S } from './stats';
import type { EngineMetrics } from './metrics';
import type { AppCommand } from './app';
import { controlExchange, type ControlExchangeError, type ControlReply } from './control-client';

/** Where instances put their sockets: $NETSTAR_RUN_DIR, else /run/netstar for root, else a per-user temp dir. */
export function runDir(): string {
  if (process.env.NETSTAR_RUN_DIR) return process.env.NETSTAR_RUN_DIR;
  const uid = process.getuid?.() ?? 0;
  return uid === 0 ? '/run/netstar' : path.join(os.tmpdir(), `netstar-${uid}`);
}

export const INSTANCE_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export function socketPath(instance: string, dir = runDir()): string {
  return path.join(dir, `${instance}.sock`);
}

/** What `stats` answers: every counter the engine has, cumulative (clients take differences). */
export interface StatsSnapshot {
  t: number;
  instance: string; app: string; pid: number; startedAt: number;
  ports: { name: string; driver: string; rx: number; tx: number; rxBytes: number; txBytes: number; dropped: number; txDropped: number;
    device: { ipackets: number; opackets: number; ibytes: number; obytes: number; imissed: number; ierrors: number; oerrors: number; rxNombuf: number } }[];
  shards: { id: number; core: number; busyMs: number; idleMs: number; loops: number; sleeps: number; held: number; appErrors: number; fwdIn: number; fwdOut: number; fwdDropped: number }[];
  pools: { name: string; size: number; inUse: number; available: number }[];
  /** app counters summed over shards */
  counters: Record<string, number>;
}

export function snapshot(engine: Engine, instance: string, appName: string, startedAt: number): StatsSnapshot {
  return {
    t: Date.now(), instance, app: appName, pid: process.pid, startedAt,
    ports: engine.ports.map((p, i) => {
      const t = engine.portTotals(i);
      const d = native.port.stats(p.id);
      return {
        name: p.name, driver: p.driver, ...t,
        device: { ipackets: d.ipackets, opackets: d.opackets, ibytes: d.ibytes, obytes: d.obytes, imissed: d.imissed, ierrors: d.ierrors, oerrors: d.oerrors, rxNombuf: d.rxNombuf },
      };
    }),
    shards: Array.from({ length: engine.shards }, (_, s) => {
      const c = (k: number): number => engine.shardCounter(s, k);
      return {
        id: s, core: engine.config.cores?.[s] ?? s % os.cpus().length, busyMs: c(S.busyMs), idleMs: c(S.idleMs), loops: c(S.loops), sleeps: c(S.sleeps),
        held: c(S.held), appErrors: c(S.appErrors), fwdIn: c(S.fwdIn), fwdOut: c(S.fwdOut), fwdDropped: c(S.fwdDropped),
      };
    }),
    pools: engine.pools.map((p) => {
      const i = native.pool.info(p.id);
      return { name: i.name, size: i.size, inUse: i.inUse, available: i.available };
    }),
    counters: engine.appTotals(),
  };
}

export interface ControlHooks {
  /** `stop`: ask the instance to stop as on SIGINT */
  stop: () => void;
  metrics?: EngineMetrics | null;
  capture?: { start(): void; stop(): void; status(): unknown } | null;
}

export const COMMANDS: Record<string, string> = {
  help: 'this list',
  ping: 'instance, app, pid, uptime',
  stats: 'all counters (ports, device, shards, pools, app totals), cumulative',
  app: 'app counters per shard',
  metrics: 'the Prometheus exposition text',
  stop: 'stop the instance (as SIGINT)',
  capture: 'packet capture: {"action": "start" | "stop" | "status"} (config "capture": {…})',
};

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  readonly path: string;
  private readonly startedAt = Date.now();

  constructor(private readonly engine: Engine, readonly instance: string, private readonly appName: string, private readonly hooks: ControlHooks, dir = runDir()) {
    if (!INSTANCE_RE.test(instance)) throw new NetstarError('ERR_CONFIG', `control: instance name '${instance}' may hold only letters, digits, '_', '.', '-' (1-64)`);
    this.path = socketPath(instance, dir);
  }

  /** The app's own commands (AppModule.control); the built-in names win. */
  private appCommands(): Record<string, AppCommand<unknown>> {
    const c = (this.engine.app.control ?? {}) as Record<string, AppCommand<unknown>>;
    return Object.fromEntries(Object.entries(c).filter(([k]) => !(k in COMMANDS)));
  }

  private async handle(line: string): Promise<unknown> {
    let cmd: string, args: Record<string, unknown> = {};
    const text = line.trim();
    if (text.startsWith('{')) {
      const o = JSON.parse(text) as { cmd?: unknown; args?: unknown };
      if (typeof o.cmd !== 'string') throw new Error('a request is {"cmd": "<command>", "args": {…}}');
      cmd = o.cmd;
      if (o.args && typeof o.args === 'object') args = o.args as Record<string, unknown>;
    } else cmd = text;
    switch (cmd) {
      case 'help': return { ...COMMANDS, ...Object.fromEntries(Object.keys(this.appCommands()).map((k) => [k, `${this.appName} command`])) };
      case 'ping': return { instance: this.instance, app: this.appName, pid: process.pid, uptimeMs: Date.now() - this.startedAt };
      case 'stats': return snapshot(this.engine, this.instance, this.appName, this.startedAt);
      case 'app': return this.engine.appCounters.map((c, shard) => ({ shard, counters: c ?? {} }));
      case 'metrics':
        if (!this.hooks.metrics) throw new Error('metrics are not enabled (config "metrics": {…})');
        return await this.hooks.metrics.registry.metrics();
      case 'stop':
        setImmediate(this.hooks.stop);
        return { stopping: true };
      case 'capture': {
        const cap = this.hooks.capture;
        if (!cap) throw new Error('capture is not configured (config "capture": {"file": …, "start": false})');
        const action = args.action ?? 'status';
        if (action === 'start') cap.start();
        else if (action === 'stop') cap.stop();
        else if (action !== 'status') throw new Error(`capture: action is start, stop or status, not '${String(action)}'`);
        return cap.status();
      }
      default: {
        const appCmds = this.appCommands();
        const h = appCmds[cmd];
        if (h) return await h(this.engine.appSettings, args, { shards: this.engine.shards, counters: () => this.engine.appTotals() });
        throw new Error(`unknown command '${cmd}'; commands: ${[...Object.keys(COMMANDS), ...Object.keys(appCmds)].join(', ')}`);
      }
    }
  }

  /** Creates the socket (0600 in a 0700 directory); an existing socket nobody answers on is replaced. */
  async listen(): Promise<string> {
    const dir = path.dirname(this.path);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (fs.existsSync(this.path)) {
      if (await alive(this.path)) throw new NetstarError('ERR_CONFIG', `control: instance '${this.instance}' is already running (${this.path})`);
      fs.rmSync(this.path, { force: true });
    }
    const server = net.createServer((sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => undefined);
      let buf = '';
      let chain = Promise.resolve();
      sock.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.length > 1 << 16) { sock.destroy(); return; }
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (!line.trim()) continue;
          // replies in request order
          chain = chain.then(async () => {
            let reply: string;
            try {
              reply = JSON.stringify({ ok: true, result: await this.handle(line) });
            } catch (e) {
              reply = JSON.stringify({ ok: false, error: (e as Error).message });
            }
            if (!sock.destroyed) sock.write(reply + '\n');
          });
        }
      });
    });
    this.server = server;
    // The socket file is created with the umask: make it 0600 from the start, then restore the umask.
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => reject(new NetstarError('ERR_CONFIG', `control: cannot listen on ${this.path}: ${e.code ?? e.message}`)));
        server.listen(this.path, () => resolve());
      });
    } finally {
      process.umask(old);
    }
    fs.chmodSync(this.path, 0o600);
    return this.path;
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    for (const c of this.sockets) c.destroy();
    return new Promise((resolve) => s.close(() => {
      fs.rmSync(this.path, { force: true });
      resolve();
    }));
  }
}

/** Does something answer on this socket? */
export function alive(sockPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(sockPath);
    const t = setTimeout(() => { c.destroy(); resolve(false); }, timeoutMs);
    c.once('connect', () => { clearTimeout(t); c.destroy(); resolve(true); });
    c.once('error', () => { clearTimeout(t); resolve(false); });
  });
}

/** One request to an instance; resolves with its result, rejects with its error or a connection problem. */
export async function request(instance: string, cmd: string, args: Record<string, unknown> = {}, o: { dir?: string; timeoutMs?: number } = {}): Promise<unknown> {
  const p = instance.includes('/') ? instance : socketPath(instance, o.dir);
  let r: ControlReply;
  try {
    r = await controlExchange(p, cmd, args, o.timeoutMs ?? 5000);
  } catch (e) {
    const code = (e as ControlExchangeError).code;
    const why = code === 'ETIMEDOUT' ? (e as Error).message : code === 'ENOENT' || code === 'ECONNREFUSED' ? 'no such running instance (netstar ls lists them)' : code === 'EACCES' ? 'permission denied (the socket belongs to another user)' : (e as Error).message;
    throw new NetstarError('ERR_CONTROL', `${instance}: ${why}`);
  }
  if (r.ok) return r.result;
  throw new NetstarError('ERR_CONTROL', `${instance}: ${r.error}`);
}

/** The running instances in the run directory (stale sockets are removed when `prune`). */
export async function listInstances(dir = runDir(), prune = true): Promise<{ instance: string; path: string; info: { app: string; pid: number; uptimeMs: number } }[]> {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.sock')).sort()) {
    const p = path.join(dir, f);
    try {
      const info = (await request(p, 'ping', {}, { timeoutMs: 1000 })) as { app: string; pid: number; uptimeMs: number; instance: string };
      out.push({ instance: info.instance, path: p, info });
    } catch {
      if (prune && !(await alive(p))) fs.rmSync(p, { force: true });
    }
  }
  return out;
}
