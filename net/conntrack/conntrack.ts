// Connection tracking with Open vSwitch userspace semantics: the per-connection state (tuples before and
// after NAT, next hops, protocol state), ct_state bits, and the protocol trackers — TCP sequence and window
// validation after pf as OVS's lib/conntrack-tcp.c does it (Guido van Rooij's algorithm), and the simple
// first/multiple/bidirectional and first/reply machines of lib/conntrack-other.c and conntrack-icmp.c.
// Written from the algorithm's description and OVS's behaviour, not copied.
import { TimeoutClass } from '../flow';
import type { PacketInfo } from '../flow';
import { TcpOptions } from '../wire/tcp';
import type { Neighbor } from '../l3/neighbor';

/** OVS ct_state bits (CS_*). */
export const CS = { NEW: 0x01, EST: 0x02, REL: 0x04, RPL: 0x08, INV: 0x10, TRK: 0x20, SNAT: 0x40, DNAT: 0x80 } as const;

/** TCP peer states, numbered as OVS's ct_dpif_tcp_state (only the order matters to the algorithm). */
export const TcpState = {
  CLOSED: 0, LISTEN: 1, SYN_SENT: 2, SYN_RECV: 3, ESTABLISHED: 4, CLOSE_WAIT: 5, FIN_WAIT_1: 6, CLOSING: 7,
  LAST_ACK: 8, FIN_WAIT_2: 9, TIME_WAIT: 10,
} as const;
export const TCP_STATE_NAMES = ['CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'FIN_WAIT_1', 'CLOSING', 'LAST_ACK', 'FIN_WAIT_2', 'TIME_WAIT'];

/** Results of a tracker update (OVS ct_update_res). */
export const Update = { INVALID: 0, VALID: 1, NEW: 2, VALID_NEW: 3 } as const;

export const OtherState = { FIRST: 0, MULTIPLE: 1, BIDIR: 2 } as const;
export const IcmpState = { FIRST: 0, REPLY: 1 } as const;

const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20;
const MAX_WSCALE = 14;
/** window-scale bits kept per peer: the value, "option seen", "unknown (picked up mid-stream)" */
const WS_FLAG = 0x80, WS_UNKNOWN = 0x40, WS_MASK = 0x0f;
/** pf's slack for ACKs: one maximal window plus an MTU's worth */
const MAX_ACK_WINDOW = 0xffff + 1500;

function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}
function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** A connection: the state object of an AsyncFlow (reused when the flow slot is). */
export class Conn {
  proto = 0;
  /** direction 0 before translation (as it arrived) */
  oSrc = 0; oDst = 0; oSport = 0; oDport = 0;
  /** direction 0 after translation (as it leaves); a reply arrives as the reverse of this */
  tSrc = 0; tDst = 0; tSport = 0; tDport = 0;
  /** CS.SNAT | CS.DNAT */
  nat = 0;
  /** direction 0 arrives on inPort0 and leaves on outPort0; direction 1 the other way */
  inPort0 = 0;
  outPort0 = 1;
  /** next hops per direction, and their neighbor entries once known */
  nextHop0 = 0;
  nextHop1 = 0;
  nb0: Neighbor | null = null;
  nb1: Neighbor | null = null;
  createdAt = 0;
  /** ct_state of the last packet (for dumps) */
  lastCt = 0;
  /** counted in the global connection limit */
  counted = false;
  // TCP peers [0] = originator, [1] = responder
  readonly seqlo = new Uint32Array(2);
  readonly seqhi = new Uint32Array(2);
  readonly maxWin = new Uint32Array(2);
  readonly wscale = new Uint8Array(2);
  readonly tstate = new Uint8Array(2);
  /** OtherState / IcmpState */
  state = 0;
  /** load balancer: backend index, -1 if none */
  backend = -1;

  reset(): void {
    this.nat = 0;
    this.nb0 = this.nb1 = null;
    this.lastCt = 0;
    this.counted = false;
    this.seqlo.fill(0); this.seqhi.fill(0); this.maxWin.fill(0); this.wscale.fill(0); this.tstate.fill(0);
    this.state = 0;
    this.backend = -1;
  }
}

const scratchOpts = new TcpOptions();

/** pf's sanity check on flag combinations (OVS applies it without scrubbing too). */
export function tcpInvalidFlags(flags: number): boolean {
  if (flags & SYN) {
    if (flags & (RST | FIN)) return true;
  } else if ((flags & (ACK | RST)) === 0) return true;
  if ((flags & ACK) === 0 && (flags & (FIN | PSH | URG)) !== 0) return true;
  return false;
}

/** May this packet create a connection? New SYNs and (picked up) established traffic; a lone SYN-ACK may not. */
export function tcpValidNew(flags: number): boolean {
  if (tcpInvalidFlags(flags)) return false;
  return !((flags & SYN) !== 0 && (flags & ACK) !== 0);
}

