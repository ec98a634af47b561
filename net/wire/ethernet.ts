// Ethernet II frames with up to two 802.1Q / 802.1ad VLAN tags, and MAC address helpers.
// A MAC address is a 48-bit integer in a plain number: compared with ===, usable as a Map key, no allocation.

import { Bytes, WireError, WireView } from './view';

export enum EtherType {
  Ipv4 = 0x0800,
  Arp = 0x0806,
  Vlan = 0x8100,
  Ipv6 = 0x86dd,
  QinQ = 0x88a8,
  /** Pre-standard QinQ TPID, still sent by some switches. */
  QinQLegacy = 0x9100,
}

export const ETHERNET_HEADER_LEN = 14;
export const VLAN_TAG_LEN = 4;
export const MAC_BROADCAST = 0xffffffffffff;
const TWO32 = 0x100000000;

export function isVlanTpid(etherType: number): boolean {
  return etherType === EtherType.Vlan || etherType === EtherType.QinQ || etherType === EtherType.QinQLegacy;
}

// ---------------------------------------------------------------------------------------------
// MAC helpers

/** Parse "aa:bb:cc:dd:ee:ff" (or with '-'); null when it is not exactly six hex octets. */
export function parseMac(text: string): number | null {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6) return null;
  let mac = 0;
  for (const part of parts) {
    if (!/^[0-9a-fA-F]{1,2}$/.test(part)) return null;
    mac = mac * 256 + parseInt(part, 16);
  }
  return mac;
}

/** Format as lower-case "aa:bb:cc:dd:ee:ff". */
export function formatMac(mac: number): string {
  let s = '';
  for (let i = 5; i >= 0; i--) {
    const octet = Math.floor(mac / 2 ** (8 * i)) & 0xff;
    s += (octet < 16 ? '0' : '') + octet.toString(16) + (i > 0 ? ':' : '');
  }
  return s;
}

/** The group bit (first octet, bit 0): multicast and broadcast. */
export function isMulticastMac(mac: number): boolean {
  return (Math.floor(mac / 0x10000000000) & 1) === 1;
}

function get8(b: Bytes, i: number): number {
  return b instanceof DataView ? b.getUint8(i) : b[i];
}
function set8(b: Bytes, i: number, v: number): void {
  if (b instanceof DataView) b.setUint8(i, v);
  else b[i] = v;
}

/** Read the six bytes at `offset` as a number. */
export function readMac(bytes: Bytes, offset: number): number {
  let mac = 0;
  for (let i = 0; i < 6; i++) mac = mac * 256 + get8(bytes, offset + i);
  return mac;
}

/** Write `mac` as six bytes at `offset`. */
export function writeMac(bytes: Bytes, offset: number, mac: number): void {
  set8(bytes, offset, Math.floor(mac / 0x10000000000) & 0xff);
  set8(bytes, offset + 1, Math.floor(mac / TWO32) & 0xff);
  const low = mac >>> 0;
  set8(bytes, offset + 2, low >>> 24);
  set8(bytes, offset + 3, (low >>> 16) & 0xff);
  set8(bytes, offset + 4, (low >>> 8) & 0xff);
  set8(bytes, offset + 5, low & 0xff);
}

/** Compare six bytes in place. */
export function macEquals(a: Bytes, aOffset: number, b: Bytes, bOffset: number): boolean {
  for (let i = 0; i < 6; i++) if (get8(a, aOffset + i) !== get8(b, bOffset + i)) return false;
  return true;
}

/** Copy six bytes (ranges may be in the same buffer; they cannot usefully overlap). */
export function copyMac(src: Bytes, srcOffset: number, dst: Bytes, dstOffset: number): void {
  for (let i = 0; i < 6; i++) set8(dst, dstOffset + i, get8(src, srcOffset + i));
}

/** Swap two six-byte addresses in place (e.g. dst and src when bouncing a frame). */
export function swapMacs(bytes: Bytes, offsetA: number, offsetB: number): void {
  for (let i = 0; i < 6; i++) {
    const t = get8(bytes, offsetA + i);
    set8(bytes, offsetA + i, get8(bytes, offsetB + i));
    set8(bytes, offsetB + i, t);
  }
}

// ---------------------------------------------------------------------------------------------
// View

/**
 * Ethernet II: dst(6) src(6) [TPID(2) TCI(2)]{0,2} ethertype(2). check() walks the tags and
 * remembers where the payload starts; `etherType` is the one after the tags.
 */
export class EthernetView extends WireView {
  private hl = ETHERNET_HEADER_LEN;
  private tags = 0;

  check(): WireError {
    this.tags = 0;
    this.hl = ETHERNET_HEADER_LEN;
    if (!this.inBounds) return WireError.OutOfBounds;
    if (this.len < ETHERNET_HEADER_LEN) return WireError.Truncated;
    let type = this.dv.getUint16(this.p + 12);
    while (isVlanTpid(type)) {
      // A third tag is legal on the wire but nothing here produces or expects it.
      if (this.tags === 2) return WireError.Unsupported;
      if (this.len < this.hl + VLAN_TAG_LEN) return WireError.Truncated;
      type = this.dv.getUint16(this.p + this.hl + 2);
      this.hl += VLAN_TAG_LEN;
      this.tags++;
    }
    return WireError.Ok;
  }

