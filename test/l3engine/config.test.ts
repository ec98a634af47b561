// l3engine without an EAL: settings validation (every cross-reference, clear ERR_CONFIG messages), route order,
// the token bucket's arithmetic, martian address classes, and the CLI's exit code 2 on a bad config.
import { NetstarError } from '../../native';
import { parseConfig } from '../../reactor/config';
import { parseL3engineSettings } from '../../apps/l3engine/config';
import { TokenBucket } from '../../apps/l3engine/token-bucket';
import { martianSource } from '../../apps/l3engine/index';
import { parseIp } from '../../net/flow/tuple';
import { runCli } from '../../tools/proc';
import { tmpDir, writeJson } from '../../tools/netstar';

const base = (app: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  eal: { vdevs: ['net_null0', 'net_memif0,role=server,socket=/tmp/x.sock,socket-abstract=no', 'net_memif1,role=server,socket=/tmp/y.sock,socket-abstract=no'] },
  ports: [{ name: 'net_null0' }, { name: 'net_memif0' }, { name: 'net_memif1' }],
  app: {
    nics: [{ port: 0, address: '198.18.1.2/24' }],
    clients: [
      { name: 'a', port: 1, address: '198.18.20.1/24', addresses: ['198.18.20.10'] },
      { name: 'b', port: 2, address: '198.18.20.1/24', addresses: ['198.18.20.10', '198.18.21.0/24'], ports: [80, [1000, 2000]], rate: { pps: 100 } },
    ],
    services: [{ name: 'web', instances: ['a', 'b'] }],
    routes: [
      { prefix: 'default', service: 'web' },
      { prefix: '198.18.20.0/24', service: 'web' },
      { prefix: '198.18.20.10/32', proto: 'tcp', port: 80, service: 'web' },
      { prefix: '198.18.20.10/32', proto: 'tcp', service: 'web' },
    ],
    ...app,
  },
  ...extra,
});

function errorOf(input: Record<string, unknown>): string {
  try {
    parseL3engineSettings(parseConfig(input));
  } catch (e) {
    expect(e).toBeInstanceOf(NetstarError);
    expect((e as NetstarError).code).toBe('ERR_CONFIG');
    return (e as Error).message;
  }
  throw new Error('no error');
}

describe('l3engine settings', () => {
  test('a valid config: routes most specific first, the default last; client ACL ranges and rates', () => {
    const s = parseL3engineSettings(parseConfig(base({})));
    expect(s.routes.map((r) => [r.len, r.proto, r.port, r.isDefault])).toEqual([[32, 6, 80, false], [32, 6, 0, false], [24, 0, 0, false], [-1, 0, 0, true]]);
    expect(s.clients[1].ports).toEqual([[80, 80], [1000, 2000]]);
    expect(s.clients[1].sources[1]).toEqual({ addr: parseIp('198.18.21.0'), mask: 0xffffff00, len: 24 });
    expect(s.clients[1].pps).toBe(100);
    expect(s.clients[1].burst).toBe(64);
    expect(s.clients[0].mac).toBe(-1);
    expect(s.services[0].instances).toEqual([0, 1]);
    expect(s.liveness).toEqual({ intervalMs: 200, timeoutMs: 1000 });
  });

  test.each([
    [{ services: [{ name: 'web', instances: ['a', 'zz'] }] }, {}, /no client named 'zz'/],
    [{ routes: [{ prefix: '198.18.20.0/24', service: 'nope' }] }, {}, /no service named 'nope'/],
    [{ routes: [{ prefix: '198.18.20.0/24', port: 80, service: 'web' }] }, {}, /a port needs proto 'tcp' or 'udp'/],
    [{ routes: [{ prefix: 'default', service: 'web' }, { prefix: 'default', service: 'web' }] }, {}, /more than one default/],
    [{ routes: [{ prefix: '198.18.20.0/24', service: 'web' }, { prefix: '198.18.20.0/24', service: 'web' }] }, {}, /same prefix, protocol and port/],
    [{ nics: [{ port: 1, address: '198.18.1.2/24' }] }, {}, /port 1 is already used/],
    [{ nics: [{ port: 7, address: '198.18.1.2/24' }] }, {}, /port 7 is beyond the 3 configured ports/],
    [{ nics: [{ port: 0, address: '198.18.1.2/24', gateway: '198.18.9.1' }] }, {}, /is not inside/],
    [{ clients: [{ name: 'a', port: 0, address: '198.18.20.1/24', addresses: ['198.18.20.10'] }], nics: [{ port: 1, address: '198.18.1.2/24' }], services: [{ name: 'web', instances: ['a'] }] }, {}, /not a net_memif port/],
    [{ clients: [{ name: 'a', port: 1, address: '198.18.20.1/24', addresses: ['198.18.20.0/24'] }], services: [{ name: 'web', instances: ['a'] }] }, {}, /must be one address/],
    [{ clients: [{ name: 'a', port: 1, address: '198.18.20.1/24', addresses: ['198.18.20.10'], ports: [[90, 80]] }], services: [{ name: 'web', instances: ['a'] }] }, {}, /is empty/],
    [{ liveness: { intervalMs: 500, timeoutMs: 400 } }, {}, /must exceed intervalMs/],
    [{ checks: { bogus: true } }, {}, /app\.checks/],
    [{}, { shards: 2 }, /runs on one shard/],
  ])('rejected: %j %j', (app, extra, re) => {
    expect(errorOf(base(app as Record<string, unknown>, extra as Record<string, unknown>))).toMatch(re);
  });

  test('the CLI exits with code 2 and names the problem', async () => {
    const dir = tmpDir('l3cfg');
    const f = writeJson(dir, 'bad.json', base({ routes: [{ prefix: '198.18.20.0/24', service: 'nope' }] }));
    const r = await runCli(['run', 'l3engine', '-c', f], { timeoutMs: 30000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no service named 'nope'/);
  });
});

describe('token bucket', () => {
  test('packets: the burst passes, then one packet per 1/pps seconds', () => {
    const b = new TokenBucket(10, 0, 3, 0);
    expect([1, 2, 3, 4].map(() => b.take(100, 0))).toEqual([true, true, true, false]);
    expect(b.take(100, 99)).toBe(false); // 0.99 token
    expect(b.take(100, 100)).toBe(true);
    expect(b.take(100, 100)).toBe(false);
    expect([b.take(100, 10000), b.take(100, 10000), b.take(100, 10000), b.take(100, 10000)]).toEqual([true, true, true, false]); // capped at the burst
  });
  test('bits: a 1514-byte frame costs its bits; both limits must allow', () => {
    const b = new TokenBucket(0, 8 * 1514 * 10, 1, 0); // ten full frames a second, burst one
    expect(b.take(1514, 0)).toBe(true);
    expect(b.take(1514, 50)).toBe(false);
    expect(b.take(1514, 100)).toBe(true);
    const both = new TokenBucket(1000, 8 * 100, 2, 0); // 100 bytes a second
    expect(both.take(100, 0)).toBe(true);
    expect(both.take(100, 1)).toBe(true); // the bit bucket starts at burst * 1514 bytes
  });
});

describe('martian addresses', () => {
  test.each([
    ['0.1.2.3', true], ['127.0.0.1', true], ['169.254.1.1', true], ['224.0.0.1', true], ['240.0.0.1', true], ['255.255.255.255', true],
    ['198.18.1.1', false], ['10.0.0.1', false], ['223.255.255.255', false], ['169.253.1.1', false],
  ])('%s → %s', (ip, m) => {
    expect(martianSource(parseIp(ip)!)).toBe(m);
  });
});