/** The window-scale option of a SYN as pf keeps it: value | WS_FLAG, or 0 without one. */
function synWscale(info: PacketInfo): number {
  const t = info.tcpView();
  if (t === null || t.parseOptions(scratchOpts) !== 0 || scratchOpts.windowScale < 0) return 0;
  return Math.min(scratchOpts.windowScale, MAX_WSCALE) | WS_FLAG;
}

function seqOf(info: PacketInfo): number {
  return info.view.getUint32(info.l4 + 4);
}
function ackOf(info: PacketInfo): number {
  return info.view.getUint32(info.l4 + 8);
}
function winOf(info: PacketInfo): number {
  return info.view.getUint16(info.l4 + 14);
}

/** Sets up TCP tracking from a connection's first packet (sent by peer 0). */
export function tcpNew(c: Conn, info: PacketInfo): number {
  const flags = info.tcpFlags;
  const seq = seqOf(info);
  c.seqlo[0] = seq;
  c.seqhi[0] = (seq + info.l4PayloadLength + 1 + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0)) >>> 0;
  if (flags & SYN) c.wscale[0] = synWscale(info);
  else c.wscale[0] = c.wscale[1] = WS_UNKNOWN;
  let win = Math.max(winOf(info), 1);
  const sws = c.wscale[0] & WS_MASK;
  if (sws) win = Math.ceil(win / (1 << sws));
  c.maxWin[0] = win;
  c.seqhi[1] = 1;
  c.maxWin[1] = 1;
  c.tstate[0] = TcpState.SYN_SENT;
  c.tstate[1] = TcpState.CLOSED;
  return TimeoutClass.TcpFirstPacket;
}

/**
 * Validates a TCP packet against the connection and updates it. Returns Update.INVALID (drop it), VALID,
 * or NEW (a SYN reopening a closed connection: the caller starts over). `cls` receives the timeout class.
 */
