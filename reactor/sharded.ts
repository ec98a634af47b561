// sharded<T>: one instance of a service per shard (Seastar's sharded<T>), with start/stop and calls to
// the instance on any shard through submitTo.
import { registerTask } from './tasks';

interface ShardLike {
  readonly id: number;
  readonly count: number;
  submitTo(shard: number, task: string, ...args: unknown[]): Promise<unknown>;
  onStop(fn: () => unknown): void;
}

interface Service { stop?(): unknown }
const local = new Map<string, Service>();

registerTask('__sharded.invoke', async (name: string, method: string, args: unknown[]) => {
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
    return this.shard.submitTo(id, '__sharded.invoke', this.name, method, args);
  }

  /** Calls `method` on every shard's instance; results in shard order. */
  invokeOnAll(method: keyof T & string, ...args: unknown[]): Promise<unknown[]> {
    return Promise.all(Array.from({ length: this.shard.count }, (_, i) => this.invokeOn(i, method, ...args)));
  }
}
