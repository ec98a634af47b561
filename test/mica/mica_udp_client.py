# A MICA client on a Linux UDP socket, independent of mica/: builds request batches from the field layout
# (struct), sends them to a server's partition ports, checks every answer, sends malformed datagrams.
# Usage: mica_udp_client.py SERVER_IP BASE_PORT PARTITIONS  -> one JSON object with what it saw.
import json, random, socket, struct, sys

ip, base, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2.0)
OP = dict(Reset=0, NoopRead=1, NoopWrite=2, Add=3, Set=4, Get=5, Test=6, Delete=7, Increment=8)
R = dict(Success=0, Error=1, InsufficientSpace=2, Exists=3, NotFound=4, PartialValue=5, NotProcessed=6, NotSupported=7, TimedOut=8, Rejected=9)
out = {'sent': 0, 'checks': 0, 'failures': [], 'frames': 0, 'partitionsUsed': set()}
tag = [0]

def pad8(b): return b + b'\0' * ((8 - len(b) % 8) % 8)
def req(op, h, key=b'', value=b'', opaque=None):
    tag[0] += 1
    o = tag[0] if opaque is None else opaque
    return o, struct.pack('<BBHIQII', op, 0, 0, (len(key) << 24) | len(value), h, o, 0) + pad8(key) + pad8(value)

def send(port, reqs, count=None, raw=None):
    body = b''.join(r[1] for r in reqs)
    d = raw if raw is not None else struct.pack('<BBI', 0x78, len(reqs) if count is None else count, 0) + body
    s.sendto(d, (ip, port))
    if base <= port < base + parts:
        out['sent'] += 1

def recv_all(n):
    got = {}
    while len(got) < n:
        try:
            d, _ = s.recvfrom(4096)
        except socket.timeout:
            break
        out['frames'] += 1
        magic, cnt, _ = struct.unpack_from('<BBI', d, 0)
        p = 6
        for _ in range(cnt):
            op, res, _, kv, h, o, _ = struct.unpack_from('<BBHIQII', d, p)
            kl, vl = kv >> 24, kv & 0xffffff
            p += 24
            key = d[p:p + kl]; p += len(pad8(key))
            val = d[p:p + vl]; p += (vl + 7) // 8 * 8
            got[o] = (op, res, h, key, val, magic)
    return got

def check(cond, what):
    out['checks'] += 1
    if not cond:
        out['failures'].append(what)

def hkey(i):
    h = rng.getrandbits(64)
    return h, (h >> 48) % parts

# 1. per key: SET (batched 8 per datagram, per partition), then GET, ADD, TEST, INCREMENT, DELETE
keys = []
for i in range(64):
    h, p = hkey(i)
    # key 0 holds 3 bytes (an increment of it is an Error); the others 1, 8, 64 or 200
    keys.append((h, p, b'key-%d' % i, b'abc' if i == 0 else bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 8, 64, 200])))))
for p in range(parts):
    mine = [k for k in keys if k[1] == p]
    out['partitionsUsed'].add(p)
    for chunk in [mine[i:i + 8] for i in range(0, len(mine), 8)]:
        rs = [req(OP['Set'], h, key, val) for (h, _, key, val) in chunk]
        send(base + p, rs)
        got = recv_all(len(rs))
        for (o, _), (h, _, key, val) in zip(rs, chunk):
            check(got.get(o, (0, -1))[1] == R['Success'], 'set %s' % key)
            check(got.get(o, (0, 0, 0, 0, 0, 0))[5] == 0x79, 'response magic')
    for chunk in [mine[i:i + 8] for i in range(0, len(mine), 8)]:
        rs = [req(OP['Get'], h, key) for (h, _, key, _) in chunk]
        send(base + p, rs)
        got = recv_all(len(rs))
        for (o, _), (h, _, key, val) in zip(rs, chunk):
            g = got.get(o)
            check(g is not None and g[1] == R['Success'] and g[4] == val and g[2] == h and g[0] == OP['Get'], 'get %s' % key)
