// The monitor's sample apps run by the CLI over net_pcap (scapy-built input, inline between two ports):
// ids finds each pattern exactly once across split, out-of-order and retransmitted segments (and not the
// one a conflicting retransmission would forge); midstat's flow records equal what the pcap holds (tshark
// counts); simple-firewall drops denied flows from their SYN on. Every run ends with all mbufs back.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { writePcap } from '../../tools/pcap';
import { filePrefix, runUntilSent, tmpDir, writeJson } from '../../tools/netstar';
import { scapyPcap } from './harness';
import { runCli } from '../../tools/proc';

const dir = tmpDir('mosapps');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function config(name: string, inPcap: string, outPcap: string, app: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const empty = path.join(dir, `${name}-empty.pcap`), sink = path.join(dir, `${name}-sink.pcap`);
  writePcap(empty, []);
  return writeJson(dir, `${name}.json`, {
    eal: { vdevs: [`net_pcap0,rx_pcap=${inPcap},tx_pcap=${sink}`, `net_pcap1,rx_pcap=${empty},tx_pcap=${outPcap}`], filePrefix: filePrefix(name) },
    ports: [{ name: 'net_pcap0' }, { name: 'net_pcap1' }],
    statsIntervalMs: 100,
    app,
    ...extra,
  });
}

