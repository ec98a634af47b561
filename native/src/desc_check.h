// The checks JS-written descriptors go through before native code touches a packet: a slot must name a packet
// JS holds, and a send's data offset and length must lie inside that packet's buffer. Pure code (no N-API, no
// DPDK), templated on the packet type, so Lcore (rte_mbuf) and the libFuzzer target fuzz/desc_fuzz.cc (a fake
// packet) run exactly the same code.
//
// The held table is an array of `cap` packet pointers indexed by slot; nullptr means "not held". Taking a
// packet clears its entry, so a slot named twice in one burst fails at its second occurrence as not held.
// All or nothing: when a descriptor is bad, every entry taken for the burst so far is put back, so the table is
// exactly as before the call, and no packet has been modified.
#pragma once
#include <cstdint>
#include <string>
#include "layout.h"

namespace netstar {

/** Where a descriptor keeps its slot, data offset and length, and whether it has a TX flags word. */
struct DescLayout {
  uint32_t stride, slotW, offW, lenW;
  bool txFlags;
};
constexpr DescLayout TX_LAYOUT{TX_DESC_WORDS, TXD_SLOT, TXD_DATA_OFF, TXD_DATA_LEN, true};
constexpr DescLayout RX_LAYOUT{RX_DESC_WORDS, RXD_SLOT, RXD_DATA_OFF, RXD_DATA_LEN, false};

enum class DescFault : uint8_t { None = 0, NotHeld, OutsideBuffer };

/** The first bad descriptor of a burst (fault None when the burst was taken). */
struct DescResult {
  DescFault fault;
  uint32_t index;  // descriptor (or slot-list entry) number
  uint32_t slot;   // the slot it named
  bool ok() const { return fault == DescFault::None; }
};

inline const char* descFaultText(DescFault f) {
  switch (f) {
    case DescFault::NotHeld: return "slot is not a held packet (already sent, freed, or never received)";
    case DescFault::OutsideBuffer: return "data offset/length outside the packet buffer";
    default: return "ok";
  }
}

/** The ERR_BAD_PACKET message of a refused send burst: "descriptor N (slot S): reason". */
inline std::string sendFaultMessage(const DescResult& r) {
  return "descriptor " + std::to_string(r.index) + " (slot " + std::to_string(r.slot) + "): " + descFaultText(r.fault);
}

/** The ERR_BAD_PACKET message of a refused free: "slot S is not a held packet". */
inline std::string freeFaultMessage(const DescResult& r) {
  return "slot " + std::to_string(r.slot) + " is not a held packet";
}

/** [off, off + len) lies inside a buffer of bufLen bytes (no overflow for any 32-bit off and len). */
inline bool rangeInBuffer(uint32_t off, uint32_t len, uint32_t bufLen) { return off <= bufLen && len <= bufLen - off; }

/** A send's data: not empty, and inside the buffer. */
inline bool sendRangeOk(uint32_t off, uint32_t len, uint32_t bufLen) { return len != 0 && rangeInBuffer(off, len, bufLen); }

/** Puts taken packets [from, to) back in the table (a refused burst, or the part a ring did not take). */
template <class P>
inline void restoreTaken(P** table, P* const* burst, const uint32_t* taken, uint32_t from, uint32_t to) {
  for (uint32_t j = from; j < to; j++) table[taken[j]] = burst[j];
}

/**
 * Takes the n packets named by the descriptors at d (layout L) out of the held table into burst[0..n), their
 * slots into taken[0..n). bufLen(P*) gives a packet's buffer length; once the whole burst is valid,
 * apply(P*, dataOff, dataLen, flags) is called for each packet in order (flags: the TX flags word, 0 in the
 * RX layout). On the first bad descriptor nothing is applied, the table is restored, and the fault returned.
 * The caller guarantees d holds n * L.stride words and burst and taken n entries.
 */
template <class P, class BufLen, class Apply>
inline DescResult takeDescriptors(P** table, uint32_t cap, const uint32_t* d, uint32_t n, const DescLayout& L, P** burst,
                                  uint32_t* taken, BufLen bufLen, Apply apply) {
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t* w = d + static_cast<size_t>(i) * L.stride;
    const uint32_t slot = w[L.slotW];
    P* m = nullptr;
    DescFault f = DescFault::None;
    if (slot >= cap || (m = table[slot]) == nullptr) f = DescFault::NotHeld;
    else if (!sendRangeOk(w[L.offW], w[L.lenW], static_cast<uint32_t>(bufLen(static_cast<const P*>(m))))) f = DescFault::OutsideBuffer;
    if (f != DescFault::None) {
      restoreTaken(table, burst, taken, 0, i);
      return DescResult{f, i, slot};
    }
    table[slot] = nullptr;
    taken[i] = slot;
    burst[i] = m;
  }
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t* w = d + static_cast<size_t>(i) * L.stride;
    apply(burst[i], w[L.offW], w[L.lenW], L.txFlags ? w[TXD_FLAGS] : 0u);
  }
  return DescResult{DescFault::None, n, 0};
}

/**
 * Takes the n packets named by the plain slot list s (free) out of the held table into burst and taken, all or
 * nothing like takeDescriptors.
 */
template <class P>
inline DescResult takeSlots(P** table, uint32_t cap, const uint32_t* s, uint32_t n, P** burst, uint32_t* taken) {
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t slot = s[i];
    P* m = nullptr;
    if (slot >= cap || (m = table[slot]) == nullptr) {
      restoreTaken(table, burst, taken, 0, i);
      return DescResult{DescFault::NotHeld, i, slot};
    }
    table[slot] = nullptr;
    taken[i] = slot;
    burst[i] = m;
  }
  return DescResult{DescFault::None, n, 0};
}

}  // namespace netstar
