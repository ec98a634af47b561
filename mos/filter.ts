// First-packet filters from config files: a small BPF-like expression language compiled to a predicate
// over the flow layer's PacketInfo. Grammar: expr := term ('or' term)*; term := factor ('and' factor)*;
// factor := 'not' factor | '(' expr ')' | prim; prim := 'tcp' | 'udp' | 'icmp' | [src|dst] 'host' IP |
// [src|dst] 'net' CIDR | [src|dst] 'port' N | [src|dst] 'portrange' N-M.  '!', '&&', '||' are accepted too.
import type { PacketInfo } from '../net/flow';
import { parseCidr, parseIp } from '../net/flow';

export type PacketPredicate = (info: PacketInfo) => boolean;

export class FilterSyntaxError extends Error {
  constructor(message: string, readonly expression: string) {
    super(`filter "${expression}": ${message}`);
    this.name = 'FilterSyntaxError';
  }
}

export function compileFilter(expr: string): PacketPredicate {
  const toks = expr.replace(/([()!])/g, ' $1 ').split(/\s+/).filter((t) => t.length > 0)
    .map((t) => (t === '&&' ? 'and' : t === '||' ? 'or' : t === '!' ? 'not' : t.toLowerCase()));
  let i = 0;
  const fail = (m: string): never => {
    throw new FilterSyntaxError(m, expr);
  };
  const peek = (): string | undefined => toks[i];
  const next = (): string => {
    const t = toks[i++];
    if (t === undefined) fail('unexpected end');
    return t as string;
  };
  const num = (t: string, max: number): number => {
    const n = Number(t);
    if (!/^\d+$/.test(t) || n > max) fail(`bad number "${t}"`);
    return n;
  };
  const dirPick = (dir: string, s: (i: PacketInfo) => boolean, d: (i: PacketInfo) => boolean): PacketPredicate =>
    dir === 'src' ? s : dir === 'dst' ? d : (x) => s(x) || d(x);

  const prim = (): PacketPredicate => {
    let t = next();
    if (t === 'tcp') return (x) => x.proto === 6;
    if (t === 'udp') return (x) => x.proto === 17;
    if (t === 'icmp') return (x) => x.proto === 1;
    let dir = '';
    if (t === 'src' || t === 'dst') {
      dir = t;
      t = next();
    }
    if (t === 'host') {
      const a = parseIp(next());
      if (a === null) fail('bad address');
      const v = (a as number) >>> 0;
      return dirPick(dir, (x) => x.src >>> 0 === v, (x) => x.dst >>> 0 === v);
    }
    if (t === 'net') {
      const c = parseCidr(next());
      if (c === null) fail('bad network');
      const { addr, mask } = c as { addr: number; mask: number };
      const net = (addr & mask) >>> 0;
      return dirPick(dir, (x) => ((x.src & mask) >>> 0) === net, (x) => ((x.dst & mask) >>> 0) === net);
    }
    if (t === 'port') {
      const p = num(next(), 65535);
      return dirPick(dir, (x) => x.sport === p, (x) => x.dport === p);
    }
    if (t === 'portrange') {
      const m = /^(\d+)-(\d+)$/.exec(next());
      if (!m) fail('bad port range');
      const lo = num(m![1], 65535), hi = num(m![2], 65535);
      return dirPick(dir, (x) => x.sport >= lo && x.sport <= hi, (x) => x.dport >= lo && x.dport <= hi);
    }
    return fail(`unknown primitive "${t}"`);
  };
  const factor = (): PacketPredicate => {
    const t = peek();
    if (t === 'not') {
      i++;
      const f = factor();
      return (x) => !f(x);
    }
    if (t === '(') {
      i++;
      const e = expression();
      if (next() !== ')') fail('expected )');
      return e;
    }
    return prim();
  };
  const term = (): PacketPredicate => {
    let a = factor();
    while (peek() === 'and') {
      i++;
      const l = a, r = factor();
      a = (x) => l(x) && r(x);
    }
    return a;
  };
  const expression = (): PacketPredicate => {
    let a = term();
    while (peek() === 'or') {
      i++;
      const l = a, r = term();
      a = (x) => l(x) || r(x);
    }
    return a;
  };
  if (toks.length === 0) return () => true;
  const f = expression();
  if (i !== toks.length) fail(`unexpected "${toks[i]}"`);
  return f;
}
