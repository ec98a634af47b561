// mica-client: drives MicaClient on every shard — `check` runs every operation on its own keys and counts
// what disagrees, `probe` issues one GET per interval (for failure tests), `load` keeps requests in flight
// with a GET/SET mix (the bench's load generator).
import { z } from 'zod';
import { NetstarError, Verdict, type AppModule, type Config, type ShardApp, type ShardContext, appSettings } from '../../index';
import { MicaClient, MicaError, Op, clientSteering, type MicaClientOptions } from '../../mica';

const server = z.object({
  ip: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/), udpPort: z.number().int().min(1).max(65535),
  partitions: z.number().int().min(1).max(1024), mac: z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/).optional(),
}).strict();
const schema = z.object({
  portIndex: z.number().int().min(0).default(0),
  servers: z.array(server).min(1),
  replyPort: z.number().int().min(1).max(65000).default(7000),
  timeoutMs: z.number().min(0.1).default(10),
  retries: z.number().int().min(0).max(100).default(5),
  maxOutstanding: z.number().int().min(1).max(65535).default(2048),
  mode: z.enum(['check', 'probe', 'load']).default('check'),
  /** check: keys per shard; load: key space */
  keys: z.number().int().min(1).default(100),
  keySize: z.number().int().min(1).max(255).default(8),
  valueSize: z.number().int().min(0).max(1400).default(8),
  /** load: fraction of GETs */
  getRatio: z.number().min(0).max(1).default(0.9),
  /** load: requests kept in flight per shard */
  concurrency: z.number().int().min(1).max(65535).default(256),
  /** check: only idempotent operations (set, get, test) — for lossy paths, where a retried add or delete may see its own first try */
  idempotentOnly: z.boolean().default(false),
  /** probe: ms between GETs */
  intervalMs: z.number().min(1).default(20),
}).strict();
type Settings = z.infer<typeof schema>;

function keyOf(size: number, n: number): Buffer {
  const b = Buffer.alloc(size, 0x6b);
  b.writeUIntBE(n % 2 ** 48, Math.max(0, size - 6), Math.min(6, size));
  return b;
}
function valueOf(size: number, n: number): Uint8Array {
  const v = new Uint8Array(size);
  for (let i = 0; i < size; i++) v[i] = (n * 31 + i * 7) & 0xff;
  return v;
}
const same = (a: Uint8Array | null, b: Uint8Array): boolean => a !== null && Buffer.compare(a, b) === 0;

