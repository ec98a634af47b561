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
export type { AppModule, AppControlContext, AppCommand, ShardApp } from './reactor/app';
/** onPacket's answer: `Verdict.port(i)`, `Verdict.DROP`, `Verdict.STOLEN` (a branded number: no allocation). */
export import Verdict = app.Verdict;
export type { ShardContext, PortView } from './reactor/context';
export type { TaskHandle } from './reactor/tasks';
export import defineTask = tasks.defineTask;
export type { PacketHandle } from './reactor/handles';
export type { Timer, Clock } from './reactor/timers';
export import LowresClock = timers.LowresClock;

// ---- config ----
export type { Config, ConfigInput } from './reactor/config';
export import parseConfig = cfg.parseConfig;
export import loadConfigFile = cfg.loadConfigFile;
export import NetstarError = nat.NetstarError;
/** An AppModule's settings(config) from a zod schema (every issue listed with its path, ERR_CONFIG). */
export import appSettings = settings.appSettings;
export import settingsError = settings.settingsError;
export type { PortInfo } from './native';

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

// ---- testing an NF: run it over pcap ports in a child process (see tools/harness.ts), pcap files ----
import * as harness from './tools/harness';
import * as pcapio from './tools/pcap';
export import runNf = harness.runNf;
export import NfRunError = harness.NfRunError;
export type { RunNfOptions, NfPortInput, NfProgress, NfResult } from './tools/harness';
export type { Summary as RunSummary } from './tools/netstar';
export import readPcap = pcapio.readPcap;
export import writePcap = pcapio.writePcap;
export import parsePcap = pcapio.parsePcap;
export import PcapWriter = pcapio.PcapWriter;
export import PcapError = pcapio.PcapError;
export type { PcapFile, PcapRecord, PcapTimestamp, PcapWriterOptions } from './tools/pcap';
