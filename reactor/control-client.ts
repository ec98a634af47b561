// The control socket's client side: one JSON-lines request and its reply. No addon: the CLI's control commands
// (reactor/control-socket.ts `request`) and the test tools (tools/netstar.ts `ctlRequest`) both use it.
import * as net from 'net';

/** What an instance answers: `{ ok: true, result }` or `{ ok: false, error }`. */
export interface ControlReply { ok: boolean; result?: unknown; error?: string }

/** Why an exchange failed: no answer in time, or the connection's own error (ENOENT, ECONNREFUSED, EACCES…). */
export class ControlExchangeError extends Error {
  constructor(readonly code: 'ETIMEDOUT' | string, message: string) {
    super(message);
    this.name = 'ControlExchangeError';
  }
}

/** Sends `{cmd, args}` on the socket at `sockPath` and resolves with the first reply line. */
export function controlExchange(sockPath: string, cmd: string, args: Record<string, unknown>, timeoutMs: number): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sockPath);
    let buf = '';
    const t = setTimeout(() => { c.destroy(); reject(new ControlExchangeError('ETIMEDOUT', `no answer within ${timeoutMs} ms`)); }, timeoutMs);
    c.once('connect', () => c.write(JSON.stringify({ cmd, args }) + '\n'));
    c.on('data', (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf('\n');
      if (i < 0) return;
      clearTimeout(t);
      c.destroy();
      try {
        resolve(JSON.parse(buf.slice(0, i)) as ControlReply);
      } catch {
        reject(new ControlExchangeError('EPROTO', `not a JSON reply: ${buf.slice(0, Math.min(i, 200))}`));
      }
    });
    c.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      reject(new ControlExchangeError(e.code ?? 'EIO', e.message));
    });
  });
}
