// abacus inline between Linux hosts, linkem (2 % loss each way) between the subscriber and abacus: a 2 MB
// download with genuine retransmissions. The subscriber is charged the unique payload bytes of both
// directions exactly (curl's byte counts, and tshark's highest relative sequence on the server's wire), the
// retransmitted bytes are seen but not charged, nothing is flagged, and every mbuf comes back. The same
// Linux capture then goes through the monitor against tshark (REXMIT frames) and tcpflow (streams).
//   [cli] vc 198.18.9.1 <-> la [mid: linkem] lb <-> a0 [ab: abacus] a1 <-> vs 198.18.9.2 [srv]
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { withTopology } from '../../tools/netns';
import { hopConfig } from '../../tools/hop';
import { CLI_PATH } from '../../tools/proc';
import { waitFor } from '../../tools/wait';
import { filePrefix, stopChecked, tmpDir, writeJson } from '../../tools/netstar';
import { checkAgainstOracles } from './oracle-check';

const dir = tmpDir('abacuslx');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('abacus: a Linux download through 2 % loss is charged its unique bytes (tshark), retransmissions never flagged', async () => {
  await withTopology('abx', async (topo) => {
    for (const n of ['cli', 'mid', 'ab', 'srv']) await topo.ns(n);
    await topo.veth('cli', 'vc', 'mid', 'la', { disableOffloads: true });
    await topo.veth('mid', 'lb', 'ab', 'a0', { disableOffloads: true });
    await topo.veth('ab', 'a1', 'srv', 'vs', { disableOffloads: true });
    for (const [ns, i] of [['cli', 'vc'], ['mid', 'la'], ['mid', 'lb'], ['ab', 'a0'], ['ab', 'a1'], ['srv', 'vs']]) await topo.sysctl(ns, `net.ipv6.conf.${i}.disable_ipv6`, '1');
    await topo.addr('cli', 'vc', '198.18.9.1/24');
    await topo.addr('srv', 'vs', '198.18.9.2/24');
    const pfx = filePrefix('abx');
    const dirn = { delayMs: 5, loss: 0.02, limit: 20000 };
    const em = topo.spawn('mid', process.execPath, [CLI_PATH, 'run', 'linkem', '-c', writeJson(dir, 'em.json', hopConfig(`${pfx}m`, 'la', 'lb', { ab: dirn, ba: dirn, seed: 3 })), '--stats', '--json']);
    await em.waitForOutput(/^STATS /m, 20000);
    const report = path.join(dir, 'report.jsonl'), alerts = path.join(dir, 'alerts.jsonl');
    const cfg = hopConfig(`${pfx}a`, 'a0', 'a1', { subscribers: ['198.18.9.1/32'], report, alerts });
    (cfg.eal as { vdevs: string[] }).vdevs = ['net_af_packet0,iface=a0,framesz=8192,blocksz=8192,framecnt=512', 'net_af_packet1,iface=a1,framesz=8192,blocksz=8192,framecnt=512'];
    Object.assign(cfg, { pool: { size: 8191, dataRoom: 8192 + 128 } });
    const ab = topo.spawn('ab', process.execPath, [CLI_PATH, 'run', 'abacus', '-c', writeJson(dir, 'ab.json', cfg), '--stats', '--json']);
    await ab.waitForOutput(/^STATS /m, 20000);
    const www = path.join(dir, 'www');
    fs.mkdirSync(www, { recursive: true });
    const blob = crypto.randomBytes(2 << 20);
    fs.writeFileSync(path.join(www, 'b.bin'), blob);
    const http = topo.spawn('srv', 'python3', ['-m', 'http.server', '8080', '--bind', '198.18.9.2', '--directory', www]);
    await waitFor(async () => (await topo.exec('cli', 'ping', ['-c', '1', '-W', '1', '198.18.9.2'])).code === 0, { timeoutMs: 20000, what: 'ping through linkem and abacus' });
    await waitFor(async () => (await topo.exec('srv', 'ss', ['-ltn'])).stdout.includes('198.18.9.2:8080'), { timeoutMs: 20000, what: 'HTTP server' });
    const cap = path.join(dir, 'srv.pcap');
    const shark = topo.spawn('srv', 'dumpcap', ['-P', '-i', 'vs', '-B', '64', '-w', cap, '-f', 'tcp port 8080']);
    await shark.waitForOutput(/Capturing on/, 20000);
    // dumpcap prints "Capturing on" a little before its ring takes packets
    await new Promise((r) => setTimeout(r, 1000));
    const got = path.join(dir, 'got.bin');
    const curl = await topo.exec('cli', 'curl', ['-s', '-m', '120', '-o', got, '-w', '%{size_request} %{size_header} %{size_download}', 'http://198.18.9.2:8080/b.bin'], { timeoutMs: 130000 });
    expect(curl.code).toBe(0);
    const [reqBytes, hdrBytes, bodyBytes] = curl.stdout.trim().split(' ').map(Number);
    expect(crypto.createHash('sha256').update(fs.readFileSync(got)).digest('hex')).toBe(crypto.createHash('sha256').update(blob).digest('hex'));
    // let the connection close through abacus before stopping the capture
    await waitFor(async () => !(await topo.exec('srv', 'ss', ['-tn', 'state', 'established'])).stdout.includes(':8080'), { timeoutMs: 20000, what: 'the connection to close' });
    // the capture has caught up when its file stops growing
    let lastSize = -1;
    await waitFor(() => {
      const n = fs.existsSync(cap) ? fs.statSync(cap).size : 0;
      const done = n === lastSize && n > 0;
      lastSize = n;
      return done;
    }, { timeoutMs: 20000, intervalMs: 500, what: 'the capture to catch up' });
    await shark.stop({ timeoutMs: 10000 });
    await http.stop();
    const s = await stopChecked(ab);
    await em.stop({ timeoutMs: 15000 });

    // The bytes each side's application sent (curl's counts: request; response header + body) are the unique
    // payload bytes of each direction. tshark on the server's wire shows the retransmissions happened (its
    // capture may miss packets at this rate, so its sequence figures are a lower bound only).
    const rows = execFileSync('tshark', ['-r', cap, '-Y', 'tcp.len > 0', '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.seq', '-e', 'tcp.len', '-e', 'tcp.analysis.retransmission', '-e', 'tcp.analysis.spurious_retransmission', '-e', 'tcp.analysis.out_of_order'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim().split('\n').map((l) => l.split('\t'));
    const uniq = (fromServer: boolean) => Math.max(...rows.filter((r) => (r[0] === '8080') === fromServer).map((r) => Number(r[1]) + Number(r[2]))) - 1;
    const down = hdrBytes + bodyBytes, up = reqBytes;
    const resent = rows.filter((r) => r[0] === '8080' && (r[3] || r[4] || r[5])).length;
    expect(bodyBytes).toBe(2 << 20);
    expect(resent).toBeGreaterThan(0);
    expect(uniq(true)).toBe(down);
    expect(uniq(false)).toBe(up);
    // The same capture (a Linux transfer with genuine losses) through the monitor against tshark and tcpflow.
    const o = await checkAgainstOracles(cap, dir);
    expect(o.flows).toBe(1);
    expect(o.bytes).toBe(up + down);
    const last = fs.readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { final: boolean; subscribers: Record<string, Record<string, number>> }).filter((r) => r.final);
    const u = last[0].subscribers['198.18.9.1'];
    // TCP: exactly the unique bytes; the pings that checked the path are counted plainly (56-byte echo
    // payloads each way), and charged on top.
    expect({ tcpUnique: u.tcpUnique, freeRide: u.freeRide, inflation: u.inflation }).toEqual({ tcpUnique: up + down, freeRide: 0, inflation: 0 });
    expect(u.other % 112).toBe(0);
    expect({ up: u.up, down: u.down }).toEqual({ up: up + u.other / 2, down: down + u.other / 2 });
    expect(u.tcpRexmit).toBeGreaterThan(0);
    expect(s.app['abacus.alerts']).toBe(0);
    expect(fs.existsSync(alerts) ? fs.readFileSync(alerts, 'utf8') : '').toBe('');
  });
});
