// TCP demultiplexing and housekeeping: the connection table, listeners, source ports, resets for
// closed ports (RFC 9293 3.10.7.1), the timer heap and the set of connections with output pending.

import { IpProtocol, Ipv4View, TcpFlags, TcpRepr, TcpView, WireError, seqLt } from '../../wire';
import { ResolvedConfig, ResolvedTcpConfig, TcpSocketOptions, resolveTcpSocketOptions } from '../config';
import { StackCounters } from '../counters';
import { Interface, L4_OFFSET } from '../iface/interface';
import { TimerHeap } from '../storage/timer-heap';
import { SocketError } from './errors';
import { Segment, TcpConnection, TcpHost, TcpState } from './tcp';
import { TcpListener, TcpSocket } from './tcp-socket';
import { SYN_COOKIE_LIFETIME_MS, SynCookies } from './syn-cookies';

export interface TcpListenOptions extends TcpSocketOptions {
  /** Established connections waiting for accept(); SYNs beyond it are dropped. Default 128. */
  backlog?: number;
}

/** Hash of a connection's remote end and local port; collisions chain through nextInBucket. */
function bucketKey(localPort: number, remoteIp: number, remotePort: number): number {
  // 32 bits of mixed remote address/port times 2^16 plus the local port stays an exact double.
  return ((remoteIp ^ Math.imul(remotePort, 0x9e3779b1)) >>> 0) * 65536 + localPort;
}

const rstView = new TcpView();

export class TcpLayer implements TcpHost {
  private readonly buckets = new Map<number, TcpConnection>();
  private readonly listeners = new Map<number, TcpListener>();
  private dirty = new Set<TcpConnection>();
  private dirtySpare = new Set<TcpConnection>();
  private readonly timers = new TimerHeap<TcpConnection>();
  private readonly seg = new Segment();
  private polling = false;
  private readonly cookies: SynCookies;
  private lastCookieAt = -Infinity;
  private count = 0;
  readonly cfg: ResolvedTcpConfig;

  constructor(
    readonly iface: Interface,
    private readonly stackCfg: ResolvedConfig,
    readonly counters: StackCounters,
  ) {
    this.cfg = stackCfg.tcp;
    this.cookies = new SynCookies(stackCfg.random);
  }

  /** Connections in the table (every state but CLOSED, TIME-WAIT included). */
  get connections(): number {
    return this.count;
  }

  // -------------------------------------------------------------------------------------------
  // Table

  lookup(localIp: number, localPort: number, remoteIp: number, remotePort: number): TcpConnection | null {
    let c = this.buckets.get(bucketKey(localPort, remoteIp, remotePort)) ?? null;
    while (c !== null) {
      if (c.localPort === localPort && c.remoteIp === remoteIp && c.remotePort === remotePort && c.localIp === localIp) return c;
      c = c.nextInBucket;
    }
    return null;
  }

  private insert(c: TcpConnection): void {
    const k = bucketKey(c.localPort, c.remoteIp, c.remotePort);
    c.nextInBucket = this.buckets.get(k) ?? null;
    this.buckets.set(k, c);
    this.count++;
  }

  private remove(c: TcpConnection): void {
    const k = bucketKey(c.localPort, c.remoteIp, c.remotePort);
    let prev: TcpConnection | null = null;
    let cur = this.buckets.get(k) ?? null;
    while (cur !== null && cur !== c) {
      prev = cur;
      cur = cur.nextInBucket;
    }
    if (cur === null) return;
    if (prev === null) {
      if (c.nextInBucket === null) this.buckets.delete(k);
      else this.buckets.set(k, c.nextInBucket);
    } else prev.nextInBucket = c.nextInBucket;
    c.nextInBucket = null;
    this.count--;
  }

  // -------------------------------------------------------------------------------------------
  // Input

