// Configuration of a stack (one per shard): interface addresses, ARP, reassembly, ICMP, UDP and
// TCP tunables, and the hooks the framework plugs in. Defaults are filled in once by resolveConfig().

import type { TcpSenderFactory } from './socket/tcp-sender';
import { parseIpv4Addr, parseMac } from '../wire';

/** An IPv4 address as a dotted quad or a uint32. */
export type Ipv4Address = string | number;
/** A MAC as "aa:bb:cc:dd:ee:ff" or a 48-bit number. */
export type MacAddress = string | number;

export interface Ipv4Cidr {
  address: Ipv4Address;
  /** Prefix length, 0..32. */
  prefix: number;
}

export interface ArpConfig {
  /** An entry is used for this long after it was last confirmed (ms). Default 60 000. */
  entryTimeout?: number;
  /** After this long without confirmation an entry in use is re-resolved by unicast request. Default 30 000. */
  reachableTime?: number;
  /** Interval between requests for an unresolved address (ms). Default 1000. */
  retryInterval?: number;
  /** Requests before the packets waiting for an address are dropped. Default 3. */
  maxRequests?: number;
  /** Packets waiting for one address. Default 64. */
  queuePerNeighbor?: number;
  /** Packets waiting for any address. Default 512. */
  queueTotal?: number;
  /** Entries kept; the oldest is evicted beyond it. Default 4096. */
  cacheSize?: number;
}

export interface ReassemblyConfig {
  /** Datagrams being reassembled at once. Default 64. */
  maxDatagrams?: number;
  /** Bytes held by all of them. Default 1 MiB. */
  maxBytes?: number;
  /** A datagram not complete after this long is dropped (ms). Default 30 000. */
  timeout?: number;
  /** Disjoint fragment ranges per datagram. Default 64. */
  maxRanges?: number;
}

export interface IcmpConfig {
  /** ICMP errors (unreachable) per second; a token bucket. Default 1000. */
  errorRate?: number;
  /** Bucket depth. Default 100. */
  errorBurst?: number;
}

export interface UdpConfig {
  /** Datagrams a socket holds unread before dropping. Default 1024. */
  recvQueue?: number;
  /** Datagrams a socket holds unsent until the next poll. Default 1024. */
  sendQueue?: number;
}

export interface KeepAliveConfig {
  /** Idle time before the first probe (ms). */
  idle: number;
  /** Between probes (ms). */
  interval: number;
  /** Unanswered probes before the connection is dropped. */
  count: number;
}

export type CongestionControlName = 'newreno' | 'cubic';

/** Per-connection TCP settings; the stack's are the defaults, listen/connect options override. */
export interface TcpSocketOptions {
  /** Send buffer bytes. Default 65536. */
  sendBuffer?: number;
  /** Receive buffer bytes; also the largest window offered. Default 65536. */
  recvBuffer?: number;
  /** Disable Nagle's algorithm. Default true (send small segments at once). */
  noDelay?: boolean;
  /** Keep-alive probes; null (default) for none. */
  keepAlive?: KeepAliveConfig | null;
  congestion?: CongestionControlName;
  /** Sender behaviour module (e.g. `() => new Halfback()` from socket/tcp-sender); default plain TCP. */
  sender?: TcpSenderFactory | null;
}

