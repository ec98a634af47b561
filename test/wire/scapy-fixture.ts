// Test fixture: frames built and dissected by scapy (Debian's, at /usr/bin/python3), an implementation
// independent of net/wire, with the field values scapy reads back from the bytes.

import { execFileSync } from 'child_process';

export interface ScapyIp {
  version: number;
  ihl: number;
  tos: number;
  len: number;
  id: number;
  flags: number;
  frag: number;
  ttl: number;
  proto: number;
  chksum: number;
  src: string;
  dst: string;
  /** Raw option bytes, hex. */
  options: string;
}

export interface ScapyTcp {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  dataofs: number;
  flags: number;
  window: number;
  chksum: number;
  urgptr: number;
  payload: string;
  mss: number | null;
  wscale: number | null;
  sackok: boolean;
  sack: Array<[number, number]>;
  ts: [number, number] | null;
}

export interface ScapyUdp {
  sport: number;
  dport: number;
  len: number;
  chksum: number;
  payload?: string;
}

export interface ScapyFrame {
  name: string;
  hex: string;
  eth: {
    dst: string;
    src: string;
    type: number;
    vlans: Array<{ tpid: number; vid: number; pcp: number; dei: number; type: number }>;
  };
  arp?: {
    hwtype: number;
    ptype: number;
    hwlen: number;
    plen: number;
    op: number;
    hwsrc: string;
    psrc: string;
    hwdst: string;
    pdst: string;
  };
  ip?: ScapyIp;
  tcp?: ScapyTcp;
  udp?: ScapyUdp;
  icmp?: { type: number; code: number; chksum: number; id: number | null; seq: number | null; payload: string };
  /** For ICMP errors: the quoted datagram as scapy built it. */
  inner?: { ip: ScapyIp; udp: ScapyUdp };
  /** Number of unknown TCP options the frame carries. */
  unknown?: number;
}