export function tcpUpdate(c: Conn, info: PacketInfo, reply: boolean, cls: { v: number }): number {
  const flags = info.tcpFlags;
  if (tcpInvalidFlags(flags)) return Update.INVALID;
  const s = reply ? 1 : 0, d = reply ? 0 : 1;
  const st = c.tstate;
  if ((flags & (SYN | ACK)) === SYN && st[d] >= TcpState.FIN_WAIT_2 && st[s] >= TcpState.FIN_WAIT_2) {
    st[s] = st[d] = TcpState.CLOSED;
    return Update.NEW;
  }
  const ws = c.wscale;
  let sws = 0, dws = 0;
  if ((ws[s] & WS_FLAG) !== 0 && (ws[d] & WS_FLAG) !== 0 && (flags & SYN) === 0) {
    sws = ws[s] & WS_MASK;
    dws = ws[d] & WS_MASK;
  } else if ((ws[s] & WS_UNKNOWN) !== 0 && (ws[d] & WS_UNKNOWN) !== 0 && (flags & SYN) === 0) {
    sws = dws = MAX_WSCALE;
  }
  let win = winOf(info);
  const plen = info.l4PayloadLength;
  const origSeq = seqOf(info);
  let seq = origSeq, ack: number, end: number;
  let checkAckSkew = true;
  const seqlo = c.seqlo, seqhi = c.seqhi, maxWin = c.maxWin;
  if (st[s] < TcpState.SYN_SENT) {
    // First packet from this side.
    ack = ackOf(info);
    end = (seq + plen) >>> 0;
    if (flags & SYN) {
      end = (end + 1) >>> 0;
      if (ws[d] & WS_FLAG) {
        ws[s] = synWscale(info);
        if (ws[s] & WS_FLAG) {
          sws = ws[s] & WS_MASK;
          win = Math.ceil(win / (1 << sws));
          dws = ws[d] & WS_MASK;
        } else {
          // The other side offered scaling, this one did not: neither scales.
          maxWin[d] = Math.min(0xffffffff, maxWin[d] * (1 << (ws[d] & WS_MASK)));
          ws[d] = 0;
        }
      }
    }
    if (flags & FIN) end = (end + 1) >>> 0;
    seqlo[s] = seq;
    st[s] = TcpState.SYN_SENT;
    const room = Math.max(1, maxWin[d] * (1 << dws));
    if (seqhi[s] === 1 || seqGeq((end + room) >>> 0, seqhi[s])) {
      seqhi[s] = (end + room) >>> 0;
      // A connection being picked up (or started): be lenient about what it acknowledges.
      checkAckSkew = false;
    }
    if (win > maxWin[s]) maxWin[s] = win;
  } else {
    ack = ackOf(info);
    end = (seq + plen + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0)) >>> 0;
  }
  if ((flags & ACK) === 0) ack = seqlo[d];
  else if (ack === 0 && (flags & (ACK | RST)) === (ACK | RST)) ack = seqlo[d]; // stacks that leave it 0
  if (seq === end) {
    // No data: no sequence constraints.
    seq = seqlo[s];
    end = seq;
  }
  const ackSkew = checkAckSkew ? ((seqlo[d] - ack) | 0) : 0;
  const dwin = maxWin[d] * (1 << dws);
  const inWindow =
    seqGeq(seqhi[s], end) &&
    seqGeq(seq, (seqlo[s] - dwin) >>> 0) &&
    ackSkew >= -MAX_ACK_WINDOW &&
    ackSkew <= MAX_ACK_WINDOW * (1 << sws) &&
    ((flags & RST) === 0 || origSeq === seqlo[s] || origSeq === ((seqlo[s] + 1) >>> 0) || ((origSeq + 1) >>> 0) === seqlo[s]);
  if (inWindow) {
    if (maxWin[s] < win) maxWin[s] = win;
    if (seqGt(end, seqlo[s])) seqlo[s] = end;
    const swin = win * (1 << sws);
    if (seqGeq((ack + swin) >>> 0, seqhi[d])) seqhi[d] = (ack + Math.max(swin, 1)) >>> 0;
    if ((flags & SYN) && st[s] < TcpState.SYN_SENT) st[s] = TcpState.SYN_SENT;
    if ((flags & FIN) && st[s] < TcpState.CLOSING) st[s] = TcpState.CLOSING;
    if (flags & ACK) {
      if (st[d] === TcpState.SYN_SENT) st[d] = TcpState.ESTABLISHED;
      else if (st[d] === TcpState.CLOSING) st[d] = TcpState.FIN_WAIT_2;
    }
    if (flags & RST) st[s] = st[d] = TcpState.TIME_WAIT;
    cls.v = tcpTimeoutClass(st[s], st[d]);
    return Update.VALID;
  }
  const loose =
    (st[d] < TcpState.SYN_SENT || st[d] >= TcpState.FIN_WAIT_2 || st[s] >= TcpState.FIN_WAIT_2) &&
    seqGeq((seqhi[s] + MAX_ACK_WINDOW) >>> 0, end) &&
    seqGeq(seq, (seqlo[s] - MAX_ACK_WINDOW) >>> 0);
  if (loose) {
    // Shotgunned SYNs, a connection caught mid-way, stray packets right after a close: accepted, but the
    // timeout is not refreshed so a flood cannot keep the entry alive.
    if (maxWin[s] < win) maxWin[s] = win;
    if (seqGt(end, seqlo[s])) seqlo[s] = end;
    const swin = win * (1 << sws);
    if (seqGeq((ack + swin) >>> 0, seqhi[d])) seqhi[d] = (ack + Math.max(swin, 1)) >>> 0;
    if ((flags & FIN) && st[s] < TcpState.CLOSING) st[s] = TcpState.CLOSING;
    if (flags & RST) st[s] = st[d] = TcpState.TIME_WAIT;
    cls.v = -1;
    return Update.VALID;
  }
  return Update.INVALID;
}

/** OVS's choice of timeout from the two peers' states. */
export function tcpTimeoutClass(a: number, b: number): number {
  if (a >= TcpState.FIN_WAIT_2 && b >= TcpState.FIN_WAIT_2) return TimeoutClass.TcpClosed;
  if (a >= TcpState.CLOSING && b >= TcpState.CLOSING) return TimeoutClass.TcpFinWait;
  if (a < TcpState.ESTABLISHED || b < TcpState.ESTABLISHED) return TimeoutClass.TcpOpening;
  if (a >= TcpState.CLOSING || b >= TcpState.CLOSING) return TimeoutClass.TcpClosing;
  return TimeoutClass.TcpEstablished;
}

/** UDP and other protocols: first packet, more one way (+new once more, as OVS), then a reply. */
export function otherUpdate(c: Conn, reply: boolean, cls: { v: number }): number {
  let r: number = Update.VALID;
  if (reply && c.state !== OtherState.BIDIR) c.state = OtherState.BIDIR;
  else if (c.state === OtherState.FIRST) {
    c.state = OtherState.MULTIPLE;
    r = Update.VALID_NEW;
  }
  cls.v = c.state === OtherState.BIDIR ? TimeoutClass.OtherBidir : c.state === OtherState.MULTIPLE ? TimeoutClass.OtherMultiple : TimeoutClass.OtherFirst;
  return r;
}

/** ICMP echo: first request, then a reply. */
export function icmpUpdate(c: Conn, reply: boolean, cls: { v: number }): number {
  if (reply && c.state !== IcmpState.REPLY) c.state = IcmpState.REPLY;
  cls.v = c.state === IcmpState.REPLY ? TimeoutClass.IcmpReply : TimeoutClass.IcmpFirst;
  return Update.VALID;
}
