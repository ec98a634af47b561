// The flow layer: MetaFlow (per-port entry), FlowDistributor (flow key -> AsyncFlow), AsyncFlow (ordered
// per-flow processing with events), SharedService (state owned by one shard). Import from here.
//
// Values are re-exported with `export import`, which compiles to plain properties; `export *` would compile
// to getters, i.e. a function call each time a handler reads FlowAction.Forward on the packet path.
import * as tuple from './tuple';
import * as info from './packet-info';
import * as table from './flow-table';
import * as af from './async-flow';
import * as fd from './flow-distributor';
import * as mf from './meta-flow';
import * as ss from './shared-service';
import * as ctr from './counters';
import * as off from './offload';
import * as rw from './rewrite';

export import tupleHash = tuple.tupleHash;
export import hashProtoAddrsPorts = tuple.hashProtoAddrsPorts;
export import protoHasPorts = tuple.protoHasPorts;
export import srcIsLow = tuple.srcIsLow;
export import formatIp = tuple.formatIp;
export import protoName = tuple.protoName;
export import parseIp = tuple.parseIp;
export import parseCidr = tuple.parseCidr;

export import ParseStatus = info.ParseStatus;
export import PARSE_STATUS_NAMES = info.PARSE_STATUS_NAMES;
export type ParseOptions = info.ParseOptions;
export import PacketInfo = info.PacketInfo;

export import FlowTable = table.FlowTable;
export import hugeTableMemory = table.hugeTableMemory;
export import HUGE_TABLE_MIN_BYTES = table.HUGE_TABLE_MIN_BYTES;
export type TableMemory = table.TableMemory;

export import FlowOffload = off.FlowOffload;
export type OffloadAction = off.OffloadAction;
/** The native offload executor's options (one definition: native/index.ts). */
export type { OffloadAttachOptions, OffloadRxPort, OffloadOutPort } from '../../native';
export import applyChecksumDelta = rw.applyChecksumDelta;
export import rewriteTupleHalves = rw.rewriteTupleHalves;

export import FlowAction = af.FlowAction;
export import FlowEvent = af.FlowEvent;
export import USER_EVENT_FIRST_BIT = af.USER_EVENT_FIRST_BIT;
export import USER_EVENT_LAST_BIT = af.USER_EVENT_LAST_BIT;
export import ALL_EVENTS = af.ALL_EVENTS;
export type FlowHandler<S> = af.FlowHandler<S>;
export type FlowOwner<S> = af.FlowOwner<S>;
export import Track = af.Track;
export import AsyncFlow = af.AsyncFlow;

export type PacketSink = fd.PacketSink;
export type NativeOffloadRx = fd.NativeOffloadRx;
export type NativeOffloadTables = fd.NativeOffloadTables;
export type NativeOffloadHost = fd.NativeOffloadHost;
export import CREATE_FLOW = fd.CREATE_FLOW;
export import TimeoutClass = fd.TimeoutClass;
export import TIMEOUT_CLASS_NAMES = fd.TIMEOUT_CLASS_NAMES;
export type FlowTimeouts = fd.FlowTimeouts;
export import OVS_DEFAULT_TIMEOUTS = fd.OVS_DEFAULT_TIMEOUTS;
export type FlowDistributorOptions<S> = fd.FlowDistributorOptions<S>;
export import DISTRIBUTOR_COUNTERS = fd.DISTRIBUTOR_COUNTERS;
export type DistributorCounter = fd.DistributorCounter;
export import FlowDistributor = fd.FlowDistributor;

export import CONTINUE = mf.CONTINUE;
export type MetaFlowHook = mf.MetaFlowHook;
export type MetaFlowRule = mf.MetaFlowRule;
export type FlowProcessor = mf.FlowProcessor;
export type PipelineDistributor = mf.PipelineDistributor;
export type SteerTarget = mf.SteerTarget;
export type MetaFlowOptions = mf.MetaFlowOptions;
export import MetaFlow = mf.MetaFlow;
export import defaultSteerHash = mf.defaultSteerHash;
export type FlowPipelineOptions = mf.FlowPipelineOptions;
export import flowPipeline = mf.flowPipeline;

export type TaskSubmitter = ss.TaskSubmitter;
export type ServiceMethods<T> = ss.ServiceMethods<T>;
export import SharedServiceOverload = ss.SharedServiceOverload;
export type SharedServiceOptions = ss.SharedServiceOptions;
export import SHARED_SERVICE_TASK = ss.SHARED_SERVICE_TASK;
export import SharedService = ss.SharedService;

export import CounterSet = ctr.CounterSet;
