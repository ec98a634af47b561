// Packet filters for capture: a small tcpdump-like expression form compiled to a predicate over a frame's
// bytes. Terms: ip arp tcp udp icmp, [src|dst] host A.B.C.D, [src|dst] net A.B.C.D/N, [src|dst] port N,
// len > N (also < <= >= =); combined with and/or/not (&& || !) and parentheses. Every read is bounds-checked.

/** A compiled filter: true to keep the frame `b[off, off + len)`. */
export type PacketPredicate = (b: Uint8Array, off: number, len: number) => boolean;

export class FilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

/** Offset of the L3 header and the ethertype (one 802.1Q tag skipped), or -1 when too short. */
function l3(b: Uint8Array, off: number, len: number): { at: number; type: number } | null {
  if (len < 14) return null;
  let type = (b[off + 12] << 8) | b[off + 13];
  let at = off + 14;
  if (type === 0x8100 || type === 0x88a8) {
    if (len < 18) return null;
    type = (b[off + 16] << 8) | b[off + 17];
    at = off + 18;
  }
  return { at, type };
}

/** The IPv4 header of a frame when complete: protocol, addresses, and the L4 offset (-1 for non-first fragments). */
function ipv4(b: Uint8Array, off: number, len: number): { proto: number; src: number; dst: number; l4: number } | null {
  const h = l3(b, off, len);
  if (!h || h.type !== 0x0800) return null;
  const end = off + len;
  if (h.at + 20 > end || b[h.at] >> 4 !== 4) return null;
  const ihl = (b[h.at] & 15) * 4;
  if (ihl < 20 || h.at + ihl > end) return null;
  const fragOff = ((b[h.at + 6] & 0x1f) << 8) | b[h.at + 7];
  const word = (o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  return { proto: b[h.at + 9], src: word(h.at + 12), dst: word(h.at + 16), l4: fragOff === 0 ? h.at + ihl : -1 };
}

function ports(b: Uint8Array, off: number, len: number): { src: number; dst: number } | null {
  const ip = ipv4(b, off, len);
  if (!ip || ip.l4 < 0 || (ip.proto !== 6 && ip.proto !== 17 && ip.proto !== 132) || ip.l4 + 4 > off + len) return null;
  return { src: (b[ip.l4] << 8) | b[ip.l4 + 1], dst: (b[ip.l4 + 2] << 8) | b[ip.l4 + 3] };
}

function parseIp(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m || m.slice(1).some((x) => Number(x) > 255)) throw new FilterError(`'${s}' is not an IPv4 address`);
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

function tokenize(expr: string): string[] {
  const t = expr.match(/\(|\)|&&|\|\||!=|<=|>=|[<>=!]|[^\s()<>=!&|]+/g);
  return t ?? [];
}

/** Compiles a filter expression; throws FilterError naming the problem. An empty expression keeps everything. */
export function compileFilter(expr: string): PacketPredicate {
  const toks = tokenize(expr.trim());
  if (toks.length === 0) return () => true;
  let i = 0;
  const peek = (): string | undefined => toks[i]?.toLowerCase();
  const next = (what: string): string => {
    const t = toks[i++];
    if (t === undefined) throw new FilterError(`filter '${expr}': ${what} expected at the end`);
    return t;
  };
  const num = (what: string, max: number): number => {
    const t = next(what);
    if (!/^\d+$/.test(t) || Number(t) > max) throw new FilterError(`filter '${expr}': ${what} expected, got '${t}'`);
    return Number(t);
  };

  const term = (): PacketPredicate => {
    let dir: 'src' | 'dst' | null = null;
    let t = next('a term').toLowerCase();
    if (t === 'src' || t === 'dst') {
      dir = t;
      t = next(`host, net or port after '${dir}'`).toLowerCase();
    }
    switch (t) {
      case 'ip': case 'arp': case 'tcp': case 'udp': case 'icmp': {
        if (dir) throw new FilterError(`filter '${expr}': '${dir} ${t}' is not a term`);
        if (t === 'arp') return (b, o, n) => l3(b, o, n)?.type === 0x0806;
        if (t === 'ip') return (b, o, n) => ipv4(b, o, n) !== null;
        const proto = t === 'tcp' ? 6 : t === 'udp' ? 17 : 1;
        return (b, o, n) => ipv4(b, o, n)?.proto === proto;
      }
      case 'host': {
        const a = parseIp(next('an address after host'));
        return (b, o, n) => {
          const ip = ipv4(b, o, n);
          return ip !== null && ((dir !== 'dst' && ip.src === a) || (dir !== 'src' && ip.dst === a));
        };
      }
      case 'net': {
        const cidr = next('a prefix after net');
        const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
        if (!m || Number(m[2]) > 32) throw new FilterError(`filter '${expr}': '${cidr}' is not a prefix like 198.18.0.0/15`);
        const bits = Number(m[2]);
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        const netw = (parseIp(m[1]) & mask) >>> 0;
        return (b, o, n) => {
          const ip = ipv4(b, o, n);
          return ip !== null && ((dir !== 'dst' && ((ip.src & mask) >>> 0) === netw) || (dir !== 'src' && ((ip.dst & mask) >>> 0) === netw));
        };
      }
      case 'port': {
        const p = num('a port number', 65535);
        return (b, o, n) => {
          const x = ports(b, o, n);
          return x !== null && ((dir !== 'dst' && x.src === p) || (dir !== 'src' && x.dst === p));
        };
      }
      case 'len': {
        if (dir) throw new FilterError(`filter '${expr}': '${dir} len' is not a term`);
        const op = next('a comparison after len');
        const v = num('a length', 1 << 20);
        const cmp: Record<string, PacketPredicate> = {
          '<': (_b, _o, n) => n < v, '<=': (_b, _o, n) => n <= v, '>': (_b, _o, n) => n > v, '>=': (_b, _o, n) => n >= v, '=': (_b, _o, n) => n === v, '!=': (_b, _o, n) => n !== v,
        };
        if (!cmp[op]) throw new FilterError(`filter '${expr}': a comparison (< <= > >= = !=) expected after len, got '${op}'`);
        return cmp[op];
      }
      default:
        throw new FilterError(`filter '${expr}': unknown term '${t}' (ip, arp, tcp, udp, icmp, [src|dst] host/net/port, len <op> N)`);
    }
  };
  const unary = (): PacketPredicate => {
    const t = peek();
    if (t === 'not' || t === '!') {
      i++;
      const f = unary();
      return (b, o, n) => !f(b, o, n);
    }
    if (t === '(') {
      i++;
      const f = or();
      if (next("')'") !== ')') throw new FilterError(`filter '${expr}': ')' expected`);
      return f;
    }
    return term();
  };
  const and = (): PacketPredicate => {
    let f = unary();
    while (peek() === 'and' || peek() === '&&') {
      i++;
      const a = f, g = unary();
      f = (b, o, n) => a(b, o, n) && g(b, o, n);
    }
    return f;
  };
  const or = (): PacketPredicate => {
    let f = and();
    while (peek() === 'or' || peek() === '||') {
      i++;
      const a = f, g = and();
      f = (b, o, n) => a(b, o, n) || g(b, o, n);
    }
    return f;
  };
  const f = or();
  if (i < toks.length) throw new FilterError(`filter '${expr}': unexpected '${toks[i]}'`);
  return f;
}
