// Child process: the native rte_flow surface on virtual devices (one EAL per process). net_null and
// net_ring have no rte_flow: validation fails with ERR_FLOW_UNSUPPORTED (the engine's cue to steer in
// software); bad arguments and unknown handles fail with typed errors; flush of a port without flows is fine.
import { native, NetstarError } from '../../native';

const out: Record<string, unknown> = {};
const code = (f: () => unknown): string => {
  try { f(); return 'ok'; } catch (e) { return e instanceof NetstarError ? e.code : `untyped: ${String(e)}`; }
};
native.eal.init(['--no-pci', '--no-huge', '-m', '256', `--file-prefix=tflow${process.pid}`, '-l', '0', '--log-level=error', '--vdev=net_null0,no-rx=1', '--vdev=net_ring0']);
const pool = native.pool.create('tf', { size: 1023, cacheSize: 0 });
const ports = ['net_null0', 'net_ring0'].map((n) => native.port.byName(n)!);
for (const p of ports) { native.port.configure(p, { pool }); native.port.start(p); }
out.validate = ports.map((p) => code(() => native.flow.udpToQueue(p, 9000, 0, false)));
out.create = ports.map((p) => code(() => native.flow.udpToQueue(p, 9000, 0, true)));
out.badPort = code(() => native.flow.udpToQueue(99, 9000, 0, true));
out.badUdp = code(() => native.flow.udpToQueue(ports[0], 0, 0, true));
out.badUdpHigh = code(() => native.flow.udpToQueue(ports[0], 70000, 0, true));
out.badQueue = code(() => native.flow.udpToQueue(ports[0], 9000, 1 << 20, true));
out.destroyUnknown = code(() => native.flow.destroy(12345));
out.flush = ports.map((p) => code(() => native.flow.flush(p)));
for (const p of ports) native.port.close(p);
process.stdout.write(JSON.stringify(out) + '\n');
