// The conntrack dump, one connection per line in the style of `ovs-appctl dpctl/dump-conntrack`:
// protocol, orig and reply tuples, remaining timeout, protocol state, ct_state of the last packet.
import type { AsyncFlow, FlowDistributor } from '../flow';
import { formatIp, protoName } from '../flow';
import { CS, Conn, TCP_STATE_NAMES } from './conntrack';

function ctStateText(ct: number): string {
  const parts: string[] = [];
  if (ct & CS.NEW) parts.push('new');
  if (ct & CS.EST) parts.push('est');
  if (ct & CS.REL) parts.push('rel');
  if (ct & CS.RPL) parts.push('rpl');
  if (ct & CS.INV) parts.push('inv');
  if (ct & CS.TRK) parts.push('trk');
  if (ct & CS.SNAT) parts.push('snat');
  if (ct & CS.DNAT) parts.push('dnat');
  return parts.join('|');
}

function tuple(proto: number, src: number, dst: number, sp: number, dp: number, reply: boolean): string {
  if (proto === 1) return `src=${formatIp(src)},dst=${formatIp(dst)},id=${sp},type=${reply ? 0 : 8},code=0`;
  if (proto === 6 || proto === 17) return `src=${formatIp(src)},dst=${formatIp(dst)},sport=${sp},dport=${dp}`;
  return `src=${formatIp(src)},dst=${formatIp(dst)}`;
}

/** One line for a connection. */
export function formatConn(flow: AsyncFlow<Conn>, timeoutMs: number, now: number): string {
  const c = flow.state;
  const left = Math.max(0, Math.round((flow.lastSeen + timeoutMs - now) / 1000));
  let s = `${protoName(c.proto)},orig=(${tuple(c.proto, c.oSrc, c.oDst, c.oSport, c.oDport, false)}),reply=(${tuple(c.proto, c.tDst, c.tSrc, c.tDport, c.tSport, true)}),timeout=${left}`;
  if (c.proto === 6) s += `,protoinfo=(state_orig=${TCP_STATE_NAMES[c.tstate[0]]},state_reply=${TCP_STATE_NAMES[c.tstate[1]]})`;
  s += `,ct_state=${ctStateText(c.lastCt)},packets=(${flow.packets0},${flow.packets1}),bytes=(${flow.bytes0},${flow.bytes1})`;
  return s;
}

export function formatConntrack(dist: FlowDistributor<Conn>, now: number, why: string, shard: number): string {
  const lines = [`# conntrack shard ${shard} (${why}) at ${new Date().toISOString()}: ${dist.active} connection(s)`];
  for (const f of dist.liveFlows()) lines.push(formatConn(f, f.tclass >= 0 ? dist.timeouts[f.tclass] : 0, now));
  return lines.join('\n');
}
