// httpd: an HTTP/1.1 server on the shard's TCP/IP stack — keep-alive, fixed responses, files (loaded into
// memory at start: the shard never blocks on disk), and /bytes/<n>: n deterministic bytes, for transfers.
import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { NetstarError, Verdict, appSettings, type AppModule, type ShardApp, type ShardContext, type stack } from '../../index';

type TcpSocket = stack.TcpSocket;

const schema = z.object({
  port: z.number().int().min(1).max(65535).default(80),
  portIndex: z.number().int().min(0).default(0),
  /** fixed responses: path -> body */
  routes: z.record(z.string()).default({ '/': 'hello from netstar\n' }),
  /** a directory served under /files/ (loaded at start; bounded by maxFileBytes in total) */
  root: z.string().optional(),
  maxFileBytes: z.number().int().min(0).default(256 << 20),
  /** largest /bytes/<n> */
  maxGenerated: z.number().int().min(0).default(1 << 30),
  keepAliveTimeoutMs: z.number().int().min(100).default(15000),
  maxRequestBytes: z.number().int().min(256).default(16384),
}).strict();
type Settings = z.infer<typeof schema> & { files: Record<string, string> };

/** Deterministic content for /bytes/<n>: byte i = (i * 7 + (i >> 8)) & 255 (tests recompute it). */
export function generatedBytes(start: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = start + i;
    b[i] = (k * 7 + (k >>> 8)) & 255;
  }
  return b;
}

const enc = new TextEncoder();
const dec = new TextDecoder('latin1');

function head(status: string, len: number, keepAlive: boolean, type = 'application/octet-stream'): Uint8Array {
  return enc.encode(`HTTP/1.1 ${status}\r\nServer: netstar\r\nContent-Type: ${type}\r\nContent-Length: ${len}\r\nConnection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`);
}

const app: AppModule<Settings> = {
  name: 'httpd',
  settings: appSettings('httpd', schema, (r, config): Settings => {
    if (!config.ports[r.portIndex]?.stack) throw new NetstarError('ERR_CONFIG', `httpd: port ${r.portIndex} has no stack (give it "stack": {"address": "…/prefix"})`);
    const files: Record<string, string> = {};
    if (r.root) {
      if (!fs.existsSync(r.root) || !fs.statSync(r.root).isDirectory()) throw new NetstarError('ERR_CONFIG', `httpd: root '${r.root}' is not a directory`);
      let total = 0;
      for (const f of fs.readdirSync(r.root)) {
        const p = path.join(r.root, f);
        const st = fs.statSync(p);
        if (!st.isFile()) continue;
        total += st.size;
        if (total > r.maxFileBytes) throw new NetstarError('ERR_CONFIG', `httpd: files under '${r.root}' exceed maxFileBytes (${r.maxFileBytes})`);
        files[`/files/${f}`] = p;
      }
    }
    return { ...r, files };
  }),
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const stack = ctx.stack(s.portIndex)!;
    const bodies = new Map<string, Uint8Array>();
    for (const [p, body] of Object.entries(s.routes)) bodies.set(p, enc.encode(body));
    for (const [p, file] of Object.entries(s.files)) bodies.set(p, fs.readFileSync(file)); // at start, not per request
    const c = { connections: 0, requests: 0, notFound: 0, badRequests: 0, bytesOut: 0, errors: 0 };

    const serve = async (sock: TcpSocket): Promise<void> => {
      c.connections++;
      let buf: Uint8Array = new Uint8Array(0);
      try {
        for (;;) {
          // Read until a full header block is buffered.
          let end = -1;
          while ((end = indexOfHeaderEnd(buf)) < 0) {
            if (buf.length > s.maxRequestBytes) {
              c.badRequests++;
              await sock.write(head('431 Request Header Fields Too Large', 0, false));
              sock.end();
              return;
            }
            const chunk = await withTimeout(sock.read(), s.keepAliveTimeoutMs, ctx);
            if (chunk === null || chunk === undefined) { sock.end(); return; }
            buf = concat(buf, chunk);
          }
          const text = dec.decode(buf.subarray(0, end));
          const lines = text.split('\r\n');
          const m = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/.exec(lines[0] ?? '');
          if (!m) {
            c.badRequests++;
            await sock.write(head('400 Bad Request', 0, false));
            sock.end();
            return;
          }
          const headers = new Map<string, string>();
          for (const l of lines.slice(1)) {
            const i = l.indexOf(':');
            if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
          }
          const bodyLen = Number(headers.get('content-length') ?? 0);
          if (!Number.isInteger(bodyLen) || bodyLen < 0 || bodyLen > s.maxRequestBytes) {
            c.badRequests++;
            await sock.write(head('400 Bad Request', 0, false));
            sock.end();
            return;
          }
          let rest: Uint8Array = buf.subarray(end + 4);
          while (rest.length < bodyLen) {
            const chunk = await sock.read();
            if (chunk === null) { sock.end(); return; }
            rest = concat(rest, chunk);
          }
          buf = rest.subarray(bodyLen); // pipelined requests stay buffered
          const conn = (headers.get('connection') ?? '').toLowerCase();
          const keepAlive = m[3] === '1' ? conn !== 'close' : conn === 'keep-alive';
          c.requests++;
          const url = m[2].split('?')[0];
          const isHead = m[1] === 'HEAD';
          const gen = /^\/bytes\/(\d+)$/.exec(url);
          if (gen && Number(gen[1]) <= s.maxGenerated) {
            const n = Number(gen[1]);
            await sock.write(head('200 OK', n, keepAlive));
            if (!isHead) {
              for (let off = 0; off < n; off += 65536) {
                const part = generatedBytes(off, Math.min(65536, n - off));
                await sock.write(part);
                c.bytesOut += part.length;
              }
            }
          } else {
            const body = bodies.get(url);
            if (!body) {
              c.notFound++;
              const msg = enc.encode('not found\n');
              await sock.write(concat(head('404 Not Found', msg.length, keepAlive, 'text/plain'), isHead ? new Uint8Array(0) : msg));
            } else {
              const h = head('200 OK', body.length, keepAlive, url.startsWith('/files/') ? 'application/octet-stream' : 'text/plain');
              // small responses go out in one write (one segment with the header)
              if (body.length <= 16384) await sock.write(isHead ? h : concat(h, body));
              else {
                await sock.write(h);
                if (!isHead) for (let off = 0; off < body.length; off += 65536) await sock.write(body.subarray(off, off + 65536));
              }
              c.bytesOut += isHead ? 0 : body.length;
            }
          }
          if (!keepAlive) { sock.end(); return; }
        }
      } catch {
        c.errors++;
        sock.abort();
      }
    };

    const listener = stack.tcpListen(s.port, { backlog: 1024 });
    void (async () => { for await (const sock of listener) void serve(sock); })().catch(() => undefined);
    ctx.onStop(() => listener.close());
    return {
      onPacket: () => Verdict.DROP,
      counters: () => ({ ...c }),
    };
  },
};

function indexOfHeaderEnd(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const r = new Uint8Array(a.length + b.length);
  r.set(a);
  r.set(b, a.length);
  return r;
}

/** Resolves with the promise's value, or undefined after `ms` (idle keep-alive connections close). */
function withTimeout<T>(p: Promise<T>, ms: number, ctx: ShardContext): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const t = ctx.setTimeout(() => resolve(undefined), ms);
    p.then((v) => { ctx.cancel(t); resolve(v); }, (e: unknown) => { ctx.cancel(t); reject(e); });
  });
}

export default app;
