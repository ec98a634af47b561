#!/usr/bin/python3
# Test fixture: builds the monitor tests' TCP pcaps with scapy (an independent packet builder).
# Usage: gen_pcaps.py <scenario> <out.pcap> [seed]
import random
import sys

from scapy.all import Ether, IP, TCP, Raw, wrpcap  # type: ignore

C, S = '198.18.0.1', '198.18.1.1'
MC, MS = '02:00:00:00:00:01', '02:00:00:00:00:02'


class W:
    def __init__(self):
        self.pkts = []
        self.t = 1_700_000_000.0

    def add(self, src, dst, sport, dport, flags, seq, ack=0, data=b'', win=65535, opts=None, dt=0.001):
        self.t += dt
        mac = (MC, MS) if src.startswith('198.18.0.') else (MS, MC)
        p = Ether(src=mac[0], dst=mac[1]) / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq % 2**32, ack=ack % 2**32, window=win, options=opts or [])
        if data:
            p = p / Raw(load=data)
        p.time = self.t
        self.pkts.append(p)


def handshake(w, cp=40000, sp=80, ci=1000, si=5000, copts=None, sopts=None, c=C, s=S):
    w.add(c, s, cp, sp, 'S', ci, opts=copts)
    w.add(s, c, sp, cp, 'SA', si, ci + 1, opts=sopts)
    w.add(c, s, cp, sp, 'A', ci + 1, si + 1)


def scen_basic(w):
    cp, sp = 40000, 80
    w.add(C, S, cp, sp, 'S', 1000, opts=[('MSS', 1460), ('WScale', 7), ('SAckOK', b'')])
    w.add(C, S, cp, sp, 'S', 1000, opts=[('MSS', 1460), ('WScale', 7), ('SAckOK', b'')], dt=1.0)  # SYN retransmitted
    w.add(S, C, sp, cp, 'SA', 5000, 1001, win=1000, opts=[('MSS', 1460), ('WScale', 8), ('SAckOK', b'')])
    w.add(C, S, cp, sp, 'A', 1001, 5001, win=500)
    w.add(C, S, cp, sp, 'PA', 1001, 5001, b'hello ', win=500)
    w.add(S, C, sp, cp, 'A', 5001, 1007, win=1000)
    w.add(C, S, cp, sp, 'PA', 1007, 5001, b'world', win=500)
    w.add(S, C, sp, cp, 'A', 5001, 5101 - 5101 + 1012, win=1000)
    w.add(S, C, sp, cp, 'A', 5001, 1012, b'A' * 100, win=1000)            # seg 1
    w.add(S, C, sp, cp, 'A', 5201, 1012, b'C' * 100, win=1000)            # seg 3 (out of order)
    w.add(C, S, cp, sp, 'A', 1012, 5101, win=500, opts=[('SAck', (5201, 5301))])
    w.add(S, C, sp, cp, 'A', 5101, 1012, b'B' * 100, win=1000)            # seg 2 fills the hole
    w.add(S, C, sp, cp, 'A', 5001, 1012, b'A' * 100, win=1000, dt=0.5)    # seg 1 retransmitted
    w.add(C, S, cp, sp, 'A', 1012, 5301, win=500)
    w.add(C, S, cp, sp, 'FA', 1012, 5301, win=500)                        # client half-closes
    w.add(S, C, sp, cp, 'A', 5301, 1013, win=1000)
    w.add(S, C, sp, cp, 'PA', 5301, 1013, b'tail', win=1000)              # server still sends (half-close)
    w.add(C, S, cp, sp, 'A', 1013, 5305, win=500)
    w.add(S, C, sp, cp, 'FA', 5305, 1013, win=1000)
    w.add(C, S, cp, sp, 'A', 1013, 5306, win=500)


def scen_overlap(w):
    cp, sp = 40001, 80
    handshake(w, cp, sp, 100, 900)
    w.add(C, S, cp, sp, 'A', 101, 901, b'A' * 10)        # [0,10)
    w.add(C, S, cp, sp, 'A', 106, 901, b'B' * 10)        # [5,15): 5 bytes over A, differing
    w.add(C, S, cp, sp, 'A', 121, 901, b'D' * 10)        # [20,30) out of order
    w.add(C, S, cp, sp, 'A', 116, 901, b'E' * 10)        # [15,25): fills, 5 over D differing
    w.add(C, S, cp, sp, 'A', 131, 901, b'F' * 5)         # [30,35)


