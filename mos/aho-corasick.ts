// Aho–Corasick over bytes: a full DFA (256 transitions per state, Int32Array) built once from the patterns;
// the scan carries its state between calls, so a match split across segments (chunks) is found, once.

/** Parses a pattern line: text with Snort-style |hex| runs ("GET |20|/admin", "|de ad be ef|"). */
export function parsePattern(line: string): Uint8Array {
  const out: number[] = [];
  const parts = line.split('|');
  if (parts.length % 2 === 0) throw new SyntaxError(`pattern "${line}": unbalanced |`);
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) for (const b of Buffer.from(parts[i], 'utf8')) out.push(b);
    else {
      const hex = parts[i].replace(/\s+/g, '');
      if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new SyntaxError(`pattern "${line}": bad hex "${parts[i]}"`);
      for (let k = 0; k < hex.length; k += 2) out.push(parseInt(hex.slice(k, k + 2), 16));
    }
  }
  if (out.length === 0) throw new SyntaxError('empty pattern');
  return Uint8Array.from(out);
}

export class AhoCorasick {
  /** goto/failure folded into one transition table: next = delta[state * 256 + byte] */
  readonly delta: Int32Array;
  /** per state: index into outList of its first output (-1: none), and the outputs (pattern ids) */
  private readonly outStart: Int32Array;
  private readonly outList: Int32Array;
  readonly states: number;
  readonly lengths: Int32Array;

  constructor(readonly patterns: Uint8Array[]) {
    if (patterns.length === 0) throw new RangeError('no patterns');
    // trie
    const go: number[][] = [new Array<number>(256).fill(-1)];
    const out: number[][] = [[]];
    patterns.forEach((p, id) => {
      let s = 0;
      for (const b of p) {
        if (go[s][b] < 0) {
          go[s][b] = go.length;
          go.push(new Array<number>(256).fill(-1));
          out.push([]);
        }
        s = go[s][b];
      }
      out[s].push(id);
    });
    const n = go.length;
    const fail = new Int32Array(n);
    const delta = new Int32Array(n * 256);
    const queue: number[] = [];
    for (let b = 0; b < 256; b++) {
      const t = go[0][b];
      if (t > 0) {
        fail[t] = 0;
        delta[b] = t;
        queue.push(t);
      } else delta[b] = 0;
    }
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi];
      out[s].push(...out[fail[s]]);
      for (let b = 0; b < 256; b++) {
        const t = go[s][b];
        if (t >= 0) {
          fail[t] = delta[fail[s] * 256 + b];
          delta[s * 256 + b] = t;
          queue.push(t);
        } else delta[s * 256 + b] = delta[fail[s] * 256 + b];
      }
    }
    this.delta = delta;
    this.states = n;
    this.outStart = new Int32Array(n + 1);
    const flat: number[] = [];
    for (let s = 0; s < n; s++) {
      this.outStart[s] = flat.length;
      flat.push(...new Set(out[s]));
    }
    this.outStart[n] = flat.length;
    this.outList = Int32Array.from(flat);
    this.lengths = Int32Array.from(patterns.map((p) => p.length));
  }

  /**
   * Scans `data` from DFA state `state`; calls `onMatch(patternId, endOffset)` for each match, where
   * endOffset is the index in `data` just past the match (add the chunk's stream offset for a stream
   * position). Returns the state to carry into the next chunk.
   */
  scan(state: number, data: Uint8Array, onMatch: (pattern: number, end: number) => void): number {
    const d = this.delta, os = this.outStart, ol = this.outList;
    let s = state;
    for (let i = 0; i < data.length; i++) {
      s = d[(s << 8) | data[i]];
      const a = os[s], b = os[s + 1];
      for (let k = a; k < b; k++) onMatch(ol[k], i + 1);
    }
    return s;
  }
}