export interface TcpConfig extends TcpSocketOptions {
  /** Offer window scaling (RFC 7323). Default true. */
  windowScale?: boolean;
  /** Offer SACK (RFC 2018). Default true. */
  sack?: boolean;
  /** Offer timestamps (RFC 7323). Default true. */
  timestamps?: boolean;
  /** Delayed ACK timeout (ms); 0 acks every segment at once. Default 40. */
  delayedAck?: number;
  /** Initial congestion window in segments (RFC 6928). Default 10. */
  initialWindow?: number;
  rtoInitial?: number;
  /** Default 200 ms (Linux), not RFC 6298's 1 s. */
  rtoMin?: number;
  rtoMax?: number;
  /** Retransmissions of one segment before the connection is dropped. Default 12. */
  maxRetries?: number;
  /** SYN (or SYN-ACK) retransmissions before giving up. Default 5. */
  synRetries?: number;
  /** Maximum segment lifetime (ms); TIME-WAIT lasts 2*MSL. Default 1000 (short; Linux waits 60 s). */
  msl?: number;
  /** How long a closed socket waits in FIN-WAIT-2 for the peer's FIN (ms). Default 30 000. */
  finWait2Timeout?: number;
  /** Half-open connections per listener. Default 256. */
  synBacklog?: number;
  /**
   * Answer SYNs past synBacklog with SYN cookies (RFC 4987 3.6) instead of dropping them: no state is kept
   * until the handshake's ACK proves the peer real. Such connections get the MSS the cookie keeps (one of 8
   * values) and no window scaling, SACK or timestamps. Default true (Linux: tcp_syncookies=1).
   */
  synCookies?: boolean;
  /** Out-of-order ranges kept per connection. Default 32. */
  maxOooRanges?: number;
  /** Ports tried by the default source port chooser, inclusive. Default [49152, 65535]. */
  ephemeralPorts?: [number, number];
  /** Initial sequence number; default random. Tests fix it to assert exact segments. */
  initialSequence?: (localIp: number, localPort: number, remoteIp: number, remotePort: number) => number;
  /**
   * Pick the local port of an active open, e.g. one whose 4-tuple hashes (RSS) to this shard.
   * `inUse(port)` tells whether that port is taken for this remote. Return -1 when none is free.
   */
  chooseSourcePort?: (remoteIp: number, remotePort: number, localIp: number, inUse: (port: number) => boolean) => number;
}

export interface StackConfig {
  mac: MacAddress;
  addresses: Ipv4Cidr[];
  gateway?: Ipv4Address;
  /** IP MTU. Default 1500. */
  mtu?: number;
  /** TTL of datagrams we send. Default 64. */
  ttl?: number;
  arp?: ArpConfig;
  reassembly?: ReassemblyConfig;
  icmp?: IcmpConfig;
  udp?: UdpConfig;
  tcp?: TcpConfig;
  /** Random numbers in [0, 1) for ISNs, timestamp offsets, ports; seed it in tests. Default Math.random. */
  random?: () => number;
  /** Called when the stack, idle until then, has work for poll() (a socket write, a new timer). */
  wake?: () => void;
  /** Called when ARP learns or changes an entry (to share it with other shards). */
  onNeighbor?: (ip: number, mac: number) => void;
}

/** What the stack runs with: every default filled in, addresses as numbers. */
export interface ResolvedTcpConfig {
  sendBuffer: number;
  recvBuffer: number;
  noDelay: boolean;
  keepAlive: KeepAliveConfig | null;
  congestion: CongestionControlName;
  sender: TcpSenderFactory | null;
  windowScale: boolean;
  sack: boolean;
  timestamps: boolean;
  delayedAck: number;
  initialWindow: number;
  rtoInitial: number;
  rtoMin: number;
  rtoMax: number;
  maxRetries: number;
  synRetries: number;
  msl: number;
  finWait2Timeout: number;
  synBacklog: number;
  synCookies: boolean;
  maxOooRanges: number;
  ephemeralPorts: [number, number];
  initialSequence: ((localIp: number, localPort: number, remoteIp: number, remotePort: number) => number) | null;
  chooseSourcePort:
    | ((remoteIp: number, remotePort: number, localIp: number, inUse: (port: number) => boolean) => number)
    | null;
}

export interface ResolvedConfig {
  mac: number;
  addresses: { address: number; prefix: number; mask: number; network: number; broadcast: number }[];
  gateway: number | null;
  mtu: number;
  ttl: number;
  arp: Required<ArpConfig>;
  reassembly: Required<ReassemblyConfig>;
  icmp: Required<IcmpConfig>;
  udp: Required<UdpConfig>;
  tcp: ResolvedTcpConfig;
  random: () => number;
  wake: (() => void) | null;
  onNeighbor: ((ip: number, mac: number) => void) | null;
}

