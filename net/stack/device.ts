// The stack's only way out: a Device that takes finished Ethernet frames. Keeps the stack free of
// the reactor and DPDK, so it runs the same under a shard, a TAP device or an in-memory test link.

/**
 * Where the stack sends frames. `frame` is a view into the stack's scratch memory, valid only for
 * the duration of the call: copy it (or send it) before returning. transmit() must not call back
 * into the stack synchronously (receive() would overwrite the frame being built).
 */
export interface Device {
  transmit(frame: Uint8Array): void;
}
