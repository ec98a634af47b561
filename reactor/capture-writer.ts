// The capture writer thread: drains every shard's capture queue into pcapng files (a ring of files when
// asked), and at the end writes each interface's statistics (received, dropped by the device, dropped by
// the capture). It is the only thread that touches the files, so a slow disk never reaches a shard.
import * as fs from 'fs';
import * as path from 'path';
import { parentPort, workerData } from 'worker_threads';
import { PcapngWriter, type PcapngInterface } from '../net/pcapng';
import { RingReader } from './capture-ring';

export interface WriterInit {
  file: string;
  files: number;
  fileBytes: number;
  interfaces: PcapngInterface[];
  rings: SharedArrayBuffer[];
  control: SharedArrayBuffer;
  comment: string;
}

/** The name of file number `n` of a ring (`cap.pcapng` → `cap-0001.pcapng`); the file itself without a ring. */
export function ringFileName(file: string, n: number, ring: boolean): string {
  if (!ring) return file;
  const ext = path.extname(file) || '.pcapng';
  const stem = file.slice(0, file.length - path.extname(file).length);
  return `${stem}-${String(n).padStart(4, '0')}${ext}`;
}

function run(init: WriterInit): void {
  const ring = init.files > 1 || init.fileBytes > 0;
  const readers = init.rings.map((r) => new RingReader(r));
  const written: string[] = [];
  let n = 1;
  const startNs = BigInt(Date.now()) * 1_000_000n;
  const open = (): PcapngWriter => {
    const f = ringFileName(init.file, n++, ring);
    written.push(f);
    while (written.length > init.files) fs.rmSync(written.shift()!, { force: true });
    return new PcapngWriter(f, init.interfaces, { comment: init.comment });
  };
  let w = open();
  const perIf = new Array<number>(init.interfaces.length).fill(0);
  const onRecord = (r: { ifIndex: number; dir: number; sec: number; nsec: number; origLen: number; caplen: number; data: Uint8Array; off: number }): void => {
    if (init.fileBytes > 0 && w.size >= init.fileBytes) {
      w.close();
      w = open();
    }
    w.packet(r.ifIndex, r.sec, r.nsec, r.data, r.off, r.caplen, r.origLen, r.dir);
    perIf[r.ifIndex]++;
  };
  const drainAll = (): number => readers.reduce((a, rd) => a + rd.drain(onRecord), 0);
  let finalStats: { received: number; ifDrop: number }[] | null = null;
  parentPort!.on('message', (m: { type: string; stats?: { received: number; ifDrop: number }[] }) => {
    if (m.type === 'close') finalStats = m.stats ?? [];
  });
  // Poll: shards never signal (that would cost them), so the writer looks every few milliseconds.
  const tick = (): void => {
    drainAll();
    if (finalStats) {
      // shards have stopped producing: take what is left, then the statistics
      drainAll();
      const endNs = BigInt(Date.now()) * 1_000_000n;
      init.interfaces.forEach((_, i) => {
        const osDrop = readers.reduce((a, rd) => a + rd.ifDrops(i), 0);
        w.stats(i, { startNs, endNs, received: finalStats![i]?.received, ifDrop: finalStats![i]?.ifDrop, osDrop }, endNs);
      });
      w.close();
      parentPort!.postMessage({ type: 'closed', files: written.filter((f) => fs.existsSync(f)), packets: perIf });
      return;
    }
    setTimeout(tick, 5);
  };
  tick();
}

if (parentPort && (workerData as { netstarCapture?: boolean })?.netstarCapture) run(workerData as WriterInit);
