// httpfilter: an L7 filter for an l3engine client — an HTTP/1.1 front on the shard's TCP/IP stack that checks each
// request (strict head parsing against smuggling, rules on method, host, path prefix/regex, headers, sizes) and
// proxies what is allowed to a backend, one request per connection; a denied request gets 403 naming the rule.
import { z } from 'zod';
import { NetstarError, appSettings } from '../../index';
import type { Config } from '../../index';
import { Verdict, type AppModule, type ShardApp } from '../../index';
import type { ShardContext } from '../../index';
import type { TcpSocket } from '../../net/stack';
import { backendHead, checkChunked, compileRules, headEnd, matchRule, parseHead, type Rule } from './http-policy';

const ruleSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . -'),
  action: z.enum(['allow', 'deny']),
  methods: z.array(z.string().regex(/^[A-Z]+$/)).min(1).optional(),
  host: z.string().min(1).optional(),
  pathPrefix: z.string().startsWith('/').optional(),
  pathRegex: z.string().min(1).optional(),
  headerPresent: z.string().min(1).optional(),
  headerAbsent: z.string().min(1).optional(),
  headerBytesOver: z.number().int().min(0).optional(),
  bodyBytesOver: z.number().int().min(0).optional(),
}).strict();

const schema = z.object({
  port: z.number().int().min(1).max(65535).default(80),
  portIndex: z.number().int().min(0).default(0),
  backend: z.object({ address: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/), port: z.number().int().min(1).max(65535) }).strict(),
  rules: z.array(ruleSchema).default([]),
  /** what a request no rule matches gets */
  defaultAction: z.enum(['allow', 'deny']).default('allow'),
  /** heads larger than this are refused with 431 */
  maxHeaderBytes: z.number().int().min(256).max(1 << 20).default(8192),
  /** bodies larger than this are refused with 413 */
  maxBodyBytes: z.number().int().min(0).max(64 << 20).default(1 << 20),
  timeoutMs: z.number().int().min(100).default(10000),
}).strict();
type Settings = z.infer<typeof schema>;

const REJECT_REASONS = [
  'badRequestLine', 'bareCrLf', 'obsFold', 'badHeader', 'spaceBeforeColon', 'duplicateContentLength', 'badContentLength',
  'duplicateTransferEncoding', 'contentLengthWithTransferEncoding', 'unsupportedTransferEncoding', 'duplicateHost', 'missingHost',
  'headerTooLarge', 'bodyTooLarge', 'badChunked', 'truncated', 'timeout',
] as const;

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 408: 'Request Timeout', 413: 'Content Too Large', 431: 'Request Header Fields Too Large', 501: 'Not Implemented', 502: 'Bad Gateway' };

function response(status: number, body: string): Uint8Array {
  return Buffer.from(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, 'latin1');
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const r = new Uint8Array(a.length + b.length);
  r.set(a);
  r.set(b, a.length);
  return r;
}

