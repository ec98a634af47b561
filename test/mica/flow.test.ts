// The native rte_flow steering surface where it can run here: every virtual device refuses the rule at
// validation (ERR_FLOW_UNSUPPORTED: the engine then steers in software, see server.test's summary), and
// arguments are checked with typed errors. The create path needs a NIC with rte_flow.
import { execFileSync } from 'child_process';
import * as path from 'path';

test('rte_flow on virtual devices: validation refuses, typed errors', () => {
  const r = JSON.parse(execFileSync(process.execPath, [path.join(__dirname, 'flow.child.js')], { timeout: 60000, encoding: 'utf8' }).trim().split('\n').pop()!) as Record<string, unknown>;
  expect(r.validate).toEqual(['ERR_FLOW_UNSUPPORTED', 'ERR_FLOW_UNSUPPORTED']);
  expect(r.create).toEqual(['ERR_FLOW_UNSUPPORTED', 'ERR_FLOW_UNSUPPORTED']);
  expect(r.badPort).toBe('ERR_PORT');
  expect(r.badUdp).toBe('ERR_INVALID_ARG');
  expect(r.badUdpHigh).toBe('ERR_INVALID_ARG');
  expect(r.badQueue).toBe('ERR_INVALID_ARG');
  expect(r.destroyUnknown).toBe('ERR_FLOW');
  expect(r.flush).toEqual(['ok', 'ok']);
});
