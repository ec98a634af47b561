// The package entry point (`import … from 'netstar'`): the public surface apps, tools and users' NFs
// program against. Apps in this repository import from here too, never from reactor/ or native/ internals.
// Values are re-exported with `export import` (plain properties; `export *` compiles to getters).
import * as app from './reactor/app';
import * as tasks from './reactor/tasks';
import * as timers from './reactor/timers';
import * as cfg from './reactor/config';
import * as settings from './reactor/settings';
import * as nat from './native';
import * as pkt from './net/packet';
import * as steer from './net/steer';

// ---- the app contract ----
export type AppModule<S = unknown> = app.AppModule<S>;
export type ShardApp = app.ShardApp;
/** onPacket's answer: `Verdict.port(i)`, `Verdict.DROP`, `Verdict.STOLEN` (a branded number: no allocation). */
export import Verdict = app.Verdict;
export type { ShardContext, PortView } from './reactor/context';
export type TaskHandle<A extends unknown[], R> = tasks.TaskHandle<A, R>;
export import defineTask = tasks.defineTask;
export type { PacketHandle } from './reactor/handles';
export type Timer = timers.Timer;
export type Clock = timers.Clock;
export import LowresClock = timers.LowresClock;

// ---- config ----
export type Config = cfg.Config;
export type ConfigInput = cfg.ConfigInput;
export import parseConfig = cfg.parseConfig;
export import NetstarError = nat.NetstarError;
/** An AppModule's settings(config) from a zod schema (every issue listed with its path, ERR_CONFIG). */
export import appSettings = settings.appSettings;
export import settingsError = settings.settingsError;
export type PortInfo = nat.PortInfo;

// ---- packets and queue pairs ----
export import Packet = pkt.Packet;
export import RxBatch = pkt.RxBatch;
/** RX descriptor layout (words per descriptor, word positions) for burst paths over `batch.desc`. */
export import RX_DESC_WORDS = nat.RX_DESC_WORDS;
export import RXD = nat.RXD;
export type { DpdkQueuePair } from './net/qp';
export import flowHash = steer.flowHash;

// ---- wire formats, flow layer, TCP/IP stack ----
export * as wire from './net/wire';
export * as flow from './net/flow';
export * as stack from './net/stack';

// ---- the libraries NF apps share: the L3 hop and its neighbour table; conntrack, NAT and their forwarding path ----
export * as l3 from './net/l3';
export * as conntrack from './net/conntrack';
