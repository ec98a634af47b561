// Prometheus metrics: a real Prometheus server (Debian's) scrapes a running `netstar run`, and the values
// it stored, read back through its HTTP query API, equal the CLI's own final summary. Plus config checks.
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { generateUdpFlowsPcap } from '../../tools/pcapgen';
import { PcapWriter } from '../../tools/pcap';
import { runCli, startCli, startProcess, type ManagedProcess } from '../../tools/proc';
import { filePrefix, lastStats, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { waitFor } from '../../tools/wait';

const PROMETHEUS = '/usr/bin/prometheus';
const dir = tmpDir('metrics');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

interface PromVector { status: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } }

async function query(promPort: number, q: string): Promise<PromVector['data']['result']> {
  const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await r.json()) as PromVector;
  if (body.status !== 'success') throw new Error(`query ${q}: ${JSON.stringify(body)}`);
  return body.data.result;
}

async function scalar(promPort: number, q: string): Promise<number | null> {
  const res = await query(promPort, q);
  return res.length === 1 ? Number(res[0].value[1]) : null;
}

const N = 1500;

describe('Prometheus scrapes netstar', () => {
  let cli: ManagedProcess | undefined;
  let prom: ManagedProcess | undefined;
  afterAll(async () => {
    if (prom?.running()) await prom.stop({ signal: 'SIGTERM', timeoutMs: 10000 });
    if (cli?.running()) await cli.stop({ timeoutMs: 10000 });
  });

  test('a counter queried through the Prometheus API equals the CLI summary', async () => {
    if (!fs.existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} is missing: npm run setup installs Debian's prometheus`);
    const inPcap = path.join(dir, 'in.pcap'), empty = path.join(dir, 'empty.pcap');
    generateUdpFlowsPcap(inPcap, { flows: N, frameSize: 128 });
    PcapWriter.open(empty).close();
    const cfg = writeJson(dir, 'linkem.json', {
      eal: { vdevs: [`net_pcap0,rx_pcap=${inPcap},tx_pcap=${path.join(dir, 'sink.pcap')}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${path.join(dir, 'out.pcap')}`], filePrefix: filePrefix('pm') },
      ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }],
      metrics: { listen: '127.0.0.1:0' },
      statsIntervalMs: 200,
    });
    cli = startCli(['run', 'linkem', '-c', cfg, '--stats', '--json']);
    const m = await cli.waitForOutput(/metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/, 20000);
    const metricsPort = Number(m[1]);
    // The pcap is read once: when N have left on port 1 the counters stay still, so every later scrape agrees.
    await waitFor(() => (lastStats(cli!.output())?.ports[1].tx ?? 0) >= N || !cli!.running(), { timeoutMs: 30000, what: `${N} packets through linkem` });
    expect(cli.running()).toBe(true);

    const promPort = await freePort();
    const promDir = fs.mkdtempSync(path.join(dir, 'prom-'));
    const promCfg = path.join(promDir, 'prometheus.yml');
    fs.writeFileSync(promCfg, [
      'global:', '  scrape_interval: 1s', '  scrape_timeout: 1s',
      'scrape_configs:', '  - job_name: netstar', '    static_configs:', `      - targets: ['127.0.0.1:${metricsPort}']`, '',
    ].join('\n'));
    prom = startProcess(PROMETHEUS, [
      `--config.file=${promCfg}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
    ], { name: 'prometheus' });
    // Scraped at least twice after the traffic ended: the stored value is the final one.
    await waitFor(async () => ((await scalar(promPort, 'count_over_time(up{job="netstar"}[1m])')) ?? 0) >= 2 && ((await scalar(promPort, 'up{job="netstar"}')) === 1),
      { timeoutMs: 30000, intervalMs: 250, what: 'two successful Prometheus scrapes' });

    const txOut = await scalar(promPort, 'sum(netstar_port_tx_packets_total{job="netstar",port="net_pcap1"})');
    const rxIn = await scalar(promPort, 'sum(netstar_port_rx_packets_total{job="netstar",port="net_pcap0"})');
    const devRx = await scalar(promPort, 'netstar_port_device_rx_packets_total{job="netstar",port="net_pcap0"}');
    const devTxBytes = await scalar(promPort, 'netstar_port_device_tx_bytes_total{job="netstar",port="net_pcap1"}');
    const appOut = await scalar(promPort, 'sum(netstar_app_counter{job="netstar",app="linkem",counter="ab.out"})');
    const appLost = await scalar(promPort, 'sum(netstar_app_counter{job="netstar",app="linkem",counter="ab.lost"})');
    const imissed = await scalar(promPort, 'sum(netstar_port_imissed_total{job="netstar"})');
    const drops = await query(promPort, 'netstar_port_drops_total{job="netstar"}');
    const poolSize = await scalar(promPort, 'sum(netstar_pool_mbufs{job="netstar"})');
    const loops = await scalar(promPort, 'sum(netstar_shard_loops_total{job="netstar"})');

    await prom.stop({ signal: 'SIGTERM', timeoutMs: 10000 });
    const r = await cli.stop({ timeoutMs: 15000 });
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
    const s = summaryOf(cli.stdout());
    expect(s.leaked).toBe(0);
    expect(s.heldAtClose).toBe(0);

    // The CLI's own summary is the oracle (and the input file's record count behind it).
    expect(s.ports[0].rx).toBe(N);
    expect(s.ports[1].tx).toBe(N);
    expect(txOut).toBe(s.ports[1].tx);
    expect(rxIn).toBe(s.ports[0].rx);
    expect(devRx).toBe(s.ports[0].device.ipackets);
    expect(devTxBytes).toBe(s.ports[1].device.obytes);
    expect(devTxBytes).toBe(N * 128);
    expect(appOut).toBe(s.app['ab.out']);
    expect(appOut).toBe(N);
    expect(appLost).toBe(0);
    expect(imissed).toBe(0);
    // two causes per port and shard, all zero here
    expect(drops).toHaveLength(2 * 2);
    for (const d of drops) expect(Number(d.value[1])).toBe(0);
    expect(new Set(drops.map((d) => d.metric.cause))).toEqual(new Set(['app', 'tx_full']));
    expect(poolSize).toBe(8191);
    expect(loops).toBeGreaterThan(0);
  });
});

describe('metrics config', () => {
  const base = (metrics: unknown) => ({ eal: { vdevs: ['net_null0'], filePrefix: filePrefix('mc') }, ports: [{ name: 'net_null0' }], metrics });
  test.each([
    ['no port', { listen: '127.0.0.1' }, /metrics\.listen: '127\.0\.0\.1' is not host:port/],
    ['a bad IPv4 address', { listen: '300.1.1.1:9464' }, /'300\.1\.1\.1' is not an IPv4 address/],
    ['a port beyond 65535', { listen: '127.0.0.1:70000' }, /is not host:port/],
    ['an unknown key', { listen: '127.0.0.1:9464', path: '/x' }, /Unrecognized key/],
  ])('%s is a config error', async (_what, metrics, msg) => {
    const r = await runCli(['run', 'l2fwd', '-c', writeJson(dir, 'bad.json', base(metrics))], { timeoutMs: 30000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
  });

  test('a listen address already in use is a clear config error', async () => {
    const busy = net.createServer();
    await new Promise<void>((res) => busy.listen(0, '127.0.0.1', () => res()));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      const r = await runCli(['run', 'l2fwd', '-c', writeJson(dir, 'busy.json', base({ listen: `127.0.0.1:${port}` }))], { timeoutMs: 30000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`metrics: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
    } finally {
      busy.close();
    }
  });
});
