// A light memif client in TypeScript for processes that start no EAL: the memif control protocol (HELLO, INIT,
// ADD_REGION, ADD_RING, CONNECT/CONNECTED, DISCONNECT) and the copy-mode rings, over a small native helper for the
// system calls Node lacks (build: npx cmake-js compile --directory apps/l3engine/memif/native --out build/memif).
import * as path from 'path';

interface Helper {
  connect(path: string): number;
  send(fd: number, msg: Uint8Array, passFd: number): number;
  recv(fd: number, out: Uint8Array): number;
  memfd(name: string, size: number): number;
  map(fd: number, size: number): ArrayBuffer;
  eventfd(): number;
  close(fd: number): void;
  fence(): void;
}

let helper: Helper | null = null;
/** The native helper, loaded on first use (an error names the build command). */
export function memifHelper(): Helper {
  if (helper !== null) return helper;
  const file = path.resolve(__dirname, '..', '..', '..', '..', 'build', 'memif', 'Release', 'memif_helper.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    helper = require(file) as Helper;
  } catch (e) {
    throw new Error(`memif helper addon missing (${file}): build it with npx cmake-js compile --directory apps/l3engine/memif/native --out build/memif (${(e as Error).message})`);
  }
  return helper;
}

// ---- protocol constants (memif version 2.0) ----
const MSG_SIZE = 128;
const T_ACK = 1, T_HELLO = 2, T_INIT = 3, T_ADD_REGION = 4, T_ADD_RING = 5, T_CONNECT = 6, T_CONNECTED = 7, T_DISCONNECT = 8;
const VERSION = 0x0200;
const COOKIE = 0x3e31f20;
const RING_FLAG_MASK_INT = 1;
const ADD_RING_FLAG_C2S = 1;
/** ring header: cookie, flags, head on the first cache line, tail on the second, descriptors from byte 128 */
const RING_HEAD = 6, RING_TAIL = 64, RING_DESC = 128, DESC_SIZE = 16;

export interface MemifClientOptions {
  socket: string;
  /** interface id (the server's `id=` devarg) */
  id?: number;
  secret?: string;
  /** log2 of the ring size (descriptors per ring) */
  log2RingSize?: number;
  /** bytes per packet buffer */
  bufferSize?: number;
  name?: string;
  /** how long connect() waits for CONNECTED (ms) */
  timeoutMs?: number;
}

/**
 * One memif interface, client side, copy mode, one ring each way. The client owns the region (a memfd it maps and
 * hands to the server), so no process ever maps memory it did not create or was not given by its own client.
 */
export class MemifClient {
  private readonly h: Helper;
  private readonly ctl = new Uint8Array(MSG_SIZE);
  private readonly ctlView = new DataView(this.ctl.buffer);
  private region: ArrayBuffer | null = null;
  private bytes = new Uint8Array(0);
  private view = new DataView(new ArrayBuffer(0));
  private readonly fds: number[] = [];
  private ringSize = 0;
  private mask = 0;
  private c2s = 0;
  private s2c = 0;
  private bufBase = 0;
  private lastTail = 0;
  connected = false;
  disconnectReason = '';
  rx = 0;
  rxSkipped = 0;
  tx = 0;
  txFull = 0;

  private constructor(private readonly fd: number, private readonly o: Required<MemifClientOptions>) {
    this.h = memifHelper();
  }

