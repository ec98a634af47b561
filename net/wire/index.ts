// Wire formats: typed, checked views over packet bytes and their Reprs, one file per protocol.
// Import from here: `import { EthernetView, Ipv4View, TcpRepr } from '../net/wire'`.

export * from './view';
export * from './checksum';
export * from './ethernet';
export * from './arp';
export * from './ipv4';
export * from './icmp';
export * from './l4';
export * from './udp';
export * from './tcp';
