// `netstar client`: runs an l3engine client as a container — in a named network namespace (`ip netns exec`) and
// a mount namespace of its own (unshare) where the engine's sockets directory shows only this client's
// subdirectory, so the client can neither see nor connect to another client's memif socket.
import { spawn } from 'child_process';
import * as path from 'path';
import { NetstarError } from '../../index';

export interface ContainerOptions {
  /** a named network namespace (`ip netns add`) */
  netns: string;
  /** the directory holding every client's socket subdirectory */
  socketsDir: string;
  /** this client's subdirectory of socketsDir (name only) */
  own: string;
  /** the command to run inside */
  command: string[];
}

/**
 * The shell run by unshare: keep the client's own directory aside (bind mount), cover the sockets directory with
 * an empty tmpfs, put the own directory back, then exec the command. Paths come as positional arguments, never
 * spliced into the script.
 */
const SCRIPT = [
  'set -e',
  'dir="$1"; own="$2"; shift 2',
  'keep=$(mktemp -d /tmp/.l3client.XXXXXX)',
  'mount --bind "$dir/$own" "$keep"',
  'mount -t tmpfs -o size=64k,mode=0755 l3client "$dir"',
  'mkdir "$dir/$own"',
  'mount --bind "$keep" "$dir/$own"',
  'umount "$keep"; rmdir "$keep"',
  'exec "$@"',
].join('\n');

export function containerArgs(o: ContainerOptions): string[] {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(o.own) || o.own === '.' || o.own === '..') throw new NetstarError('ERR_CONFIG', `client: '${o.own}' is not a plain directory name`);
  if (!path.isAbsolute(o.socketsDir)) throw new NetstarError('ERR_CONFIG', `client: the sockets directory must be an absolute path, got '${o.socketsDir}'`);
  if (o.command.length === 0) throw new NetstarError('ERR_CONFIG', 'client: no command to run');
  return ['netns', 'exec', o.netns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', SCRIPT, 'l3client', o.socketsDir, o.own, ...o.command];
}

/**
 * Runs the command in its container; resolves with its exit code. SIGINT/SIGTERM are not forwarded: the command
 * is in this process group and gets them from the terminal or a group kill like this process does (forwarding
 * made a second SIGINT arrive after netstar had dropped its handler while stopping, killing it mid-summary).
 */
export function runContainer(o: ContainerOptions): Promise<number> {
  const child = spawn('ip', containerArgs(o), { stdio: 'inherit' });
  const forward = (): void => undefined; // keep this process alive until the command exits
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 128 + 2 : 1));
    });
  });
}
