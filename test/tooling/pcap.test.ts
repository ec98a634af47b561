// Tests of tools/pcap.ts and tools/pcapgen.ts against independent tools: tshark checks the generated flows
// and checksums, scapy/editcap write files our reader must parse, and corrupt files must fail cleanly.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  PcapError,
  PcapWriter,
  buildPcap,
  parsePcap,
  readPcap,
  readPcapFile,
  writePcap,
  LINKTYPE_ETHERNET,
} from '../../tools/pcap';
import { generateUdpFlowsPcap, buildUdpFrame, internetChecksum } from '../../tools/pcapgen';
import { runCommand } from '../../tools/proc';

const PYTHON = '/usr/bin/python3'; // Debian's scapy lives only there
const PCAPGEN = path.resolve(__dirname, '..', '..', 'tools', 'pcapgen.js');
let dir = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netstar-pcap-'));
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const tmp = (name: string): string => path.join(dir, name);

async function tshark(file: string, fields: string[], extra: string[] = []): Promise<string[][]> {
  const args = ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', ...extra, '-T', 'fields'];
  for (const f of fields) args.push('-e', f);
  const r = await runCommand('tshark', args, { timeoutMs: 30000, check: true });
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

describe('pcapgen + readPcap + tshark', () => {
  test('1024 flows of 64 bytes: distinct flows, good checksums', async () => {
    const file = tmp('flows.pcap');
    const summary = generateUdpFlowsPcap(file, {});
    expect(summary.records).toBe(1024);
    expect(fs.statSync(file).size).toBe(24 + 1024 * (16 + 64));

    const { header, records } = readPcapFile(file);
    expect(header.linktype).toBe(LINKTYPE_ETHERNET);
    expect(header.nanosecond).toBe(false);
    expect(header.bigEndian).toBe(false);
    expect(records).toHaveLength(1024);
    for (const r of records) {
      expect(r.caplen).toBe(64);
      expect(r.origLen).toBe(64);
      expect(r.data).toHaveLength(64);
    }
    // IPv4 header checksum verifies to 0 over the header.
    expect(internetChecksum(records[5]!.data, 14, 34)).toBe(0);

    const rows = await tshark(file, [
      'frame.len',
      'ip.src',
      'ip.dst',
      'udp.srcport',
      'udp.dstport',
      'ip.checksum.status',
      'udp.checksum.status',
    ]);
    expect(rows).toHaveLength(1024);
    const flows = new Set<string>();
    const srcPorts = new Set<string>();
    for (const [len, src, dst, sport, dport, ipStatus, udpStatus] of rows) {
      expect(len).toBe('64');
      expect(src).toMatch(/^198\.18\.\d+\.\d+$/);
      expect(dst).toMatch(/^198\.19\.\d+\.\d+$/);
      expect(ipStatus).toBe('1'); // PROTO_CHECKSUM_E_GOOD
      expect(udpStatus).toBe('1');
      flows.add(`${src}:${sport}>${dst}:${dport}`);
      srcPorts.add(sport!);
    }
    expect(flows.size).toBe(1024);
    expect(srcPorts.size).toBe(1024);
  });

  test('CLI: other sizes and MACs; tshark agrees; bad options fail', async () => {
    const file = tmp('big.pcap');
    const r = await runCommand(
      process.execPath,
      [PCAPGEN, file, '--flows', '16', '--size', '1514', '--src-mac', '02:00:00:00:01:01', '--dst-mac', '02:00:00:00:01:02'],
      { check: true, timeoutMs: 20000 },
    );
    expect(r.stdout).toMatch(/16 UDP flows/);
    expect(readPcap(file)).toHaveLength(16);
    const rows = await tshark(file, ['frame.len', 'eth.src', 'eth.dst', 'ip.len', 'udp.length', 'ip.checksum.status', 'udp.checksum.status']);
    expect(rows).toHaveLength(16);
    for (const row of rows) expect(row).toEqual(['1514', '02:00:00:00:01:01', '02:00:00:00:01:02', '1500', '1480', '1', '1']);

    // Odd payload length exercises the checksum's odd-byte path.
    const odd = tmp('odd.pcap');
    generateUdpFlowsPcap(odd, { flows: 8, frameSize: 61 });
    const oddRows = await tshark(odd, ['frame.len', 'ip.checksum.status', 'udp.checksum.status']);
    expect(oddRows).toEqual(Array(8).fill(['61', '1', '1']));

    const bad = await runCommand(process.execPath, [PCAPGEN, tmp('x.pcap'), '--size', '20'], { timeoutMs: 20000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/frame size 20/);
    expect(fs.existsSync(tmp('x.pcap'))).toBe(false);
    expect(() => generateUdpFlowsPcap(tmp('y.pcap'), { flows: 70000 })).toThrow(/exceed port 65535/);
    expect(() => buildUdpFrame({ srcMac: 'zz', dstMac: '02:00:00:00:00:02', srcIp: '198.18.0.1', dstIp: '198.19.0.1', srcPort: 1, dstPort: 2, ipId: 0, frameSize: 64 })).toThrow(/bad MAC/);
  });
});

describe('readPcap on files written by other tools', () => {
  // scapy writes 3 packets and prints, per packet, its bytes in hex.
  async function scapyWrite(file: string, kwargs: string): Promise<string[]> {
    const py = `
import sys
from scapy.all import Ether, IP, UDP, Raw, wrpcap
pkts = [Ether(src='02:00:00:00:00:0a', dst='02:00:00:00:00:0b')/IP(src='198.18.0.1', dst='198.19.0.%d' % (i + 1))/UDP(sport=1000 + i, dport=80)/Raw(b'x' * (i * 7)) for i in range(3)]
for i, p in enumerate(pkts):
    p.time = 1700000000 + i + 0.25
wrpcap(sys.argv[1], pkts${kwargs})
for p in pkts:
    print(bytes(p).hex())
`;
    const r = await runCommand(PYTHON, ['-c', py, file], { timeoutMs: 60000, check: true });
    return r.stdout.trim().split('\n');
  }

  test.each([
    ['little-endian, microseconds', '', false, false],
    ['big-endian, nanoseconds', ", endianness='>', nano=True", true, true],
    ['big-endian, microseconds', ", endianness='>'", true, false],
  ])('scapy %s', async (_name, kwargs, bigEndian, nano) => {
    const file = tmp(`scapy-${bigEndian}-${nano}.pcap`);
    const hex = await scapyWrite(file, kwargs);
    const { header, records } = readPcapFile(file);
    expect(header.bigEndian).toBe(bigEndian);
    expect(header.nanosecond).toBe(nano);
    expect(header.linktype).toBe(LINKTYPE_ETHERNET);
    expect(records.map((r) => r.data.toString('hex'))).toEqual(hex);
    records.forEach((r, i) => {
      expect(r.tsSec).toBe(1700000000 + i);
      expect(Math.abs(r.tsNsec - 250000000)).toBeLessThan(2000); // scapy goes through a float
      expect(r.origLen).toBe(r.caplen);
    });
  });

  test('editcap conversion to nanosecond pcap', async () => {
    const src = tmp('ec-src.pcap');
    generateUdpFlowsPcap(src, { flows: 5, startTime: 1600000000 });
    const dst = tmp('ec-nsec.pcap');
    await runCommand('editcap', ['-F', 'nsecpcap', src, dst], { check: true, timeoutMs: 20000 });
    const a = readPcap(src);
    const { header, records: b } = readPcapFile(dst);
    expect(header.nanosecond).toBe(true);
    expect(b.map((r) => [r.tsSec, r.tsNsec, r.data.toString('hex')])).toEqual(
      a.map((r) => [r.tsSec, r.tsNsec, r.data.toString('hex')]),
    );
    expect(b[3]!.tsSec).toBe(1600000000);
    expect(b[3]!.tsNsec).toBe(3000);
  });

  test('tshark reads what PcapWriter writes in every flavour', async () => {
    const frame = buildUdpFrame({
      srcMac: '02:00:00:00:00:01',
      dstMac: '02:00:00:00:00:02',
      srcIp: '198.18.1.1',
      dstIp: '198.19.1.1',
      srcPort: 4000,
      dstPort: 5000,
      ipId: 7,
      frameSize: 100,
    });
    for (const [nanosecond, bigEndian] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const file = tmp(`w-${nanosecond}-${bigEndian}.pcap`);
      const w = PcapWriter.open(file, { nanosecond, bigEndian });
      w.write(frame, { sec: 1700000001, nsec: 123456789 });
      w.write(frame, { sec: 1700000002, usec: 5 });
      w.close();
      const rows = await tshark(file, ['frame.time_epoch', 'udp.srcport', 'udp.checksum.status']);
      expect(rows).toEqual([
        [nanosecond ? '1700000001.123456789' : '1700000001.123456000', '4000', '1'],
        ['1700000002.000005000', '4000', '1'],
      ]);
      const back = readPcap(file);
      expect(back.map((r) => r.tsNsec)).toEqual([nanosecond ? 123456789 : 123456000, 5000]);
    }
  });
});

describe('PcapWriter / parsePcap', () => {
  test('in-memory round trip, snaplen truncation, origLen', () => {
    const pkts = [Buffer.from('aabbcc', 'hex'), Buffer.alloc(300, 7), Buffer.alloc(0)];
    const buf = buildPcap(
      pkts.map((data, i) => ({ data, ts: 10 + i / 4 })),
      { snaplen: 128 },
    );
    const { header, records } = parsePcap(buf);
    expect(header.snaplen).toBe(128);
    expect(records.map((r) => [r.tsSec, r.tsNsec, r.caplen, r.origLen])).toEqual([
      [10, 0, 3, 3],
      [10, 250000000, 128, 300],
      [10, 500000000, 0, 0],
    ]);
    expect(records[1]!.data.equals(Buffer.alloc(128, 7))).toBe(true);

    const w = new PcapWriter();
    w.write(Buffer.from([1, 2, 3]), 0, 60);
    expect(parsePcap(w.toBuffer()).records[0]!.origLen).toBe(60);
    expect(() => w.write(Buffer.from([1]), 0, 0)).toThrow(RangeError);
    expect(() => w.write(Buffer.from([1]), { sec: 1, nsec: 1e9 })).toThrow(RangeError);
    w.close();
    expect(() => w.write(Buffer.from([1]))).toThrow(/after close/);

    const f = tmp('wp.pcap');
    expect(writePcap(f, [{ data: Buffer.from([9, 9]) }])).toBe(1);
    expect(readPcap(f)[0]!.data).toEqual(Buffer.from([9, 9]));
  });

  describe('hostile input', () => {
    const good = buildPcap([{ data: Buffer.alloc(60, 1), ts: 1 }, { data: Buffer.alloc(70, 2), ts: 2 }]);
    const patched = (off: number, v: number, le = true): Buffer => {
      const b = Buffer.from(good);
      if (le) b.writeUInt32LE(v, off);
      else b.writeUInt32BE(v, off);
      return b;
    };
    const cases: Array<[string, Buffer, RegExp]> = [
      ['empty file', Buffer.alloc(0), /shorter than the 24-byte global header/],
      ['short header', good.subarray(0, 10), /shorter than the 24-byte global header/],
      ['bad magic', patched(0, 0xdeadbeef), /bad magic 0x/],
      ['pcapng', patched(0, 0x0a0d0d0a, false), /pcapng/],
      ['version 3.0', (() => { const b = Buffer.from(good); b.writeUInt16LE(3, 4); return b; })(), /unsupported pcap version 3/],
      ['truncated record header', good.subarray(0, 24 + 9), /record #0 header at offset 24 needs 16 bytes, 9 left/],
      ['truncated record data', good.subarray(0, good.length - 1), /record #1 .* caplen 70 but only 69 bytes follow/],
      ['huge caplen', patched(24 + 8, 0xffffffff), /caplen 4294967295 >/],
      ['caplen past the end', (() => { const b = patched(24 + 8, 200); b.writeUInt32LE(200, 24 + 12); return b; })(), /record #0 at offset 24 has caplen 200 but only 146 bytes follow/],
      ['origLen < caplen', patched(24 + 12, 10), /origLen 10 < caplen 60/],
      ['microseconds ≥ 1e6', patched(24 + 4, 1000000), /sub-second part 1000000/],
    ];
    test.each(cases)('%s', (_name, buf, re) => {
      expect(() => parsePcap(buf)).toThrow(PcapError);
      expect(() => parsePcap(buf)).toThrow(re);
    });

    test('readPcap of a corrupt file on disk names the problem', () => {
      const f = tmp('corrupt.pcap');
      fs.writeFileSync(f, good.subarray(0, good.length - 5));
      expect(() => readPcap(f)).toThrow(/truncated pcap: record #1/);
    });

    test('fuzz: mutated and truncated files parse or raise PcapError, nothing else', () => {
      let seed = 12345;
      const rand = (n: number): number => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed % n;
      };
      let parsed = 0;
      let rejected = 0;
      for (let i = 0; i < 3000; i++) {
        const b = Buffer.from(good.subarray(0, rand(good.length + 1)));
        const flips = rand(6);
        for (let k = 0; k < flips && b.length > 0; k++) b[rand(b.length)] = rand(256);
        try {
          const { records } = parsePcap(b);
          for (const r of records) {
            expect(r.data.length).toBe(r.caplen);
            expect(r.origLen).toBeGreaterThanOrEqual(r.caplen);
          }
          parsed++;
        } catch (e) {
          if (!(e instanceof PcapError)) throw e;
          rejected++;
        }
      }
      expect(parsed).toBeGreaterThan(0);
      expect(rejected).toBeGreaterThan(0);
    });
  });
});