const lines = (f: string): Record<string, unknown>[] => fs.readFileSync(f, 'utf8').trim().split('\n').filter((l) => l).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('monitor apps over net_pcap', () => {
  test('ids: each pattern once across split / out-of-order / retransmitted segments; a conflicting retransmission forges none', async () => {
    const inPcap = path.join(dir, 'ids.pcap'), outPcap = path.join(dir, 'ids-out.pcap'), alerts = path.join(dir, 'alerts.jsonl');
    const recs = scapyPcap('ids', inPcap);
    const pf = path.join(dir, 'patterns.txt');
    fs.writeFileSync(pf, '# test patterns\nEVILPATTERN\n|de ad be ef|\n');
    const s = await runUntilSent('ids', config('ids', inPcap, outPcap, { patternFile: pf, alerts }), 1, recs.length, 'ids to forward the pcap');
    expect(s.leaked).toBe(0);
    expect(s.heldAtClose).toBe(0);
    const got = lines(alerts).map((a) => `${String(a.client).split(':')[1]} ${a.from} ${a.pattern} @${a.offset}`).sort();
    expect(got).toEqual([
      '40010 client EVILPATTERN @4',
      '40011 client EVILPATTERN @4',
      '40012 server |de ad be ef| @3',
      '40014 client EVILPATTERN @0',
      '40014 client EVILPATTERN @13',
    ]);
    expect(s.app['ids.alerts']).toBe(5);
    // inline: everything forwarded unchanged
    expect(s.ports[1].tx).toBe(recs.length);
  });

  test('ids on two shards: flows steered to one shard each, the same alerts', async () => {
    const inPcap = path.join(dir, 'ids2s.pcap'), outPcap = path.join(dir, 'ids2s-out.pcap'), alerts = path.join(dir, 'alerts2s.jsonl');
    const recs = scapyPcap('ids', inPcap);
    const s = await runUntilSent('ids', config('ids2s', inPcap, outPcap, { patterns: ['EVILPATTERN', '|de ad be ef|'], alerts }, { shards: 2 }), 1, recs.length, 'ids (2 shards) to forward the pcap');
    expect(s.leaked).toBe(0);
    expect(s.heldAtClose).toBe(0);
    const got = lines(alerts).map((a) => `${String(a.client).split(':')[1]} ${a.pattern} @${a.offset}`).sort();
    expect(got).toEqual(['40010 EVILPATTERN @4', '40011 EVILPATTERN @4', '40012 |de ad be ef| @3', '40014 EVILPATTERN @0', '40014 EVILPATTERN @13']);
    expect(s.ports[1].tx).toBe(recs.length);
    expect(s.shards).toHaveLength(2);
    // both shards monitored flows, each of the 5 flows on exactly one (a split flow would show as an orphan
    // or a sixth flow)
    const per = (s.shards as unknown as { app: Record<string, number> }[]).map((x) => ({ flows: x.app['mos.flows'], orphans: x.app['mos.orphans'] }));
    expect(per.every((p) => p.flows > 0 && p.orphans === 0)).toBe(true);
    expect(per[0].flows + per[1].flows).toBe(5);
  });

  test('ids drop mode: the packet completing a pattern and the rest of its flow are dropped', async () => {
    const inPcap = path.join(dir, 'ids2.pcap'), outPcap = path.join(dir, 'ids2-out.pcap'), alerts = path.join(dir, 'alerts2.jsonl');
    const recs = scapyPcap('ids', inPcap);
    const s = await runUntilSent('ids', config('ids2', inPcap, outPcap, { patterns: ['EVILPATTERN'], alerts, action: 'drop' }), 1, recs.length - 8, 'ids to forward');
    expect(s.leaked).toBe(0);
    // dropped: flow 40010's last data segment; 40011's hole-filling segment and its two retransmissions;
    // 40014's first data segment and the three packets after it
    expect({ tx: s.ports[1].tx, dropped: s.ports[0].dropped }).toEqual({ tx: recs.length - 8, dropped: 8 });
    const sent = execFileSync('tshark', ['-r', outPcap, '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.len'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n');
    // flow 40010: its third data segment (TERN…) never left; flow 40014: nothing after the first data segment
    expect(sent.filter((l) => l === '40010\t8')).toHaveLength(1);
    expect(sent.filter((l) => l.startsWith('40014\t') && l !== '40014\t0')).toHaveLength(0);
    expect(lines(alerts).length).toBe(3);
  });

  test('midstat: one record per flow with states, unique and payload bytes, retransmissions (tshark counts)', async () => {
    const inPcap = path.join(dir, 'ms.pcap'), outPcap = path.join(dir, 'ms-out.pcap'), json = path.join(dir, 'flows.jsonl');
    const recs = scapyPcap('oracle', inPcap, 7);
    const s = await runUntilSent('midstat', config('ms', inPcap, outPcap, { json, tableIntervalMs: 50 }), 1, recs.length, 'midstat to forward');
    expect(s.leaked).toBe(0);
    const flows = lines(json) as { client: string; state: { client: string; server: string }; bytes: { client: number; server: number }; payloadBytes: { client: number; server: number }; rexmits: { client: number; server: number }; endedBy: string }[];
    expect(flows).toHaveLength(40);
    expect(flows.every((f) => f.state.client === 'TIME_WAIT' && f.state.server === 'CLOSED' && f.endedBy === 'fin')).toBe(true);
    // tshark: per client port, payload bytes per direction, and retransmitted segments of the server
    const rows = execFileSync('tshark', ['-r', inPcap, '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tcp.len', '-e', 'tcp.analysis.retransmission', '-e', 'tcp.analysis.out_of_order', '-e', 'tcp.analysis.spurious_retransmission'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim().split('\n').map((l) => l.split('\t'));
    for (const f of flows) {
      const port = f.client.split(':')[1];
      const up = rows.filter((r) => r[0] === port), down = rows.filter((r) => r[1] === port);
      const sum = (rs: string[][]) => rs.reduce((a, r) => a + Number(r[2]), 0);
      const rex = (rs: string[][]) => rs.filter((r) => r[3] || r[4] || r[5]).length;
      const fresh = (rs: string[][]) => rs.filter((r) => !(r[3] || r[4] || r[5])).reduce((a, r) => a + Number(r[2]), 0);
      expect({ port, pc: f.payloadBytes.client, ps: f.payloadBytes.server, rc: f.rexmits.client, rs: f.rexmits.server, bs: f.bytes.server })
        .toEqual({ port, pc: sum(up), ps: sum(down), rc: rex(up), rs: rex(down), bs: fresh(down) });
    }
    expect(s.app['midstat.ended']).toBe(40);
  });

  test('simple-firewall: denied flows dropped from the SYN on, allowed ones pass unmonitored; orphans judged too', async () => {
    const inPcap = path.join(dir, 'fw.pcap'), outPcap = path.join(dir, 'fw-out.pcap');
    const recs = scapyPcap('oracle', inPcap, 3);
    const rows = execFileSync('tshark', ['-r', inPcap, '-T', 'fields', '-e', 'tcp.dstport', '-e', 'tcp.srcport'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').map((l) => l.split('\t'));
    // deny flows to port 443 (every second flow of the scenario)
    const denied = rows.filter((r) => r[0] === '443' || r[1] === '443').length;
    const s = await runUntilSent('simple-firewall', config('fw', inPcap, outPcap, { rules: [{ match: 'tcp and dst port 443', action: 'deny' }, { match: 'tcp', action: 'allow' }] }), 1, recs.length - denied, 'firewall to forward');
    expect(s.leaked).toBe(0);
    const out = execFileSync('tshark', ['-r', outPcap, '-T', 'fields', '-e', 'tcp.dstport', '-e', 'tcp.srcport'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').map((l) => l.split('\t'));
    expect(out.length).toBe(recs.length - denied);
    expect(out.filter((r) => r[0] === '443' || r[1] === '443')).toEqual([]);
    expect({ allowed: s.app['fw.allowed'], denied: s.app['fw.denied'] }).toEqual({ allowed: 20, denied: 20 });
  });
});

describe('monitor apps: configuration errors', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['ids', {}, /no patterns/],
    ['ids', { patterns: ['abc|zz|'] }, /bad hex/],
    ['midstat', { filter: 'tcp and port' }, /app.filter/],
    ['simple-firewall', { rules: [{ match: 'dst prot 80', action: 'deny' }] }, /app.rules.0.match/],
    ['abacus', { subscribers: ['10.0.0.0/33'] }, /bad prefix/],
    ['midstat', { bufferBytes: -1 }, /app.bufferBytes/],
  ];
  test.each(cases)('%s %j: ERR_CONFIG, exit 2', async (app, settings, msg) => {
    const p = path.join(dir, 'empty-cfg.pcap');
    writePcap(p, []);
    const cfg = config(`bad${app}`, p, path.join(dir, 'bad-out.pcap'), settings);
    const r = await runCli(['run', app, '-c', cfg], { timeoutMs: 30000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).not.toMatch(/\n\s+at .+\(.*\.js:\d+/); // no stack trace
  });
});
