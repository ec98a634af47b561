// The shard's handle table: packets kept across an await. Each handle must end in send, forward or drop;
// the leak detector reports handles alive past a deadline.
import { Packet } from '../net/packet';

export class PacketHandle extends Packet {
  heldAt = 0;
  reported = false;
  /** dropped by the shard's stop while still held: later send/drop calls on it do nothing */
  revoked = false;
}

export class HandleTable {
  private readonly bySlot = new Map<number, PacketHandle>();
  leaksReported = 0;

  hold(p: Packet, now: number): PacketHandle {
    const h = p.copyTo(new PacketHandle()) as PacketHandle;
    h.heldAt = now;
    this.bySlot.set(h.slot, h);
    return h;
  }

  /** Removes a handle (it was sent, forwarded or dropped); false if it was not held. */
  release(p: Packet): boolean {
    const h = this.bySlot.get(p.slot);
    if (!h || h !== p) return false;
    this.bySlot.delete(p.slot);
    return true;
  }

  isHeld(p: Packet): boolean {
    return this.bySlot.get(p.slot) === p;
  }

  get size(): number {
    return this.bySlot.size;
  }

  /** Empties the table, marking every handle revoked; returns them (the caller drops their packets). */
  revokeAll(): PacketHandle[] {
    const all = [...this.bySlot.values()];
    this.bySlot.clear();
    for (const h of all) h.revoked = true;
    return all;
  }

  /** Handles older than `deadlineMs` not reported before; each is reported once. */
  scanLeaks(now: number, deadlineMs: number): PacketHandle[] {
    const out: PacketHandle[] = [];
    for (const h of this.bySlot.values()) {
      if (!h.reported && now - h.heldAt > deadlineMs) {
        h.reported = true;
        out.push(h);
      }
    }
    this.leaksReported += out.length;
    return out;
  }
}
