// Imported first by cli/netstar.ts: catches SIGINT/SIGTERM before anything slow loads (the addon, the EAL).
import { catchStopSignals } from './signals';

catchStopSignals();
if (process.env.NETSTAR_DEBUG) process.stderr.write('netstar: catching stop signals\n');
