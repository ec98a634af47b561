// `npm run demo:l2fwd`: builds a forwarder namespace and two Linux hosts joined by
// veth pairs, runs l2fwd over net_af_packet between them, sends real traffic (ping, curl, iperf3), shows live
// statistics, stops the forwarder cleanly and prints its summary. Everything it creates is removed at the end.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { buildL2Topology } from '../../tools/l2topo';
import { waitFor } from '../../tools/wait';
import { CLI, runDemo, say } from './common';

runDemo(async (topo, dir) => {
  const t = await buildL2Topology(topo, `nsdemo${process.pid}`);
  say(`hosts: A ${t.ipA} (${t.macA}) in ${t.ha}, B ${t.ipB} (${t.macB}) in ${t.hb}; forwarder in ${t.fw}`);
  const cfg = path.join(dir, 'l2fwd.json');
  fs.writeFileSync(cfg, JSON.stringify(t.config({ statsIntervalMs: 1000 }), null, 2));
  say(`config: ${cfg}`);
  const fwd = topo.spawn('fw', process.execPath, [CLI, 'run', 'l2fwd', '-c', cfg, '--stats']);
  let printed = 0;
  const show = setInterval(() => {
    const lines = fwd.stdout().split('\n').filter((l) => l.startsWith('STATS '));
    for (; printed < lines.length; printed++) {
      const s = JSON.parse(lines[printed].slice(6)) as { ports: { name: string; rxPps: number; txPps: number; drops: number }[]; held: number };
      say('live  ' + s.ports.map((p) => `${p.name}: rx ${p.rxPps.toFixed(0)} pps, tx ${p.txPps.toFixed(0)} pps, drops ${p.drops}`).join('  |  ') + `  |  mbufs held ${s.held}`);
    }
  }, 250);
  try {
    await fwd.waitForOutput(/^STATS /m, 20000);
    say(fwd.stdout().split('\n')[0]);
    await waitFor(async () => (await topo.exec('ha', 'ping', ['-c', '1', '-W', '1', t.ipB])).code === 0, { timeoutMs: 15000, what: 'first ping' });
    const ping = await topo.exec('ha', 'ping', ['-c', '10', '-i', '0.2', t.ipB], { timeoutMs: 20000 });
    say('ping A -> B: ' + (ping.stdout.split('\n').find((l) => l.includes('packets transmitted')) ?? ping.stdout));

    const www = path.join(dir, 'www');
    fs.mkdirSync(www);
    const blob = crypto.randomBytes(16 << 20);
    fs.writeFileSync(path.join(www, 'blob.bin'), blob);
    const http = topo.spawn('hb', 'python3', ['-m', 'http.server', '8080', '--bind', t.ipB, '--directory', www]);
    await waitFor(async () => (await topo.exec('ha', 'curl', ['-s', '-o', '/dev/null', '-m', '2', `http://${t.ipB}:8080/`])).code === 0, { timeoutMs: 15000, what: 'HTTP server' });
    const got = path.join(dir, 'got.bin');
    const curl = await topo.exec('ha', 'curl', ['-s', '-m', '60', '-o', got, '-w', '%{size_download} bytes in %{time_total} s', `http://${t.ipB}:8080/blob.bin`], { timeoutMs: 70000 });
    const same = crypto.createHash('sha256').update(fs.readFileSync(got)).digest('hex') === crypto.createHash('sha256').update(blob).digest('hex');
    say(`curl A <- B: ${curl.stdout}, sha256 ${same ? 'matches' : 'DIFFERS'}`);
    await http.stop();

    const srv = topo.spawn('hb', 'iperf3', ['-s', '-1', '--forceflush', '-B', t.ipB]);
    await srv.waitForOutput(/Server listening/, 10000);
    const ip = await topo.exec('ha', 'iperf3', ['-c', t.ipB, '-t', '4', '-J'], { timeoutMs: 30000 });
    const r = JSON.parse(ip.stdout) as { end?: { sum_sent?: { bits_per_second: number; retransmits?: number } } };
    say(`iperf3 A -> B: ${((r.end?.sum_sent?.bits_per_second ?? 0) / 1e6).toFixed(0)} Mbit/s, ${r.end?.sum_sent?.retransmits ?? '?'} retransmits`);

    const stop = await fwd.stop({ timeoutMs: 15000 });
    clearInterval(show);
    say(`forwarder stopped (exit ${stop.code}); its summary:`);
    const out = fwd.stdout().split('\n');
    const at = out.findIndex((l) => l.startsWith('summary'));
    for (const l of out.slice(at)) if (l.trim()) process.stdout.write(`  ${l}\n`);
    return stop.code === 0 && same && ping.code === 0 && curl.code === 0 && ip.code === 0 ? 0 : 1;
  } finally {
    clearInterval(show);
    if (fwd.running()) await fwd.stop({ timeoutMs: 5000 });
  }
});