  accepts(localIp: number, localPort: number, remoteIp: number, remotePort: number): boolean {
    const l = this.listeners.get(localPort);
    return (l !== undefined && !l.closed) || this.lookup(localIp, localPort, remoteIp, remotePort) !== null;
  }

  input(ip: Ipv4View, view: TcpView): void {
    if (view.check() !== WireError.Ok) {
      this.counters.tcpBad++;
      return;
    }
    if (!view.verifyChecksum(ip)) {
      this.counters.tcpBadChecksum++;
      return;
    }
    const raw = view.bytes;
    const bytes = raw instanceof Uint8Array ? raw : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    const seg = this.seg;
    if (!seg.load(view, bytes)) {
      this.counters.tcpBad++;
      return;
    }
    this.counters.tcpRx++;
    const localIp = ip.dst;
    const remoteIp = ip.src;
    const localPort = view.dstPort;
    const remotePort = view.srcPort;
    if (localPort === 0 || remotePort === 0) {
      this.counters.tcpBad++;
      return;
    }
    const f = seg.flags;
    let conn = this.lookup(localIp, localPort, remoteIp, remotePort);
    if (conn !== null && conn.state === TcpState.TimeWait && f & TcpFlags.SYN && !(f & (TcpFlags.ACK | TcpFlags.RST))) {
      // RFC 6191 / RFC 1122 4.2.2.13: a new SYN beyond the old connection's sequence space may
      // end TIME-WAIT early and open a new connection on the same 4-tuple.
      const l = this.listeners.get(localPort);
      if (l !== undefined && !l.closed && seqLt(conn.rcvNxt, seg.seq)) {
        this.counters.tcpTimeWaitReused++;
        conn.toClosed(null);
        conn = null;
      }
    }
    if (conn !== null) {
      conn.input(seg);
      return;
    }
    const listener = this.listeners.get(localPort);
    if (listener !== undefined && !listener.closed) {
      if (f & TcpFlags.RST) return;
      if (f & TcpFlags.ACK) {
        if (!(f & TcpFlags.SYN) && this.cookiesInUse()) {
          const mss = this.cookies.check(localIp, localPort, remoteIp, remotePort, seg.seq, seg.ack, this.iface.now);
          if (mss > 0) {
            if (listener.acceptQueueFull) {
              // The peer retransmits its ACK; there may be room then (RFC 4987: no state was kept either way).
              this.counters.tcpListenOverflow++;
              return;
            }
            this.counters.tcpSynCookiesRecv++;
            const c = new TcpConnection(this, listener.cfg, localIp, localPort, remoteIp, remotePort, this.stackCfg.random);
            c.listener = listener;
            listener.track(c);
            this.insert(c);
            this.counters.tcpPassiveOpens++;
            c.openFromCookie(seg, (seg.ack - 1) >>> 0, mss);
            c.input(seg);
            return;
          }
          this.counters.tcpSynCookiesFailed++;
        }
        this.sendReset(localIp, remoteIp, localPort, remotePort, seg);
        return;
      }
      if (!(f & TcpFlags.SYN)) return;
      if (listener.acceptQueueFull) {
        this.counters.tcpListenOverflow++;
        return;
      }
      if (listener.halfOpen >= this.cfg.synBacklog) {
        if (this.cfg.synCookies) this.sendCookieSynAck(listener, localIp, remoteIp, localPort, remotePort, seg);
        else this.counters.tcpSynQueueOverflow++;
        return;
      }
      const c = new TcpConnection(this, listener.cfg, localIp, localPort, remoteIp, remotePort, this.stackCfg.random);
      c.listener = listener;
      listener.track(c);
      this.insert(c);
      this.counters.tcpPassiveOpens++;
      c.openPassive(seg);
      this.schedule(c);
      return;
    }
    this.counters.tcpNoSocket++;
    this.sendReset(localIp, remoteIp, localPort, remotePort, seg);
  }

  /** Cookies were sent within their lifetime: an unknown ACK to a listener may carry one. */
  private cookiesInUse(): boolean {
    return this.cfg.synCookies && this.iface.now - this.lastCookieAt < SYN_COOKIE_LIFETIME_MS;
  }

