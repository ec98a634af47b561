# Builds MICA datagram frames with scapy from the field layout of mica2's datagram_protocol.h (an encoder
# independent of mica/wire.ts) and prints each with the values it holds, one JSON object per line.
# Usage: mica_frames.py SEED COUNT
import json, random, struct, sys
from scapy.all import Ether, IP, UDP, Raw

seed, count = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)

def pad8(b):
    return b + b'\0' * ((8 - len(b) % 8) % 8)

for n in range(count):
    magic = rng.choice([0x78, 0x79])
    reqs, body, room = [], b'', 1514 - 48
    for _ in range(rng.randint(0, 12)):
        key = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 7, 8, 9, 16, 33, rng.randint(0, 255)])))
        value = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 8, 13, 64, rng.randint(0, 300)])))
        size = 24 + len(pad8(key)) + len(pad8(value))
        if size > room:
            break
        room -= size
        op, result = rng.randint(0, 8), rng.randint(0, 9)
        h, opaque = rng.getrandbits(64), rng.getrandbits(32)
        body += struct.pack('<BBHIQII', op, result, 0, (len(key) << 24) | len(value), h, opaque, 0) + pad8(key) + pad8(value)
        reqs.append({'op': op, 'result': result, 'hash': str(h), 'opaque': opaque, 'key': key.hex(), 'value': value.hex()})
    payload = struct.pack('<BBI', magic, len(reqs), 0) + body
    src, dst = '198.18.%d.%d' % (rng.randint(0, 255), rng.randint(1, 254)), '198.19.%d.%d' % (rng.randint(0, 255), rng.randint(1, 254))
    sport, dport = rng.randint(1, 65535), rng.randint(1, 65535)
    smac = '02:%02x:%02x:%02x:%02x:%02x' % tuple(rng.getrandbits(8) for _ in range(5))
    dmac = '02:%02x:%02x:%02x:%02x:%02x' % tuple(rng.getrandbits(8) for _ in range(5))
    frame = Ether(src=smac, dst=dmac) / IP(src=src, dst=dst, id=0, flags=0, ttl=64) / UDP(sport=sport, dport=dport, chksum=0) / Raw(payload)
    print(json.dumps({'hex': bytes(frame).hex(), 'magic': magic, 'src': src, 'dst': dst, 'sport': sport, 'dport': dport,
                      'smac': smac, 'dmac': dmac, 'requests': reqs}))
