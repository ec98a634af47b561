// halfback: a split TCP proxy on our stack (one connection to the client, one to the server) whose
// client-facing sender is Halfback (CoNEXT'15, net/stack/socket/tcp-sender.ts) for short flows: the
// server's response is gathered up to maxFlowBytes; if the server ends it within that, it leaves as one
// known-size flow — paced over about one RTT, then reverse-order proactive retransmission — else it is
// streamed with ordinary TCP. `sender: "default"` runs the same proxy with plain TCP (the baseline).
import { z } from 'zod';
import { NetstarError, appSettings } from '../../index';
import type { Config } from '../../index';
import { Verdict, type AppModule, type ShardApp } from '../../index';
import type { ShardContext } from '../../index';
import type { TcpSocket } from '../../net/stack';
import { Halfback, type HalfbackTotals, type TcpSenderFactory } from '../../net/stack';

const schema = z.object({
  /** the client side: port index (with a stack) and TCP port to listen on */
  listen: z.object({ port: z.number().int().min(0).default(0), tcpPort: z.number().int().min(1).max(65535) }).strict(),
  /** the server: port index (with a stack) to connect from, address and TCP port */
  upstream: z.object({ port: z.number().int().min(0).default(1), address: z.string(), tcpPort: z.number().int().min(1).max(65535) }).strict(),
  sender: z.enum(['halfback', 'default']).default('halfback'),
  maxFlowBytes: z.number().int().min(1).max(16 << 20).default(141 * 1024),
  paceRtts: z.number().positive().max(16).default(1),
  defaultRttMs: z.number().positive().default(100),
  proactiveShare: z.number().min(0).max(1).default(0.5),
  /** client-facing send buffer: at least maxFlowBytes so a short flow is known whole before it leaves */
  sendBuffer: z.number().int().min(4096).optional(),
  maxConnections: z.number().int().min(1).default(4096),
}).strict();
type Settings = z.infer<typeof schema>;

const app: AppModule<Settings> = {
  name: 'halfback',
  description: 'split TCP proxy whose client-facing sender is Halfback (paced start, reverse-order proactive retransmission)',
  settingsSchema: schema,
  settings: appSettings('halfback', schema, (s, config): Settings => {
    for (const [what, p] of [['listen', s.listen.port], ['upstream', s.upstream.port]] as const) {
      if (!config.ports[p]?.stack) throw new NetstarError('ERR_CONFIG', `halfback: app.${what}.port ${p} has no stack (give it "stack": {"address": "…/prefix"})`);
    }
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(s.upstream.address)) throw new NetstarError('ERR_CONFIG', `halfback: app.upstream.address: not an IPv4 address: ${s.upstream.address}`);
    return s;
  }),
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const front = ctx.stack(s.listen.port)!, back = ctx.stack(s.upstream.port)!;
    const totals: HalfbackTotals = { flows: 0, paced: 0, proactive: 0, proactiveBytes: 0, proactiveSent: 0 };
    const factory: TcpSenderFactory | null = s.sender === 'halfback'
      ? () => new Halfback({ maxFlowBytes: s.maxFlowBytes, paceRtts: s.paceRtts, defaultRtt: s.defaultRttMs, proactiveShare: s.proactiveShare, totals })
      : null;
    const c = { accepted: 0, active: 0, done: 0, errors: 0, refused: 0, shortFlows: 0, longFlows: 0, bytesDown: 0, bytesUp: 0 };
    const listener = front.tcpListen(s.listen.tcpPort, {
      backlog: 1024, sender: factory, sendBuffer: s.sendBuffer ?? Math.max(65536, s.maxFlowBytes + 4096),
    });
    const serve = async (cl: TcpSocket): Promise<void> => {
      c.accepted++;
      if (c.active >= s.maxConnections) {
        c.refused++;
        cl.abort();
        return;
      }
      c.active++;
      let up: TcpSocket | null = null;
      try {
        up = await back.tcpConnect(s.upstream.address, s.upstream.tcpPort);
        const upstream = up;
        // client -> server, streamed
        const toServer = (async () => {
          for await (const chunk of cl) {
            c.bytesUp += chunk.length;
            await upstream.write(chunk);
          }
          upstream.end();
        })();
        // server -> client: gathered up to maxFlowBytes (a short flow leaves whole), then streamed
        const held: Uint8Array[] = [];
        let heldBytes = 0, streaming = false;
        for await (const chunk of upstream) {
          c.bytesDown += chunk.length;
          if (streaming) {
            await cl.write(chunk);
            continue;
          }
          held.push(chunk.slice());
          heldBytes += chunk.length;
          if (heldBytes > s.maxFlowBytes) {
            streaming = true;
            c.longFlows++;
            for (const h of held) await cl.write(h);
            held.length = 0;
          }
        }
        if (!streaming) {
          c.shortFlows++;
          const all = new Uint8Array(heldBytes);
          let o = 0;
          for (const h of held) {
            all.set(h, o);
            o += h.length;
          }
          // written and ended in the same turn: the sender sees the whole flow before its first byte leaves
          void cl.write(all).catch(() => undefined);
        }
        cl.end();
        await toServer.catch(() => undefined);
        await cl.closed;
        c.done++;
      } catch {
        c.errors++;
        cl.abort();
        up?.abort();
      } finally {
        c.active--;
      }
    };
    void (async () => { for await (const sock of listener) void serve(sock); })().catch(() => undefined);
    ctx.onStop(() => listener.close());
    return {
      onPacket: () => Verdict.DROP, // the stacks take their ports' traffic; nothing else arrives here
      counters: () => ({
        'hb.accepted': c.accepted, 'hb.active': c.active, 'hb.done': c.done, 'hb.errors': c.errors, 'hb.refused': c.refused,
        'hb.shortFlows': c.shortFlows, 'hb.longFlows': c.longFlows, 'hb.bytesDown': c.bytesDown, 'hb.bytesUp': c.bytesUp,
        'hb.halfbackFlows': totals.flows, 'hb.pacedSegments': totals.paced, 'hb.proactive': totals.proactive, 'hb.proactiveSent': totals.proactiveSent, 'hb.proactiveBytes': totals.proactiveBytes,
      }),
    };
  },
};
export default app;
