// The one C++ definition of every memory layout shared with TypeScript: descriptor words, the burst limit,
// fast-call parameter words, offload entry words and flags, port stats words, the flow-table slot and hash.
// addon.cc exports them as `layout`; native/layout.ts holds the TS constants and native/index.ts checks at
// load that the two agree (a mismatch names the field), so neither side can drift alone.
#pragma once
#include <cstdint>

namespace netstar {

// RX descriptor: what rx/alloc/copy/ringGet describe per packet.
constexpr uint32_t RX_DESC_WORDS = 10;
constexpr uint32_t RXD_SLOT = 0, RXD_CHUNK = 1 /* pool << 16 | chunk */, RXD_BUF_OFFSET = 2, RXD_DATA_OFF = 3,
                   RXD_DATA_LEN = 4, RXD_PORT = 5, RXD_QUEUE = 6, RXD_RSS = 7, RXD_OL_FLAGS = 8, RXD_PTYPE = 9;
// TX descriptor: what tx/ringPut take per packet.
constexpr uint32_t TX_DESC_WORDS = 4;
constexpr uint32_t TXD_SLOT = 0, TXD_DATA_OFF = 1, TXD_DATA_LEN = 2, TXD_FLAGS = 3;
/** TX flags word: record the egress port (low 16 bits) in the mbuf (for ring hand-offs). */
constexpr uint32_t TX_FLAG_SET_PORT = 1u << 16;
/** Queue number in descriptors of packets that did not come from a device queue. */
constexpr uint32_t NO_QUEUE = 0xffff;
/** Packets per call at most (RX burst, TX, free, ring put/get). */
constexpr uint32_t MAX_BURST = 512;

// Fast calls: parameter words at the start of the fast area, then descriptor regions.
constexpr uint32_t FAST_PARAM_WORDS = 16;
constexpr uint32_t FAST_REGION_WORDS = MAX_BURST * RX_DESC_WORDS;
constexpr uint32_t FP_PORT = 0 /* or ring */, FP_QUEUE = 1, FP_COUNT = 2 /* or max */, FP_REGION = 3, FP_RETRIES = 4,
                   FP_HANDLED = 5 /* out: packets the offload executor took in the last rx */,
                   FP_RX_DROPPED = 6 /* out: packets the last rx received and freed (empty, chained, foreign) */,
                   FP_RING_FREE = 7 /* out: free slots of the ring after the last ring put (a put of 0 just reads it) */,
                   FP_RING_CAP = 8 /* out: that ring's capacity */;

// Per-port stats words (a block of PORT_STATS_WORDS per port in the shard's Float64Array).
constexpr uint32_t PORT_STATS_WORDS = 6;
constexpr uint32_t P_RX = 0, P_TX = 1, P_TXDROPPED = 2, P_DROPPED = 3, P_RXBYTES = 4, P_TXBYTES = 5;

// Offload entries: OFF_STRIDE int32 words per (flow, direction), direction d of flow i at (i * 2 + d) * stride.
constexpr uint32_t OFF_STRIDE = 32;
constexpr uint32_t OFF_MAX_OUT = 16;
constexpr uint32_t W_FLAGS = 0, W_EPOCH = 1, W_OUT = 2, W_TAG = 3, W_OSRC = 4, W_ODST = 5, W_OPORTS = 6, W_NSRC = 7,
                   W_NDST = 8, W_NPORTS = 9, W_DIP = 10, W_DL4 = 11, W_DMAC_HI = 12, W_DMAC_LO = 13, W_SMAC_HI = 14,
                   W_SMAC_LO = 15, W_NPKTS = 16 /* u64 */, W_NBYTES = 18 /* u64 */, W_NLAST = 20, W_MARK = 21;
// Entry flags (the protocol sits in bits 8..15).
constexpr int32_t F_VALID = 1, F_TTL = 2, F_MACS = 4, F_PORTS = 8, F_ADDRS = 16, F_NATIVE = 32;
constexpr uint32_t F_PROTO_SHIFT = 8;
// Offload control words: [0] epoch, [1] the flow clock (ms) written as an entry's last-seen time.
constexpr uint32_t C_EPOCH = 0, C_CLOCK = 1;
constexpr uint32_t OFF_COUNTS = 256;  // per-tag packet counters

// Flow table: 4 words per slot — lo address, hi address, lo port << 16 | hi port, proto << 24 | value + 1;
// linear probing from flowHome(...) & mask.
constexpr uint32_t FT_SLOT_WORDS = 4;
constexpr uint32_t FT_LO = 0, FT_HI = 1, FT_PORTS = 2, FT_META = 3, FT_PROTO_SHIFT = 24, FT_VALUE_MASK = 0xffffff;

// The flow table's hash of a canonical key (multiply-xor, then a murmur3 finalizer), in 32-bit arithmetic
// as JS does it (net/flow/flow-table.ts flowKeyHash).
inline uint32_t flowHome(uint32_t proto, uint32_t lo, uint32_t hi, uint32_t ports) {
  uint32_t h = ((lo * 0x9e3779b1u) ^ hi) + ports * 0x85ebca6bu + proto;
  h = (h ^ (h >> 16)) * 0x85ebca6bu;
  h = (h ^ (h >> 13)) * 0xc2b2ae35u;
  return h ^ (h >> 16);
}

}  // namespace netstar
