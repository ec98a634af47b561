// Tasks callable across shards (ctx.call with the handle defineTask returns). A module defines its tasks at load time; every
// shard loads the same modules (the app's), so a name means the same function everywhere. In net/ (the bottom
// layer) because net/ modules define tasks too (the stack's neighbour sharing, SharedService); reactor/tasks.ts
// re-exports it.
export type Task = (...args: never[]) => unknown;

const registry = new Map<string, Task>();

/** Registers a task; registering the same name twice with another function is an error. */
export function registerTask<A extends unknown[], R>(name: string, fn: (...args: A) => R): void {
  const prev = registry.get(name);
  if (prev && prev !== (fn as unknown as Task)) throw new Error(`task '${name}' is already registered`);
  registry.set(name, fn as unknown as Task);
}

export function getTask(name: string): Task | undefined {
  return registry.get(name);
}

export function taskNames(): string[] {
  return [...registry.keys()];
}

/**
 * A cross-shard task defined once: call it through its handle (`ctx.call(task, shard, ...args)`), never by
 * name. The name is registered here at module load, so every shard (which loads the same modules) has it.
 */
export interface TaskHandle<A extends unknown[], R> {
  readonly name: string;
  /** the function itself (runs on the shard that is asked) */
  readonly fn: (...args: A) => R;
}

/** Defines and registers a task; arguments and result must be structured-cloneable. */
export function defineTask<A extends unknown[], R>(name: string, fn: (...args: A) => R): TaskHandle<A, R> {
  registerTask(name, fn);
  return Object.freeze({ name, fn });
}