const SCRIPT = String.raw`
import json, sys
from scapy.all import Ether, Dot1Q, Dot1AD, ARP, IP, UDP, TCP, ICMP, Raw, fragment, IPOption_Router_Alert, IPOption_RR, IPOption_NOP
from scapy.layers.inet import IPOption_Timestamp

A, B = '198.18.0.1', '198.19.0.2'
MA, MB = '02:00:00:00:00:0a', '02:00:00:00:00:0b'
out = []

def eth_fields(p):
    e = p[Ether]
    d = {'dst': e.dst, 'src': e.src, 'type': e.type, 'vlans': []}
    l = e.payload
    while isinstance(l, (Dot1Q, Dot1AD)):
        d['vlans'].append({'tpid': 0x88a8 if isinstance(l, Dot1AD) else 0x8100, 'vid': l.vlan, 'pcp': l.prio, 'dei': l.id, 'type': l.type})
        l = l.payload
    return d

def ip_fields(ip):
    return {'version': ip.version, 'ihl': ip.ihl, 'tos': ip.tos, 'len': ip.len, 'id': ip.id,
            'flags': int(ip.flags), 'frag': ip.frag, 'ttl': ip.ttl, 'proto': ip.proto,
            'chksum': ip.chksum, 'src': ip.src, 'dst': ip.dst,
            'options': bytes(ip)[20:ip.ihl * 4].hex()}

def tcp_fields(t):
    d = {'sport': t.sport, 'dport': t.dport, 'seq': t.seq, 'ack': t.ack, 'dataofs': t.dataofs,
         'flags': int(t.flags), 'window': t.window, 'chksum': t.chksum, 'urgptr': t.urgptr,
         'payload': bytes(t.payload).hex(), 'mss': None, 'wscale': None, 'sackok': False,
         'sack': [], 'ts': None}
    for name, val in t.options:
        if name == 'MSS': d['mss'] = val
        elif name == 'WScale': d['wscale'] = val
        elif name == 'SAckOK': d['sackok'] = True
        elif name == 'SAck': d['sack'] = [[val[i], val[i + 1]] for i in range(0, len(val), 2)]
        elif name == 'Timestamp': d['ts'] = list(val)
    return d

def udp_fields(u):
    return {'sport': u.sport, 'dport': u.dport, 'len': u.len, 'chksum': u.chksum, 'payload': bytes(u.payload).hex()}

def icmp_fields(i):
    return {'type': i.type, 'code': i.code, 'chksum': i.chksum, 'id': i.id, 'seq': i.seq,
            'payload': bytes(i.payload).hex()}

def add(name, pkt, **extra):
    raw = bytes(pkt)
    p = Ether(raw)   # re-dissect: the fields as on the wire, checksums and lengths filled in
    d = {'name': name, 'hex': raw.hex(), 'eth': eth_fields(p)}
    if ARP in p:
        a = p[ARP]
        d['arp'] = {'hwtype': a.hwtype, 'ptype': a.ptype, 'hwlen': a.hwlen, 'plen': a.plen, 'op': a.op,
                    'hwsrc': a.hwsrc, 'psrc': a.psrc, 'hwdst': a.hwdst, 'pdst': a.pdst}
    if IP in p:
        d['ip'] = ip_fields(p[IP])
        if ICMP in p:
            d['icmp'] = icmp_fields(p[ICMP])
        elif TCP in p:
            d['tcp'] = tcp_fields(p[TCP])
        elif UDP in p:
            d['udp'] = udp_fields(p[UDP])
    d.update(extra)
    out.append(d)

add('vlan-udp', Ether(dst=MB, src=MA) / Dot1Q(vlan=100, prio=5, id=1) / IP(src=A, dst=B, ttl=17) / UDP(sport=1234, dport=5678) / b'hello vlan')
add('qinq-tcp', Ether(dst=MB, src=MA) / Dot1AD(vlan=200, prio=3) / Dot1Q(vlan=300) / IP(src=A, dst=B) / TCP(sport=40000, dport=80, flags='PA', seq=0xfffffff0, ack=0x80000001) / b'GET / HTTP/1.0\r\n\r\n')
add('arp-request', Ether(dst='ff:ff:ff:ff:ff:ff', src=MA) / ARP(op=1, hwsrc=MA, psrc=A, hwdst='00:00:00:00:00:00', pdst=B))
add('arp-reply', Ether(dst=MA, src=MB) / ARP(op=2, hwsrc=MB, psrc=B, hwdst=MA, pdst=A))
add('ip-options', Ether(dst=MB, src=MA) / IP(src=A, dst=B, tos=0xb8, options=[IPOption_Router_Alert(), IPOption_RR(routers=['198.18.0.7', '198.18.0.8']), IPOption_NOP()]) / UDP(sport=53, dport=53) / b'opts')
orig = IP(src=A, dst=B, id=777, flags='DF') / UDP(sport=5353, dport=9999) / (b'x' * 2000)
for i, f in enumerate(fragment(IP(src=A, dst=B, id=4242) / UDP(sport=7, dport=7) / (bytes(range(256)) * 11), fragsize=1000)):
    add('frag-%d' % i, Ether(dst=MB, src=MA) / f)
add('icmp-echo-request', Ether(dst=MB, src=MA) / IP(src=A, dst=B) / ICMP(type=8, id=0x1234, seq=7) / b'abcdefghijklmnopqrstuvw')
add('icmp-echo-reply', Ether(dst=MA, src=MB) / IP(src=B, dst=A) / ICMP(type=0, id=0x1234, seq=7) / b'abcdefghijklmnopqrstuvw')
quoted = bytes(orig)[:28]

def inner_of(pkt):
    ip = IP(bytes(pkt))
    u = udp_fields(ip[UDP])
    del u['payload']
    return {'ip': ip_fields(ip), 'udp': u}
add('icmp-port-unreachable', Ether(dst=MA, src=MB) / IP(src=B, dst=A) / ICMP(type=3, code=3) / quoted,
    inner=inner_of(orig))
add('icmp-time-exceeded', Ether(dst=MA, src=MB) / IP(src='198.18.0.254', dst=A) / ICMP(type=11, code=0) / quoted,
    inner=inner_of(orig))
add('udp', Ether(dst=MB, src=MA) / IP(src=A, dst=B) / UDP(sport=33333, dport=4789) / bytes(range(33)))
add('udp-no-checksum', Ether(dst=MB, src=MA) / IP(src=A, dst=B) / UDP(sport=1, dport=2, chksum=0) / b'nocsum')
add('tcp-syn-options', Ether(dst=MB, src=MA) / IP(src=A, dst=B) / TCP(sport=51000, dport=443, flags='S', seq=123456789, window=64240,
    options=[('MSS', 1460), ('SAckOK', b''), ('Timestamp', (3000000000, 0)), ('NOP', None), ('WScale', 7)]))
add('tcp-sack4', Ether(dst=MB, src=MA) / IP(src=A, dst=B) / TCP(sport=443, dport=51000, flags='A', seq=1, ack=2, window=501,
    options=[('NOP', None), ('NOP', None), ('SAck', (1000, 2000, 3000, 4000, 5000, 6000, 4294967000, 100))]))
add('tcp-ts-sack3', Ether(dst=MB, src=MA) / IP(src=A, dst=B) / TCP(sport=443, dport=51000, flags='A', seq=1, ack=2,
    options=[('NOP', None), ('NOP', None), ('Timestamp', (1, 2)), ('NOP', None), ('NOP', None), ('SAck', (10, 20, 30, 40, 50, 60))]))
add('tcp-unknown-eol', Ether(dst=MB, src=MA) / IP(src=A, dst=B) / TCP(sport=1, dport=2, flags='SEC', seq=5,
    options=[(254, b'\x12\x34\x56'), ('MSS', 536), ('EOL', None)]) / b'data', unknown=1)
add('tcp-urg-fin', Ether(dst=MB, src=MA) / IP(src=A, dst=B) / TCP(sport=1, dport=2, flags='FUA', urgptr=3, seq=99, ack=7) / b'urgent')
json.dump(out, sys.stdout)
`;

let cache: ScapyFrame[] | null = null;

/** All fixture frames (one python run per test file). */
export function scapyFrames(): ScapyFrame[] {
  if (!cache) {
    const out = execFileSync('/usr/bin/python3', ['-c', SCRIPT], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cache = JSON.parse(out) as ScapyFrame[];
  }
  return cache;
}

export function scapyFrame(name: string): ScapyFrame {
  const f = scapyFrames().find((x) => x.name === name);
  if (!f) throw new Error(`no scapy frame named ${name}`);
  return f;
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}