def scen_wrap(w):
    cp, sp = 40002, 443
    ci, si = 2**32 - 300, 2**32 - 16
    handshake(w, cp, sp, ci, si, copts=[('WScale', 2)], sopts=[('WScale', 3)])
    for i in range(3):
        w.add(C, S, cp, sp, 'A', ci + 1 + 200 * i, si + 1, bytes([(i * 200 + k) % 251 for k in range(200)]), win=4096)
    for i in range(2):
        w.add(S, C, sp, cp, 'A', si + 1 + 100 * i, ci + 601, bytes([(7 * (i * 100 + k)) % 256 for k in range(100)]), win=8192)
    w.add(C, S, cp, sp, 'A', ci + 601, si + 201, win=4096)


def scen_rst(w):
    cp, sp = 40003, 80
    handshake(w, cp, sp, 7000, 9000)
    w.add(C, S, cp, sp, 'PA', 7001, 9001, b'x' * 10)
    w.add(S, C, sp, cp, 'A', 9001, 7011, win=1000)
    w.add(C, S, cp, sp, 'R', 7011 + 5_000_000, 0)      # out of the server's window: ignored
    w.add(S, C, sp, cp, 'R', 9001 + 3_000_000, 0)      # out of the client's window: ignored
    w.add(C, S, cp, sp, 'R', 7011, 0)                  # in window: both closed


def scen_hostile(w):
    cp, sp = 40004, 80
    w.add(C, S, cp, sp, 'A', 5, 5, b'orphan')              # no flow, no SYN: ORPHAN
    w.add(C, S, cp + 1, sp, 'SF', 5, 0)                    # SYN+FIN
    w.add(C, S, cp + 2, sp, 'S', 10)                       # a SYN, then data before the handshake completes
    w.add(C, S, cp + 2, sp, 'PA', 11, 0, b'early')
    w.add(S, C, sp, cp + 2, 'SA', 20, 11)
    w.add(C, S, cp + 2, sp, 'A', 16, 21)
    # garbage TCP options (length 0, length past the header)
    w.add(C, S, cp + 3, sp, 'S', 30, opts=[('NOP', None), ('WScale', 200)])
    w.add(C, S, cp + 3, sp, 'A', 31, 0, b'z' * 3)


def scen_oracle(w, seed=1):
    rnd = random.Random(seed)
    flows = []
    for f in range(40):
        c = '198.18.0.%d' % (10 + f % 200)
        cp, sp = 20000 + f, 80 if f % 2 else 443
        ci, si = rnd.randrange(2**32), rnd.randrange(2**32)
        req = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600)))
        rsp = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 9000)))
        flows.append((c, cp, sp, ci, si, req, rsp))
    for (c, cp, sp, ci, si, req, rsp) in flows:
        handshake(w, cp, sp, ci, si, c=c)
        w.add(c, S, cp, sp, 'PA', ci + 1, si + 1, req)
        segs = [(i, rsp[i:i + 1000]) for i in range(0, len(rsp), 1000)]
        sent = []
        for (i, d) in segs:
            w.add(S, c, sp, cp, 'A', si + 1 + i, ci + 1 + len(req), d, dt=0.0005)
            sent.append((i, d))
            # now and then an old segment again, long after (a retransmission by tshark's clock)
            if rnd.random() < 0.25:
                j, dj = rnd.choice(sent)
                w.add(S, c, sp, cp, 'A', si + 1 + j, ci + 1 + len(req), dj, dt=0.4)
        w.add(c, S, cp, sp, 'A', ci + 1 + len(req), si + 1 + len(rsp))
        w.add(c, S, cp, sp, 'FA', ci + 1 + len(req), si + 1 + len(rsp))
        w.add(S, c, sp, cp, 'FA', si + 1 + len(rsp), ci + 2 + len(req))
        if rnd.random() < 0.3:  # the server's FIN again
            w.add(S, c, sp, cp, 'FA', si + 1 + len(rsp), ci + 2 + len(req), dt=0.5)
        w.add(c, S, cp, sp, 'A', ci + 2 + len(req), si + 2 + len(rsp))


