// libFuzzer target (clang, ASan + UBSan): the descriptor checks of native/src/desc_check.h, the code Lcore's
// tx/txRx/ringPut (takeDescriptors), free (takeSlots) and a ring's partial put (restoreTaken) run on what JS
// wrote. The input picks a held table (slots held with buffers of various lengths, 0 and 65535 included, or
// not held), a burst of descriptors in the TX or RX layout (or a plain slot list), and checks the result
// against a reference model written here with 64-bit arithmetic:
//   - the first bad descriptor, its slot and its reason are the model's;
//   - a refused burst leaves the table exactly as before and no packet modified;
//   - a taken burst holds each named packet once (a slot named twice is refused at its second occurrence),
//     its data range lies in its buffer, the TX flags word sets the port only in the TX layout.
// Tables, descriptor arrays, burst arrays and packet buffers are heap blocks of exactly their size, so any read
// past them is an ASan report; a taken packet's first and last data bytes are read.
//
// Input: [0] mode (bit 0 RX layout, bit 1 free path, bits 2.. the ring's accepted count), [1] cap % 65, then one
// byte per slot (bit 7 not held; else bits 0..2 a buffer length class, bit 6 a raw 16-bit length from the next
// two bytes), then records: 16 bytes (slot, offset, length, flags; little-endian words) per descriptor, or 4
// bytes (slot) per free entry.
#include "../native/src/desc_check.h"

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

using namespace netstar;

#define CHECK(c) \
  do {           \
    if (!(c)) __builtin_trap(); \
  } while (0)

namespace {

// A stand-in for the mbuf: the fields takeForSend's apply step writes, and the buffer it describes.
struct Pkt {
  uint16_t bufLen = 0;
  const uint8_t* buf = nullptr;
  uint16_t dataOff = 0xdead, dataLen = 0xbeef;
  uint32_t pktLen = 0xfeedface;
  uint16_t port = 0x7777;
  uint32_t applied = 0;
};

constexpr uint32_t CLASS_LEN[8] = {0, 1, 60, 128, 1518, 2048, 2176, 65535};

// One exact-size buffer per length class, made once (a zero-length one is a zero-byte block: any read is a report).
const uint8_t* classBuffer(uint32_t c) {
  static std::unique_ptr<uint8_t[]> bufs[8];
  if (!bufs[c]) {
    bufs[c].reset(new uint8_t[CLASS_LEN[c]]);
    std::memset(bufs[c].get(), 0x5a, CLASS_LEN[c]);
  }
  return bufs[c].get();
}

struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (n == 0) return 0;
    n--;
    return *p++;
  }
  uint32_t word() {
    uint32_t w = 0;
    for (int i = 0; i < 4; i++) w |= static_cast<uint32_t>(byte()) << (8 * i);
    return w;
  }
};

