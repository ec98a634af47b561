// The L3 library of NF apps: the L3 hop (ARP for its addresses, next-hop resolution, pings to itself, MAC/TTL
// rewrite), the neighbour table it shares with the TCP/IP stack, its shard glue and its settings. Import from
// here (or from the package entry as `l3`). `export import` keeps plain properties (no getters).
import * as hop from './hop';
import * as nb from './neighbor';
import * as host from './host';
import * as st from './settings';

export import L3 = hop.L3;
export import L3_COUNTERS = hop.L3_COUNTERS;
export type L3Port = hop.L3Port;
export type L3Io = hop.L3Io;
export type L3Options = hop.L3Options;

export import Neighbor = nb.Neighbor;
export import NeighborTable = nb.NeighborTable;
export import EnqueueResult = nb.EnqueueResult;
export import Learned = nb.Learned;
export type NeighborOptions = nb.NeighborOptions;

export type L3Host = host.L3Host;
export type LearnTask = host.LearnTask;
export import hostIo = host.hostIo;
export import shareNeighbors = host.shareNeighbors;

export import ipText = st.ipText;
export import cidrText = st.cidrText;
export import interfaceSchema = st.interfaceSchema;
export import arpSchema = st.arpSchema;
export import l3HopFields = st.l3HopFields;
export type L3HopSettings = st.L3HopSettings;
export import l3HopFrom = st.l3HopFrom;
export import neighborSchema = st.neighborSchema;
export type Iface = st.Iface;
export import parseMacText = st.parseMacText;
export import iface = st.iface;
export import neighborsFrom = st.neighborsFrom;
