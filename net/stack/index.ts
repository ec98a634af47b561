// The user-space TCP/IP stack: import from here. Layout follows smoltcp: iface/ (interface, ARP,
// IPv4, ICMP, reassembly), socket/ (UDP, TCP), storage/ (ring buffer, assembler, timer heap).

export { Stack } from './stack';
export type { Device } from './device';
export { StackCounters } from './counters';
export * from './config';
export { Interface, L4_OFFSET } from './iface/interface';
export type { Transport } from './iface/interface';
export { NeighborTable } from '../l3/neighbor';
export type { NeighborCache } from '../l3/neighbor';
export { Reassembler } from './iface/reassembly';
export { SocketError } from './socket/errors';
export type { SocketErrorCode } from './socket/errors';
export { TcpState } from './socket/tcp';
export type { TcpConnectionInfo } from './socket/tcp';
export { TcpSocket, TcpListener } from './socket/tcp-socket';
export type { TcpListenOptions } from './socket/tcp-layer';
export { NewReno, Cubic } from './socket/tcp-congestion';
export type { CongestionControl } from './socket/tcp-congestion';
export { UdpSocket, UDP_MAX_PAYLOAD } from './socket/udp';
export type { UdpDatagram } from './socket/udp';
export { RingBuffer } from './storage/ring-buffer';
export { Assembler } from './storage/assembler';
export { TimerHeap } from './storage/timer-heap';
export { Halfback } from './socket/tcp-sender';
export type { HalfbackTotals, TcpSenderFactory } from './socket/tcp-sender';
