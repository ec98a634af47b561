// What every demo shares: the CLI path, its output prefix, and the frame that checks for root, makes a
// temporary directory and a topology, and removes both whatever happens.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Topology } from '../../tools/netns';

export const CLI = path.resolve(__dirname, '..', '..', 'cli', 'netstar.js');

export function say(s: string): void {
  process.stdout.write(`demo: ${s}\n`);
}

/** Runs `body` with a fresh topology and temp dir, cleans both up, and exits with its result. */
export function runDemo(body: (topo: Topology, dir: string) => Promise<number>): void {
  const main = async (): Promise<number> => {
    if (process.getuid && process.getuid() !== 0) {
      say('needs root (network namespaces and DPDK): sudo npm start');
      return 1;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netstar-demo-'));
    const topo = await Topology.create('demo');
    try {
      return await body(topo, dir);
    } finally {
      await topo.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
      say('namespaces and veths removed');
    }
  };
  main().then((c) => process.exit(c), (e: unknown) => {
    process.stderr.write(`demo: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  });
}
