// libFuzzer target (clang, ASan + UBSan): the native offload executor's parse, flow-table lookup and rewrite
// (native/src/offload.h) on hostile frames. The packet sits in a buffer of exactly its length, so any read
// past it is an ASan report. The input's first 40 bytes pick the entry (flags, epoch, out index, rewrite
// values) and the port checks; the rest is the frame. The frame's own key is put in the flow table, so the
// lookup hits and the entry checks and the rewrite run.
#include "../native/src/offload.h"

#include <cstdlib>
#include <memory>
#include <vector>

using namespace netstar;

namespace {
struct Fixture {
  std::unique_ptr<Offload> off{new Offload()};
  uint32_t table[4 * 16] = {};
  int32_t entries[2 * 2 * OFF_STRIDE] = {};
  double counts[256] = {};
  int32_t ctl[2] = {1, 0};
  double stats[64] = {};
  Fixture() {
    off->on = true;
    off->table = table;
    off->mask = 15;
    off->entries = entries;
    off->capacity = 2;
    off->counts = counts;
    off->ctl = ctl;
    off->stats = stats;
    off->statsWords = 64;
    off->out[0] = OffloadOut{0, 0, -1};
  }
};

uint32_t word(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  constexpr size_t CFG = 40;
  if (size < CFG) return 0;
  const uint8_t* cfg = data;
  const size_t len = size - CFG;
  if (len > 9000) return 0;
  // The frame in its own heap block of exactly `len` bytes (a zero-length frame gets a one-byte block).
  std::unique_ptr<uint8_t[]> pkt(new uint8_t[len ? len : 1]);
  std::memcpy(pkt.get(), data + CFG, len);
  rte_mbuf m;
  std::memset(&m, 0, sizeof m);
  m.buf_addr = pkt.get();
  m.data_off = 0;
  m.data_len = static_cast<uint16_t>(len);
  m.pkt_len = static_cast<uint32_t>(len);
  m.buf_len = static_cast<uint16_t>(len);
  m.nb_segs = 1;
  rte_mbuf* burst[1] = {&m};

  Offload& off = *fx.off;
  OffloadRxPort& rp = off.rx[0];
  rp.checkMac = cfg[0] & 1;
  rp.verifyIp = cfg[0] & 2;
  rp.verifyL4 = cfg[0] & 4;
  std::memcpy(rp.mac, cfg + 1, 6);
  std::memset(fx.table, 0, sizeof fx.table);
  std::memset(fx.entries, 0, sizeof fx.entries);

  off.seq++;
  off.prepare(burst, 1, 0);
  const OffloadPre& q = off.pre[0];
  if (q.v != -1 || q.proto != 0) {
    // Parsed: make the frame's key present (flow 0, key slot from the input) and fill the entry it may match.
    uint32_t slot = q.slot & 15;
    uint32_t* k = fx.table + slot * 4;
    k[0] = q.lo; k[1] = q.hi; k[2] = q.kports; k[3] = (q.proto << 24) | ((cfg[7] & 1) + 1);
    int32_t* e = fx.entries + (cfg[8] & 1) * OFF_STRIDE;
    e[W_FLAGS] = static_cast<int32_t>((q.proto << 8) | (cfg[9] & 0x3f) | F_VALID);
    e[W_EPOCH] = (cfg[10] & 1) ? fx.ctl[0] : 0;
    e[W_OUT] = static_cast<int32_t>(cfg[11] & 0x1f);  // 16..31 are out of range on purpose
    e[W_TAG] = cfg[12];
    e[W_OSRC] = static_cast<int32_t>(q.src);
    e[W_ODST] = static_cast<int32_t>(q.dst);
    e[W_OPORTS] = static_cast<int32_t>(q.ports);
    e[W_NSRC] = static_cast<int32_t>(word(cfg + 13));
    e[W_NDST] = static_cast<int32_t>(word(cfg + 17));
    e[W_NPORTS] = static_cast<int32_t>(word(cfg + 21));
    e[W_DIP] = static_cast<int32_t>(word(cfg + 25) & 0x3ffff);
    e[W_DL4] = static_cast<int32_t>(word(cfg + 29) & 0x3ffff);
    e[W_DMAC_HI] = static_cast<int32_t>(word(cfg + 33) & 0xffff);
    e[W_DMAC_LO] = static_cast<int32_t>(word(cfg + 35));
    off.seq++;
    off.prepare(burst, 1, 0);
    int32_t o = off.handle(&m, 0, 0);
    if (o >= 0 && static_cast<uint32_t>(o) >= OFF_MAX_OUT) std::abort();  // an out index the executor may not use
  }
  return 0;
}
