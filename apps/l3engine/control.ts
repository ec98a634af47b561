// The l3engine control command's work: validate a new set of clients/services/routes against an engine's config
// file, then write it to the engine's control file atomically (a temporary file renamed over it), where the
// running engine picks it up (it checks the file every `reloadMs`).
import * as fs from 'fs';
import * as path from 'path';
import { NetstarError } from '../../index';
import { loadConfigFile } from '../../index';
import { parseControl, parseL3engineSettings } from './config';

/** Validates `control` (an object or a JSON file name) for the engine configured in `configFile`; returns the file written. */
export function writeControl(configFile: string, control: unknown): string {
  const cfg = loadConfigFile(configFile);
  const s = parseL3engineSettings(cfg);
  if (s.controlFile === null) throw new NetstarError('ERR_CONFIG', `${configFile}: app.controlFile is not set; the engine takes no run-time changes`);
  parseControl(control, s);
  const tmp = path.join(path.dirname(s.controlFile), `.${path.basename(s.controlFile)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(control, null, 2));
  fs.renameSync(tmp, s.controlFile);
  return s.controlFile;
}

/** Reads a control object from a JSON file (clear errors). */
export function readControl(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new NetstarError('ERR_CONFIG', `cannot read '${file}': ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new NetstarError('ERR_CONFIG', `'${file}' is not valid JSON: ${(e as Error).message}`);
  }
}
