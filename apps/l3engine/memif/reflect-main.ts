// A TS memif client process without an EAL that sends every frame back 5-tuple swapped (as l3reflect does):
// `node dist/apps/l3engine/memif/reflect-main.js <socket> [secret]`; stops on SIGINT/SIGTERM and prints its counts.
import { MemifClient } from './client';
import { swap5 } from '../reflect';

async function main(): Promise<number> {
  const [socket, secret] = process.argv.slice(2);
  if (!socket) {
    process.stderr.write('usage: reflect-main <memif socket> [secret]\n');
    return 2;
  }
  const c = await MemifClient.connect({ socket, secret: secret ?? '' });
  let stop = false;
  process.on('SIGINT', () => { stop = true; });
  process.on('SIGTERM', () => { stop = true; });
  let idle = 0;
  while (!stop && c.poll()) {
    const frames = c.receive(256);
    for (const f of frames) {
      swap5(new DataView(f.buffer, f.byteOffset, f.length), 0, f.length);
      c.send(f);
    }
    // Busy while there is traffic; back off to a 1 ms timer when idle (and let signals in).
    if (frames.length === 0) {
      if (++idle > 64) await new Promise((r) => setTimeout(r, 1));
      else await new Promise((r) => setImmediate(r));
    } else {
      idle = 0;
      if ((c.rx & 0x3ff) < frames.length) await new Promise((r) => setImmediate(r));
    }
  }
  process.stdout.write(JSON.stringify({ rx: c.rx, tx: c.tx, txFull: c.txFull, rxSkipped: c.rxSkipped, reason: c.disconnectReason }) + '\n');
  c.close();
  return 0;
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`reflect-main: ${(e as Error).message}\n`);
  process.exit(1);
});
