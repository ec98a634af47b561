// Maglev consistent hashing (Eisenbud et al., NSDI 2016) with weights: every backend walks its own
// permutation of the M slots (offset and skip from two hashes of its name) and claims free slots in turns,
// a backend of weight w taking w/wmax turns per round. Names, not positions, seed the permutations, so a
// backend keeps most of its slots when others come or go (about 1/N of the table moves per change).

/** The table size the brief asks for: a prime, so every skip is coprime with it. */
export const MAGLEV_M = 65537;

export interface MaglevBackend {
  /** stable identity, e.g. "198.18.2.10:8080" */
  name: string;
  weight: number;
}

function fnv1a(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final mix: FNV alone leaves the low bits of similar names too alike.
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Builds the lookup table: slot -> index into `backends` (-1 everywhere when there is none, or all weights
 * are 0). Deterministic: every shard builds the same table from the same list.
 */
export function buildMaglev(backends: readonly MaglevBackend[], m: number = MAGLEV_M, out?: Int32Array): Int32Array {
  const table = out && out.length === m ? out : new Int32Array(m);
  table.fill(-1);
  const live = backends.map((b, i) => ({ i, w: b.weight })).filter((b) => b.w > 0);
  if (live.length === 0) return table;
  const n = live.length;
  const offset = new Float64Array(n), skip = new Float64Array(n), next = new Float64Array(n), credit = new Float64Array(n);
  let wmax = 0;
  for (let k = 0; k < n; k++) {
    const name = backends[live[k].i].name;
    offset[k] = fnv1a(name, 0x9747b28c) % m;
    skip[k] = (fnv1a(name, 0x5bd1e995) % (m - 1)) + 1;
    if (live[k].w > wmax) wmax = live[k].w;
  }
  let filled = 0;
  for (;;) {
    for (let k = 0; k < n; k++) {
      credit[k] += live[k].w / wmax;
      while (credit[k] >= 1) {
        credit[k] -= 1;
        // The next slot of k's permutation that nobody holds yet.
        let c = (offset[k] + next[k] * skip[k]) % m;
        while (table[c] >= 0) {
          next[k]++;
          c = (offset[k] + next[k] * skip[k]) % m;
        }
        table[c] = live[k].i;
        next[k]++;
        if (++filled === m) return table;
      }
    }
  }
}

/** A flow's slot: a hash of its tuple as the client sent it. */
export function maglevSlot(proto: number, src: number, dst: number, sport: number, dport: number, m: number = MAGLEV_M): number {
  let h = Math.imul((src >>> 0) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ (dst >>> 0), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ ((sport << 16) | dport), 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ proto, 0x165667b1);
  return ((h ^ (h >>> 16)) >>> 0) % m;
}