  /** Connects to a memif server socket and completes the handshake. */
  static async connect(opts: MemifClientOptions): Promise<MemifClient> {
    const o: Required<MemifClientOptions> = {
      id: 0, secret: '', log2RingSize: 10, bufferSize: 2048, name: 'netstar-ts-memif', timeoutMs: 10000, ...opts,
    };
    if (Buffer.byteLength(o.secret) > 24) throw new Error('memif secret: at most 24 bytes');
    const h = memifHelper();
    const c = new MemifClient(h.connect(o.socket), o);
    try {
      await c.handshake();
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  private async nextMessage(deadline: number): Promise<number> {
    for (;;) {
      const n = this.h.recv(this.fd, this.ctl);
      if (n === 0) throw new Error(`memif: the server closed the connection${this.disconnectReason ? `: ${this.disconnectReason}` : ''}`);
      if (n > 0) {
        const t = this.ctlView.getUint16(0, true);
        if (t === T_DISCONNECT) {
          this.disconnectReason = Buffer.from(this.ctl.subarray(6, 102)).toString('latin1').replace(/\0.*$/s, '');
          throw new Error(`memif: disconnected by the server: ${this.disconnectReason}`);
        }
        return t;
      }
      if (Date.now() > deadline) throw new Error('memif: no answer from the server');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private sendMsg(fill: (v: DataView, b: Uint8Array) => void, passFd = -1): void {
    const b = new Uint8Array(MSG_SIZE);
    fill(new DataView(b.buffer), b);
    this.h.send(this.fd, b, passFd);
  }

  private async expect(type: number, deadline: number, what: string): Promise<void> {
    const t = await this.nextMessage(deadline);
    if (t !== type) throw new Error(`memif: expected ${what}, got message type ${t}`);
  }

  private async handshake(): Promise<void> {
    const o = this.o, deadline = Date.now() + o.timeoutMs;
    await this.expect(T_HELLO, deadline, 'HELLO');
    const v = this.ctlView;
    const minV = v.getUint16(34, true), maxV = v.getUint16(36, true), maxLog2 = v.getUint8(44);
    if (VERSION < minV || VERSION > maxV) throw new Error(`memif: server speaks versions ${minV.toString(16)}..${maxV.toString(16)}, not 2.0`);
    const log2 = Math.min(o.log2RingSize, maxLog2);
    const R = 1 << log2;
    this.ringSize = R;
    this.mask = R - 1;
    // Region 0: the C2S ring, the S2C ring, then R buffers for each.
    const ringBytes = RING_DESC + DESC_SIZE * R;
    this.c2s = 0;
    this.s2c = ringBytes;
    this.bufBase = 2 * ringBytes;
    const size = this.bufBase + 2 * R * o.bufferSize;
    const mfd = this.h.memfd('netstar_memif_region0', size);
    this.fds.push(mfd);
    this.region = this.h.map(mfd, size);
    this.bytes = new Uint8Array(this.region);
    this.view = new DataView(this.region);
    for (const [ring, first] of [[this.c2s, 0], [this.s2c, R]] as const) {
      this.view.setUint32(ring, COOKIE, true);
      this.view.setUint16(ring + 4, 0, true);
      for (let j = 0; j < R; j++) {
        const d = ring + RING_DESC + j * DESC_SIZE;
        this.view.setUint16(d, 0, true);
        this.view.setUint16(d + 2, 0, true);
        this.view.setUint32(d + 4, o.bufferSize, true);
        this.view.setUint32(d + 8, this.bufBase + (first + j) * o.bufferSize, true);
        this.view.setUint32(d + 12, 0, true);
      }
    }
    const secret = Buffer.from(o.secret), name = Buffer.from(o.name).subarray(0, 31);
    this.sendMsg((m, b) => {
      m.setUint16(0, T_INIT, true);
      m.setUint16(2, VERSION, true);
      m.setUint32(4, o.id, true);
      m.setUint8(8, 0); // ethernet mode
      b.set(secret, 9);
      b.set(name, 33);
    });
    await this.expect(T_ACK, deadline, 'ACK of INIT');
    this.sendMsg((m) => {
      m.setUint16(0, T_ADD_REGION, true);
      m.setUint16(2, 0, true);
      m.setBigUint64(4, BigInt(size), true);
    }, mfd);
    await this.expect(T_ACK, deadline, 'ACK of ADD_REGION');
    for (const [ring, c2s] of [[this.c2s, true], [this.s2c, false]] as const) {
      const efd = this.h.eventfd();
      this.fds.push(efd);
      this.sendMsg((m) => {
        m.setUint16(0, T_ADD_RING, true);
        m.setUint16(2, c2s ? ADD_RING_FLAG_C2S : 0, true);
        m.setUint16(4, 0, true); // ring index
        m.setUint16(6, 0, true); // region
        m.setUint32(8, ring, true);
        m.setUint8(12, log2);
        m.setUint16(13, 0, true);
      }, efd);
      await this.expect(T_ACK, deadline, 'ACK of ADD_RING');
    }
    this.sendMsg((m, b) => {
      m.setUint16(0, T_CONNECT, true);
      b.set(name, 2);
    });
    await this.expect(T_CONNECTED, deadline, 'CONNECTED');
    // Both sides zero the indices on connect; then: we poll (no interrupt kicks wanted on our receive ring),
    // and every receive buffer goes to the server at once.
    this.view.setUint16(this.s2c + 4, RING_FLAG_MASK_INT, true);
    this.view.setUint16(this.c2s + RING_HEAD, 0, true);
    this.view.setUint16(this.s2c + RING_TAIL, 0, true);
    this.lastTail = 0;
    this.h.fence();
    this.view.setUint16(this.s2c + RING_HEAD, R, true);
    this.connected = true;
  }

  /** Frames the server sent since the last call (copies), at most `max`. */
  receive(max = 64): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (!this.connected) return out;
    const v = this.view, ring = this.s2c;
    const tail = v.getUint16(ring + RING_TAIL, true);
    this.h.fence(); // descriptors written before the tail that published them
    let cur = this.lastTail;
    while (cur !== tail && out.length < max) {
      const d = ring + RING_DESC + (cur & this.mask) * DESC_SIZE;
      const len = v.getUint32(d + 4, true), off = v.getUint32(d + 8, true);
      // Chained frames (flag NEXT: larger than one buffer) are not taken apart here: a segment is skipped (counted).
      if ((v.getUint16(d, true) & 1) !== 0 || off + len > this.bytes.length || len > this.o.bufferSize) {
        cur = (cur + 1) & 0xffff;
        this.rxSkipped++;
        continue;
      }
      out.push(this.bytes.slice(off, off + len));
      cur = (cur + 1) & 0xffff;
    }
    this.rx += out.length;
    this.lastTail = cur;
    // Give the slots back with their full length.
    let head = v.getUint16(ring + RING_HEAD, true);
    let n = (this.ringSize - ((head - cur) & 0xffff)) & 0xffff;
    while (n-- > 0) {
      v.setUint32(ring + RING_DESC + (head & this.mask) * DESC_SIZE + 4, this.o.bufferSize, true);
      head = (head + 1) & 0xffff;
    }
    this.h.fence();
    v.setUint16(ring + RING_HEAD, head, true);
    return out;
  }

  /** Queues one frame to the server; false when the ring is full or the frame does not fit a buffer. */
  send(frame: Uint8Array): boolean {
    if (!this.connected || frame.length > this.o.bufferSize) return false;
    const v = this.view, ring = this.c2s;
    const head = v.getUint16(ring + RING_HEAD, true);
    const tail = v.getUint16(ring + RING_TAIL, true);
    if (((head - tail) & 0xffff) >= this.ringSize) {
      this.txFull++;
      return false;
    }
    const d = ring + RING_DESC + (head & this.mask) * DESC_SIZE;
    const off = v.getUint32(d + 8, true);
    this.bytes.set(frame, off);
    v.setUint16(d, 0, true);
    v.setUint32(d + 4, frame.length, true);
    this.h.fence(); // the descriptor and the data before the head that publishes them
    v.setUint16(ring + RING_HEAD, (head + 1) & 0xffff, true);
    this.tx++;
    return true;
  }

  /** Polls the control channel: false once the server disconnected (the reason is kept). */
  poll(): boolean {
    if (!this.connected) return false;
    const n = this.h.recv(this.fd, this.ctl);
    if (n === 0) this.connected = false;
    else if (n > 0 && this.ctlView.getUint16(0, true) === T_DISCONNECT) {
      this.disconnectReason = Buffer.from(this.ctl.subarray(6, 102)).toString('latin1').replace(/\0.*$/s, '');
      this.connected = false;
    }
    return this.connected;
  }

  close(): void {
    if (this.connected) {
      try {
        this.sendMsg((m, b) => {
          m.setUint16(0, T_DISCONNECT, true);
          m.setUint32(2, 0, true);
          b.set(Buffer.from('client closed'), 6);
        });
      } catch {
        // the server may be gone already
      }
    }
    this.connected = false;
    this.h.close(this.fd);
    for (const f of this.fds) this.h.close(f);
    this.fds.length = 0;
  }
}
