// SYN cookies (RFC 4987 3.6): when a listener's half-open queue is full, the SYN-ACK's sequence number
// carries what the connection needs later (a coarse time and the peer's MSS) plus a keyed hash of the
// 4-tuple and the peer's ISN, so the handshake's ACK can open the connection with no state kept before it.
//
// Layout of the 32-bit cookie: 5 bits of a 64-second counter, 3 bits of MSS index, 24 bits of hash. A cookie
// is valid for two counter steps (64-128 s). The hash is a keyed 32-bit mix (murmur3's) over a per-stack
// random secret: forging one takes about 2^24 tries per 4-tuple and time step.

/** MSS values a cookie can keep (the largest not above the peer's is chosen). */
export const COOKIE_MSS = [536, 1220, 1300, 1380, 1440, 1452, 1460, 8960] as const;
export const SYN_COOKIE_PERIOD_MS = 64_000;
export const SYN_COOKIE_LIFETIME_MS = 2 * SYN_COOKIE_PERIOD_MS;

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class SynCookies {
  private readonly secret: Uint32Array;

  /** `random` gives numbers in [0, 1) (the stack's source; seeded in tests). */
  constructor(random: () => number) {
    this.secret = Uint32Array.from({ length: 4 }, () => Math.floor(random() * 0x100000000) >>> 0);
  }

  private hash(localIp: number, localPort: number, remoteIp: number, remotePort: number, peerIsn: number, t: number): number {
    const s = this.secret;
    let h = mix(s[0], localIp);
    h = mix(h, remoteIp);
    h = mix(h, ((localPort << 16) | remotePort) ^ s[1]);
    h = mix(h, peerIsn ^ s[2]);
    h = mix(h, t ^ s[3]);
    return fmix(h ^ 20);
  }

  /** The cookie (our ISN) for a SYN with sequence `peerIsn` from a peer whose MSS is `mss`, at `nowMs`. */
  make(localIp: number, localPort: number, remoteIp: number, remotePort: number, peerIsn: number, mss: number, nowMs: number): number {
    let idx = 0;
    while (idx + 1 < COOKIE_MSS.length && COOKIE_MSS[idx + 1] <= mss) idx++;
    const t = Math.floor(nowMs / SYN_COOKIE_PERIOD_MS);
    return (((t & 31) << 27) | (idx << 24) | (this.hash(localIp, localPort, remoteIp, remotePort, peerIsn >>> 0, t) & 0xffffff)) >>> 0;
  }

  /**
   * Checks the ACK of a cookie handshake (sequence `seq` = peer ISN + 1, acknowledgement = cookie + 1):
   * the MSS the cookie kept, or 0 when it is not a valid current cookie.
   */
  check(localIp: number, localPort: number, remoteIp: number, remotePort: number, seq: number, ack: number, nowMs: number): number {
    const cookie = (ack - 1) >>> 0, peerIsn = (seq - 1) >>> 0;
    const now = Math.floor(nowMs / SYN_COOKIE_PERIOD_MS);
    for (let age = 0; age < 2; age++) {
      const t = now - age;
      if (t < 0 || cookie >>> 27 !== (t & 31)) continue;
      if ((this.hash(localIp, localPort, remoteIp, remotePort, peerIsn, t) & 0xffffff) === (cookie & 0xffffff)) return COOKIE_MSS[(cookie >>> 24) & 7];
    }
    return 0;
  }
}
