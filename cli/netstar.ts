#!/usr/bin/env node
// The `netstar` command: run an app from a config file.
// First: stop signals are caught from here on (a signal during start-up ends the run cleanly).
import './early-signals';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfigFile, type ConfigInput } from '../reactor/config';
import { NetstarError } from '../native';
import { runApp } from './runner';
import { APPS } from '../reactor/app';
import { appHelp, appsListing, checkAppName } from './apps';
import { registerControlCommands } from './ctl';
import { configureLog, logger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../reactor/log';

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
const run = program
  .command('run')
  .description('run an app (a built-in name or a path to an app module) from a config file')
  .argument('[app]', `application to run: ${Object.keys(APPS).join(', ')}, or a path to an app module`)
  .option('-c, --config <file>', 'JSON config file (required)')
  .option('-s, --shards <n>', 'number of shards (one per core)', positiveInt)
  .option('-d, --duration <seconds>', 'stop after this many seconds', positiveNum)
  .option('--stats', 'print a STATS json line every interval')
  .option('--json', 'print the summary as a JSON line')
  .option('-q, --quiet', 'no live view or summary text')
  .option('--capture <file>', 'capture every port, both directions, to this pcapng file (overrides config "capture")')
  .option('--capture-filter <expr>', 'with --capture: a filter expression, e.g. "udp and port 53", "not arp", "host 198.18.0.1"')
  .option('-n, --name <instance>', 'control-socket instance name (netstar ctl/top <instance>); default <app>-<pid>')
  .addOption(new Option('--log-level <level>', 'log messages at this level and above (stderr)').choices(LOG_LEVELS).env('NETSTAR_LOG_LEVEL'))
  .addOption(new Option('--log-format <format>', 'log lines as text or pino JSON').choices(LOG_FORMATS).env('NETSTAR_LOG_FORMAT'))
  // Our own help flag: `run <app> --help` prints the app's settings, which commander's built-in help cannot.
  .helpOption(false)
  .option('-h, --help', 'this help; after an app name, the app\'s settings');
run.action(async (appName: string | undefined, opts: { config?: string; shards?: number; duration?: number; stats?: boolean; json?: boolean; quiet?: boolean; name?: string; capture?: string; captureFilter?: string; help?: boolean; logLevel?: LogLevel; logFormat?: LogFormat }) => {
  configureLog({ level: opts.logLevel, format: opts.logFormat });
  if (opts.help) {
    process.stdout.write(appName ? `${appHelp(appName)}\n` : `${run.helpInformation()}\nApps:\n${appsListing().replace(/^/gm, '  ')}\n`);
    return;
  }
  if (!appName) throw new NetstarError('ERR_CONFIG', `run: which app? apps: ${Object.keys(APPS).join(', ')} (netstar apps says what each does)`);
  // The app name is checked before any config is read: a typo is named as such, not as a config error.
  checkAppName(appName);
  if (!opts.config) throw new NetstarError('ERR_CONFIG', `run ${appName}: a config file is needed (-c <file>); netstar run ${appName} --help lists the app's settings`);
  if (opts.captureFilter !== undefined && !opts.capture) throw new NetstarError('ERR_CONFIG', '--capture-filter goes with --capture <file>');
  const overrides: Partial<ConfigInput> = opts.shards ? { shards: opts.shards } : {};
  if (opts.capture) overrides.capture = { file: opts.capture, filter: opts.captureFilter ?? '' };
  const config = loadConfigFile(opts.config, overrides);
  const { exitCode } = await runApp(appName, config, { durationSec: opts.duration, statsLines: opts.stats, json: opts.json, quiet: opts.quiet, instance: opts.name });
  process.exit(exitCode);
});
program
  .command('apps')
  .description('list the built-in apps, one line each')
  .action(() => {
    process.stdout.write(`${appsListing()}\n`);
  });

registerControlCommands(program);

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
    logger().error({ code: e.code }, e.message);
    process.exit(e.code === 'ERR_CONFIG' ? 2 : 1);
  }
  logger().fatal({ err: e }, 'unexpected error');
  process.exit(1);
});
