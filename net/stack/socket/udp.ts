// UDP sockets: bind a port, sendTo (queued, sent at the next poll), a bounded receive queue read
// through a promise or async iteration. The layer part demultiplexes by destination port.

import { IpProtocol, Ipv4View, UDP_HEADER_LEN, UdpRepr, UdpView, formatIpv4Addr } from '../../wire';
import { Ipv4Address, ResolvedConfig, toIpv4 } from '../config';
import { StackCounters } from '../counters';
import { Interface, L4_OFFSET } from '../iface/interface';
import { SocketError } from './errors';

/** Largest payload of one datagram: 65535 - IPv4 header - UDP header. */
export const UDP_MAX_PAYLOAD = 0xffff - 20 - UDP_HEADER_LEN;

export interface UdpDatagram {
  data: Uint8Array;
  /** Sender address (dotted quad) and port. */
  address: string;
  port: number;
  /** The same address as a uint32, as the wire layer uses. */
  addressNumber: number;
}

interface Outgoing {
  data: Uint8Array;
  dst: number;
  port: number;
}

interface RecvWaiter {
  resolve: (d: UdpDatagram) => void;
  reject: (e: Error) => void;
}

export class UdpSocket implements AsyncIterable<UdpDatagram> {
  private readonly rx: UdpDatagram[] = [];
  private readonly waiters: RecvWaiter[] = [];
  /** @internal */ readonly tx: Outgoing[] = [];
  private isClosed = false;

  /** @internal Use Stack.udpBind. */
  constructor(
    readonly port: number,
    private readonly layer: UdpLayer,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }
  /** Datagrams received and not read. */
  get pending(): number {
    return this.rx.length;
  }

  /**
   * Queue a datagram (copied) for the next poll. False when it cannot be sent: socket closed, the
   * send queue full, or larger than a UDP datagram can be (larger than the MTU is fine: it is fragmented).
   */
  sendTo(data: Uint8Array, address: Ipv4Address, port: number): boolean {
    if (this.isClosed || data.length > UDP_MAX_PAYLOAD || !(port >= 1 && port <= 65535)) {
      this.layer.counters.udpTxDrop++;
      return false;
    }
    if (this.tx.length >= this.layer.cfg.udp.sendQueue) {
      this.layer.counters.udpTxDrop++;
      return false;
    }
    this.tx.push({ data: data.slice(), dst: toIpv4(address), port });
    this.layer.markDirty(this);
    return true;
  }

  /** The next datagram; rejects once the socket is closed. */
  recv(): Promise<UdpDatagram> {
    const d = this.rx.shift();
    if (d !== undefined) return Promise.resolve(d);
    if (this.isClosed) return Promise.reject(new SocketError('ESOCKETCLOSED', 'socket closed'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The next datagram if one is queued, without waiting. */
  tryRecv(): UdpDatagram | null {
    return this.rx.shift() ?? null;
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.layer.unbind(this);
    this.tx.length = 0;
    for (const w of this.waiters.splice(0)) w.reject(new SocketError('ESOCKETCLOSED', 'socket closed'));
  }

  /** @internal */
  deliver(d: UdpDatagram): boolean {
    const w = this.waiters.shift();
    if (w !== undefined) {
      w.resolve(d);
      return true;
    }
    if (this.rx.length >= this.layer.cfg.udp.recvQueue) return false;
    this.rx.push(d);
    return true;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<UdpDatagram> {
    for (;;) {
      let d: UdpDatagram;
      try {
        d = await this.recv();
      } catch (e) {
        if (this.isClosed) return;
        throw e;
      }
      yield d;
    }
  }
}

const txView = new UdpView();

export class UdpLayer {
  private readonly sockets = new Map<number, UdpSocket>();
  private readonly dirty = new Set<UdpSocket>();
  private polling = false;

  constructor(
    private readonly iface: Interface,
    readonly cfg: ResolvedConfig,
    readonly counters: StackCounters,
  ) {}

  bind(port: number): UdpSocket {
    if (port === 0) port = this.ephemeral();
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad port ${port}`);
    if (this.sockets.has(port)) throw new SocketError('EADDRINUSE', `UDP port ${port} is bound`);
    const s = new UdpSocket(port, this);
    this.sockets.set(port, s);
    return s;
  }

  private ephemeral(): number {
    const [lo, hi] = this.cfg.tcp.ephemeralPorts;
    const n = hi - lo + 1;
    const start = Math.floor(this.cfg.random() * n);
    for (let i = 0; i < n; i++) {
      const p = lo + ((start + i) % n);
      if (!this.sockets.has(p)) return p;
    }
    throw new SocketError('EADDRNOTAVAIL', 'no free UDP port');
  }

  unbind(s: UdpSocket): void {
    if (this.sockets.get(s.port) === s) this.sockets.delete(s.port);
    this.dirty.delete(s);
  }

  accepts(port: number): boolean {
    return this.sockets.has(port);
  }

  /** A checked datagram; false when no socket has its port. */
  input(ip: Ipv4View, udp: UdpView): boolean {
    const s = this.sockets.get(udp.dstPort);
    if (s === undefined) return false;
    const src = ip.src;
    const d: UdpDatagram = {
      data: udp.copyOut(UDP_HEADER_LEN, udp.payloadLength),
      address: formatIpv4Addr(src),
      port: udp.srcPort,
      addressNumber: src,
    };
    if (!s.deliver(d)) this.counters.udpRxQueueDrop++;
    return true;
  }

  markDirty(s: UdpSocket): void {
    const wasIdle = this.dirty.size === 0;
    this.dirty.add(s);
    if (wasIdle && !this.polling) this.cfg.wake?.();
  }

  poll(): void {
    this.polling = true;
    try {
      for (const s of this.dirty) {
        for (const out of s.tx.splice(0)) this.send(s.port, out);
      }
      this.dirty.clear();
    } finally {
      this.polling = false;
    }
  }

  pollAt(): number {
    return this.dirty.size > 0 ? this.iface.now : Infinity;
  }

  private send(port: number, out: Outgoing): void {
    const src = this.iface.sourceFor(out.dst);
    const n = UDP_HEADER_LEN + out.data.length;
    txView.wrap(this.iface.txBuffer, L4_OFFSET, n);
    UdpRepr.emit({ srcPort: port, dstPort: out.port, payloadLength: out.data.length }, txView, src, out.dst, out.data);
    this.counters.udpTx++;
    this.iface.sendL4(src, out.dst, IpProtocol.Udp, n, false);
  }
}
