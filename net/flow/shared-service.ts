// SharedService: state owned by one shard, used from any shard. Calls run on the owner one at a time, in
// arrival order, each to completion (awaits included) before the next starts, so the state needs no locks;
// other shards reach it through a cross-shard task (ctx.call). A bounded queue turns overload into a counted error.
import { defineTask, type TaskHandle } from '../tasks';

/** What a SharedService needs of its shard; the app's ShardContext fits it. */
export interface TaskSubmitter {
  readonly id: number;
  readonly count: number;
  /** runs a task (defined with defineTask) on `shard` and resolves with its result */
  call<A extends unknown[], R>(task: TaskHandle<A, R>, shard: number, ...args: A): Promise<Awaited<R>>;
}

/** The methods of T (functions), callable through the service. */
export type ServiceMethods<T> = { [K in keyof T]: T[K] extends (...a: never[]) => unknown ? K : never }[keyof T] & string;
type Fn<T, K extends keyof T> = T[K] extends (...a: infer A) => infer R ? (...a: A) => R : never;

export class SharedServiceOverload extends Error {
  constructor(name: string, limit: number) {
    super(`shared service '${name}': ${limit} calls already queued`);
    this.name = 'SharedServiceOverload';
  }
}

export interface SharedServiceOptions {
  /** calls waiting on the owner at most (default 4096); beyond it a call rejects with SharedServiceOverload */
  maxQueued?: number;
}

interface Call {
  method: string;
  args: unknown[];
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Instances on this shard (each shard is its own worker, so this map is per shard), by name. */
const services = new Map<string, SharedService<object>>();

/** The task other shards call: run a method of the named service's state here, serialized. */
export const SHARED_SERVICE_TASK = 'netstar.flow.sharedService';
const serviceTask = defineTask(SHARED_SERVICE_TASK, (name: string, method: string, args: unknown[]): Promise<unknown> => {
  const s = services.get(name);
  if (!s) return Promise.reject(new Error(`shared service '${name}' is not owned by this shard`));
  return s.enqueue(method, args);
});

export class SharedService<T extends object> {
  /** the state, on the owner shard only (null elsewhere) */
  readonly local: T | null;
  private readonly queue: Call[] = [];
  private qHead = 0;
  private running = false;
  private readonly maxQueued: number;
  /** calls run here (owner), calls refused for overload, calls that threw */
  readonly stats = { calls: 0, remoteCalls: 0, overloads: 0, errors: 0, maxDepth: 0 };

  /**
   * Every shard constructs the service with the same name and owner; only the owner runs `factory` and
   * holds the state. Names are unique per shard for the lifetime of the process (or until `stop`).
   */
  constructor(
    readonly shard: TaskSubmitter,
    readonly name: string,
    readonly owner: number,
    factory: () => T,
    opts: SharedServiceOptions = {},
  ) {
    if (!Number.isInteger(owner) || owner < 0 || owner >= shard.count) throw new RangeError(`shared service '${name}': owner ${owner} is not a shard (0..${shard.count - 1})`);
    this.maxQueued = opts.maxQueued ?? 4096;
    if (shard.id === owner) {
      if (services.has(name)) throw new Error(`shared service '${name}' already exists on shard ${shard.id}`);
      this.local = factory();
      services.set(name, this as unknown as SharedService<object>);
    } else this.local = null;
  }

  get isOwner(): boolean {
    return this.local !== null;
  }

  /** Calls `method` on the state (on the owner shard), after every call queued before it has finished. */
  call<K extends ServiceMethods<T>>(method: K, ...args: Parameters<Fn<T, K>>): Promise<Awaited<ReturnType<Fn<T, K>>>> {
    if (this.local !== null) return this.enqueue(method, args) as Promise<Awaited<ReturnType<Fn<T, K>>>>;
    this.stats.remoteCalls++;
    return this.shard.call(serviceTask, this.owner, this.name, method, args) as Promise<Awaited<ReturnType<Fn<T, K>>>>;
  }

  /** Calls queued or running on the owner. */
  get depth(): number {
    return this.queue.length - this.qHead + (this.running ? 1 : 0);
  }

  /** @internal the owner side: queue a call and run the queue. */
  enqueue(method: string, args: unknown[]): Promise<unknown> {
    if (this.queue.length - this.qHead >= this.maxQueued) {
      this.stats.overloads++;
      return Promise.reject(new SharedServiceOverload(this.name, this.maxQueued));
    }
    return new Promise<unknown>((resolve, reject) => {
      this.queue.push({ method, args, resolve, reject });
      const d = this.depth;
      if (d > this.stats.maxDepth) this.stats.maxDepth = d;
      if (!this.running) void this.pump();
    });
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      while (this.qHead < this.queue.length) {
        const c = this.queue[this.qHead];
        this.queue[this.qHead++] = undefined as unknown as Call;
        if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) {
          this.queue.splice(0, this.qHead);
          this.qHead = 0;
        }
        this.stats.calls++;
        try {
          const state = this.local as unknown as Record<string, unknown>;
          const fn = state[c.method];
          if (typeof fn !== 'function') throw new Error(`shared service '${this.name}' has no method '${c.method}'`);
          // Await each call before the next: that is the serialization the state relies on.
          c.resolve(await (fn as (...a: unknown[]) => unknown).apply(state, c.args));
        } catch (e) {
          this.stats.errors++;
          c.reject(e);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Forgets the service on this shard (the name can be used again). */
  stop(): void {
    if (services.get(this.name) === (this as unknown as SharedService<object>)) services.delete(this.name);
  }
}
