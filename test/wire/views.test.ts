// Unit tests of the helpers and of view behaviour that the frame-level tests do not pin down:
// address parsing/formatting, in-place MAC operations, sequence arithmetic, TCP option layouts.

import {
  copyMac,
  EthernetRepr,
  EthernetView,
  formatIpv4Addr,
  formatMac,
  Ipv4View,
  isMulticastMac,
  isWireError,
  macEquals,
  MAC_BROADCAST,
  parseIpv4Addr,
  parseMac,
  readMac,
  seqAdd,
  seqLe,
  seqLt,
  swapMacs,
  TcpFlags,
  TcpOptions,
  TcpRepr,
  TcpView,
  writeMac,
  WireError,
} from '../../net/wire';

describe('addresses', () => {
  it('parses and formats MACs', () => {
    expect(parseMac('aa:bb:cc:dd:ee:ff')).toBe(0xaabbccddeeff);
    expect(parseMac('AA-BB-CC-00-01-02')).toBe(0xaabbcc000102);
    expect(parseMac('0:1:2:3:4:5')).toBe(0x000102030405);
    for (const bad of ['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:ff:00', 'aa:bb:cc:dd:ee:fg', 'aaa:bb:cc:dd:ee:ff', 'a::b:c:d:e']) {
      expect(parseMac(bad)).toBeNull();
    }
    expect(formatMac(0xaabbccddeeff)).toBe('aa:bb:cc:dd:ee:ff');
    expect(formatMac(0x000102030405)).toBe('00:01:02:03:04:05');
    expect(formatMac(MAC_BROADCAST)).toBe('ff:ff:ff:ff:ff:ff');
    expect(isMulticastMac(parseMac('01:00:5e:00:00:01')!)).toBe(true);
    expect(isMulticastMac(MAC_BROADCAST)).toBe(true);
    expect(isMulticastMac(parseMac('02:00:00:00:00:01')!)).toBe(false);
  });

  it('parses and formats IPv4 addresses', () => {
    expect(parseIpv4Addr('198.18.0.1')).toBe(0xc6120001);
    expect(parseIpv4Addr('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4Addr('0.0.0.0')).toBe(0);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.-4', 'a.b.c.d', '1.2.3.1000', ' 1.2.3.4']) {
      expect(parseIpv4Addr(bad)).toBeNull();
    }
    expect(formatIpv4Addr(0xc6120001)).toBe('198.18.0.1');
    expect(formatIpv4Addr(0xffffffff)).toBe('255.255.255.255');
  });

  it('reads, writes, compares, copies and swaps MACs in place', () => {
    const b = new Uint8Array(20);
    writeMac(b, 1, 0xaabbccddeeff);
    expect(readMac(b, 1)).toBe(0xaabbccddeeff);
    const dv = new DataView(b.buffer, 2);
    expect(readMac(dv, 0)).toBe(0xbbccddeeff00);
    copyMac(b, 1, dv, 8);
    expect(macEquals(b, 1, b, 10)).toBe(true);
    expect(macEquals(b, 1, b, 11)).toBe(false);
    writeMac(b, 10, 0x020000000001);
    swapMacs(b, 1, 10);
    expect(readMac(b, 1)).toBe(0x020000000001);
    expect(readMac(b, 10)).toBe(0xaabbccddeeff);
  });

  it('Ethernet view setters and swap', () => {
    const f = new Uint8Array(64);
    const eth = new EthernetView().wrap(f, 0, 60);
    expect(EthernetRepr.emit({ dst: MAC_BROADCAST, src: 0x020000000001, etherType: 0x0806, vlans: [{ tpid: 0x8100, pcp: 7, dei: 0, vid: 4095 }] }, eth)).toBe(WireError.Ok);
    expect(eth.dstIsBroadcast).toBe(true);
    expect(eth.dstIsMulticast).toBe(true);
    expect([eth.vlanCount, eth.vlanId(0), eth.vlanPcp(0), eth.etherType, eth.payloadOffset, eth.payloadLength]).toEqual([1, 4095, 7, 0x0806, 18, 42]);
    eth.swapAddresses();
    expect([eth.dst, eth.src]).toEqual([0x020000000001, MAC_BROADCAST]);
    eth.setVlanTci(0, (3 << 13) | 42);
    expect([eth.vlanPcp(0), eth.vlanId(0)]).toEqual([3, 42]);
    eth.etherType = 0x0800;
    expect(eth.check()).toBe(WireError.Ok);
    expect(eth.etherType).toBe(0x0800);
    const out = new Uint8Array(6);
    eth.copySrcTo(out, 0);
    expect(readMac(out, 0)).toBe(MAC_BROADCAST);
  });

  it('re-pointing a view within one ArrayBuffer keeps its DataView (no allocation per packet)', () => {
    const pool = new ArrayBuffer(2048);
    const v = new Ipv4View();
    const internals = v as unknown as { dv: DataView };
    v.wrap(new Uint8Array(pool, 0, 100));
    const dv = internals.dv;
    v.wrap(new Uint8Array(pool, 1000, 100), 4, 60);
    v.wrap(new DataView(pool, 12, 500), 0, 20);
    expect(internals.dv).toBe(dv);
    v.wrap(new Uint8Array(64));
    expect(internals.dv).not.toBe(dv);
  });
});

