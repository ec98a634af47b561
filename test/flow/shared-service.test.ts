// SharedService: calls on the owner run one at a time in arrival order even when they await; callers on
// other shards go through submitTo and the registered task; a full queue rejects and counts.
import { SharedService, SharedServiceOverload, SHARED_SERVICE_TASK, type TaskSubmitter } from '../../net/flow';
import { getTask, type TaskHandle } from '../../reactor/tasks';

class Account {
  balance = 0;
  log: string[] = [];
  /** Read, await, write: interleaved calls would lose updates. */
  async deposit(n: number, delayMs: number): Promise<number> {
    const b = this.balance;
    this.log.push(`start ${n}`);
    await new Promise((r) => setTimeout(r, delayMs));
    this.balance = b + n;
    this.log.push(`end ${n}`);
    return this.balance;
  }
  get(): number {
    return this.balance;
  }
  fail(): never {
    throw new Error('nope');
  }
}

/** Shard `id` of `count`; call runs the registered task "on" the target (this process holds the owner). */
function shardStub(id: number, count: number): TaskSubmitter & { submitted: number } {
  const s = {
    id,
    count,
    submitted: 0,
    call<A extends unknown[], R>(task: TaskHandle<A, R>, _shard: number, ...args: A): Promise<Awaited<R>> {
      s.submitted++;
      const fn = getTask(task.name) as ((...a: unknown[]) => unknown) | undefined;
      if (!fn) return Promise.reject(new Error(`no task ${task.name}`));
      // A structured-clone hop, as across workers.
      return Promise.resolve().then(() => fn(...structuredClone(args))) as Promise<Awaited<R>>;
    },
  };
  return s;
}

describe('SharedService', () => {
  test('owner-side calls are serialized: concurrent read-await-write calls lose nothing and keep order', async () => {
    const svc = new SharedService(shardStub(0, 1), 'acct1', 0, () => new Account());
    const results = await Promise.all([svc.call('deposit', 1, 5), svc.call('deposit', 10, 1), svc.call('deposit', 100, 3)]);
    expect(results).toEqual([1, 11, 111]);
    expect(await svc.call('get')).toBe(111);
    expect(svc.local!.log).toEqual(['start 1', 'end 1', 'start 10', 'end 10', 'start 100', 'end 100']);
    expect(svc.stats.calls).toBe(4);
    svc.stop();
  });

  test('other shards call through submitTo; their calls and the owner\'s interleave only between calls', async () => {
    const owner = new SharedService(shardStub(0, 2), 'acct2', 0, () => new Account());
    const peerShard = shardStub(1, 2);
    const peer = new SharedService<Account>(peerShard, 'acct2', 0, () => { throw new Error('the factory runs on the owner only'); });
    expect(peer.isOwner).toBe(false);
    const all = await Promise.all([peer.call('deposit', 1, 3), owner.call('deposit', 2, 1), peer.call('deposit', 4, 2)]);
    expect(await peer.call('get')).toBe(7);
    expect(all.sort((a, b) => a - b)[2]).toBe(7);
    expect(peerShard.submitted).toBe(3);
    expect(peer.stats.remoteCalls).toBe(3);
    const log = owner.local!.log;
    for (let i = 0; i < log.length; i += 2) expect(log[i].replace('start', 'end')).toBe(log[i + 1]);
    await expect(peer.call('fail')).rejects.toThrow('nope');
    expect(owner.stats.errors).toBe(1);
    owner.stop();
  });

  test('a bounded queue: beyond maxQueued a call rejects with SharedServiceOverload (counted)', async () => {
    const svc = new SharedService(shardStub(0, 1), 'acct3', 0, () => new Account(), { maxQueued: 3 });
    const ps = [1, 2, 3, 4, 5].map((n) => svc.call('deposit', n, 2).then((v) => v, (e: unknown) => e));
    const out = await Promise.all(ps);
    expect(out.filter((x) => x instanceof SharedServiceOverload).length).toBe(1);
    expect(svc.stats.overloads).toBe(1);
    expect(svc.local!.balance).toBe(1 + 2 + 3 + 4);
    svc.stop();
  });

  test('the task answers with an error for a service this shard does not own', async () => {
    const fn = getTask(SHARED_SERVICE_TASK) as (...a: unknown[]) => Promise<unknown>;
    await expect(fn('nobody', 'get', [])).rejects.toThrow(/not owned/);
  });
});
