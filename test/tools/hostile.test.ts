// The short hostile run in CI: every app, 1 and 2 shards, 3,000 seeded mutated frames each (zero-length and
// oversized ones included). Each run must exit 0, return every mbuf and receive every frame it was given;
// `npm run hostile -- all --frames N` is the long version.
import { HOSTILE_APPS, hostileRun } from '../../tools/hostile';

const FRAMES = Number(process.env.NETSTAR_HOSTILE_FRAMES ?? 3000);

describe('hostile run (short)', () => {
  const cases = HOSTILE_APPS.flatMap((app) => [1, 2].map((shards) => [app, shards] as const));
  test.each(cases)('%s on %i shard(s): exit 0, every mbuf back, nothing lost', async (app, shards) => {
    const r = await hostileRun(app, shards, FRAMES, 1, false);
    expect(r.problems).toEqual([]);
    expect({ exitCode: r.exitCode, leaked: r.leaked, heldAtClose: r.heldAtClose }).toEqual({ exitCode: 0, leaked: 0, heldAtClose: 0 });
    expect(r.rx).toBeGreaterThan(FRAMES * 0.9);
  }, 180_000);
});
