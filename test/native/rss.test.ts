// Per-port RSS policy from the config reaches the device: the symmetric Toeplitz preset, a key given in hex,
// the hash functions asked for; a port that says nothing keeps the driver's key. Read back from the device.
import { execFileSync } from 'child_process';
import * as path from 'path';
import { symmetricRssKey, rssKeyBytes, parseConfig } from '../../reactor/config';

describe('per-port RSS configuration', () => {
  let r: { custom: string; conf: { key: string | null; functions: string }[]; leaked: number };
  beforeAll(() => {
    const out = execFileSync(process.execPath, [path.join(__dirname, 'rss.child.js')], { timeout: 60000, encoding: 'utf8' });
    r = JSON.parse(out.trim().split('\n').pop()!);
  });

  test('the symmetric preset is 0x6d5a repeated, 40 bytes on a device that does not report its key size', () => {
    expect(r.conf[0].key).toBe('6d5a'.repeat(20));
    expect(r.conf[0].functions).toContain('ipv4-udp');
  });

  test('a hex key and hash functions given for a port are what the device uses', () => {
    expect(r.conf[1].key).toBe(r.custom);
    expect(r.conf[1].functions).toBe('ipv4-tcp, ipv4-udp');
  });

  test('a port without RSS settings keeps the driver default key, and every mbuf returns', () => {
    expect(r.conf[2].key).not.toBe('6d5a'.repeat(20));
    expect(r.conf[2].key).not.toBe(r.custom);
    expect(r.leaked).toBe(0);
  });

  test('key lengths: 40 and 52 bytes pass, others are refused; the device size wins when it reports one', () => {
    const cfg = (key: string) => parseConfig({ eal: { vdevs: ['net_null0'] }, ports: [{ name: 'net_null0', rss: { key } }] });
    expect(cfg('ab'.repeat(40)).ports[0].rss.key).toBe('ab'.repeat(40));
    expect(cfg('0x' + 'cd'.repeat(52)).ports[0].rss.key).toBe('cd'.repeat(52));
    expect(() => cfg('ab'.repeat(41))).toThrow(/40 or 52 bytes in hex/);
    expect(() => cfg('zz'.repeat(40))).toThrow(/40 or 52 bytes in hex/);
    expect(symmetricRssKey(52)).toEqual(Uint8Array.from({ length: 52 }, (_, i) => (i % 2 ? 0x5a : 0x6d)));
    expect(rssKeyBytes('symmetric', 'p', 52)?.length).toBe(52);
    expect(() => rssKeyBytes('ab'.repeat(40), 'p', 52)).toThrow(/40 bytes; this device takes 52/);
    expect(rssKeyBytes('default', 'p', 40)).toBeUndefined();
  });

  test('MBUF_FAST_FREE is off unless a port opts in, and opting in with more than one shard is refused', () => {
    const one = parseConfig({ eal: { vdevs: ['net_null0'] }, ports: [{ name: 'net_null0' }] });
    expect(one.ports[0].mbufFastFree).toBe(false);
    expect(parseConfig({ eal: { vdevs: ['net_null0'] }, ports: [{ name: 'net_null0', mbufFastFree: true }], shards: 1 }).ports[0].mbufFastFree).toBe(true);
    expect(() => parseConfig({ eal: { vdevs: ['net_null0'] }, ports: [{ name: 'net_null0', mbufFastFree: true }], shards: 2 })).toThrow(/mbufFastFree with 2 shards/);
  });
});
