// iperf3: a server speaking the iperf3 protocol (TCP tests, forward and reverse) on the shard's TCP/IP
// stack, so the stock iperf3 client measures our stack in both directions.
// Protocol: control connection sends a 37-byte cookie; states are single signed bytes; parameters and
// results are JSON framed by a 4-byte big-endian length; data streams open with the same cookie.
import { z } from 'zod';
import { NetstarError, Verdict, appSettings, type AppModule, type ShardApp, type ShardContext, type stack } from '../../index';

type TcpSocket = stack.TcpSocket;

const State = { TEST_START: 1, TEST_RUNNING: 2, TEST_END: 4, PARAM_EXCHANGE: 9, CREATE_STREAMS: 10, EXCHANGE_RESULTS: 13, DISPLAY_RESULTS: 14, IPERF_DONE: 16, ACCESS_DENIED: -1, SERVER_ERROR: -2 } as const;
const COOKIE = 37;

const schema = z.object({
  port: z.number().int().min(1).max(65535).default(5201),
  portIndex: z.number().int().min(0).default(0),
  maxStreams: z.number().int().min(1).max(128).default(16),
  /** how long the data streams of a test have to join after CREATE_STREAMS */
  joinTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
}).strict();
type Settings = z.infer<typeof schema>;

/** Buffered exact reads over a TcpSocket. */
class Reader {
  private buf = new Uint8Array(0);
  constructor(private readonly sock: TcpSocket) {}
  async exactly(n: number): Promise<Uint8Array> {
    while (this.buf.length < n) {
      const c = await this.sock.read();
      if (c === null) throw new Error('connection closed');
      const b = new Uint8Array(this.buf.length + c.length);
      b.set(this.buf);
      b.set(c, this.buf.length);
      this.buf = b;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

interface Params { parallel?: number; reverse?: boolean; len?: number; tcp?: boolean; udp?: boolean; bidirectional?: boolean }

function jsonFrame(o: unknown): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(o));
  const f = new Uint8Array(4 + body.length);
  new DataView(f.buffer).setInt32(0, body.length);
  f.set(body, 4);
  return f;
}

const app: AppModule<Settings> = {
  name: 'iperf3',
  description: 'iperf3-compatible server (TCP/UDP, reverse, parallel streams) on the TCP/IP stack',
  settingsSchema: schema,
  settings: appSettings('iperf3', schema, (r, config): Settings => {
    if (!config.ports[r.portIndex]?.stack) throw new NetstarError('ERR_CONFIG', `iperf3: port ${r.portIndex} has no stack`);
    return r;
  }),
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const stack = ctx.stack(s.portIndex)!;
    const c = { tests: 0, denied: 0, errors: 0, bytesIn: 0, bytesOut: 0 };
    // The test in progress: its cookie and the data streams waiting to join it.
    interface ActiveTest { cookie: string; streams: TcpSocket[]; want: number; joined: () => void }
    let active = null as ActiveTest | null;
    const current = (): ActiveTest | null => active;

    const control = async (sock: TcpSocket, r: Reader, cookie: string): Promise<void> => {
      if (active) {
        c.denied++;
        await sock.write(Int8Array.of(State.ACCESS_DENIED) as unknown as Uint8Array);
        sock.end();
        return;
      }
      c.tests++;
      // Taken at once (the parameter exchange awaits): a second client meanwhile is denied, not let in.
      let joinedAll: () => void = () => {};
      const allJoined = new Promise<void>((res) => { joinedAll = res; });
      const test: ActiveTest = { cookie, streams: [], want: 0, joined: () => joinedAll() };
      active = test;
      let running = true;
      let finished = false;
      const send = (st: number): Promise<void> => sock.write(new Uint8Array(Int8Array.of(st).buffer));
      try {
        await send(State.PARAM_EXCHANGE);
        const plen = new DataView((await r.exactly(4)).slice().buffer).getInt32(0);
        if (plen <= 0 || plen > 65536) throw new Error('bad parameter length');
        const params = JSON.parse(new TextDecoder().decode(await r.exactly(plen))) as Params;
        if (typeof params !== 'object' || params === null) throw new Error('bad parameters');
        if (params.udp || params.bidirectional) { await send(State.SERVER_ERROR); sock.end(); finished = true; return; }
        const int = (v: unknown, dflt: number): number => (typeof v === 'number' && Number.isFinite(v) ? Math.floor(v) : dflt);
        const want = Math.max(1, Math.min(int(params.parallel, 1), s.maxStreams));
        const blk = Math.max(1, Math.min(int(params.len, 131072), 1 << 20));
        test.want = want;
        await send(State.CREATE_STREAMS);
        // The client's next state byte (TEST_END) is read from now on: if the client goes away (or sends
        // it) before its data streams have all joined, or they do not join in time, the test is over —
        // otherwise one broken client would hold the server (everyone else denied) for good.
        const nextState = r.exactly(1);
        nextState.catch(() => undefined);
        const joined = await Promise.race([
          allJoined.then(() => true),
          nextState.then(() => false, () => false),
          ctx.sleep(s.joinTimeoutMs).then(() => false),
        ]);
        if (!joined) throw new Error(`${test.streams.length} of ${want} data streams joined`);
        const streams = test.streams;
        await send(State.TEST_START);
        await send(State.TEST_RUNNING);
        const t0 = performance.now();
        const bytes = new Array<number>(streams.length).fill(0);
        const block = new Uint8Array(blk);
        for (let i = 0; i < blk; i++) block[i] = (i * 31) & 255;
        const pumps = streams.map(async (ds, i) => {
          try {
            if (params.reverse) {
              while (running) { await ds.write(block); bytes[i] += blk; c.bytesOut += blk; }
            } else {
              for (;;) { const d = await ds.read(); if (d === null) break; bytes[i] += d.length; c.bytesIn += d.length; }
            }
          } catch {
            // the client closes data streams at the end of the test
          }
        });
        const end = await nextState;
        if (end[0] !== State.TEST_END) throw new Error(`unexpected state ${end[0]}`);
        running = false;
        // As iperf3's own server does: the data streams close at TEST_END, before EXCHANGE_RESULTS. A
        // reverse-mode client drains them with blocking block-sized reads after it sent TEST_END, and only
        // the FIN ends a read whose block the sender will never complete.
        for (const ds of streams) ds.close();
        const secs = (performance.now() - t0) / 1000;
        await send(State.EXCHANGE_RESULTS);
        const rlen = new DataView((await r.exactly(4)).slice().buffer).getInt32(0);
        if (rlen <= 0 || rlen > 1 << 20) throw new Error('bad results length');
        await r.exactly(rlen); // the client's results (not needed here)
        await sock.write(jsonFrame({
          cpu_util_total: 0, cpu_util_user: 0, cpu_util_system: 0,
          sender_has_retransmits: params.reverse ? 0 : -1,
          streams: streams.map((_, i) => ({ id: i === 0 ? 1 : i + 2, bytes: bytes[i], retransmits: params.reverse ? 0 : -1, jitter: 0, errors: 0, packets: 0, start_time: 0, end_time: secs })),
        }));
        await send(State.DISPLAY_RESULTS);
        await r.exactly(1).catch(() => undefined); // IPERF_DONE
        finished = true;
        await Promise.race([Promise.all(pumps), ctx.sleep(2000)]);
        sock.end();
      } finally {
        running = false;
        // A test that failed part-way: its data streams are reset (their pumps end), not left open.
        if (!finished) for (const ds of test.streams) ds.abort();
        if (active === test) active = null;
      }
    };

    const listener = stack.tcpListen(s.port, { backlog: 128 });
    void (async () => {
      for await (const sock of listener) {
        void (async () => {
          const r = new Reader(sock);
          try {
            const cookie = new TextDecoder().decode(await r.exactly(COOKIE));
            const a = current();
            if (a && a.cookie === cookie && a.streams.length < a.want) {
              a.streams.push(sock);
              if (a.streams.length === a.want) a.joined();
              return;
            }
            await control(sock, r, cookie);
          } catch {
            c.errors++;
            sock.abort();
          }
        })();
      }
    })().catch(() => undefined);
    ctx.onStop(() => listener.close());
    return { onPacket: () => Verdict.DROP, counters: () => ({ ...c }) };
  },
};
export default app;
