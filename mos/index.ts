// mos/: a mOS-style flow monitor on the flow layer — both TCP endpoints emulated, receive streams with peek/
// ppeek, mOS's events plus user-defined ones, async handlers in per-flow order. Import from here.
import * as ev from './events';
import * as st from './stream';
import * as cn from './conn';
import * as mo from './monitor';
import * as fi from './filter';
import * as ac from './aho-corasick';
import * as kit from './app-kit';

export import Side = ev.Side;
export import SIDE_NAMES = ev.SIDE_NAMES;
export type SideName = ev.SideName;
export import TcpState = ev.TcpState;
export import TCP_STATE_NAMES = ev.TCP_STATE_NAMES;
export import MosEvent = ev.MosEvent;
export import Events = ev.Events;

export import Overlap = st.Overlap;
export import StreamBuffer = st.StreamBuffer;
export import RingPool = st.RingPool;
export type WriteResult = st.WriteResult;

export import Conn = cn.Conn;
export import Endpoint = cn.Endpoint;
export import Segment = cn.Segment;
export import fixTcpChecksum = cn.fixTcpChecksum;
export type MosError = cn.MosError;

export import Monitor = mo.Monitor;
export import MONITOR_COUNTERS = mo.MONITOR_COUNTERS;
export type MonitorOptions<C> = mo.MonitorOptions<C>;
export type MosHandler<C> = mo.MosHandler<C>;
export type MosFilter<C> = mo.MosFilter<C>;

export import compileFilter = fi.compileFilter;
export import FilterSyntaxError = fi.FilterSyntaxError;
export type PacketPredicate = fi.PacketPredicate;

export import AhoCorasick = ac.AhoCorasick;
export import parsePattern = ac.parsePattern;

export import monitorSchema = kit.monitorSchema;
export type MonitorSettings = kit.MonitorSettings;
export import parseAppSettings = kit.parseAppSettings;
export import appSchema = kit.appSchema;
export import monitorOptions = kit.monitorOptions;
export import monitorApp = kit.monitorApp;
export import JsonLines = kit.JsonLines;
