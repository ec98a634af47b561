// ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses: a checked view, a Repr, and the
// in-place request-to-reply rewrite the stack uses to answer for its own address.

import { EtherType } from './ethernet';
import { WireError, WireView } from './view';

export enum ArpOperation {
  Request = 1,
  Reply = 2,
}

export const ARP_HTYPE_ETHERNET = 1;
/** htype(2) ptype(2) hlen(1) plen(1) op(2) sha(6) spa(4) tha(6) tpa(4). */
export const ARP_PACKET_LEN = 28;
const TWO32 = 0x100000000;

export class ArpView extends WireView {
  /**
   * Ok only for Ethernet/IPv4 ARP (htype 1, ptype 0x0800, hlen 6, plen 4) with all 28 bytes present;
   * other hardware or protocol types are Unsupported, not Malformed.
   */
  check(): WireError {
    if (!this.inBounds) return WireError.OutOfBounds;
    if (this.len < 8) return WireError.Truncated;
    if (
      this.htype !== ARP_HTYPE_ETHERNET ||
      this.ptype !== EtherType.Ipv4 ||
      this.hlen !== 6 ||
      this.plen !== 4
    ) {
      return WireError.Unsupported;
    }
    if (this.len < ARP_PACKET_LEN) return WireError.Truncated;
    return WireError.Ok;
  }

  get htype(): number {
    return this.dv.getUint16(this.p);
  }
  get ptype(): number {
    return this.dv.getUint16(this.p + 2);
  }
  get hlen(): number {
    return this.dv.getUint8(this.p + 4);
  }
  get plen(): number {
    return this.dv.getUint8(this.p + 5);
  }
  get operation(): number {
    return this.dv.getUint16(this.p + 6);
  }
  set operation(op: number) {
    this.dv.setUint16(this.p + 6, op);
  }
  /** Sender hardware address (MAC as a 48-bit number). */
  get senderHw(): number {
    return this.mac(8);
  }
  set senderHw(mac: number) {
    this.setMac(8, mac);
  }
  /** Sender protocol (IPv4) address as uint32. */
  get senderIp(): number {
    return this.dv.getUint32(this.p + 14);
  }
  set senderIp(ip: number) {
    this.dv.setUint32(this.p + 14, ip >>> 0);
  }
  get targetHw(): number {
    return this.mac(18);
  }
  set targetHw(mac: number) {
    this.setMac(18, mac);
  }
  get targetIp(): number {
    return this.dv.getUint32(this.p + 24);
  }
  set targetIp(ip: number) {
    this.dv.setUint32(this.p + 24, ip >>> 0);
  }

  /** Writes a whole Ethernet/IPv4 ARP packet: the fixed header words, then the operation and addresses. */
  fill(operation: ArpOperation | number, senderHw: number, senderIp: number, targetHw: number, targetIp: number): void {
    this.setU16(0, ARP_HTYPE_ETHERNET);
    this.setU16(2, EtherType.Ipv4);
    this.setU8(4, 6);
    this.setU8(5, 4);
    this.operation = operation;
    this.senderHw = senderHw;
    this.senderIp = senderIp;
    this.targetHw = targetHw;
    this.targetIp = targetIp;
  }

  /**
   * Turn a checked request for `targetIp` into the reply from `ourMac`, in place: the sender becomes
   * the target and we become the sender. The Ethernet header around it is the caller's.
   */
  replyInPlace(ourMac: number): void {
    const askerHw = this.senderHw;
    const askerIp = this.senderIp;
    const ourIp = this.targetIp;
    this.operation = ArpOperation.Reply;
    this.senderHw = ourMac;
    this.senderIp = ourIp;
    this.targetHw = askerHw;
    this.targetIp = askerIp;
  }

  get payloadOffset(): number {
    return this.offset + ARP_PACKET_LEN;
  }
  /** Bytes after the ARP packet (Ethernet padding); never negative. */
  get payloadLength(): number {
    return Math.max(0, this.len - ARP_PACKET_LEN);
  }

  private mac(at: number): number {
    return this.dv.getUint16(this.p + at) * TWO32 + this.dv.getUint32(this.p + at + 2);
  }
  private setMac(at: number, mac: number): void {
    this.dv.setUint16(this.p + at, Math.floor(mac / TWO32));
    this.dv.setUint32(this.p + at + 2, mac >>> 0);
  }
}

export interface ArpRepr {
  operation: ArpOperation | number;
  senderHw: number;
  senderIp: number;
  targetHw: number;
  targetIp: number;
}

export const ArpRepr = {
  headerLen(): number {
    return ARP_PACKET_LEN;
  },

  parse(view: ArpView): ArpRepr | WireError {
    const err = view.check();
    if (err !== WireError.Ok) return err;
    return {
      operation: view.operation,
      senderHw: view.senderHw,
      senderIp: view.senderIp,
      targetHw: view.targetHw,
      targetIp: view.targetIp,
    };
  },

  emit(repr: ArpRepr, view: ArpView): WireError {
    if (view.check() === WireError.OutOfBounds) return WireError.OutOfBounds;
    if (view.length < ARP_PACKET_LEN) return WireError.Truncated;
    view.fill(repr.operation, repr.senderHw, repr.senderIp, repr.targetHw, repr.targetIp);
    return WireError.Ok;
  },
};
