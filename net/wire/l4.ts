// What TCP and UDP headers share: the two ports in their first four bytes, and NAT port rewrites that update
// the checksum incrementally (each protocol says how: UDP's zero checksum means "none").
import { WireView } from './view';

export abstract class L4PortsView extends WireView {
  get srcPort(): number {
    return this.dv.getUint16(this.p);
  }
  set srcPort(v: number) {
    this.dv.setUint16(this.p, v);
  }
  get dstPort(): number {
    return this.dv.getUint16(this.p + 2);
  }
  set dstPort(v: number) {
    this.dv.setUint16(this.p + 2, v);
  }
  /** RFC 1624 update after a covered 16-bit word (a port) changed. */
  abstract adjustChecksum16(oldValue: number, newValue: number): void;
  /** Rewrite the source port and update the checksum; returns the old port. */
  rewriteSrcPort(port: number): number {
    const old = this.srcPort;
    this.srcPort = port;
    this.adjustChecksum16(old, port);
    return old;
  }
  /** Rewrite the destination port and update the checksum; returns the old port. */
  rewriteDstPort(port: number): number {
    const old = this.dstPort;
    this.dstPort = port;
    this.adjustChecksum16(old, port);
    return old;
  }
}
