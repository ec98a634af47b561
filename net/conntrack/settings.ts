// Settings of connection tracking and NAT as zod schema pieces: OVS timeout-policy names onto the flow layer's
// timeout classes, address and port ranges.
import { z } from 'zod';
import { NetstarError } from '../../native';
import { OVS_DEFAULT_TIMEOUTS, parseIp, type FlowTimeouts } from '../flow';

/** OVS timeout-policy attribute names (ct_dpif_tp_attr), in seconds. */
export const timeoutsSchema = z.object({
  tcp_syn_sent: z.number().positive(),
  tcp_syn_recv: z.number().positive(),
  tcp_established: z.number().positive(),
  tcp_fin_wait: z.number().positive(),
  tcp_time_wait: z.number().positive(),
  tcp_close: z.number().positive(),
  udp_first: z.number().positive(),
  udp_single: z.number().positive(),
  udp_multiple: z.number().positive(),
  icmp_first: z.number().positive(),
  icmp_reply: z.number().positive(),
}).partial().strict();

export const rangeText = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}(-\d{1,3}(\.\d{1,3}){3})?$/, 'an address or a range like 198.18.2.10-198.18.2.20');

export function protoNumber(p: 'tcp' | 'udp' | 'icmp' | undefined): number {
  return p === 'tcp' ? 6 : p === 'udp' ? 17 : p === 'icmp' ? 1 : 0;
}

export function parseRange(text: string): [number, number] {
  const [a, b] = text.split('-');
  const lo = parseIp(a)!, hi = b === undefined ? lo : parseIp(b);
  if (hi === null || hi < lo) throw new NetstarError('ERR_CONFIG', `bad address range '${text}' (the end must follow the start)`);
  return [lo, hi];
}

export function parsePortRange(p: number | string | undefined): [number, number] {
  if (p === undefined) return [-1, -1];
  if (typeof p === 'number') return [p, p];
  const [a, b] = p.split('-').map(Number);
  const hi = b === undefined ? a : b;
  if (a > 65535 || hi > 65535 || hi < a) throw new NetstarError('ERR_CONFIG', `bad port range '${p}'`);
  return [a, hi];
}

/** OVS timeout-policy names (seconds) onto the flow layer's classes (ms), over the OVS defaults. */
export function timeoutsFrom(t: z.infer<typeof timeoutsSchema>): FlowTimeouts {
  const d = { ...OVS_DEFAULT_TIMEOUTS };
  const ms = (s: number | undefined, def: number): number => (s === undefined ? def : s * 1000);
  return {
    TcpFirstPacket: ms(t.tcp_syn_sent, d.TcpFirstPacket),
    TcpOpening: ms(t.tcp_syn_recv, d.TcpOpening),
    TcpEstablished: ms(t.tcp_established, d.TcpEstablished),
    TcpClosing: ms(t.tcp_fin_wait, d.TcpClosing),
    TcpFinWait: ms(t.tcp_time_wait, d.TcpFinWait),
    TcpClosed: ms(t.tcp_close, d.TcpClosed),
    OtherFirst: ms(t.udp_first, d.OtherFirst),
    OtherMultiple: ms(t.udp_single, d.OtherMultiple),
    OtherBidir: ms(t.udp_multiple, d.OtherBidir),
    IcmpFirst: ms(t.icmp_first, d.IcmpFirst),
    IcmpReply: ms(t.icmp_reply, d.IcmpReply),
  };
}
