#!/usr/bin/env node
// The `netstar` command: run an app from a config file.
import { Command, InvalidArgumentError } from 'commander';
import { loadConfigFile } from '../reactor/config';
import { NetstarError } from '../native';
import { runApp } from './runner';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}
function positiveNum(v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError('must be a positive number');
  return n;
}

const program = new Command();
program.name('netstar').description('NetStar.ts: network functions in TypeScript on DPDK').version('0.1.0');
program
  .command('run')
  .argument('<app>', 'application to run (l2fwd, …)')
  .requiredOption('-c, --config <file>', 'JSON config file')
  .option('-s, --shards <n>', 'number of shards (one per core)', positiveInt)
  .option('-d, --duration <seconds>', 'stop after this many seconds', positiveNum)
  .option('--stats', 'print a STATS json line every interval')
  .option('--json', 'print the summary as a JSON line')
  .option('-q, --quiet', 'no live view or summary text')
  .action(async (appName: string, opts: { config: string; shards?: number; duration?: number; stats?: boolean; json?: boolean; quiet?: boolean }) => {
    const config = loadConfigFile(opts.config, opts.shards ? { shards: opts.shards } : {});
    const { exitCode } = await runApp(appName, config, { durationSec: opts.duration, statsLines: opts.stats, json: opts.json, quiet: opts.quiet });
    process.exit(exitCode);
  });

program
  .command('l3ctl')
  .description('change a running l3engine: validate clients/services/routes (JSON file) against its config, write its control file')
  .requiredOption('-c, --config <file>', "the engine's JSON config file (app.controlFile names the control file)")
  .argument('<control>', 'JSON file with clients, services and/or routes')
  .action(async (controlFile: string, opts: { config: string }) => {
    const { readControl, writeControl } = await import('../apps/l3engine/control');
    const written = writeControl(opts.config, readControl(controlFile));
    process.stdout.write(`l3ctl: wrote ${written}\n`);
  });

program
  .command('client')
  .description('run an l3engine client as a container: in network namespace <netns>, with only <sockets>/<own> visible of the sockets directory')
  .requiredOption('--netns <name>', 'named network namespace (ip netns)')
  .requiredOption('--sockets <dir>', "the engine's sockets directory (absolute)")
  .requiredOption('--own <name>', "this client's subdirectory of it")
  .argument('<command...>', 'the command to run inside, after --')
  .action(async (command: string[], opts: { netns: string; sockets: string; own: string }) => {
    const { runContainer } = await import('../apps/l3engine/container');
    process.exit(await runContainer({ netns: opts.netns, socketsDir: opts.sockets, own: opts.own, command }));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof NetstarError) {
    process.stderr.write(`netstar: ${e.message}\n`);
    process.exit(e.code === 'ERR_CONFIG' ? 2 : 1);
  }
  process.stderr.write(`netstar: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
