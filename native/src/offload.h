// Native execution of offloaded flow directions (net/flow/offload.ts): the software path of flow offload
// for ports without rte_flow. JS decides everything — which flows exist (its flow table), what an offloaded
// direction does (its entries) — and this code only reads those tables during RX: a received packet that
// is plain IPv4 TCP/UDP, passes the port's entry checks (destination MAC, IPv4 and L4 checksums), matches an
// entry that is valid, current (epoch) and marked native, and keeps its TTL, is rewritten as the entry says
// and transmitted on this shard's TX queue of the entry's port, without being described to JS. Anything
// else goes to JS untouched. Same thread as the JS that writes the tables: no locking.
//
// The layouts it reads (flow table slots and hash, entry words and flags, ctl words, port stats words) are
// defined once in layout.h and checked against the TS side when the addon loads (native/layout.ts).
#pragma once
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <cstdint>
#include <cstring>
#include "layout.h"

namespace netstar {

// Per-burst TX lists hold one RX burst.
constexpr uint32_t OFF_MAX_BURST = MAX_BURST;

struct OffloadRxPort {
  bool on = false, verifyIp = false, verifyL4 = false, checkMac = false;
  uint8_t mac[6] = {0, 0, 0, 0, 0, 0};
  int32_t statsBase = -1;
};

struct OffloadOut {
  int32_t port = -1, queue = -1, statsBase = -1;
};

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
inline void put16(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
inline void put32(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v); }

// Ones' complement sum of native-order 32-bit chunks (16-bit tail), folded to 16 bits: the same value, byte
// swapped, as the big-endian word sum, so comparing with 0xffff (its own swap) verifies a checksum.
inline uint32_t sumNative(const uint8_t* p, uint32_t n, uint64_t s) {
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t w;
    std::memcpy(&w, p + i, 4);
    s += w;
  }
  if (i + 2 <= n) {
    uint16_t h;
    std::memcpy(&h, p + i, 2);
    s += h;
    i += 2;
  }
  if (i < n) s += p[i];  // the odd byte is the high half of a big-endian word: low byte in native order
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  uint32_t r = static_cast<uint32_t>(s);
  r = (r & 0xffff) + (r >> 16);
  return (r & 0xffff) + (r >> 16);
}