export function toIpv4(addr: Ipv4Address): number {
  const n = typeof addr === 'number' ? addr : parseIpv4Addr(addr);
  if (n === null || !Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new TypeError(`bad IPv4 address ${addr}`);
  return n >>> 0;
}

export function toMac(mac: MacAddress): number {
  const n = typeof mac === 'number' ? mac : parseMac(mac);
  if (n === null || !Number.isInteger(n) || n < 0 || n > 0xffffffffffff) throw new TypeError(`bad MAC address ${mac}`);
  return n;
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function positive(name: string, v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a positive number, got ${v}`);
  return v;
}

export function resolveTcpSocketOptions(base: ResolvedTcpConfig, o: TcpSocketOptions = {}): ResolvedTcpConfig {
  return {
    ...base,
    sendBuffer: positive('sendBuffer', o.sendBuffer ?? base.sendBuffer),
    recvBuffer: positive('recvBuffer', o.recvBuffer ?? base.recvBuffer),
    noDelay: o.noDelay ?? base.noDelay,
    keepAlive: o.keepAlive === undefined ? base.keepAlive : o.keepAlive,
    congestion: o.congestion ?? base.congestion,
    sender: o.sender === undefined ? base.sender : o.sender,
  };
}

export function resolveConfig(c: StackConfig): ResolvedConfig {
  const mtu = c.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 9216) throw new RangeError(`mtu ${mtu} outside 576..9216`);
  if (c.addresses.length === 0) throw new RangeError('a stack needs at least one IPv4 address');
  const addresses = c.addresses.map((a) => {
    if (!Number.isInteger(a.prefix) || a.prefix < 0 || a.prefix > 32) throw new RangeError(`prefix ${a.prefix}`);
    const address = toIpv4(a.address);
    const mask = prefixMask(a.prefix);
    const network = (address & mask) >>> 0;
    return { address, prefix: a.prefix, mask, network, broadcast: (network | ~mask) >>> 0 };
  });
  const t = c.tcp ?? {};
  const ports = t.ephemeralPorts ?? [49152, 65535];
  if (!(ports[0] >= 1 && ports[1] <= 65535 && ports[0] <= ports[1])) throw new RangeError('ephemeralPorts');
  const tcp: ResolvedTcpConfig = {
    sendBuffer: positive('sendBuffer', t.sendBuffer ?? 65536),
    recvBuffer: positive('recvBuffer', t.recvBuffer ?? 65536),
    noDelay: t.noDelay ?? true,
    keepAlive: t.keepAlive ?? null,
    congestion: t.congestion ?? 'newreno',
    sender: t.sender ?? null,
    windowScale: t.windowScale ?? true,
    sack: t.sack ?? true,
    timestamps: t.timestamps ?? true,
    delayedAck: t.delayedAck ?? 40,
    initialWindow: t.initialWindow ?? 10,
    rtoInitial: t.rtoInitial ?? 1000,
    rtoMin: t.rtoMin ?? 200,
    rtoMax: t.rtoMax ?? 60000,
    maxRetries: t.maxRetries ?? 12,
    synRetries: t.synRetries ?? 5,
    msl: t.msl ?? 1000,
    finWait2Timeout: t.finWait2Timeout ?? 30000,
    synBacklog: t.synBacklog ?? 256,
    synCookies: t.synCookies ?? true,
    maxOooRanges: t.maxOooRanges ?? 32,
    ephemeralPorts: [ports[0], ports[1]],
    initialSequence: t.initialSequence ?? null,
    chooseSourcePort: t.chooseSourcePort ?? null,
  };
  return {
    mac: toMac(c.mac),
    addresses,
    gateway: c.gateway === undefined ? null : toIpv4(c.gateway),
    mtu,
    ttl: c.ttl ?? 64,
    arp: {
      entryTimeout: 60000,
      reachableTime: 30000,
      retryInterval: 1000,
      maxRequests: 3,
      queuePerNeighbor: 64,
      queueTotal: 512,
      cacheSize: 4096,
      ...c.arp,
    },
    reassembly: { maxDatagrams: 64, maxBytes: 1 << 20, timeout: 30000, maxRanges: 64, ...c.reassembly },
    icmp: { errorRate: 1000, errorBurst: 100, ...c.icmp },
    udp: { recvQueue: 1024, sendQueue: 1024, ...c.udp },
    tcp,
    random: c.random ?? Math.random,
    wake: c.wake ?? null,
    onNeighbor: c.onNeighbor ?? null,
  };
}
