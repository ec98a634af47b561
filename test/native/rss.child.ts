// Child of rss.test.ts (one EAL per process): starts the engine from a config with per-port RSS settings and
// prints what each device then hashes with, read back from the device.
import { native } from '../../native';
import { parseConfig } from '../../reactor/config';
import { Engine } from '../../reactor/engine';
import { loadApp } from '../../cli/runner';

async function main(): Promise<void> {
  const custom = Array.from({ length: 40 }, (_, i) => ((i * 37 + 11) & 0xff).toString(16).padStart(2, '0')).join('');
  const config = parseConfig({
    eal: { vdevs: ['net_null0', 'net_null1', 'net_null2'], filePrefix: `trss${process.pid}` },
    ports: [
      { name: 'net_null0', rss: { key: 'symmetric' } },
      { name: 'net_null1', rss: { key: custom, functions: ['ipv4-udp', 'ipv4-tcp'] } },
      { name: 'net_null2' },
    ],
    shards: 2, cores: [0, 1],
  });
  const { app, appPath } = loadApp('l2fwd');
  const e = await Engine.start(config, app, appPath);
  const conf = e.ports.map((p) => {
    const r = native.port.rssConf(p.id);
    return { key: r.key ? Buffer.from(r.key).toString('hex') : null, functions: r.functions };
  });
  const s = await e.stop();
  process.stdout.write(JSON.stringify({ custom, conf, leaked: s.poolsInUse.reduce((a, b) => a + b, 0) }) + '\n');
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(String((e as Error).stack ?? e) + '\n');
  process.exit(1);
});