// RFC 1624 eqn. 3 with a delta already summed as (~old & 0xffff) + new over the changed words.
inline uint32_t applyDelta(uint32_t cs, uint32_t d) {
  uint32_t s = (~cs & 0xffff) + d;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

// What the first passes over a burst learned of one packet.
struct OffloadPre {
  int32_t v;          // flow table value, or -1 (not ours / not eligible)
  uint32_t slot;      // home slot of the lookup
  uint32_t proto, src, dst, ports, lo, hi, kports, l4len;
  uint8_t* ip;
};

struct Offload {
  bool on = false;
  const uint32_t* table = nullptr;
  uint32_t mask = 0;
  int32_t* entries = nullptr;
  uint32_t capacity = 0;
  double* counts = nullptr;  // 256 tags
  const int32_t* ctl = nullptr;
  double* stats = nullptr;
  uint32_t statsWords = 0;
  OffloadRxPort rx[RTE_MAX_ETHPORTS];
  OffloadOut out[OFF_MAX_OUT];
  int32_t seq = 1;
  // Per-burst TX lists per out index.
  rte_mbuf* txq[OFF_MAX_OUT][OFF_MAX_BURST];
  uint32_t txn[OFF_MAX_OUT] = {};
  uint64_t txBytes[OFF_MAX_OUT] = {};
  uint64_t handled = 0, txDropped = 0;

  OffloadPre pre[OFF_MAX_BURST];

  // Pass 1 over a burst: parse what the executor can take (anything else gets v = -1 and goes to JS) and
  // prefetch the flow-table slot each lookup starts at, so the burst's table misses overlap.
  void prepare(rte_mbuf* const* b, uint32_t n, uint16_t port) {
    const OffloadRxPort& rp = rx[port];
    for (uint32_t i = 0; i < n; i++) {
      OffloadPre& q = pre[i];
      q.v = -1;
      rte_mbuf* m = b[i];
      if (m->nb_segs != 1) continue;
      uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
      uint32_t len = m->data_len;
      if (len < 14 + 20 + 8 || be16(p + 12) != 0x0800) continue;
      if (rp.checkMac && std::memcmp(p, rp.mac, 6) != 0) continue;
      uint8_t* ip = p + 14;
      if (ip[0] != 0x45) continue;
      uint32_t tot = be16(ip + 2);
      if (tot < 20 || 14 + tot > len || (be16(ip + 6) & 0x3fff) != 0) continue;
      uint32_t proto = ip[9];
      uint8_t* l4 = ip + 20;
      uint32_t l4len = tot - 20;
      if (proto == 6) {
        if (l4len < 20) continue;
        uint32_t thl = (l4[12] >> 4) * 4u;
        if (thl < 20 || thl > l4len) continue;
      } else if (proto == 17) {
        if (l4len < 8) continue;
        uint32_t ulen = be16(l4 + 4);
        if (ulen < 8 || ulen > l4len) continue;
      } else {
        continue;
      }
      uint32_t src = be32(ip + 12), dst = be32(ip + 16), sport = be16(l4), dport = be16(l4 + 2);
      q.proto = proto; q.src = src; q.dst = dst; q.ports = (sport << 16) | dport; q.ip = ip; q.l4len = l4len;
      if (src < dst || (src == dst && sport <= dport)) {
        q.lo = src; q.hi = dst; q.kports = (sport << 16) | dport;
      } else {
        q.lo = dst; q.hi = src; q.kports = (dport << 16) | sport;
      }
      q.slot = flowHome(proto, q.lo, q.hi, q.kports) & mask;
      q.v = 0;
      rte_prefetch0(table + static_cast<size_t>(q.slot) * FT_SLOT_WORDS);
    }
    // Pass 2: the lookups (slots now on their way or in cache), prefetching the flows' entries.
    for (uint32_t i = 0; i < n; i++) {
      OffloadPre& q = pre[i];
      if (q.v < 0) continue;
      q.v = lookup(q);
      if (q.v >= 0 && (static_cast<uint32_t>(q.v) >> 1) < capacity)
        rte_prefetch0(entries + static_cast<size_t>(static_cast<uint32_t>(q.v) >> 1) * 2 * OFF_STRIDE);
    }
  }

  // Flow table lookup from a prepared packet: value (flow * 2 + key slot) or -1.
  int32_t lookup(const OffloadPre& q) const {
    uint32_t i = q.slot;
    for (uint32_t probes = 0; probes <= mask; probes++) {
      const uint32_t* k = table + static_cast<size_t>(i) * FT_SLOT_WORDS;
      uint32_t meta = k[FT_META];
      if (meta == 0) return -1;
      if (k[FT_LO] == q.lo && k[FT_HI] == q.hi && k[FT_PORTS] == q.kports && (meta >> FT_PROTO_SHIFT) == q.proto)
        return static_cast<int32_t>((meta & FT_VALUE_MASK) - 1);
      i = (i + 1) & mask;
    }
    return -1;
  }

  // Pass 3, packet i of the prepared burst: the out index it was handled for, or -1 (untouched: JS gets it).
  int32_t handle(rte_mbuf* m, uint32_t i, uint16_t port) {
    const OffloadRxPort& rp = rx[port];
    const OffloadPre& q = pre[i];
    if (q.v < 0) return -1;
    uint32_t flow = static_cast<uint32_t>(q.v) >> 1;
    if (flow >= capacity) return -1;
    uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
    uint32_t len = m->data_len;
    uint8_t* ip = q.ip;
    uint8_t* l4 = ip + 20;
    const uint32_t proto = q.proto, src = q.src, dst = q.dst, l4len = q.l4len;
    int32_t* e0 = entries + static_cast<size_t>(flow) * 2 * OFF_STRIDE;
    int32_t* e1 = e0 + OFF_STRIDE;
    const uint32_t ports = q.ports;
    auto matches = [&](const int32_t* e) {
      int32_t f = e[W_FLAGS];
      return (f & F_VALID) && static_cast<uint32_t>(f) >> F_PROTO_SHIFT == proto && static_cast<uint32_t>(e[W_OSRC]) == src &&
             static_cast<uint32_t>(e[W_ODST]) == dst && static_cast<uint32_t>(e[W_OPORTS]) == ports;
    };
    int32_t* e = matches(e0) ? e0 : matches(e1) ? e1 : nullptr;
    if (e == nullptr) return -1;
    const int32_t f = e[W_FLAGS];
    // Not for native handling, stale, or an earlier packet of this direction in this burst went to JS (its
    // later packets must follow it there, in order).
    if (!(f & F_NATIVE) || e[W_EPOCH] != ctl[C_EPOCH] || e[W_MARK] == seq) return mark(e);
    const uint32_t outIdx = static_cast<uint32_t>(e[W_OUT]);
    if (outIdx >= OFF_MAX_OUT || out[outIdx].queue < 0) return mark(e);
    // Sums of native-order chunks (a ones' complement sum is byte-order neutral; see sumNative).
    if (rp.verifyIp && sumNative(ip, 20, 0) != 0xffff) return mark(e);
    if (rp.verifyL4 && !(proto == 17 && be16(l4 + 6) == 0)) {
      // Pseudo header: the addresses as they sit in the header, then protocol and L4 length as big-endian
      // words read in native order.
      uint32_t a, b;
      std::memcpy(&a, ip + 12, 4);
      std::memcpy(&b, ip + 16, 4);
      uint64_t pseudo = uint64_t(a) + b + rte_cpu_to_be_16(static_cast<uint16_t>(proto)) + rte_cpu_to_be_16(static_cast<uint16_t>(l4len));
      if (sumNative(l4, l4len, pseudo) != 0xffff) return mark(e);
    }
    uint32_t dIp = static_cast<uint32_t>(e[W_DIP]);
    if (f & F_TTL) {
      uint32_t t = be16(ip + 8);
      if ((t >> 8) <= 1) return mark(e);
      put16(ip + 8, t - 0x100);
      dIp += (~t & 0xffff) + (t - 0x100);
    }
    if (f & F_ADDRS) {
      put32(ip + 12, static_cast<uint32_t>(e[W_NSRC]));
      put32(ip + 16, static_cast<uint32_t>(e[W_NDST]));
    }
    if (dIp != 0) put16(ip + 10, applyDelta(be16(ip + 10), dIp));
    if (f & F_PORTS) {
      put32(l4, static_cast<uint32_t>(e[W_NPORTS]));
      uint32_t d = static_cast<uint32_t>(e[W_DL4]);
      if (d != 0) {
        if (proto == 6) put16(l4 + 16, applyDelta(be16(l4 + 16), d));
        else {
          uint32_t c = be16(l4 + 6);
          if (c != 0) {
            uint32_t n = applyDelta(c, d);
            put16(l4 + 6, n == 0 ? 0xffff : n);
          }
        }
      }
    }
    if (f & F_MACS) {
      put16(p, static_cast<uint32_t>(e[W_DMAC_HI]));
      put32(p + 2, static_cast<uint32_t>(e[W_DMAC_LO]));
      put16(p + 6, static_cast<uint32_t>(e[W_SMAC_HI]));
      put32(p + 8, static_cast<uint32_t>(e[W_SMAC_LO]));
    }
    uint64_t* pk = reinterpret_cast<uint64_t*>(e + W_NPKTS);
    uint64_t* by = reinterpret_cast<uint64_t*>(e + W_NBYTES);
    *pk += 1;
    *by += len;
    e[W_NLAST] = ctl[C_CLOCK];
    counts[static_cast<uint32_t>(e[W_TAG]) & 0xff] += 1;
    handled++;
    return static_cast<int32_t>(outIdx);
  }

  int32_t mark(int32_t* e) {
    e[W_MARK] = seq;
    return -1;
  }

  void queueTx(uint32_t outIdx, rte_mbuf* m) {
    txq[outIdx][txn[outIdx]++] = m;
    txBytes[outIdx] += m->data_len;
  }

  // Sends what this burst queued, per out index; what a device refuses after a few tries is freed and counted.
  void flushTx() {
    for (uint32_t o = 0; o < OFF_MAX_OUT; o++) {
      uint32_t n = txn[o];
      if (n == 0) continue;
      const OffloadOut& oo = out[o];
      uint32_t sent = 0;
      for (int attempt = 0; sent < n && attempt < 4; attempt++)
        sent += rte_eth_tx_burst(static_cast<uint16_t>(oo.port), static_cast<uint16_t>(oo.queue), txq[o] + sent, static_cast<uint16_t>(n - sent));
      if (sent < n) {
        rte_pktmbuf_free_bulk(txq[o] + sent, n - sent);
        txDropped += n - sent;
      }
      if (oo.statsBase >= 0) {
        stats[oo.statsBase + P_TX] += sent;
        stats[oo.statsBase + P_TXBYTES] += static_cast<double>(txBytes[o]);
        if (sent < n) stats[oo.statsBase + P_TXDROPPED] += n - sent;
      }
      txn[o] = 0;
      txBytes[o] = 0;
    }
  }
};

}  // namespace netstar
