// Monitor test fixtures: scapy-built pcaps (gen_pcaps.py), and feeding a pcap's packets through a Monitor
// the way MetaFlow does (one parse each, the flow clock set from the capture's timestamps).
import { execFileSync } from 'child_process';
import * as path from 'path';
import { PacketInfo, ParseStatus } from '../../net/flow';
import { readPcap, type PcapRecord } from '../../tools/pcap';
import type { Monitor } from '../../mos';
import { FakeSink, packet, settle } from '../flow/helpers';

export const GEN = path.join(__dirname, '..', '..', '..', 'test', 'mos', 'gen_pcaps.py');

/** Builds scenario `name` of gen_pcaps.py into `file` and returns its records. */
export function scapyPcap(name: string, file: string, seed?: number): PcapRecord[] {
  execFileSync('/usr/bin/python3', [GEN, name, file, ...(seed !== undefined ? [String(seed)] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
  return readPcap(file);
}

export interface Fed { sink: FakeSink; verdicts: number[]; parseErrors: number }

/**
 * Feeds records through the monitor in order (packet i from the client side goes in port 0, else port 1 by
 * the IPv4 source in 198.18.0.0/24); awaits the handlers between packets when `settleEach`.
 */
export async function feed<C>(mon: Monitor<C>, sink: FakeSink, recs: PcapRecord[], opts: { settleEach?: boolean; onPacket?: (i: number) => void } = {}): Promise<Fed> {
  const info = new PacketInfo();
  const verdicts: number[] = [];
  let parseErrors = 0;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i];
    const port = r.data[26] === 198 && r.data[27] === 18 && r.data[28] === 0 ? 0 : 1;
    const pkt = packet(new Uint8Array(r.data), port);
    mon.dist.setNow((r.tsSec - recs[0].tsSec) * 1000 + r.tsNsec / 1e6);
    if (opts.onPacket) opts.onPacket(i);
    if (info.parse(pkt) !== ParseStatus.Ok) {
      parseErrors++;
      verdicts.push(-1);
      continue;
    }
    const v = mon.process(pkt, port, info);
    sink.verdict(pkt, v);
    verdicts.push(v);
    if (opts.settleEach) await settle();
  }
  await settle();
  return { sink, verdicts, parseErrors };
}

export { FakeSink, settle };