describe('TCP sequence numbers', () => {
  it('compare and add modulo 2^32', () => {
    expect(seqLt(0xfffffff0, 0x10)).toBe(true);
    expect(seqLt(0x10, 0xfffffff0)).toBe(false);
    expect(seqLe(5, 5)).toBe(true);
    expect(seqAdd(0xffffffff, 2)).toBe(1);
    const t = new TcpView().wrap(new Uint8Array(20));
    t.seqNumber = -1;
    expect(t.seqNumber).toBe(0xffffffff);
    t.ackNumber = 2 ** 32 + 5;
    expect(t.ackNumber).toBe(5);
  });
});

describe('TCP options emit/parse', () => {
  const base: TcpRepr = { srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TcpFlags.ACK, window: 5, payloadLength: 0 };
  const combos: Array<Partial<TcpRepr>> = [];
  for (const mss of [null, 1460])
    for (const ws of [null, 0, 14])
      for (const sp of [false, true])
        for (const ts of [null, { tsVal: 0xdeadbeef, tsEcr: 1 }])
          for (const nsack of [0, 1, 2, 3, 4])
            combos.push({ mss, windowScale: ws, sackPermitted: sp, timestamps: ts,
              sackBlocks: Array.from({ length: nsack }, (_, i) => [i * 100, i * 100 + 50] as [number, number]) });

  it('round-trips every combination that fits in 40 bytes, and refuses the rest', () => {
    let fitted = 0;
    for (const c of combos) {
      const repr: TcpRepr = { ...base, ...c };
      const len = TcpRepr.optionsLen(repr);
      const buf = new Uint8Array(80);
      const view = new TcpView().wrap(buf, 0, TcpRepr.bufferLen(repr));
      const err = TcpRepr.emit(repr, view, 1, 2);
      if (len > 40) {
        expect(err).toBe(WireError.Malformed);
        continue;
      }
      fitted++;
      expect(len % 4).toBe(0);
      expect(err).toBe(WireError.Ok);
      expect(view.check()).toBe(WireError.Ok);
      const back = TcpRepr.parse(view, 1, 2);
      if (isWireError(back)) throw new Error(`parse ${back}`);
      expect(back).toEqual({ ...repr, urgent: 0, mss: repr.mss ?? null, windowScale: repr.windowScale ?? null, timestamps: repr.timestamps ?? null });
    }
    expect(fitted).toBe(91); // of 120 combinations
  });

  it('uses the Linux SYN layout', () => {
    const repr: TcpRepr = { ...base, flags: TcpFlags.SYN, mss: 1460, sackPermitted: true, timestamps: { tsVal: 1, tsEcr: 0 }, windowScale: 7 };
    const view = new TcpView().wrap(new Uint8Array(40));
    expect(TcpRepr.emit(repr, view, 0, 0)).toBe(WireError.Ok);
    expect(Buffer.from(view.copyOut(20, 20)).toString('hex')).toBe('020405b40402080a000000010000000001030307');
  });

  it('parseOptions resets what a previous segment left', () => {
    const o = new TcpOptions();
    const withOptions: TcpRepr = { ...base, mss: 1000, timestamps: { tsVal: 9, tsEcr: 9 }, sackBlocks: [[1, 2]] };
    const a = new TcpView().wrap(new Uint8Array(TcpRepr.bufferLen(withOptions)));
    expect(TcpRepr.emit(withOptions, a, 0, 0)).toBe(WireError.Ok);
    expect(a.parseOptions(o)).toBe(WireError.Ok);
    expect([o.mss, o.hasTimestamps, o.sackCount]).toEqual([1000, true, 1]);
    const b = new TcpView().wrap(new Uint8Array(20));
    TcpRepr.emit(base, b, 0, 0);
    expect(b.parseOptions(o)).toBe(WireError.Ok);
    expect([o.mss, o.hasTimestamps, o.sackCount, o.windowScale]).toEqual([-1, false, 0, -1]);
  });
});