const app: AppModule<Settings> = {
  name: 'mica-client',
  description: 'driver for the MICA client library: checks, probes and load against mica-server',
  settingsSchema: schema,
  settings: appSettings('mica-client', schema, (s, config): Settings => {
    const p = config.ports[s.portIndex];
    if (!p?.stack || p.stack.closedPorts !== 'nf')
      throw new NetstarError('ERR_CONFIG', `mica-client: port ${s.portIndex} needs "stack": {"address": "…/prefix", "closedPorts": "nf"}`);
    return s;
  }),
  steering: (s: Settings, shards: number) => clientSteering(s, shards),
  createShard(ctx: ShardContext, s: Settings): ShardApp {
    const opts: MicaClientOptions = { portIndex: s.portIndex, servers: s.servers, replyPort: s.replyPort, timeoutMs: s.timeoutMs, retries: s.retries, maxOutstanding: s.maxOutstanding };
    const client = new MicaClient(ctx, opts);
    const n = { checksOk: 0, checksFailed: 0, ops: 0, gets: 0, sets: 0, ok: 0, notFound: 0, timeouts: 0, otherErrors: 0, done: 0, lastTimeoutAfterMs: 0, firstFailed: 0 };
    let stopped = false;
    const fail = (e: unknown): void => {
      if (e instanceof MicaError && e.code === 'ETIMEDOUT') n.timeouts++;
      else if (!(e instanceof MicaError && e.code === 'ECLOSED')) n.otherErrors++;
    };
    let step = 0;
    /** a check; `firstFailed` names the first that failed (its step number) for the report */
    const ok = (c: boolean): void => { step++; if (c) n.checksOk++; else { n.checksFailed++; if (n.firstFailed === 0) n.firstFailed = step; } };
    const base = ctx.id * 1_000_000;

    async function check(): Promise<void> {
      for (let i = 0; i < s.keys && !stopped; i++) {
        const k = keyOf(s.keySize, base + i), v = valueOf(s.valueSize, base + i);
        await client.set(k, v);
        ok(same(await client.get(k), v));
        ok((await client.test(k)) === true);
        if (s.idempotentOnly) continue;
        ok((await client.add(k, v)) === false);
        ok((await client.delete(k)) === true);
        ok((await client.get(k)) === null);
        ok((await client.delete(k)) === false);
        await client.set(k, v);
      }
      // a counter: add 0, then increments from many concurrent requests (batched together)
      if (!s.idempotentOnly) {
      const ck = keyOf(s.keySize, base + 999_999);
      await client.delete(ck);
      ok(await client.add(ck, new Uint8Array(8)));
      const incs = await Promise.all(Array.from({ length: 50 }, () => client.incr(ck, 2n)));
      ok(Math.max(...incs.map(Number)) === 100);
      ok(new Set(incs.map(String)).size === 50);
      }
      // many gets in flight at once (batches of many requests per destination)
      const all = await Promise.all(Array.from({ length: s.keys }, (_, i) => client.get(keyOf(s.keySize, base + i))));
      all.forEach((v, i) => ok(same(v, valueOf(s.valueSize, base + i))));
      n.done = 1;
    }

    async function probe(): Promise<void> {
      const k = keyOf(s.keySize, base);
      while (!stopped) {
        const t0 = ctx.now();
        try {
          await client.get(k);
          n.ok++;
        } catch (e) {
          fail(e);
          if (e instanceof MicaError && e.code === 'ETIMEDOUT') n.lastTimeoutAfterMs = Math.round(ctx.now() - t0);
        }
        await ctx.sleep(s.intervalMs);
      }
    }

    // load: the callback form, so an answer's follow-up request leaves in the same loop pass
    const loadKeys = s.mode === 'load' ? Array.from({ length: Math.min(s.keys, 1 << 16) }, (_, i) => keyOf(s.keySize, i)) : [];
    const loadValues = s.mode === 'load' ? Array.from({ length: 64 }, (_, i) => valueOf(s.valueSize, i)) : [];
    const onLoad = (result: number, _v: Uint8Array | null, err: MicaError | null): void => {
      if (err !== null) fail(err); else { n.ops++; if (result !== 0) n.notFound++; }
      loadOne();
    };
    function loadOne(): void {
      if (stopped) return;
      const i = Math.floor(Math.random() * loadKeys.length);
      if (Math.random() < s.getRatio) { n.gets++; client.send(Op.Get, loadKeys[i], null, onLoad); }
      else { n.sets++; client.send(Op.Set, loadKeys[i], loadValues[i & 63], onLoad); }
    }

    if (s.mode === 'check') void check().catch(fail);
    else if (s.mode === 'probe') void probe();
    else {
      // fill the key space once (at most 65,536 keys), then keep `concurrency` requests in flight
      void (async () => {
        let next = ctx.id;
        const filler = async (): Promise<void> => {
          for (let i = next; i < s.keys; i = next) {
            next += ctx.count;
            if (i < loadKeys.length) await client.set(loadKeys[i], loadValues[i & 63]).catch(fail);
          }
        };
        await Promise.all(Array.from({ length: Math.min(s.concurrency, 512) }, filler));
        n.done = 1;
        for (let c = 0; c < s.concurrency; c++) loadOne();
      })();
    }
    ctx.onStop(() => { stopped = true; client.close(); });
    return {
      onPacket: (pkt, pi) => (client.onPacket(pkt, pi) === 'stolen' ? Verdict.STOLEN : Verdict.DROP),
      afterBurst: () => client.flush(),
      pollAt: () => client.pollAt(),
      counters: () => ({ ...n, ...client.counters() }),
    };
  },
};
export default app;