const app: AppModule<Settings> = {
  name: 'httpfilter',
  description: 'L7 HTTP filter on the stack: strict HTTP/1.1 parsing, rules, 403 for denied requests, allowed ones proxied',
  settingsSchema: schema,
  settings: appSettings('httpfilter', schema, (s, config): Settings => {
    if (!config.ports[s.portIndex]?.stack) throw new NetstarError('ERR_CONFIG', `httpfilter: port ${s.portIndex} has no stack`);
    for (const rule of s.rules) {
      if (rule.pathRegex !== undefined) {
        try {
          new RegExp(rule.pathRegex);
        } catch (e) {
          throw new NetstarError('ERR_CONFIG', `httpfilter: rule '${rule.name}': bad pathRegex: ${(e as Error).message}`);
        }
      }
    }
    if (new Set(s.rules.map((x) => x.name)).size !== s.rules.length) throw new NetstarError('ERR_CONFIG', 'httpfilter: two rules have the same name');
    return s;
  }),
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const stack = ctx.stack(s.portIndex)!;
    const rules = compileRules(s.rules as Rule[]);
    const c: Record<string, number> = { connections: 0, requests: 0, allowed: 0, denied: 0, backendErrors: 0, proxiedBytes: 0 };
    for (const k of REJECT_REASONS) c[`reject.${k}`] = 0;
    for (const r of s.rules) c[`rule.${r.name}`] = 0;
    c['rule.default'] = 0;

    /** Reads more into `buf` with a deadline; null at EOF or timeout (`timedOut` tells). */
    const readMore = (sock: TcpSocket, deadline: number): Promise<Uint8Array | null | 'timeout'> => new Promise((resolve, reject) => {
      const t = ctx.setTimeout(() => resolve('timeout'), Math.max(1, deadline - ctx.now()));
      sock.read().then((v) => { ctx.cancel(t); resolve(v); }, (e: unknown) => { ctx.cancel(t); reject(e); });
    });

    const refuse = async (sock: TcpSocket, status: number, reason: string): Promise<void> => {
      c[`reject.${reason}`] = (c[`reject.${reason}`] ?? 0) + 1;
      await sock.write(response(status, `${reason}\n`));
      sock.end();
    };

    const serve = async (sock: TcpSocket): Promise<void> => {
      c.connections++;
      const deadline = ctx.now() + s.timeoutMs;
      let buf: Uint8Array = new Uint8Array(0);
      let end: number;
      while ((end = headEnd(buf)) < 0) {
        if (buf.length > s.maxHeaderBytes) return refuse(sock, 431, 'headerTooLarge');
        const more = await readMore(sock, deadline);
        if (more === 'timeout') return refuse(sock, 408, 'timeout');
        if (more === null) {
          if (buf.length > 0) c['reject.truncated']++;
          sock.end();
          return;
        }
        buf = concat(buf, more);
      }
      if (end + 4 > s.maxHeaderBytes) return refuse(sock, 431, 'headerTooLarge');
      c.requests++;
      const p = parseHead(buf, end);
      if (!p.ok) return refuse(sock, p.status, p.reason);
      const h = p.head;
      if (h.contentLength > s.maxBodyBytes) return refuse(sock, 413, 'bodyTooLarge');
      // The body, whole, before anything reaches the backend (store and forward: a chunked body is validated first).
      let body: Uint8Array = buf.subarray(h.headBytes);
      let bodyLen = h.contentLength;
      for (;;) {
        if (h.chunked) {
          const r = checkChunked(body);
          if (r === 'bad') return refuse(sock, 400, 'badChunked');
          if (r !== 'more') {
            if (r.payload > s.maxBodyBytes) return refuse(sock, 413, 'bodyTooLarge');
            body = body.subarray(0, r.consumed);
            bodyLen = r.payload;
            break;
          }
          if (body.length > s.maxBodyBytes + 64 * 1024) return refuse(sock, 413, 'bodyTooLarge');
        } else if (body.length >= h.contentLength) {
          body = body.subarray(0, h.contentLength); // anything after it would be a second request: one per connection
          break;
        }
        const more = await readMore(sock, deadline);
        if (more === 'timeout') return refuse(sock, 408, 'timeout');
        if (more === null) {
          c['reject.truncated']++;
          sock.end();
          return;
        }
        body = concat(body, more);
      }
      const rule = matchRule(rules, h, bodyLen);
      const name = rule?.name ?? 'default';
      c[`rule.${name}`]++;
      if ((rule?.action ?? s.defaultAction) === 'deny') {
        c.denied++;
        await sock.write(response(403, `denied by rule ${name}\n`));
        sock.end();
        return;
      }
      c.allowed++;
      let be: TcpSocket;
      try {
        be = await stack.tcpConnect(s.backend.address, s.backend.port);
      } catch {
        c.backendErrors++;
        await sock.write(response(502, 'backend unreachable\n'));
        sock.end();
        return;
      }
      try {
        await be.write(backendHead(h));
        if (body.length > 0) await be.write(body);
        for await (const chunk of be) {
          c.proxiedBytes += chunk.length;
          await sock.write(chunk);
        }
        be.end();
        sock.end();
      } catch {
        c.backendErrors++;
        be.abort();
        sock.abort();
      }
    };

    const listener = stack.tcpListen(s.port, { backlog: 1024 });
    void (async () => {
      for await (const sock of listener) void serve(sock).catch(() => sock.abort());
    })().catch(() => undefined);
    ctx.onStop(() => listener.close());
    return {
      onPacket: () => Verdict.DROP,
      counters: () => ({ ...c }),
    };
  },
};
export default app;
