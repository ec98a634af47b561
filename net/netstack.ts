// The TCP/IP stack on a shard: one Stack per port that has an address, fed by the distributor and polled
// by the reactor. Frames the stack sends are copied into mbufs of this shard's pool; ARP entries learned
// here are shared with every shard; connect() picks a source port whose flow steers back to this shard.
import { Stack, type StackConfig } from './stack';
import { RX_DESC_WORDS, RXD, type NativeLcore } from '../native';
import type { DpdkQueuePair, ShardIO } from './qp';
import type { PacketMemory } from './packet';
import { tupleHash, type Reta } from './steer';
import { defineTask, type TaskHandle } from './tasks';

export interface PortStackConfig {
  /** address/prefix, e.g. 198.18.1.2/24 */
  address: string;
  gateway?: string;
  mtu?: number;
  closedPorts?: 'rst' | 'nf';
  tcp?: StackConfig['tcp'];
}

/** The stacks of this thread by port index (tasks from other shards reach them here). */
const stacksByPort = new Map<number, Stack>();
const neighborTask = defineTask('__netstack.neighbor', (portIndex: number, ip: number, mac: number): void => {
  stacksByPort.get(portIndex)?.iface.learn(ip, mac, false);
});

interface ShardHooks {
  readonly id: number;
  readonly count: number;
  readonly reta: Reta;
  call<A extends unknown[], R>(task: TaskHandle<A, R>, shard: number, ...args: A): Promise<Awaited<R>>;
  wake(shard: number): void;
}

function macNumber(mac: string): number {
  return mac.split(':').reduce((a, h) => a * 256 + parseInt(h, 16), 0);
}

export class ShardStack {
  readonly stack: Stack;
  private readonly spare = new Uint32Array(32 * RX_DESC_WORDS);
  private spareCount = 0;
  private spareNext = 0;
  allocFailed = 0;
  sent = 0;
  /** TCP/UDP/ICMP to our address that no socket holds goes to the stack (which answers RST or unreachable) */
  readonly closedToStack: boolean;

  constructor(
    shard: ShardHooks,
    readonly portIndex: number,
    mac: string,
    cfg: PortStackConfig,
    private readonly qp: DpdkQueuePair,
    private readonly lcore: NativeLcore,
    private readonly mem: PacketMemory,
    private readonly pool: number,
  ) {
    const [addr, prefix] = cfg.address.split('/');
    this.closedToStack = (cfg.closedPorts ?? 'rst') === 'rst';
    const self = shard.id, count = shard.count;
    this.stack = new Stack({
      mac: macNumber(mac),
      addresses: [{ address: addr, prefix: Number(prefix) }],
      gateway: cfg.gateway,
      mtu: cfg.mtu,
      tcp: {
        ...cfg.tcp,
        // Connections live on the shard the steering sends them to: pick a source port that hashes here.
        chooseSourcePort: count > 1 ? (remoteIp, remotePort, localIp, inUse) => {
          const start = 32768 + Math.floor(Math.random() * 28000);
          for (let i = 0; i < 28232; i++) {
            const p = 32768 + ((start - 32768 + i) % 28232);
            if (!inUse(p) && shard.reta.shardOf(tupleHash(localIp, remoteIp, 6, p, remotePort)) === self) return p;
          }
          return 0;
        } : undefined,
      },
      wake: () => shard.wake(self),
      onNeighbor: count > 1 ? (ip, m) => {
        for (let s = 0; s < count; s++) if (s !== self) void shard.call(neighborTask, s, portIndex, ip, m).catch(() => undefined);
      } : undefined,
    }, { transmit: (frame) => this.transmit(frame) });
    stacksByPort.set(portIndex, this.stack);
  }

  /** Is this untagged IPv4 frame addressed to one of our addresses? (bounds-checked, no allocation) */
  isForUs(bytes: Uint8Array, off: number, len: number): boolean {
    if (len < 34 || bytes[off + 12] !== 0x08 || bytes[off + 13] !== 0x00) return false;
    const p = off + 30;
    const dst = ((bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3]) >>> 0;
    return this.stack.iface.isLocal(dst);
  }

  /** Copies a frame the stack built into an mbuf and queues it on the port. */
  private transmit(frame: Uint8Array): void {
    if (this.spareNext === this.spareCount) {
      this.spareCount = this.lcore.alloc(this.pool, this.spare, 32);
      this.spareNext = 0;
      if (this.spareCount === 0) {
        this.allocFailed++;
        return;
      }
    }
    const b = this.spareNext++ * RX_DESC_WORDS, d = this.spare;
    const c = d[b + RXD.chunk], bytes = this.mem.bytes[c >>> 16][c & 0xffff];
    const room = this.mem.dataRoom[c >>> 16] - d[b + RXD.dataOff];
    if (frame.length > room) {
      this.spareNext--; // keep the buffer for the next frame
      this.allocFailed++;
      return;
    }
    bytes.set(frame, d[b + RXD.bufOffset] + d[b + RXD.dataOff]);
    this.qp.sendSlot(d[b + RXD.slot], d[b + RXD.dataOff], frame.length);
    this.sent++;
  }

  /** Frees the spare buffers (at stop). */
  release(io: ShardIO): void {
    for (let i = this.spareNext; i < this.spareCount; i++) io.free(this.spare[i * RX_DESC_WORDS + RXD.slot]);
    this.spareNext = this.spareCount = 0;
    stacksByPort.delete(this.portIndex);
  }
}
