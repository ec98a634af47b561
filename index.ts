// The package entry point (`import … from 'netstar'`): the public surface apps, tools and users' NFs
// program against. Apps in this repository import from here too, never from reactor/ or native/ internals.
// Values are re-exported with `export import` (plain properties; `export *` compiles to getters).
import * as app from './reactor/app';
import * as tasks from './reactor/tasks';
import * as timers from './reactor/timers';
import * as cfg from './reactor/config';
import * as nat from './native';
import * as pkt from './net/packet';
import * as steer from './net/steer';

// ---- the app contract ----
export type { AppModule, ShardApp } from './reactor/app';
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
export import NetstarError = nat.NetstarError;

// ---- packets and queue pairs ----
export import Packet = pkt.Packet;
export import RxBatch = pkt.RxBatch;
export type { DpdkQueuePair } from './net/qp';
export import flowHash = steer.flowHash;

// ---- wire formats, flow layer, TCP/IP stack ----
export * as wire from './net/wire';
export * as flow from './net/flow';
export * as stack from './net/stack';

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
