// The per-shard counter layout, defined in net/stats.ts (the queue pairs and the native executor write it) and
// re-exported here for the reactor. `export import` keeps plain properties (no getters on the packet path).
import * as st from '../net/stats';

export import MAX_PORTS = st.MAX_PORTS;
export import S = st.S;
export import SHARD_WORDS = st.SHARD_WORDS;
export import P = st.P;
export import PORT_WORDS = st.PORT_WORDS;
export import STATS_WORDS = st.STATS_WORDS;
export import portBase = st.portBase;
export import newStatsBuffer = st.newStatsBuffer;
export import shardStatsView = st.shardStatsView;
export import portTotals = st.portTotals;
export type PortTotals = st.PortTotals;
