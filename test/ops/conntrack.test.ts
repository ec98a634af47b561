// An app's own control commands: ovs-nat's conntrack dump over the control socket (filtered), and
// SIGUSR2 still writing the same dump.
import * as fs from 'fs';
import * as path from 'path';
import { generateUdpFlowsPcap } from '../../tools/pcapgen';
import { PcapWriter } from '../../tools/pcap';
import { runCli, startCli } from '../../tools/proc';
import { appCounters, filePrefix, lastStats, summaryOf, tmpDir, writeJson } from '../../tools/netstar';
import { waitFor } from '../../tools/wait';

const dir = tmpDir('ctnat');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, NETSTAR_RUN_DIR: path.join(dir, 'run') };
const FLOWS = 64;

test('ctl <instance> conntrack lists the NAT connections, filtered; SIGUSR2 still dumps', async () => {
  const inPcap = path.join(dir, 'in.pcap'), empty = path.join(dir, 'empty.pcap'), dump = path.join(dir, 'ct');
  generateUdpFlowsPcap(inPcap, { flows: FLOWS, frameSize: 80 });
  PcapWriter.open(empty).close();
  const name = `ctnat${process.pid}`;
  const cfg = writeJson(dir, 'nat.json', {
    eal: { vdevs: [`net_pcap0,rx_pcap=${inPcap},tx_pcap=${path.join(dir, 'sink.pcap')}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${path.join(dir, 'out.pcap')}`], filePrefix: filePrefix('cn') },
    ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }], statsIntervalMs: 100,
    app: {
      inside: { port: 0, address: '198.18.255.254/16' },
      outside: { port: 1, address: '198.19.255.254/24', gateway: '198.19.255.1' },
      neighbors: [{ ip: '198.19.255.1', mac: '02:00:00:00:00:fe' }],
      checkDstMac: false,
      snat: [{ src: '198.18.0.0/16', addresses: '198.19.255.10-198.19.255.13', ports: '20000-29999' }],
      dumpFile: dump,
    },
  });
  const p = startCli(['run', 'ovs-nat', '-c', cfg, '--stats', '--json', '--name', name], { env });
  try {
    await waitFor(() => (lastStats(p.output())?.ports[1].tx ?? 0) >= FLOWS || !p.running(), { timeoutMs: 30000, what: 'ovs-nat to translate the flows' });
    const help = await runCli(['ctl', name, 'help'], { env, timeoutMs: 20000 });
    expect(JSON.parse(help.stdout)).toMatchObject({ conntrack: 'ovs-nat command' });

    const all = await runCli(['ctl', name, 'conntrack'], { env, timeoutMs: 20000 });
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    const r = JSON.parse(all.stdout) as { connections: number; shards: { shard: number; total: number; lines: string[] }[] };
    expect(r.connections).toBe(FLOWS);
    expect(r.shards).toHaveLength(1);
    for (const l of r.shards[0].lines) expect(l).toMatch(/^udp,orig=\(src=198\.18\.\d+\.\d+,dst=198\.19\.\d+\.\d+,sport=\d+,dport=9\),reply=\(src=198\.19\.\d+\.\d+,dst=198\.19\.255\.1[0-3],sport=9,dport=2\d{4}\),/);
    const sports = r.shards[0].lines.map((l) => Number(/sport=(\d+),dport=9\)/.exec(l)![1])).sort((a, b) => a - b);
    expect(sports).toEqual(Array.from({ length: FLOWS }, (_, i) => 1024 + i));

    const one = await runCli(['ctl', name, 'conntrack', JSON.stringify({ match: 'sport=1030,' })], { env, timeoutMs: 20000 });
    const o = JSON.parse(one.stdout) as { connections: number; shards: { total: number; lines: string[] }[] };
    expect(o.connections).toBe(1);
    expect(o.shards[0].total).toBe(FLOWS);
    expect(o.shards[0].lines[0]).toContain('sport=1030,dport=9)');

    const before = appCounters(p).dumps;
    p.signal('SIGUSR2');
    await waitFor(() => appCounters(p).dumps === before + 1, { timeoutMs: 10000, what: 'a dump on SIGUSR2' });
    expect(fs.readFileSync(`${dump}.0`, 'utf8')).toMatch(new RegExp(`^# conntrack shard 0 \\(SIGUSR2\\) at .*: ${FLOWS} connection\\(s\\)$`, 'm'));

    const r2 = await p.stop({ timeoutMs: 15000 });
    expect(r2.code).toBe(0);
    const s = summaryOf(p.stdout());
    expect(s.leaked).toBe(0);
    expect(s.heldAtClose).toBe(0);
  } finally {
    if (p.running()) p.kill();
  }
});