  /** Answers a SYN with a SYN-ACK whose sequence number is a cookie; nothing is stored. */
  private sendCookieSynAck(listener: TcpListener, localIp: number, remoteIp: number, localPort: number, remotePort: number, seg: Segment): void {
    const now = this.iface.now;
    const ourMss = this.iface.maxL4Payload - 20;
    const peerMss = seg.options.mss > 0 ? seg.options.mss : 536;
    const cookie = this.cookies.make(localIp, localPort, remoteIp, remotePort, seg.seq, Math.min(peerMss, ourMss), now);
    const repr: TcpRepr = {
      srcPort: localPort,
      dstPort: remotePort,
      seq: cookie,
      ack: (seg.seq + 1) >>> 0,
      flags: TcpFlags.SYN | TcpFlags.ACK,
      // Unscaled: no window scale option was offered, so this is the window until the peer's first ACK.
      window: Math.min(listener.cfg.recvBuffer, 0xffff),
      mss: ourMss,
      payloadLength: 0,
    };
    const n = TcpRepr.headerLen(repr);
    rstView.wrap(this.iface.txBuffer, L4_OFFSET, n);
    TcpRepr.emit(repr, rstView, localIp, remoteIp);
    this.lastCookieAt = now;
    this.counters.tcpSynCookiesSent++;
    this.counters.tcpTx++;
    this.iface.sendL4(localIp, remoteIp, IpProtocol.Tcp, n, true);
  }

  /** RFC 9293 3.10.7.1: the reset that answers a segment nobody holds (never one for a reset). */
  private sendReset(localIp: number, remoteIp: number, localPort: number, remotePort: number, seg: Segment): void {
    if (seg.flags & TcpFlags.RST) return;
    const withAck = (seg.flags & TcpFlags.ACK) === 0;
    const repr: TcpRepr = {
      srcPort: localPort,
      dstPort: remotePort,
      seq: withAck ? 0 : seg.ack,
      ack: withAck ? (seg.seq + seg.length) >>> 0 : 0,
      flags: TcpFlags.RST | (withAck ? TcpFlags.ACK : 0),
      window: 0,
      payloadLength: 0,
    };
    const n = TcpRepr.headerLen(repr);
    rstView.wrap(this.iface.txBuffer, L4_OFFSET, n);
    TcpRepr.emit(repr, rstView, localIp, remoteIp);
    this.counters.tcpRstTx++;
    this.counters.tcpTx++;
    this.iface.sendL4(localIp, remoteIp, IpProtocol.Tcp, n, true);
  }

  // -------------------------------------------------------------------------------------------
  // TcpHost

  markDirty(c: TcpConnection): void {
    const wasIdle = this.dirty.size === 0;
    this.dirty.add(c);
    if (wasIdle && !this.polling) this.stackCfg.wake?.();
  }

  schedule(c: TcpConnection): void {
    if (c.state === TcpState.Closed) return;
    const t = c.nextTimer();
    if (t < c.heapAt) {
      const wasIdle = t < this.timers.peek();
      c.heapAt = t;
      this.timers.push(t, c);
      if (wasIdle && !this.polling) this.stackCfg.wake?.();
    }
  }

  onEstablished(c: TcpConnection): boolean {
    const l = c.listener;
    if (l instanceof TcpListener) {
      if (!l.offer(c)) {
        this.counters.tcpListenOverflow++;
        return false;
      }
      return true;
    }
    const resolve = c.connectResolve;
    c.connectResolve = null;
    c.connectReject = null;
    resolve?.();
    return true;
  }

  onClosed(c: TcpConnection): void {
    const l = c.listener;
    if (l instanceof TcpListener) l.forget(c);
    c.heapAt = Infinity;
    this.dirty.delete(c);
    this.remove(c);
  }

  // -------------------------------------------------------------------------------------------
  // API

