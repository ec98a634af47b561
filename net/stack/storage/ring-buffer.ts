// Byte ring buffer for TCP send/receive queues: bounded, allocated on first use (idle sockets cost no
// memory), and with an "unallocated" region past the data where out-of-order segments are parked.

/**
 * A fixed-capacity FIFO of bytes. The allocated region is [0, length) from the read position; the
 * unallocated region [length, capacity) can be written at any offset (writeUnallocated) and later
 * appended in order (enqueueUnallocated) — how smoltcp keeps out-of-order TCP data without a second
 * buffer: the receive window is exactly the unallocated space.
 */
export class RingBuffer {
  private storage: Uint8Array | null = null;
  private readAt = 0;
  private len = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`ring buffer capacity ${capacity}`);
  }

  /** Bytes of data held. */
  get length(): number {
    return this.len;
  }
  /** Free space: what can still be enqueued. */
  get window(): number {
    return this.capacity - this.len;
  }
  isEmpty(): boolean {
    return this.len === 0;
  }
  isFull(): boolean {
    return this.len === this.capacity;
  }

  private mem(): Uint8Array {
    if (this.storage === null) this.storage = new Uint8Array(this.capacity);
    return this.storage;
  }

  /** Append up to `n` bytes of `src` from `srcOffset`; returns how many fitted. */
  enqueue(src: Uint8Array, srcOffset = 0, n: number = src.length - srcOffset): number {
    const count = Math.max(0, Math.min(n, this.window, src.length - srcOffset));
    this.writeAt(this.len, src, srcOffset, count);
    this.len += count;
    return count;
  }

  /**
   * Copy `n` bytes of `src` into the unallocated region at `offset` past the data, clamped to the
   * free space; returns how many were written. The data is not part of the queue until
   * enqueueUnallocated() covers it.
   */
  writeUnallocated(offset: number, src: Uint8Array, srcOffset: number, n: number): number {
    if (offset < 0) return 0;
    const count = Math.max(0, Math.min(n, this.window - offset, src.length - srcOffset));
    this.writeAt(this.len + offset, src, srcOffset, count);
    return count;
  }

  /** Make the first `n` unallocated bytes part of the data (clamped to the free space). */
  enqueueUnallocated(n: number): number {
    const count = Math.max(0, Math.min(n, this.window));
    this.len += count;
    return count;
  }

  /** Copy `n` data bytes starting `offset` bytes into the data into `dst`, without consuming them. */
  read(offset: number, dst: Uint8Array, dstOffset: number, n: number): number {
    if (offset < 0 || offset >= this.len) return 0;
    const count = Math.max(0, Math.min(n, this.len - offset, dst.length - dstOffset));
    if (count === 0) return 0;
    const mem = this.mem();
    const start = (this.readAt + offset) % this.capacity;
    const first = Math.min(count, this.capacity - start);
    dst.set(mem.subarray(start, start + first), dstOffset);
    if (first < count) dst.set(mem.subarray(0, count - first), dstOffset + first);
    return count;
  }

  /** Drop up to `n` bytes from the front; returns how many were dropped. */
  discard(n: number): number {
    const count = Math.max(0, Math.min(n, this.len));
    this.readAt = (this.readAt + count) % this.capacity;
    this.len -= count;
    // No rewind to 0 when empty: out-of-order bytes may sit in the unallocated region, placed
    // relative to the current read position.
    return count;
  }

  /** Copy out and consume up to `n` bytes into `dst`. */
  dequeue(dst: Uint8Array, dstOffset: number, n: number): number {
    const count = this.read(0, dst, dstOffset, n);
    this.discard(count);
    return count;
  }

  /** Consume up to `max` bytes into a new array (what the promise API hands to users). */
  dequeueBytes(max: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, Math.min(max, this.len)));
    this.dequeue(out, 0, out.length);
    return out;
  }

  clear(): void {
    this.readAt = 0;
    this.len = 0;
  }

  private writeAt(pos: number, src: Uint8Array, srcOffset: number, count: number): void {
    if (count <= 0) return;
    const mem = this.mem();
    const start = (this.readAt + pos) % this.capacity;
    const first = Math.min(count, this.capacity - start);
    mem.set(src.subarray(srcOffset, srcOffset + first), start);
    if (first < count) mem.set(src.subarray(srcOffset + first, srcOffset + count), 0);
  }
}