(h, p, key, val) = keys[0]
for op, v, want in [('Add', b'x', 'Exists'), ('Test', b'', 'Success'), ('Increment', struct.pack('<Q', 1), 'Error'),
                    ('Delete', b'', 'Success'), ('Get', b'', 'NotFound'), ('Test', b'', 'NotFound'), ('Delete', b'', 'NotFound'),
                    ('Increment', struct.pack('<Q', 1), 'NotFound'), ('Add', struct.pack('<Q', 2**64 - 2), 'Success'),
                    ('Increment', struct.pack('<Q', 3), 'Success'), ('NoopRead', b'', 'Success'), ('NoopWrite', b'', 'Success')]:
    r = req(OP[op], h, key, v)
    send(base + p, [r])
    g = recv_all(1).get(r[0])
    check(g is not None and g[1] == R[want], '%s -> %s, got %s' % (op, want, g and g[1]))
    if op == 'Increment' and want == 'Success':
        check(g is not None and struct.unpack('<Q', g[4])[0] == 1, 'increment wraps to 1: %r' % (g and g[4]))
# a key sent to the wrong partition's port is refused
if parts > 1:
    r = req(OP['Get'], h, key)
    send(base + (p + 1) % parts, [r])
    g = recv_all(1).get(r[0])
    check(g is not None and g[1] == R['Rejected'], 'wrong partition -> Rejected')
# 2. responses larger than one frame: 20 GETs of 200-byte values in one batch come back in several frames
big = [k for k in keys if k[1] == keys[1][1] and len(k[3]) >= 64][:20]
if big:
    f0 = out['frames']
    rs = [req(OP['Get'], h, key) for (h, _, key, _) in (big * 6)[:60]]
    send(base + big[0][1], rs)
    got = recv_all(len(rs))
    check(len(got) == len(rs), 'all %d responses of a big batch (got %d)' % (len(rs), len(got)))
    out['bigBatchFrames'] = out['frames'] - f0
# 3. malformed datagrams: each dropped (no answer); unknown op answered NotSupported
h, p, key, val = keys[2]
good = req(OP['Get'], h, key)
bad = [
    ('truncated', struct.pack('<BB', 0x78, 1)),
    ('count too high', struct.pack('<BBI', 0x78, 2, 0) + good[1]),
    ('count too low', struct.pack('<BBI', 0x78, 0, 0) + good[1]),
    ('value overruns', struct.pack('<BBI', 0x78, 1, 0) + struct.pack('<BBHIQII', OP['Set'], 0, 0, (3 << 24) | 5000, h, 99, 0) + b'abc\0\0\0\0\0'),
    ('bad magic', struct.pack('<BBI', 0x77, 1, 0) + good[1]),
    ('response magic', struct.pack('<BBI', 0x79, 1, 0) + good[1]),
]
for name, d in bad:
    send(base + p, [], raw=d)
s.settimeout(0.5)
check(len(recv_all(1)) == 0, 'no answer to malformed datagrams')
s.settimeout(2.0)
r = req(42, h, key)
send(base + p, [r])
g = recv_all(1).get(r[0])
check(g is not None and g[1] == R['NotSupported'], 'unknown op -> NotSupported')
send(base + parts + 5, [req(OP['Get'], h, key)])
s.settimeout(0.5)
check(len(recv_all(1)) == 0, 'port outside the partitions: dropped')
# 4. hostile datagrams: 400 random ones (valid header words, random counts, lengths, ops and bytes);
# whatever the server answers must parse, and afterwards it still serves
s.settimeout(0.05)
answered = 0
for i in range(400):
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
    d = struct.pack('<BBI', 0x78, rng.randint(0, 8), 0) + body
    send(base + rng.randrange(parts), [], raw=d)
    try:
        while True:
            r, _ = s.recvfrom(4096)
            answered += 1
            magic, cnt, _ = struct.unpack_from('<BBI', r, 0)
            check(magic == 0x79, 'hostile: answer is a response')
    except socket.timeout:
        pass
out['hostileAnswered'] = answered
s.settimeout(2.0)
# (a random request may have been a Reset: store the key again, then read it)
r = req(OP['Set'], keys[5][0], keys[5][2], keys[5][3])
send(base + keys[5][1], [r])
g = recv_all(1).get(r[0])
check(g is not None and g[1] == R['Success'], 'set after hostile datagrams')
r = req(OP['Get'], keys[5][0], keys[5][2])
send(base + keys[5][1], [r])
g = recv_all(1).get(r[0])
check(g is not None and g[1] == R['Success'] and g[4] == keys[5][3], 'still serving after hostile datagrams')
out['partitionsUsed'] = sorted(out['partitionsUsed'])
print(json.dumps(out))
