// The TCP API in Node's idiom: TcpSocket (read/write/end/close/abort, async iteration) and
// TcpListener (accept, async iteration). Thin facades over TcpConnection; all state lives there.

import { formatIpv4Addr } from '../../wire';
import { ResolvedTcpConfig } from '../config';
import { SocketError } from './errors';
import { TcpConnection, TcpConnectionInfo, TcpState } from './tcp';

export class TcpSocket implements AsyncIterable<Uint8Array> {
  /** @internal Use Stack.tcpConnect or TcpListener.accept. */
  constructor(private readonly conn: TcpConnection) {}

  get state(): TcpState {
    return this.conn.state;
  }
  get localAddress(): string {
    return formatIpv4Addr(this.conn.localIp);
  }
  get localPort(): number {
    return this.conn.localPort;
  }
  get remoteAddress(): string {
    return formatIpv4Addr(this.conn.remoteIp);
  }
  get remotePort(): number {
    return this.conn.remotePort;
  }
  /** Why the connection failed (reset, timeout, abort), or null. */
  get error(): SocketError | null {
    return this.conn.error;
  }
  /** Bytes received and not read yet. */
  get readableLength(): number {
    return this.conn.readable;
  }
  /** Free room in the send buffer. */
  get writableLength(): number {
    return this.conn.writable;
  }
  /** Resolves (never rejects) when the connection is over: TIME-WAIT or CLOSED; with the error if any. */
  get closed(): Promise<SocketError | null> {
    return this.conn.closed;
  }

  /**
   * The next chunk of received data (up to 64 KiB), or null at end of stream (the peer's FIN).
   * Rejects with a SocketError when the connection was reset, timed out or aborted.
   */
  read(): Promise<Uint8Array | null> {
    return this.conn.read();
  }

  /**
   * Queue `data` for sending. Resolves once all of it is in the send buffer (not when it is
   * acknowledged): awaiting it is the backpressure. Do not modify `data` until it resolves.
   */
  write(data: Uint8Array): Promise<void> {
    return this.conn.write(data);
  }

  /** Half-close: send FIN after the data written so far; reading goes on until the peer's FIN. */
  end(): void {
    this.conn.end();
  }

  /** end() and stop reading; unread or later data resets the connection (as a closed Linux socket does). */
  close(): void {
    this.conn.close();
  }

  /** Reset the connection (RST) and fail pending operations with ECONNABORTED. */
  abort(): void {
    this.conn.abort();
  }

  info(): TcpConnectionInfo {
    return this.conn.info();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const chunk = await this.read();
      if (chunk === null) return;
      yield chunk;
    }
  }
}

interface AcceptWaiter {
  resolve: (s: TcpSocket) => void;
  reject: (e: Error) => void;
}

export class TcpListener implements AsyncIterable<TcpSocket> {
  /** Half-open connections (SYN-RECEIVED) made from this listener. */
  halfOpen = 0;
  private readonly queue: TcpSocket[] = [];
  private readonly waiters: AcceptWaiter[] = [];
  private isClosed = false;
  /** Connections not yet accepted, to abort if the listener closes. */
  private readonly pendingConns = new Set<TcpConnection>();

  /** @internal Use Stack.tcpListen. */
  constructor(
    readonly port: number,
    readonly backlog: number,
    /** @internal */ readonly cfg: ResolvedTcpConfig,
    private readonly onClose: (l: TcpListener) => void,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }
  /** Established connections waiting for accept(). */
  get pending(): number {
    return this.queue.length;
  }

  /** True when a SYN must be dropped because established connections would have no room. */
  get acceptQueueFull(): boolean {
    return this.waiters.length === 0 && this.queue.length >= this.backlog;
  }

  /** @internal A connection from this listener was created (SYN-RECEIVED). */
  track(c: TcpConnection): void {
    this.halfOpen++;
    this.pendingConns.add(c);
  }

  /** @internal The connection is established: hand it to accept(). False when the queue is full. */
  offer(c: TcpConnection): boolean {
    if (this.isClosed || this.acceptQueueFull) return false;
    this.halfOpen--;
    this.pendingConns.delete(c);
    c.listener = null;
    const s = new TcpSocket(c);
    const w = this.waiters.shift();
    if (w !== undefined) w.resolve(s);
    else this.queue.push(s);
    return true;
  }

  /** @internal A half-open connection died. */
  forget(c: TcpConnection): void {
    if (this.pendingConns.delete(c)) this.halfOpen--;
  }

  /** The next established connection. Rejects once the listener is closed. */
  accept(): Promise<TcpSocket> {
    const s = this.queue.shift();
    if (s !== undefined) return Promise.resolve(s);
    if (this.isClosed) return Promise.reject(new SocketError('ESOCKETCLOSED', 'listener closed'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Stop listening; reset connections nobody accepted yet. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.onClose(this);
    for (const c of [...this.pendingConns]) c.abort();
    this.pendingConns.clear();
    for (const s of this.queue.splice(0)) s.abort();
    for (const w of this.waiters.splice(0)) w.reject(new SocketError('ESOCKETCLOSED', 'listener closed'));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TcpSocket> {
    for (;;) {
      let s: TcpSocket;
      try {
        s = await this.accept();
      } catch (e) {
        if (this.isClosed) return;
        throw e;
      }
      yield s;
    }
  }
}
