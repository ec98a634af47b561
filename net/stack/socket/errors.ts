// Errors the socket API rejects with, carrying the errno-style codes Node users know from net.Socket.

export type SocketErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ETIMEDOUT'
  | 'ECONNABORTED'
  | 'EPIPE'
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'ENETUNREACH'
  | 'ENOTCONN'
  | 'ESOCKETCLOSED';

export class SocketError extends Error {
  constructor(
    readonly code: SocketErrorCode,
    message: string = code,
  ) {
    super(message);
    this.name = 'SocketError';
  }
}