  listen(port: number, opts: TcpListenOptions = {}): TcpListener {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad port ${port}`);
    const existing = this.listeners.get(port);
    if (existing !== undefined && !existing.closed) throw new SocketError('EADDRINUSE', `port ${port} is already listening`);
    const backlog = opts.backlog ?? 128;
    if (!Number.isInteger(backlog) || backlog < 0) throw new RangeError(`bad backlog ${backlog}`);
    const l = new TcpListener(port, backlog, resolveTcpSocketOptions(this.cfg, opts), (x) => {
      if (this.listeners.get(x.port) === x) this.listeners.delete(x.port);
    });
    this.listeners.set(port, l);
    return l;
  }

  connect(remoteIp: number, remotePort: number, opts: TcpSocketOptions = {}): Promise<TcpSocket> {
    if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) {
      return Promise.reject(new RangeError(`bad port ${remotePort}`));
    }
    if (this.iface.nextHop(remoteIp) < 0 || this.iface.isLocal(remoteIp)) {
      return Promise.reject(new SocketError('ENETUNREACH', 'no route to host'));
    }
    const localIp = this.iface.sourceFor(remoteIp);
    const localPort = this.chooseSourcePort(localIp, remoteIp, remotePort);
    if (localPort < 0) return Promise.reject(new SocketError('EADDRNOTAVAIL', 'no free source port'));
    const c = new TcpConnection(
      this,
      resolveTcpSocketOptions(this.cfg, opts),
      localIp,
      localPort,
      remoteIp,
      remotePort,
      this.stackCfg.random,
    );
    const socket = new TcpSocket(c);
    const p = new Promise<TcpSocket>((resolve, reject) => {
      c.connectResolve = () => resolve(socket);
      c.connectReject = reject;
    });
    this.insert(c);
    this.counters.tcpActiveOpens++;
    c.openActive();
    return p;
  }

  private chooseSourcePort(localIp: number, remoteIp: number, remotePort: number): number {
    const inUse = (port: number): boolean =>
      !Number.isInteger(port) || port < 1 || port > 65535 || this.listeners.has(port) ||
      this.lookup(localIp, port, remoteIp, remotePort) !== null;
    const hook = this.cfg.chooseSourcePort;
    if (hook !== null) {
      const p = hook(remoteIp, remotePort, localIp, inUse);
      return inUse(p) ? -1 : p;
    }
    const [lo, hi] = this.cfg.ephemeralPorts;
    const n = hi - lo + 1;
    const start = Math.floor(this.stackCfg.random() * n);
    for (let i = 0; i < n; i++) {
      const p = lo + ((start + i) % n);
      if (!inUse(p)) return p;
    }
    return -1;
  }

  // -------------------------------------------------------------------------------------------
  // Poll

  poll(now: number): void {
    this.polling = true;
    try {
      let c: TcpConnection | undefined;
      while ((c = this.timers.popDue(now)) !== undefined) {
        // An entry is current only if it is the earliest one queued for the connection.
        if (this.timers.poppedDeadline !== c.heapAt) continue;
        c.heapAt = Infinity;
        if (c.nextTimer() <= now) c.onTimer();
        else this.schedule(c);
      }
      for (let round = 0; round < 4 && this.dirty.size > 0; round++) {
        const work = this.dirty;
        this.dirty = this.dirtySpare;
        this.dirtySpare = work;
        for (const conn of work) if (conn.state !== TcpState.Closed) conn.dispatch();
        work.clear();
      }
    } finally {
      this.polling = false;
    }
  }

  pollAt(): number {
    if (this.dirty.size > 0) return this.iface.now;
    // Drop stale entries at the top so the answer is a real deadline.
    for (;;) {
      const c = this.timers.peekItem();
      if (c === undefined) return Infinity;
      const t = this.timers.peek();
      if (t === c.heapAt) return t;
      this.timers.popAny();
    }
  }
}
