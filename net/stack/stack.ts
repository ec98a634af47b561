// The user-space TCP/IP stack of one shard: an Interface (Ethernet, ARP, IPv4, ICMP) and the UDP and
// TCP layers, driven smoltcp-style by receive(), poll() and pollAt(); no reactor or DPDK inside.

import { Ipv4View, TcpView, UdpView } from '../wire';
import { Ipv4Address, MacAddress, ResolvedConfig, StackConfig, TcpSocketOptions, resolveConfig, toIpv4, toMac } from './config';
import { StackCounters } from './counters';
import { Device } from './device';
import { Interface, Transport } from './iface/interface';
import { TcpLayer, TcpListenOptions } from './socket/tcp-layer';
import { TcpListener, TcpSocket } from './socket/tcp-socket';
import { UdpLayer, UdpSocket } from './socket/udp';

/**
 * Drive it like this (the reactor does; tests do with a simulated clock):
 *
 *   for each received frame:  if (stack.accepts(f, o, n)) stack.receive(f, o, n, now)
 *   then:                     if (stack.pollAt() <= now) stack.poll(now)
 *
 * Frames leave through `device.transmit()` during receive() (ARP and ICMP answers, resets) and
 * poll() (everything a socket sends). Socket calls made between polls take effect at the next
 * poll; `config.wake` says when an idle stack got such work.
 */
export class Stack {
  readonly counters = new StackCounters();
  readonly config: ResolvedConfig;
  readonly iface: Interface;
  readonly tcp: TcpLayer;
  readonly udp: UdpLayer;

  constructor(config: StackConfig, device: Device) {
    this.config = resolveConfig(config);
    this.iface = new Interface(this.config, device, this.counters);
    this.tcp = new TcpLayer(this.iface, this.config, this.counters);
    this.udp = new UdpLayer(this.iface, this.config, this.counters);
    const tcp = this.tcp;
    const udp = this.udp;
    const transport: Transport = {
      tcpInput: (ip: Ipv4View, seg: TcpView) => tcp.input(ip, seg),
      udpInput: (ip: Ipv4View, dgram: UdpView) => udp.input(ip, dgram),
      tcpAccepts: (localIp, localPort, remoteIp, remotePort) => tcp.accepts(localIp, localPort, remoteIp, remotePort),
      udpAccepts: (port) => udp.accepts(port),
    };
    this.iface.transport = transport;
  }

  /** The time (ms) the stack last saw through receive() or poll(). */
  get now(): number {
    return this.iface.now;
  }

  /** Process one Ethernet frame at `now` (ms, monotonic). Never throws. */
  receive(frame: Uint8Array, offset: number, length: number, now: number): void {
    this.iface.receive(frame, offset, length, now);
  }

  /**
   * The distributor's question: is this frame for the stack? Cheap and allocation-free; true for
   * ARP about our addresses, IPv4 fragments and ICMP to us, TCP to a listener or a connection we
   * hold, UDP to a bound port.
   */
  accepts(frame: Uint8Array, offset: number, length: number): boolean {
    return this.iface.accepts(frame, offset, length);
  }

  /** Run due timers (retransmissions, delayed ACKs, ARP retries, reassembly timeouts) and send what is pending. */
  poll(now: number): void {
    // Timers first: a timer may make a connection dirty, and dispatching once sends it all.
    this.iface.poll(now);
    this.tcp.poll(now);
    this.udp.poll();
  }

  /** When poll() must next run (ms): now when output is pending, Infinity when idle. */
  pollAt(): number {
    return Math.min(this.iface.pollAt(), this.tcp.pollAt(), this.udp.pollAt());
  }

  tcpListen(port: number, opts?: TcpListenOptions): TcpListener {
    return this.tcp.listen(port, opts);
  }

  /** Open a connection; resolves when it is established, rejects with a SocketError otherwise. */
  tcpConnect(address: Ipv4Address, port: number, opts?: TcpSocketOptions): Promise<TcpSocket> {
    let ip: number;
    try {
      ip = toIpv4(address);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.tcp.connect(ip, port, opts);
  }

  /** Bind a UDP port (0: an ephemeral one). */
  udpBind(port: number): UdpSocket {
    return this.udp.bind(port);
  }

  /** Learn a neighbour from elsewhere (another shard's ARP); not reported back through onNeighbor. */
  addNeighbor(address: Ipv4Address, mac: MacAddress): void {
    this.iface.learn(toIpv4(address), toMac(mac), false);
  }

  /** Known neighbours as [ip, mac] number pairs. */
  neighbors(): Array<[number, number]> {
    return [...this.iface.neighbors.list()];
  }

  /** Send a gratuitous ARP for each address. */
  announce(): void {
    this.iface.announce();
  }
}