// Slots: mostly in or just past the table; 0xfe______ a 24-bit slot, 0xff______ the raw word (up to 2^32 - 1).
uint32_t mapSlot(uint32_t w, uint32_t cap) {
  if ((w >> 24) == 0xff) return w;
  if ((w >> 24) == 0xfe) return w & 0xffffff;
  return w % (cap + 2);
}
// Offsets and lengths: bit 31 clear, a value below 70000 (around every 16-bit buffer); set, the raw word.
uint32_t mapRange(uint32_t w) { return (w >> 31) ? w : w % 70000; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Reader in{data, size};
  const uint8_t mode = in.byte();
  const bool rx = mode & 1, freePath = mode & 2;
  const uint32_t cap = in.byte() % 65;

  // The held table: cap entries in a block of exactly that size; packets in their own exact-size array.
  std::unique_ptr<Pkt[]> pkts(new Pkt[cap ? cap : 1]);
  std::unique_ptr<Pkt*[]> table(new Pkt*[cap]);
  std::unique_ptr<Pkt*[]> before(new Pkt*[cap]);
  std::vector<std::unique_ptr<uint8_t[]>> rawBufs;
  for (uint32_t s = 0; s < cap; s++) {
    const uint8_t k = in.byte();
    table[s] = nullptr;
    if (k & 0x80) continue;
    Pkt& p = pkts[s];
    if (k & 0x40) {
      uint32_t len = in.byte();
      len |= static_cast<uint32_t>(in.byte()) << 8;
      rawBufs.emplace_back(new uint8_t[len]);
      std::memset(rawBufs.back().get(), 0xa5, len);
      p.bufLen = static_cast<uint16_t>(len);
      p.buf = rawBufs.back().get();
    } else {
      p.bufLen = static_cast<uint16_t>(CLASS_LEN[k & 7]);
      p.buf = classBuffer(k & 7);
    }
    table[s] = &p;
  }
  for (uint32_t s = 0; s < cap; s++) before[s] = table[s];

  const DescLayout& L = rx ? RX_LAYOUT : TX_LAYOUT;
  const size_t rec = freePath ? 4 : 16;
  const uint32_t n = static_cast<uint32_t>(std::min<size_t>(in.n / rec, MAX_BURST));
  const uint32_t words = freePath ? 1 : L.stride;

  // The descriptors (or slot list) in a block of exactly n * stride words; the words of the RX layout that
  // are not slot, offset or length get the record's flags word (a check reading the wrong word shows).
  std::unique_ptr<uint32_t[]> desc(new uint32_t[static_cast<size_t>(n) * words]);
  std::unique_ptr<uint32_t[]> slot(new uint32_t[n]), off(new uint32_t[n]), len(new uint32_t[n]), flags(new uint32_t[n]);
  for (uint32_t i = 0; i < n; i++) {
    slot[i] = mapSlot(in.word(), cap);
    uint32_t* w = desc.get() + static_cast<size_t>(i) * words;
    if (freePath) {
      off[i] = len[i] = flags[i] = 0;
      w[0] = slot[i];
      continue;
    }
    off[i] = mapRange(in.word());
    len[i] = mapRange(in.word());
    flags[i] = in.word();
    for (uint32_t j = 0; j < words; j++) w[j] = flags[i];
    w[L.slotW] = slot[i];
    w[L.offW] = off[i];
    w[L.lenW] = len[i];
  }

  // The reference model: the first descriptor naming a slot not held (or taken earlier in the burst), or with
  // an empty range or one past its buffer.
  DescFault wantFault = DescFault::None;
  uint32_t wantIndex = n;
  {
    std::vector<bool> held(cap);
    for (uint32_t s = 0; s < cap; s++) held[s] = before[s] != nullptr;
    for (uint32_t i = 0; i < n; i++) {
      const uint32_t s = slot[i];
      if (s >= cap || !held[s]) {
        wantFault = DescFault::NotHeld;
        wantIndex = i;
        break;
      }
      if (!freePath && (len[i] == 0 || static_cast<uint64_t>(off[i]) + len[i] > before[s]->bufLen)) {
        wantFault = DescFault::OutsideBuffer;
        wantIndex = i;
        break;
      }
      held[s] = false;
    }
  }

  std::unique_ptr<Pkt*[]> burst(new Pkt*[n]);
  std::unique_ptr<uint32_t[]> taken(new uint32_t[n]);
  uint32_t applyCalls = 0;
  DescResult r;
  if (freePath) {
    r = takeSlots(table.get(), cap, desc.get(), n, burst.get(), taken.get());
  } else {
    r = takeDescriptors(table.get(), cap, desc.get(), n, L, burst.get(), taken.get(),
        [](const Pkt* p) -> uint32_t { return p->bufLen; },
        [&](Pkt* p, uint32_t dOff, uint32_t dLen, uint32_t fl) {
          CHECK(applyCalls < n && p == burst[applyCalls]);
          applyCalls++;
          // What the mbuf apply does, and a read of the first and last data byte (ASan: inside the buffer).
          p->dataOff = static_cast<uint16_t>(dOff);
          p->dataLen = static_cast<uint16_t>(dLen);
          p->pktLen = dLen;
          if (fl & TX_FLAG_SET_PORT) p->port = static_cast<uint16_t>(fl & 0xffff);
          p->applied++;
          volatile uint8_t first = p->buf[dOff], last = p->buf[static_cast<size_t>(dOff) + dLen - 1];
          (void)first;
          (void)last;
        });
  }

  CHECK(r.fault == wantFault);
  if (!r.ok()) {
    // Refused: the first bad descriptor is reported, the table is as before, and no packet was touched.
    CHECK(r.index == wantIndex && r.index < n && r.slot == slot[r.index]);
    CHECK(applyCalls == 0);
    for (uint32_t s = 0; s < cap; s++) {
      CHECK(table[s] == before[s]);
      const Pkt& p = pkts[s];
      CHECK(p.applied == 0 && p.dataOff == 0xdead && p.dataLen == 0xbeef && p.pktLen == 0xfeedface && p.port == 0x7777);
    }
    const std::string msg = freePath ? freeFaultMessage(r) : sendFaultMessage(r);
    CHECK(msg.size() > 10);
    return 0;
  }

  // Taken: each named slot was held, once, and is now out of the table; its range fits its buffer.
  CHECK(r.index == n && wantIndex == n);
  CHECK(freePath ? applyCalls == 0 : applyCalls == n);
  std::vector<bool> seen(cap);
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t s = slot[i];
    CHECK(s < cap && !seen[s]);
    seen[s] = true;
    CHECK(taken[i] == s && before[s] != nullptr && burst[i] == before[s] && table[s] == nullptr);
    const Pkt& p = *burst[i];
    if (freePath) {
      CHECK(p.applied == 0);
      continue;
    }
    CHECK(p.applied == 1 && len[i] != 0 && static_cast<uint64_t>(off[i]) + len[i] <= p.bufLen);
    CHECK(p.dataOff == static_cast<uint16_t>(off[i]) && p.dataLen == static_cast<uint16_t>(len[i]) && p.pktLen == len[i]);
    const bool setPort = !rx && (flags[i] & TX_FLAG_SET_PORT);
    CHECK(p.port == (setPort ? static_cast<uint16_t>(flags[i] & 0xffff) : 0x7777));
  }
  for (uint32_t s = 0; s < cap; s++)
    if (!seen[s]) CHECK(table[s] == before[s]);

  // A ring that took only the first k: the rest go back to the table, the first k stay out.
  const uint32_t k = (mode >> 2) % (n + 1);
  restoreTaken(table.get(), burst.get(), taken.get(), k, n);
  for (uint32_t i = 0; i < n; i++) CHECK(table[slot[i]] == (i < k ? nullptr : before[slot[i]]));
  for (uint32_t s = 0; s < cap; s++)
    if (!seen[s]) CHECK(table[s] == before[s]);
  return 0;
}
