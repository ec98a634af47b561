// echo: TCP and UDP echo on the shard's TCP/IP stack (every shard listens; steering decides who serves).
import { z } from 'zod';
import { NetstarError, Verdict, appSettings, type AppModule, type ShardApp, type ShardContext, type stack } from '../../index';

type TcpSocket = stack.TcpSocket;

const schema = z.object({
  port: z.number().int().min(1).max(65535).default(7),
  /** which configured port's stack serves (index in config.ports) */
  portIndex: z.number().int().min(0).default(0),
  udp: z.boolean().default(true),
  tcp: z.boolean().default(true),
}).strict();
type Settings = z.infer<typeof schema>;

const app: AppModule<Settings> = {
  name: 'echo',
  description: 'TCP and UDP echo server (RFC 862) on the TCP/IP stack of a port',
  settingsSchema: schema,
  settings: appSettings('echo', schema, (r, config): Settings => {
    if (!config.ports[r.portIndex]?.stack) throw new NetstarError('ERR_CONFIG', `echo: port ${r.portIndex} has no stack (give it "stack": {"address": "…/prefix"})`);
    return r;
  }),
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const stack = ctx.stack(s.portIndex)!;
    let conns = 0, bytes = 0, datagrams = 0, errors = 0;
    if (s.tcp) {
      const listener = stack.tcpListen(s.port, { backlog: 1024 });
      const serve = async (sock: TcpSocket): Promise<void> => {
        conns++;
        try {
          for await (const chunk of sock) {
            bytes += chunk.length;
            await sock.write(chunk);
          }
          sock.end();
        } catch {
          errors++;
          sock.abort();
        }
      };
      void (async () => { for await (const sock of listener) void serve(sock); })().catch(() => undefined);
      ctx.onStop(() => listener.close());
    }
    if (s.udp) {
      const u = stack.udpBind(s.port);
      void (async () => {
        for await (const d of u) {
          datagrams++;
          u.sendTo(d.data, d.address, d.port);
        }
      })().catch(() => undefined);
      ctx.onStop(() => u.close());
    }
    return {
      onPacket: () => Verdict.DROP, // not for the stack: nothing else runs here
      counters: () => ({ connections: conns, tcpBytes: bytes, datagrams, errors }),
    };
  },
};
export default app;
