// `npm start`: the main job on a built-in default. A client namespace behind ovs-nat (netstar, two
// net_af_packet ports) and a server namespace outside it; real traffic (curl showing the translated source,
// a 16 MB download checked by sha256, iperf3 over TCP and over UDP — the UDP connection offloaded), live
// statistics, a conntrack dump, a clean stop with the summary. Everything it creates is removed at the end.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { buildNatTopology, PEER_SERVER, PY } from '../../tools/nattopo';
import { waitFor } from '../../tools/wait';
import { CLI, runDemo, say } from './common';

runDemo(async (topo, dir) => {
  const t = await buildNatTopology(topo, `nsdemo${process.pid}`);
  const dump = path.join(dir, 'conntrack');
  const cfg = path.join(dir, 'ovs-nat.json');
  fs.writeFileSync(cfg, JSON.stringify(t.config({ dumpFile: dump }, { statsIntervalMs: 1000 }), null, 2));
  say(`client ${t.clientIps[0]} --- [ovs-nat: inside ${t.insideIp}, outside ${t.outsideIp}] --- server ${t.serverIp}`);
  say(`config: ${cfg}`);
  const nat = topo.spawn('nat', process.execPath, [CLI, 'run', 'ovs-nat', '-c', cfg, '--stats']);
  let printed = 0;
  const show = setInterval(() => {
    const lines = nat.stdout().split('\n').filter((l) => l.startsWith('STATS '));
    for (; printed < lines.length; printed++) {
      const s = JSON.parse(lines[printed].slice(6)) as { ports: { name: string; rxPps: number; txPps: number; drops: number }[]; app: Record<string, number> };
      const conns = s.app['ct.live'] ?? s.app['conntrack.live'] ?? s.app['connections'];
      say('live  ' + s.ports.map((p) => `${p.name}: rx ${p.rxPps.toFixed(0)} pps, tx ${p.txPps.toFixed(0)} pps, drops ${p.drops}`).join('  |  ') + (conns !== undefined ? `  |  connections ${conns}` : ''));
    }
  }, 250);
  try {
    await nat.waitForOutput(/^STATS /m, 20000);
    const peer = topo.spawn('sv', PY, ['-c', PEER_SERVER, t.serverIp, '8080']);
    await peer.waitForOutput(/listening/, 15000);
    await waitFor(async () => (await topo.exec('cl', 'curl', ['-s', '-m', '2', '-o', '/dev/null', `http://${t.serverIp}:8080/`])).code === 0, { timeoutMs: 20000, what: 'the server through the NAT' });
    const seen = await topo.exec('cl', 'curl', ['-s', '-m', '5', `http://${t.serverIp}:8080/`]);
    say(`curl from ${t.clientIps[0]}: the server saw the connection come from ${seen.stdout.trim()} (translated)`);

    const www = path.join(dir, 'www');
    fs.mkdirSync(www);
    const blob = crypto.randomBytes(16 << 20);
    fs.writeFileSync(path.join(www, 'blob.bin'), blob);
    const files = topo.spawn('sv', PY, ['-m', 'http.server', '8081', '--bind', t.serverIp, '--directory', www]);
    await waitFor(async () => (await topo.exec('cl', 'curl', ['-s', '-o', '/dev/null', '-m', '2', `http://${t.serverIp}:8081/`])).code === 0, { timeoutMs: 15000, what: 'the file server' });
    const got = path.join(dir, 'got.bin');
    const curl = await topo.exec('cl', 'curl', ['-s', '-m', '60', '-o', got, '-w', '%{size_download} bytes in %{time_total} s', `http://${t.serverIp}:8081/blob.bin`], { timeoutMs: 70000 });
    const same = crypto.createHash('sha256').update(fs.readFileSync(got)).digest('hex') === crypto.createHash('sha256').update(blob).digest('hex');
    say(`curl download through the NAT: ${curl.stdout}, sha256 ${same ? 'matches' : 'DIFFERS'}`);
    await files.stop();

    const srv = topo.spawn('sv', 'iperf3', ['-s', '-1', '--forceflush', '-B', t.serverIp]);
    await srv.waitForOutput(/Server listening/, 10000);
    const ip = await topo.exec('cl', 'iperf3', ['-c', t.serverIp, '-t', '4', '-J'], { timeoutMs: 30000 });
    const r = JSON.parse(ip.stdout) as { end?: { sum_sent?: { bits_per_second: number; retransmits?: number } } };
    say(`iperf3 client -> server through the NAT: ${((r.end?.sum_sent?.bits_per_second ?? 0) / 1e6).toFixed(0)} Mbit/s, ${r.end?.sum_sent?.retransmits ?? '?'} retransmits`);

    // UDP: once its state is steady the connection is offloaded, and the native executor forwards it.
    // Where datagrams go missing: the receiving kernel's UDP counters (per namespace) beside the NAT's.
    const udpRcvbufErrors = async (): Promise<number> => {
      const snmp = (await topo.exec('sv', 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
      if (snmp.length < 2) return NaN;
      const names = snmp[0].trim().split(/\s+/), values = snmp[1].trim().split(/\s+/);
      return Number(values[names.indexOf('RcvbufErrors')]);
    };
    const rcvbuf0 = await udpRcvbufErrors();
    const usrv = topo.spawn('sv', 'iperf3', ['-s', '-1', '--forceflush', '-B', t.serverIp]);
    await usrv.waitForOutput(/Server listening/, 10000);
    const ui = await topo.exec('cl', 'iperf3', ['-c', t.serverIp, '-u', '-b', '300M', '-l', '1200', '-t', '2', '-J'], { timeoutMs: 30000 });
    const u = JSON.parse(ui.stdout) as { end?: { sum?: { bits_per_second: number; lost_packets: number; packets: number } } };
    await new Promise((res) => setTimeout(res, 1200)); // one more STATS line with the counters after the run
    const last = nat.stdout().split('\n').filter((l) => l.startsWith('STATS ')).pop();
    const app = last ? (JSON.parse(last.slice(6)) as { app: Record<string, number> }).app : {};
    say(`iperf3 UDP through the NAT: ${((u.end?.sum?.bits_per_second ?? 0) / 1e6).toFixed(0)} Mbit/s, ${u.end?.sum?.lost_packets ?? '?'} of ${u.end?.sum?.packets ?? '?'} datagrams lost; `
      + `offloaded ${app['flow.offloaded'] ?? 0} packets, ${app['flow.offloadedNative'] ?? 0} of them by the native executor; `
      + `the server's kernel dropped ${(await udpRcvbufErrors()) - rcvbuf0} on a full socket buffer (UDP RcvbufErrors)`);

    nat.signal('SIGUSR2');
    await waitFor(() => fs.existsSync(`${dump}.0`), { timeoutMs: 5000, what: 'the conntrack dump' });
    const entries = fs.readFileSync(`${dump}.0`, 'utf8').trim().split('\n').filter(Boolean);
    say(`conntrack (SIGUSR2 dump, ${entries.length} entries):`);
    for (const e of entries.slice(0, 4)) process.stdout.write(`  ${e}\n`);

    await peer.stop();
    const stop = await nat.stop({ timeoutMs: 15000 });
    clearInterval(show);
    say(`ovs-nat stopped (exit ${stop.code}); its summary:`);
    const out = nat.stdout().split('\n');
    const at = out.findIndex((l) => l.startsWith('summary'));
    for (const l of out.slice(at)) if (l.trim()) process.stdout.write(`  ${l.length > 400 ? l.slice(0, 400) + ' …' : l}\n`);
    return stop.code === 0 && same && curl.code === 0 && ip.code === 0 && ui.code === 0 ? 0 : 1;
  } finally {
    clearInterval(show);
    if (nat.running()) await nat.stop({ timeoutMs: 5000 });
  }
});