def scen_ids(w):
    P = b'EVILPATTERN'
    # A: split over three segments, in order (pattern at stream offset 4)
    handshake(w, 40010, 80, 100, 500)
    w.add(C, S, 40010, 80, 'A', 101, 501, b'xxxxEVIL')
    w.add(C, S, 40010, 80, 'A', 109, 501, b'PAT')
    w.add(C, S, 40010, 80, 'A', 112, 501, b'TERNyyyy')
    # B: the same, arriving 1, 3, 2, then 2 and 3 again (pattern at offset 4)
    handshake(w, 40011, 80, 200, 600)
    w.add(C, S, 40011, 80, 'A', 201, 601, b'xxxxEVIL')
    w.add(C, S, 40011, 80, 'A', 212, 601, b'TERNyyyy')
    w.add(C, S, 40011, 80, 'A', 209, 601, b'PAT')
    w.add(C, S, 40011, 80, 'A', 209, 601, b'PAT', dt=0.3)
    w.add(C, S, 40011, 80, 'A', 209, 601, b'PATTERNyyyy', dt=0.3)
    # C: server to client, a hex pattern |de ad be ef| split, then everything again (offset 3)
    handshake(w, 40012, 80, 300, 700)
    w.add(S, C, 80, 40012, 'A', 701, 301, b'abc\xde\xad')
    w.add(S, C, 80, 40012, 'A', 706, 301, b'\xbe\xefdef')
    w.add(S, C, 80, 40012, 'A', 701, 301, b'abc\xde\xad\xbe\xefdef', dt=0.3)
    # D: evasion by a conflicting retransmission: first bytes 'zzzz', then 'TERN' over them (no match, FIRST)
    handshake(w, 40013, 80, 400, 800)
    w.add(C, S, 40013, 80, 'A', 401, 801, b'xxEVILPAT')
    w.add(C, S, 40013, 80, 'A', 410, 801, b'zzzz')
    w.add(C, S, 40013, 80, 'A', 410, 801, b'TERN', dt=0.3)
    # E: twice in one stream (offsets 0 and 13), the second across a segment boundary
    handshake(w, 40014, 80, 900, 1900)
    w.add(C, S, 40014, 80, 'A', 901, 1901, P + b'..EVILPA')
    w.add(C, S, 40014, 80, 'FA', 920, 1901, b'TTERN')
    w.add(S, C, 80, 40014, 'FA', 1901, 926)
    w.add(C, S, 40014, 80, 'A', 926, 1902)


def scen_abacus(w):
    # the subscriber is C (198.18.0.1); windows without scaling: 8000 bytes in flow 1, 2000 in the others
    # 1: genuine: a 100-byte request, 3 x 1000 bytes down, the second sent again before any ACK
    handshake(w, 41001, 80, 10, 1000)
    w.add(C, S, 41001, 80, 'PA', 11, 1001, b'q' * 100, win=8000)
    for i in range(3):
        w.add(S, C, 80, 41001, 'A', 1001 + 1000 * i, 111, bytes([65 + i]) * 1000)
    w.add(S, C, 80, 41001, 'A', 2001, 111, b'B' * 1000, dt=0.3)
    w.add(C, S, 41001, 80, 'A', 111, 4001, win=8000)
    # 2: free-riding: 1000 bytes, then "the same" 1000 bytes with other content; then data far beyond the window
    handshake(w, 41002, 80, 20, 2000)
    w.add(C, S, 41002, 80, 'A', 21, 2001, win=2000)
    w.add(S, C, 80, 41002, 'A', 2001, 21, b'a' * 1000)
    w.add(S, C, 80, 41002, 'A', 2001, 21, b'b' * 600 + b'a' * 400, dt=0.3)
    w.add(C, S, 41002, 80, 'A', 21, 3001, win=2000)
    w.add(S, C, 80, 41002, 'A', 2001 + 5000, 21, b'c' * 100)
    # 3: inflation: 1000 bytes, acknowledged, then sent again (identical) towards the subscriber
    handshake(w, 41003, 80, 30, 3000)
    w.add(S, C, 80, 41003, 'A', 3001, 31, b'x' * 1000)
    w.add(C, S, 41003, 80, 'A', 31, 4001, win=2000)
    w.add(S, C, 80, 41003, 'A', 3001, 31, b'x' * 1000, dt=0.3)


if __name__ == '__main__':
    w = W()
    name, out = sys.argv[1], sys.argv[2]
    if name == 'oracle':
        scen_oracle(w, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    else:
        globals()['scen_' + name](w)
    wrpcap(out, w.pkts)
