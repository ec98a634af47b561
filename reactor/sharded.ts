// sharded<T>: one instance of a service per shard (Seastar's sharded<T>), with start/stop and calls to
// the instance on any shard through a cross-shard task (ctx.call).
import { defineTask, type TaskHandle } from './tasks';

/** What Sharded needs of its shard; the app's ShardContext fits it. */
interface ShardLike {
  readonly id: number;
  readonly count: number;
  call<A extends unknown[], R>(task: TaskHandle<A, R>, shard: number, ...args: A): Promise<Awaited<R>>;
  onStop(fn: () => unknown): void;
}

interface Service { stop?(): unknown }
const local = new Map<string, Service>();

const invokeTask = defineTask('__sharded.invoke', async (name: string, method: string, args: unknown[]): Promise<unknown> => {
  const inst = local.get(name) as Record<string, unknown> | undefined;
  if (!inst) throw new Error(`sharded service '${name}' is not running on this shard`);
  const fn = inst[method];
  if (typeof fn !== 'function') throw new Error(`sharded service '${name}' has no method '${method}'`);
  return (fn as (...a: unknown[]) => unknown).apply(inst, args);
});

export class Sharded<T extends object> {
  private constructor(readonly name: string, private readonly shard: ShardLike, readonly local: T) {}

  /** Starts this shard's instance (every shard calls this with the same name); stopped when the shard stops. */
  static async start<T extends object>(shard: ShardLike, name: string, factory: () => T | Promise<T>): Promise<Sharded<T>> {
    if (local.has(name)) throw new Error(`sharded service '${name}' is already running on shard ${shard.id}`);
    const inst = await factory();
    local.set(name, inst as Service);
    shard.onStop(async () => {
      local.delete(name);
      const s = inst as Service;
      if (typeof s.stop === 'function') await s.stop();
    });
    return new Sharded(name, shard, inst);
  }

  /** Calls `method` on the instance of shard `id`. */
  invokeOn(id: number, method: keyof T & string, ...args: unknown[]): Promise<unknown> {
    return this.shard.call(invokeTask, id, this.name, method, args);
  }

  /** Calls `method` on every shard's instance; results in shard order. */
  invokeOnAll(method: keyof T & string, ...args: unknown[]): Promise<unknown[]> {
    return Promise.all(Array.from({ length: this.shard.count }, (_, i) => this.invokeOn(i, method, ...args)));
  }
}
