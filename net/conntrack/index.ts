// Connection tracking and NAT for NF apps (ovs-nat, the load balancer): OVS conntrack semantics (ct_state, TCP
// window validation, per-protocol state machines), tuple translation with checksum updates and ICMP error
// translation, translated-tuple choice that keeps replies on the shard, and the per-packet path over the flow
// layer and the L3 hop (track, translate, route, offload). Import from here (or the package entry's `conntrack`).
import * as ct from './conntrack';
import * as nat from './nat';
import * as fwd from './forward';
import * as dump from './dump';
import * as st from './settings';

export import CS = ct.CS;
export import TcpState = ct.TcpState;
export import TCP_STATE_NAMES = ct.TCP_STATE_NAMES;
export import Update = ct.Update;
export import OtherState = ct.OtherState;
export import IcmpState = ct.IcmpState;
export import Conn = ct.Conn;
export import tcpInvalidFlags = ct.tcpInvalidFlags;
export import tcpValidNew = ct.tcpValidNew;
export import tcpNew = ct.tcpNew;
export import tcpUpdate = ct.tcpUpdate;
export import tcpTimeoutClass = ct.tcpTimeoutClass;
export import otherUpdate = ct.otherUpdate;
export import icmpUpdate = ct.icmpUpdate;

export import rewriteTuple = nat.rewriteTuple;
export import translate = nat.translate;
export import translateRelated = nat.translateRelated;
export import l4ChecksumOk = nat.l4ChecksumOk;
export type TupleCheck = nat.TupleCheck;
export type Range = nat.Range;
export import originHash = nat.originHash;
export import chooseSource = nat.chooseSource;
export import chooseDestination = nat.chooseDestination;

export import CT_COUNTERS = fwd.CT_COUNTERS;
export type CtCounter = fwd.CtCounter;
export import startTracking = fwd.startTracking;
export import foldOffloadCounts = fwd.foldOffloadCounts;
export type ConntrackHandlerOptions = fwd.ConntrackHandlerOptions;
export import conntrackHandler = fwd.conntrackHandler;
export type L3MetaFlowOptions = fwd.L3MetaFlowOptions;
export import l3MetaFlows = fwd.l3MetaFlows;
export import offloadRefresh = fwd.offloadRefresh;
export type NativeOffloadOptions = fwd.NativeOffloadOptions;
export import attachNativeOffload = fwd.attachNativeOffload;

export import formatConn = dump.formatConn;
export import formatConntrack = dump.formatConntrack;

export import timeoutsSchema = st.timeoutsSchema;
export import rangeText = st.rangeText;
export import protoNumber = st.protoNumber;
export import parseRange = st.parseRange;
export import parsePortRange = st.parsePortRange;
export import timeoutsFrom = st.timeoutsFrom;
