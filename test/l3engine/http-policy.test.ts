// httpfilter's pure part: the strict head parser (each smuggling pattern's reason), the chunked validator
// (complete, incomplete, malformed), first-match rules; random bytes never throw.
import fc from 'fast-check';
import { backendHead, checkChunked, compileRules, headEnd, matchRule, parseHead } from '../../apps/l3engine/http-policy';

const b = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const parse = (s: string): ReturnType<typeof parseHead> => {
  const u = b(s);
  return parseHead(u, headEnd(u));
};
const reason = (s: string): string => {
  const r = parse(s);
  return r.ok ? 'ok' : `${r.status} ${r.reason}`;
};

describe('http-policy', () => {
  test('a plain request parses: method, path without query, lower-cased host without port, sizes', () => {
    const r = parse('GET /a/b?x=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nX-A: 1\r\n\r\n');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect([r.head.method, r.head.path, r.head.target, r.head.host, r.head.contentLength, r.head.chunked, r.head.headBytes]).toEqual(['GET', '/a/b', '/a/b?x=1', 'example.com', 0, false, 57]);
    expect(Buffer.from(backendHead(r.head)).toString()).toBe('GET /a/b?x=1 HTTP/1.1\r\nhost: Example.COM:8080\r\nx-a: 1\r\nconnection: close\r\n\r\n');
  });

  test.each([
    ['GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n', '400 duplicateContentLength'],
    ['GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', '400 contentLengthWithTransferEncoding'],
    ['GET /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n', '400 contentLengthWithTransferEncoding'],
    ['GET /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', '400 duplicateTransferEncoding'],
    ['GET /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n', '501 unsupportedTransferEncoding'],
    ['GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n', '400 badContentLength'],
    ['GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n', '400 badContentLength'],
    ['GET /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n', '400 spaceBeforeColon'],
    ['GET /a HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n', '400 obsFold'],
    ['GET /a HTTP/1.1\r\nHost: h\r\nX: a\nContent-Length: 5\r\n\r\n', '400 bareCrLf'],
    ['GET /a HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n', '400 badHeader'],
    ['GET /a HTTP/1.1\r\nX: 1\r\n\r\n', '400 missingHost'],
    ['GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', '400 duplicateHost'],
    ['GET /a HTTP/2.0\r\nHost: h\r\n\r\n', '400 badRequestLine'],
    ['get /a HTTP/1.1\r\nHost: h\r\n\r\n', '400 badRequestLine'],
    ['GET /a HTTP/1.0\r\n\r\n', 'ok'],
  ])('%j → %s', (req, want) => {
    expect(reason(req)).toBe(want);
  });

  test('chunked bodies: complete (extensions, trailers), incomplete, malformed', () => {
    expect(checkChunked(b('3\r\nabc\r\n0\r\n\r\n'))).toEqual({ consumed: 13, payload: 3 });
    expect(checkChunked(b('3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\nNEXT'))).toEqual({ consumed: 30, payload: 5 });
    expect(checkChunked(b('3\r\nab'))).toBe('more');
    expect(checkChunked(b('3\r\nabc\r\n0\r\n'))).toBe('more');
    expect(checkChunked(b('zz\r\nabc\r\n0\r\n\r\n'))).toBe('bad');
    expect(checkChunked(b('3\r\nabcd\r\n0\r\n\r\n'))).toBe('bad');
    expect(checkChunked(b('3\nabc\r\n0\r\n\r\n'))).toBe('bad');
    expect(checkChunked(b('-1\r\n'))).toBe('bad');
    expect(checkChunked(b('123456789\r\n'))).toBe('bad');
  });

  test('rules: first match wins, every condition must hold', () => {
    const rules = compileRules([
      { name: 'a', action: 'deny', methods: ['POST'], pathPrefix: '/api' },
      { name: 'b', action: 'deny', pathRegex: '\\.php$', host: 'X.example' },
      { name: 'c', action: 'allow', headerPresent: 'Authorization' },
      { name: 'd', action: 'deny', bodyBytesOver: 10 },
    ]);
    const h = (s: string): Parameters<typeof matchRule>[1] => {
      const r = parse(s);
      if (!r.ok) throw new Error(r.reason);
      return r.head;
    };
    expect(matchRule(rules, h('POST /api/x HTTP/1.1\r\nHost: h\r\n\r\n'), 0)?.name).toBe('a');
    expect(matchRule(rules, h('GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n'), 0)).toBeNull();
    expect(matchRule(rules, h('GET /i.php HTTP/1.1\r\nHost: x.example\r\n\r\n'), 0)?.name).toBe('b');
    expect(matchRule(rules, h('GET /i.php HTTP/1.1\r\nHost: y.example\r\n\r\n'), 0)).toBeNull();
    expect(matchRule(rules, h('PUT /u HTTP/1.1\r\nHost: h\r\nauthorization: x\r\n\r\n'), 100)?.name).toBe('c');
    expect(matchRule(rules, h('PUT /u HTTP/1.1\r\nHost: h\r\n\r\n'), 100)?.name).toBe('d');
  });

  test('random bytes: the parser and the chunked validator answer, never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (u) => {
      const e = headEnd(u);
      if (e >= 0) parseHead(u, e);
      checkChunked(u);
    }), { numRuns: 2000 });
  });
});