  get dst(): number {
    return this.dv.getUint16(this.p) * TWO32 + this.dv.getUint32(this.p + 2);
  }
  set dst(mac: number) {
    this.dv.setUint16(this.p, Math.floor(mac / TWO32));
    this.dv.setUint32(this.p + 2, mac >>> 0);
  }
  get src(): number {
    return this.dv.getUint16(this.p + 6) * TWO32 + this.dv.getUint32(this.p + 8);
  }
  set src(mac: number) {
    this.dv.setUint16(this.p + 6, Math.floor(mac / TWO32));
    this.dv.setUint32(this.p + 8, mac >>> 0);
  }
  get dstIsBroadcast(): boolean {
    return this.dv.getUint16(this.p) === 0xffff && this.dv.getUint32(this.p + 2) === 0xffffffff;
  }
  get dstIsMulticast(): boolean {
    return (this.u8[this.p] & 1) === 1;
  }
  /** Swap dst and src in place. */
  swapAddresses(): void {
    swapMacs(this.u8, this.p, this.p + 6);
  }
  /** Copy dst / src into another buffer without allocating. */
  copyDstTo(out: Bytes, offset: number): void {
    copyMac(this.u8, this.p, out, offset);
  }
  copySrcTo(out: Bytes, offset: number): void {
    copyMac(this.u8, this.p + 6, out, offset);
  }

  /** The type field at byte 12: a TPID when the frame is tagged. */
  get outerEtherType(): number {
    return this.dv.getUint16(this.p + 12);
  }
  /** The type of the payload, after the VLAN tags. */
  get etherType(): number {
    return this.dv.getUint16(this.p + this.hl - 2);
  }
  set etherType(type: number) {
    this.dv.setUint16(this.p + this.hl - 2, type);
  }
  /** Number of VLAN tags found by check(): 0, 1 or 2. */
  get vlanCount(): number {
    return this.tags;
  }
  /** TPID of tag `i` (0 = outer), or -1 when there is no such tag. */
  vlanTpid(i: number): number {
    return i >= 0 && i < this.tags ? this.dv.getUint16(this.p + 12 + 4 * i) : -1;
  }
  /** Tag control information of tag `i` (PCP:3 DEI:1 VID:12), or -1. */
  vlanTci(i: number): number {
    return i >= 0 && i < this.tags ? this.dv.getUint16(this.p + 14 + 4 * i) : -1;
  }
  vlanId(i: number): number {
    const tci = this.vlanTci(i);
    return tci < 0 ? -1 : tci & 0xfff;
  }
  vlanPcp(i: number): number {
    const tci = this.vlanTci(i);
    return tci < 0 ? -1 : tci >>> 13;
  }
  vlanDei(i: number): number {
    const tci = this.vlanTci(i);
    return tci < 0 ? -1 : (tci >>> 12) & 1;
  }
  setVlanTci(i: number, tci: number): void {
    if (i >= 0 && i < this.tags) this.dv.setUint16(this.p + 14 + 4 * i, tci);
  }

  get headerLength(): number {
    return this.hl;
  }
  get payloadOffset(): number {
    return this.offset + this.hl;
  }
  get payloadLength(): number {
    return this.len - this.hl;
  }
}

// ---------------------------------------------------------------------------------------------
// Repr

export interface VlanTag {
  /** 0x8100 (802.1Q), 0x88a8 (802.1ad outer tag) or 0x9100. */
  tpid: number;
  pcp: number;
  dei: number;
  vid: number;
}

export interface EthernetRepr {
  dst: number;
  src: number;
  /** Type of the payload (after the tags). */
  etherType: number;
  /** Outer tag first; empty when untagged. */
  vlans: VlanTag[];
}

export const EthernetRepr = {
  headerLen(repr: EthernetRepr): number {
    return ETHERNET_HEADER_LEN + VLAN_TAG_LEN * repr.vlans.length;
  },

  parse(view: EthernetView): EthernetRepr | WireError {
    const err = view.check();
    if (err !== WireError.Ok) return err;
    const vlans: VlanTag[] = [];
    for (let i = 0; i < view.vlanCount; i++) {
      vlans.push({ tpid: view.vlanTpid(i), pcp: view.vlanPcp(i), dei: view.vlanDei(i), vid: view.vlanId(i) });
    }
    return { dst: view.dst, src: view.src, etherType: view.etherType, vlans };
  },

  /** Write the header at the start of the view; the payload follows at view.payloadOffset. */
  emit(repr: EthernetRepr, view: EthernetView): WireError {
    if (repr.vlans.length > 2) return WireError.Unsupported;
    if (view.check() === WireError.OutOfBounds) return WireError.OutOfBounds;
    if (view.length < EthernetRepr.headerLen(repr)) return WireError.Truncated;
    view.dst = repr.dst;
    view.src = repr.src;
    let at = 12;
    for (const tag of repr.vlans) {
      view.setU16(at, tag.tpid);
      view.setU16(at + 2, ((tag.pcp & 7) << 13) | ((tag.dei & 1) << 12) | (tag.vid & 0xfff));
      at += 4;
    }
    view.setU16(at, repr.etherType);
    // Re-walk the tags so the view's payload offset matches what was written.
    return view.check();
  },
};
