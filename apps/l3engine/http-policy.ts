// The HTTP/1.1 filter's pure part: a strict request-head parser that rejects what request smuggling needs
// (duplicate or invalid Content-Length, Content-Length with Transfer-Encoding, codings other than chunked,
// obsolete line folding, whitespace before a colon, bare CR/LF), a chunked-body validator, and first-match rules.

export interface RequestHead {
  method: string;
  target: string;
  /** path without the query */
  path: string;
  version: '1.0' | '1.1';
  /** lower-cased names, in order */
  headers: [string, string][];
  host: string;
  /** declared body: Content-Length bytes, or -1 for chunked */
  contentLength: number;
  chunked: boolean;
  /** bytes of the head up to and including the blank line */
  headBytes: number;
}

export type ParseResult = { ok: true; head: RequestHead } | { ok: false; status: number; reason: string };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/;

function reject(status: number, reason: string): ParseResult {
  return { ok: false, status, reason };
}

/** Index of the CRLFCRLF ending the head, or -1. */
export function headEnd(b: Uint8Array, from = 0): number {
  for (let i = Math.max(0, from); i + 3 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  return -1;
}

/** Parses the head `b[0 .. end)` (end = headEnd(b)); latin1 so every byte maps to one char. */
export function parseHead(b: Uint8Array, end: number): ParseResult {
  const text = Buffer.from(b.buffer, b.byteOffset, end).toString('latin1');
  const lines = text.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]);
  if (m === null) return reject(400, 'badRequestLine');
  const headers: [string, string][] = [];
  let cl = -2, te: string | null = null, host: string | null = null, hosts = 0;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    if (l.includes('\r') || l.includes('\n')) return reject(400, 'bareCrLf');
    if (l.startsWith(' ') || l.startsWith('\t')) return reject(400, 'obsFold');
    const c = l.indexOf(':');
    if (c <= 0) return reject(400, 'badHeader');
    const name = l.slice(0, c);
    if (!TOKEN.test(name)) return reject(400, name.trimEnd() !== name ? 'spaceBeforeColon' : 'badHeader');
    const value = l.slice(c + 1).trim();
    const lname = name.toLowerCase();
    headers.push([lname, value]);
    if (lname === 'content-length') {
      if (cl !== -2) return reject(400, 'duplicateContentLength');
      if (!/^\d{1,15}$/.test(value)) return reject(400, 'badContentLength');
      cl = Number(value);
    } else if (lname === 'transfer-encoding') {
      if (te !== null) return reject(400, 'duplicateTransferEncoding');
      te = value.toLowerCase();
    } else if (lname === 'host') {
      hosts++;
      host = value;
    }
  }
  if (te !== null && cl !== -2) return reject(400, 'contentLengthWithTransferEncoding');
  if (te !== null && te !== 'chunked') return reject(501, 'unsupportedTransferEncoding');
  if (hosts > 1) return reject(400, 'duplicateHost');
  if (m[3] === '1' && hosts === 0) return reject(400, 'missingHost');
  const target = m[2];
  const q = target.indexOf('?');
  return {
    ok: true,
    head: {
      method: m[1], target, path: q >= 0 ? target.slice(0, q) : target, version: m[3] === '1' ? '1.1' : '1.0',
      headers, host: (host ?? '').toLowerCase().replace(/:\d+$/, ''), contentLength: te !== null ? -1 : Math.max(cl, 0),
      chunked: te !== null, headBytes: end + 4,
    },
  };
}

/**
 * Checks a chunked body at the start of `b`: 'more' when incomplete, 'bad' when malformed, else the bytes it
 * spans (trailers and the final CRLF included) and the payload length.
 */
export function checkChunked(b: Uint8Array): 'more' | 'bad' | { consumed: number; payload: number } {
  let i = 0, payload = 0;
  const line = (): number => {
    for (let k = i; k + 1 < b.length; k++) {
      if (b[k] === 13) return b[k + 1] === 10 ? k : -2;
      if (b[k] === 10) return -2; // bare LF
    }
    return -1;
  };
  for (;;) {
    const e = line();
    if (e === -2) return 'bad';
    if (e < 0) return b.length - i > 1024 ? 'bad' : 'more';
    const text = Buffer.from(b.buffer, b.byteOffset + i, e - i).toString('latin1');
    const m = /^([0-9A-Fa-f]{1,8})(;[^\r\n]*)?$/.exec(text);
    if (m === null) return 'bad';
    const size = parseInt(m[1], 16);
    i = e + 2;
    if (size === 0) {
      // trailers, then an empty line
      for (;;) {
        const t = line();
        if (t === -2) return 'bad';
        if (t < 0) return b.length - i > 8192 ? 'bad' : 'more';
        const empty = t === i;
        i = t + 2;
        if (empty) return { consumed: i, payload };
      }
    }
    if (b.length < i + size + 2) return 'more';
    if (b[i + size] !== 13 || b[i + size + 1] !== 10) return 'bad';
    payload += size;
    i += size + 2;
  }
}

export interface Rule {
  name: string;
  action: 'allow' | 'deny';
  methods?: string[];
  /** exact host (no port), case-insensitive */
  host?: string;
  pathPrefix?: string;
  pathRegex?: string;
  /** the header is present (any value) */
  headerPresent?: string;
  headerAbsent?: string;
  /** matches when the head is larger than this many bytes */
  headerBytesOver?: number;
  /** matches when the declared body is larger (chunked bodies: their payload, checked once read) */
  bodyBytesOver?: number;
}

export interface CompiledRule extends Rule { regex: RegExp | null }

export function compileRules(rules: Rule[]): CompiledRule[] {
  return rules.map((r) => ({ ...r, host: r.host?.toLowerCase(), headerPresent: r.headerPresent?.toLowerCase(), headerAbsent: r.headerAbsent?.toLowerCase(), regex: r.pathRegex ? new RegExp(r.pathRegex) : null }));
}

/** The first rule whose every condition holds, or null. `bodyBytes`: the body's size once known (else the declared one). */
export function matchRule(rules: CompiledRule[], h: RequestHead, bodyBytes: number): CompiledRule | null {
  for (const r of rules) {
    if (r.methods && !r.methods.includes(h.method)) continue;
    if (r.host !== undefined && h.host !== r.host) continue;
    if (r.pathPrefix !== undefined && !h.path.startsWith(r.pathPrefix)) continue;
    if (r.regex !== null && !r.regex.test(h.path)) continue;
    if (r.headerPresent !== undefined && !h.headers.some(([n]) => n === r.headerPresent)) continue;
    if (r.headerAbsent !== undefined && h.headers.some(([n]) => n === r.headerAbsent)) continue;
    if (r.headerBytesOver !== undefined && !(h.headBytes > r.headerBytesOver)) continue;
    if (r.bodyBytesOver !== undefined && !(bodyBytes > r.bodyBytesOver)) continue;
    return r;
  }
  return null;
}

/** The head sent to the backend: the request line and headers as parsed, hop-by-hop ones replaced by `Connection: close`. */
export function backendHead(h: RequestHead): Uint8Array {
  const hop = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);
  let s = `${h.method} ${h.target} HTTP/${h.version}\r\n`;
  for (const [n, v] of h.headers) if (!hop.has(n)) s += `${n}: ${v}\r\n`;
  s += 'connection: close\r\n\r\n';
  return Buffer.from(s, 'latin1');
}
