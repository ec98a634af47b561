// Per-worker DPDK context: thread registration and pinning, the table of mbufs held by JS (slots),
// zero-copy views of pool memory, and the burst calls (RX, TX, free, alloc, copy, cross-shard rings).
// JS never sees a pointer: it names packets by slot, and every slot, offset and length it passes back
// is checked against the real mbuf before native code touches memory.
#include "common.h"
#include "global.h"
#include "desc_check.h"
#include "offload.h"
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_prefetch.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <cstring>
#include <memory>
#include <cmath>

namespace netstar {


class Lcore;
// Per-environment (per worker) state: the Lcore the fast calls act on.
struct EnvData {
  Lcore* active = nullptr;
};

class Lcore : public Napi::ObjectWrap<Lcore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Lcore", {
      InstanceMethod<&Lcore::Rx>("rx"),
      InstanceMethod<&Lcore::Tx>("tx"),
      InstanceMethod<&Lcore::TxRx>("txRx"),
      InstanceMethod<&Lcore::Free>("free"),
      InstanceMethod<&Lcore::Alloc>("alloc"),
      InstanceMethod<&Lcore::Copy>("copy"),
      InstanceMethod<&Lcore::RingPut>("ringPut"),
      InstanceMethod<&Lcore::RingGet>("ringGet"),
      InstanceMethod<&Lcore::Chunks>("chunks"),
      InstanceMethod<&Lcore::Held>("held"),
      InstanceMethod<&Lcore::Stats>("stats"),
      InstanceMethod<&Lcore::Pin>("pin"),
      InstanceMethod<&Lcore::Close>("close"),
      InstanceMethod<&Lcore::FastArea>("fastArea"),
      InstanceMethod<&Lcore::OffloadAttach>("offloadAttach"),
      InstanceMethod<&Lcore::OffloadDetach>("offloadDetach"),
      InstanceAccessor<&Lcore::LcoreId>("lcoreId"),
      InstanceAccessor<&Lcore::Capacity>("capacity"),
    });
  }

  explicit Lcore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Lcore>(info) {
    Napi::Env env = info.Env();
    if (!global().ealUp) fail(env, "ERR_EAL_STATE", "the EAL is not running; start it on the main thread first");
    uint32_t cap = 4096;
    if (info.Length() > 0 && info[0].IsObject()) cap = optU32(env, info[0].As<Napi::Object>(), "capacity", 4096, 64, 1u << 20);
    if (rte_lcore_id() == LCORE_ID_ANY) {
      if (rte_thread_register() != 0)
        fail(env, "ERR_LCORE", std::string("cannot register this thread with DPDK: ") + rte_strerror(rte_errno) +
                                   " (RTE_MAX_LCORE reached?)");
      registered_ = true;
    }
    lcoreId_ = rte_lcore_id();
    table_.assign(cap, nullptr);
    free_.resize(cap);
    for (uint32_t i = 0; i < cap; i++) free_[i] = cap - 1 - i;  // pop gives slot 0 first
    nfree_ = cap;
    owner_ = pthread_self();
    envData_ = env.GetInstanceData<EnvData>();
  }

  ~Lcore() override { release(); }

 private:
  std::vector<rte_mbuf*> table_;
  std::vector<uint32_t> free_;
  uint32_t nfree_ = 0;
  bool registered_ = false;
  bool closed_ = false;
  unsigned lcoreId_ = LCORE_ID_ANY;
  pthread_t owner_;
  EnvData* envData_ = nullptr;
  rte_mbuf* burst_[MAX_BURST];
  uint32_t taken_[MAX_BURST];
  const rte_mempool* lastMp_ = nullptr;
  int32_t lastPool_ = -1;
  int32_t lastChunk_ = -1;
  uintptr_t lastChunkLo_ = 0, lastChunkHi_ = 0;
  std::vector<Napi::Reference<Napi::Array>> chunkRefs_;
  std::unique_ptr<Offload> off_;
 public:
  /** packets the offload executor handled in the last rxInto (they are not in its descriptors) */
  uint32_t lastHandled_ = 0;
  /** packets the last rxInto received and freed itself (empty, chained, or from a pool we did not map) */
  uint32_t lastRxDropped_ = 0;
  /** after a ring put: the ring's free slots and capacity (read by the fast path into params) */
  uint32_t lastRingFree_ = 0, lastRingCap_ = 0;
 private:
  std::vector<Napi::Reference<Napi::Value>> offRefs_;
  struct {
    uint64_t rxPackets = 0, rxBursts = 0, rxMultiseg = 0, rxForeign = 0, rxEmpty = 0;
    uint64_t txPackets = 0, txDropped = 0, freed = 0, allocated = 0, allocFailed = 0, copied = 0;
    uint64_t ringPut = 0, ringGet = 0, ringFull = 0;
  } st_;

  void release() {
    if (closed_) return;
    closed_ = true;
    off_.reset();
    if (envData_ && envData_->active == this) envData_->active = nullptr;
    for (auto& m : table_)
      if (m) {
        rte_pktmbuf_free(m);
        m = nullptr;
      }
    nfree_ = 0;
    if (registered_ && pthread_equal(owner_, pthread_self())) rte_thread_unregister();
    registered_ = false;
  }

  void live(Napi::Env env) {
    if (closed_) fail(env, "ERR_LCORE_CLOSED", "this Lcore is closed");
  }

  uint32_t put(rte_mbuf* m) {
    uint32_t s = free_[--nfree_];
    table_[s] = m;
    return s;
  }

  // Fills one RX descriptor; false when the mbuf's memory is not in a pool we mapped.
  bool describe(uint32_t* d, uint32_t slot, rte_mbuf* m, uint32_t port, uint32_t queue) {
    int32_t pool;
    if (m->pool == lastMp_) {
      pool = lastPool_;
    } else {
      pool = poolIndexOf(m->pool);
      if (pool < 0) return false;
      lastMp_ = m->pool;
      lastPool_ = pool;
      lastChunkLo_ = lastChunkHi_ = 0;
    }
    const PoolEntry& p = global().pools[pool];
    uintptr_t buf = reinterpret_cast<uintptr_t>(m->buf_addr);
    int32_t chunk;
    if (pool == lastPool_ && buf >= lastChunkLo_ && buf + m->buf_len <= lastChunkHi_) {
      chunk = lastChunk_;
    } else {
      chunk = chunkIndexOf(p, buf, m->buf_len);
      if (chunk < 0) return false;
      lastChunk_ = chunk;
      lastChunkLo_ = p.chunks[chunk].addr;
      lastChunkHi_ = p.chunks[chunk].addr + p.chunks[chunk].len;
    }
    d[RXD_SLOT] = slot;
    d[RXD_CHUNK] = (static_cast<uint32_t>(pool) << 16) | static_cast<uint32_t>(chunk);
    d[RXD_BUF_OFFSET] = static_cast<uint32_t>(buf - p.chunks[chunk].addr);
    d[RXD_DATA_OFF] = m->data_off;
    d[RXD_DATA_LEN] = m->data_len;
    d[RXD_PORT] = port;
    d[RXD_QUEUE] = queue;
    d[RXD_RSS] = m->hash.rss;
    d[RXD_OL_FLAGS] = static_cast<uint32_t>(m->ol_flags);
    d[RXD_PTYPE] = m->packet_type;
    return true;
  }

  void checkPort(Napi::Env env, uint32_t port, uint32_t queue, bool rx) {
    if (port >= RTE_MAX_ETHPORTS) fail(env, "ERR_INVALID_ARG", "no port " + std::to_string(port));
    const PortState& ps = global().ports[port];
    uint32_t nq = rx ? ps.rxQueues.load(std::memory_order_relaxed) : ps.txQueues.load(std::memory_order_relaxed);
    if (!ps.started.load(std::memory_order_acquire)) fail(env, "ERR_PORT_STATE", "port " + std::to_string(port) + " is not started");
    if (queue >= nq)
      fail(env, "ERR_INVALID_ARG", std::string(rx ? "RX" : "TX") + " queue " + std::to_string(queue) + " does not exist on port " + std::to_string(port));
  }

  // Takes n packets named by descriptors (TX layout: slot, dataOff, dataLen, flags; or the RX layout) out of
  // the table into burst_, applying offset and length. All or nothing: on a bad descriptor the table is restored
  // and no mbuf is modified. The checks are desc_check.h's (fuzzed by fuzz/desc_fuzz.cc).
  void takeForSend(Napi::Env env, const uint32_t* t, uint32_t n, const DescLayout& layout = TX_LAYOUT) {
    DescResult r = takeDescriptors(table_.data(), static_cast<uint32_t>(table_.size()), t, n, layout, burst_, taken_,
        [](const rte_mbuf* m) -> uint32_t { return m->buf_len; },
        [](rte_mbuf* m, uint32_t dOff, uint32_t dLen, uint32_t flags) {
          m->data_off = static_cast<uint16_t>(dOff);
          m->data_len = static_cast<uint16_t>(dLen);
          m->pkt_len = dLen;
          // TX-layout flags word: bit 16 asks to record the egress port (low 16 bits) in the mbuf, for
          // packets handed through a ring to the shard that owns the port's TX queue.
          if (flags & TX_FLAG_SET_PORT) m->port = static_cast<uint16_t>(flags & 0xffff);
          m->ol_flags = 0;
        });
    if (!r.ok()) fail(env, "ERR_BAD_PACKET", sendFaultMessage(r));
  }

  void giveBackSlots(uint32_t n) {
    for (uint32_t i = 0; i < n; i++) free_[nfree_++] = taken_[i];
  }

  uint32_t txCount(const Napi::CallbackInfo& info, size_t argIdx, const Napi::Uint32Array& a) {
    uint32_t n = argU32(info, argIdx, "count");
    if (n > MAX_BURST) fail(info.Env(), "ERR_INVALID_ARG", "count must be at most " + std::to_string(MAX_BURST));
    if (static_cast<size_t>(n) * TX_DESC_WORDS > a.ElementLength()) fail(info.Env(), "ERR_INVALID_ARG", "descriptor array too short for count");
    return n;
  }

 public:
  // Receives into d (room for max descriptors); the shared body of rx() and the fast path.
  uint32_t rxInto(Napi::Env env, uint32_t port, uint32_t queue, uint32_t* d, uint32_t max) {
    live(env);
    checkPort(env, port, queue, true);
    max = std::min<uint32_t>({max, nfree_, MAX_BURST});
    lastHandled_ = lastRxDropped_ = 0;
    if (max == 0) return 0;
    uint16_t n = rte_eth_rx_burst(static_cast<uint16_t>(port), static_cast<uint16_t>(queue), burst_, static_cast<uint16_t>(max));
    uint32_t out = 0;
    // Locals for the free-slot stack: stores into mbufs could alias `this`, which would make the compiler
    // reload the members on every packet.
    uint32_t* freeStack = free_.data();
    rte_mbuf** table = table_.data();
    uint32_t nfree = nfree_;
    for (uint16_t i = 0; i < n && i < 4; i++) rte_prefetch0(burst_[i]);
    uint32_t dropped = 0;
    Offload* off = off_ && off_->on && off_->rx[port].on ? off_.get() : nullptr;
    if (off != nullptr) {
      if (++off->seq == 0) off->seq = 1;
      off->prepare(burst_, n, static_cast<uint16_t>(port));
    }
    const uint64_t handledBefore = off != nullptr ? off->handled : 0;
    for (uint16_t i = 0; i < n; i++) {
      rte_mbuf* m = burst_[i];
      if (i + 4 < n) rte_prefetch0(burst_[i + 4]);
      // Chained buffers are not exposed to JS, nor empty frames (net_pcap makes them from oversized records;
      // no header to read and nothing to send): count and drop.
      if (m->nb_segs != 1 || m->data_len == 0) {
        if (m->nb_segs != 1) st_.rxMultiseg++;
        else st_.rxEmpty++;
        rte_pktmbuf_free(m);
        dropped++;
        continue;
      }
      if (off != nullptr) {
        int32_t o = off->handle(m, i, static_cast<uint16_t>(port));
        if (o >= 0) {
          off->queueTx(static_cast<uint32_t>(o), m);
          continue;
        }
      }
      if (m->port != port) m->port = static_cast<uint16_t>(port);
      uint32_t slot = freeStack[--nfree];
      table[slot] = m;
      if (!describe(d + out * RX_DESC_WORDS, slot, m, port, queue)) {
        table[slot] = nullptr;
        freeStack[nfree++] = slot;
        rte_pktmbuf_free(m);
        st_.rxForeign++;
        dropped++;
        continue;
      }
      out++;
    }
    nfree_ = nfree;
    lastRxDropped_ = dropped;
    if (off != nullptr) {
      off->flushTx();
      lastHandled_ = static_cast<uint32_t>(off->handled - handledBefore);
      // The port's RX count (JS counts the packets it gets; these it never sees).
      const int32_t sb = off->rx[port].statsBase;
      if (lastHandled_ != 0 && sb >= 0) off->stats[sb + P_RX] += lastHandled_;
    } else {
      lastHandled_ = 0;
    }
    st_.rxPackets += out;
    if (n) st_.rxBursts++;
    return out;
  }

  // offloadAttach({ table, mask, entries, capacity, counts, ctl, stats, rx: [{ port, verifyIp, verifyL4, mac,
  // statsBase }], out: [{ index, port, queue, statsBase }] }): executes offloaded flow entries during RX (see
  // offload.h). The typed arrays are kept alive by this Lcore until offloadDetach() or close().
  Napi::Value OffloadAttach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    if (info.Length() < 1 || !info[0].IsObject()) fail(env, "ERR_INVALID_ARG", "offloadAttach needs an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    // Built aside and swapped in only when every argument checked: a failed attach leaves a running
    // executor and the memory it reads untouched.
    std::vector<Napi::Reference<Napi::Value>> refs;
    auto typed = [&](const char* key, napi_typedarray_type type, size_t minElems) -> void* {
      Napi::Value v = o.Get(key);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
        fail(env, "ERR_INVALID_ARG", std::string("offloadAttach: ") + key + " must be a typed array of the right type");
      Napi::TypedArray ta = v.As<Napi::TypedArray>();
      if (ta.ElementLength() < minElems) fail(env, "ERR_INVALID_ARG", std::string("offloadAttach: ") + key + " is too short");
      void* data = nullptr;
      size_t length = 0;
      napi_value ab;
      size_t byteOffset = 0;
      napi_typedarray_type t;
      if (napi_get_typedarray_info(env, ta, &t, &length, &data, &ab, &byteOffset) != napi_ok || data == nullptr)
        fail(env, "ERR_INVALID_ARG", std::string("offloadAttach: cannot map ") + key);
      refs.emplace_back(Napi::Persistent(v));
      return data;
    };
    auto num = [&](const Napi::Object& obj, const char* key) -> double {
      Napi::Value v = obj.Get(key);
      if (!v.IsNumber()) fail(env, "ERR_INVALID_ARG", std::string("offloadAttach: ") + key + " must be a number");
      return v.As<Napi::Number>().DoubleValue();
    };
    auto off = std::make_unique<Offload>();
    double mask = num(o, "mask"), capacity = num(o, "capacity");
    // The table has a power-of-two number of slots (mask + 1); flow values are 24 bits.
    if (!(mask >= 15) || mask >= 4294967295.0 || mask != std::floor(mask) ||
        (static_cast<uint64_t>(mask) & (static_cast<uint64_t>(mask) + 1)) != 0 || !(capacity >= 1) || capacity > (1 << 24) ||
        capacity != std::floor(capacity))
      fail(env, "ERR_INVALID_ARG", "offloadAttach: bad mask or capacity");
    off->mask = static_cast<uint32_t>(mask);
    off->capacity = static_cast<uint32_t>(capacity);
    off->table = static_cast<const uint32_t*>(typed("table", napi_uint32_array, (static_cast<size_t>(off->mask) + 1) * FT_SLOT_WORDS));
    off->entries = static_cast<int32_t*>(typed("entries", napi_int32_array, static_cast<size_t>(off->capacity) * 2 * OFF_STRIDE));
    off->counts = static_cast<double*>(typed("counts", napi_float64_array, OFF_COUNTS));
    off->ctl = static_cast<const int32_t*>(typed("ctl", napi_int32_array, 2));
    Napi::Value sv = o.Get("stats");
    off->stats = static_cast<double*>(typed("stats", napi_float64_array, 1));
    off->statsWords = static_cast<uint32_t>(sv.As<Napi::TypedArray>().ElementLength());
    auto base = [&](const Napi::Object& obj) -> int32_t {
      double b = num(obj, "statsBase");
      if (b < 0) return -1;
      if (b + PORT_STATS_WORDS > off->statsWords) fail(env, "ERR_INVALID_ARG", "offloadAttach: statsBase outside stats");
      return static_cast<int32_t>(b);
    };
    Napi::Value rxv = o.Get("rx"), outv = o.Get("out");
    if (!rxv.IsArray() || !outv.IsArray()) fail(env, "ERR_INVALID_ARG", "offloadAttach: rx and out must be arrays");
    Napi::Array rxa = rxv.As<Napi::Array>(), outa = outv.As<Napi::Array>();
    for (uint32_t i = 0; i < rxa.Length(); i++) {
      Napi::Object r = rxa.Get(i).As<Napi::Object>();
      double port = num(r, "port");
      if (!(port >= 0) || port >= RTE_MAX_ETHPORTS) fail(env, "ERR_INVALID_ARG", "offloadAttach: bad rx port");
      OffloadRxPort& rp = off->rx[static_cast<uint32_t>(port)];
      rp.on = true;
      rp.verifyIp = r.Get("verifyIp").ToBoolean();
      rp.verifyL4 = r.Get("verifyL4").ToBoolean();
      double mac = num(r, "mac");
      rp.checkMac = mac >= 0;
      if (rp.checkMac) {
        uint64_t mv = static_cast<uint64_t>(mac);
        for (int b = 0; b < 6; b++) rp.mac[b] = static_cast<uint8_t>(mv >> (8 * (5 - b)));
      }
      rp.statsBase = base(r);
    }
    for (uint32_t i = 0; i < outa.Length(); i++) {
      Napi::Object r = outa.Get(i).As<Napi::Object>();
      double idx = num(r, "index"), port = num(r, "port"), queue = num(r, "queue");
      if (!(idx >= 0) || idx >= OFF_MAX_OUT) fail(env, "ERR_INVALID_ARG", "offloadAttach: out index must be below 16");
      if (!(port >= 0) || port >= RTE_MAX_ETHPORTS) fail(env, "ERR_INVALID_ARG", "offloadAttach: bad out port");
      OffloadOut& oo = off->out[static_cast<uint32_t>(idx)];
      oo.port = static_cast<int32_t>(port);
      oo.queue = queue >= 0 ? static_cast<int32_t>(queue) : -1;
      if (oo.queue >= 0) checkPort(env, static_cast<uint32_t>(port), static_cast<uint32_t>(queue), false);
      oo.statsBase = base(r);
    }
    off->on = true;
    off_ = std::move(off);
    offRefs_ = std::move(refs);
    return env.Undefined();
  }

  Napi::Value OffloadDetach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object r = Napi::Object::New(env);
    r.Set("handled", Napi::Number::New(env, off_ ? static_cast<double>(off_->handled) : 0));
    r.Set("txDropped", Napi::Number::New(env, off_ ? static_cast<double>(off_->txDropped) : 0));
    off_.reset();
    offRefs_.clear();
    return r;
  }

  uint32_t txFrom(Napi::Env env, uint32_t port, uint32_t queue, const uint32_t* t, uint32_t n, uint32_t retries, bool rxLayout) {
    live(env);
    checkPort(env, port, queue, false);
    if (n > MAX_BURST) fail(env, "ERR_INVALID_ARG", "count must be at most " + std::to_string(MAX_BURST));
    if (n == 0) return 0;
    if (rxLayout) takeForSend(env, t, n, RX_LAYOUT);
    else takeForSend(env, t, n);
    return sendBurst(static_cast<uint16_t>(port), static_cast<uint16_t>(queue), n, retries);
  }

  void freeSlots(Napi::Env env, const uint32_t* p, uint32_t n) {
    live(env);
    if (n > MAX_BURST) fail(env, "ERR_INVALID_ARG", "count must be at most " + std::to_string(MAX_BURST));
    DescResult r = takeSlots(table_.data(), static_cast<uint32_t>(table_.size()), p, n, burst_, taken_);
    if (!r.ok()) fail(env, "ERR_BAD_PACKET", freeFaultMessage(r));
    rte_pktmbuf_free_bulk(burst_, n);
    giveBackSlots(n);
    st_.freed += n;
  }

  uint32_t ringPutFrom(Napi::Env env, uint32_t ring, const uint32_t* t, uint32_t n, bool rxLayout = false) {
    live(env);
    rte_ring* r = ringById(env, ring);
    if (n > MAX_BURST) fail(env, "ERR_INVALID_ARG", "count must be at most " + std::to_string(MAX_BURST));
    lastRingCap_ = rte_ring_get_capacity(r);
    if (n == 0) {
      lastRingFree_ = rte_ring_free_count(r);
      return 0;
    }
    if (rxLayout) takeForSend(env, t, n, RX_LAYOUT);
    else takeForSend(env, t, n);
    unsigned int freeSpace = 0;
    uint32_t k = rte_ring_enqueue_burst(r, reinterpret_cast<void* const*>(burst_), n, &freeSpace);
    lastRingFree_ = freeSpace;
    for (uint32_t i = 0; i < k; i++) free_[nfree_++] = taken_[i];
    restoreTaken(table_.data(), burst_, taken_, k, n);  // JS still owns these
    st_.ringPut += k;
    if (k < n) st_.ringFull += n - k;
    return k;
  }

  uint32_t ringGetInto(Napi::Env env, uint32_t ring, uint32_t* d, uint32_t max) {
    live(env);
    rte_ring* r = ringById(env, ring);
    max = std::min<uint32_t>({max, nfree_, MAX_BURST});
    if (max == 0) return 0;
    uint32_t n = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(burst_), max, nullptr);
    for (uint32_t i = 0; i < n; i++) describe(d + i * RX_DESC_WORDS, put(burst_[i]), burst_[i], burst_[i]->port, NO_QUEUE);
    st_.ringGet += n;
    return n;
  }

  // Dequeues up to max mbufs from a ring and frees them here (returned buffers, or draining at stop).
  uint32_t ringDrain(Napi::Env env, uint32_t ring, uint32_t max) {
    live(env);
    rte_ring* r = ringById(env, ring);
    uint32_t total = 0;
    while (total < max) {
      uint32_t n = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(burst_), std::min<uint32_t>(MAX_BURST, max - total), nullptr);
      if (n == 0) break;
      rte_pktmbuf_free_bulk(burst_, n);
      total += n;
    }
    st_.freed += total;
    return total;
  }

  // The fast-path area: PARAM_WORDS of parameters, then `regions_` descriptor regions of REGION_WORDS.
  static constexpr uint32_t PARAM_WORDS = FAST_PARAM_WORDS;
  static constexpr uint32_t REGION_WORDS = FAST_REGION_WORDS;
  std::shared_ptr<std::vector<uint32_t>> area_;
  uint32_t regions_ = 0;
  uint32_t* params() { return area_->data(); }
  uint32_t* region(Napi::Env env, uint32_t r) {
    if (r >= regions_) fail(env, "ERR_INVALID_ARG", "no descriptor region " + std::to_string(r));
    return area_->data() + PARAM_WORDS + static_cast<size_t>(r) * REGION_WORDS;
  }

 private:
  rte_ring* ringById(Napi::Env env, uint32_t id) {
    if (id >= global().nRings.load(std::memory_order_acquire)) fail(env, "ERR_INVALID_ARG", "no ring " + std::to_string(id));
    return global().rings[id];
  }

  // rx(port, queue, desc, max) -> number of packets described
  Napi::Value Rx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t port = argU32(info, 0, "port"), queue = argU32(info, 1, "queue");
    Napi::Uint32Array desc = argU32Array(info, 2, "descriptors");
    uint32_t max = argU32(info, 3, "max");
    max = std::min<uint32_t>(max, static_cast<uint32_t>(desc.ElementLength() / RX_DESC_WORDS));
    return Napi::Number::New(env, rxInto(env, port, queue, desc.Data(), max));
  }

  // fastArea(regions) -> ArrayBuffer: [params(16 words) | regions x 512 descriptors]; makes this Lcore the
  // thread's target for the zero-argument fast calls.
  Napi::Value FastArea(const Napi::CallbackInfo& info);

  uint32_t sendBurst(uint16_t port, uint16_t queue, uint32_t n, uint32_t retries) {
    uint32_t sent = 0;
    for (uint32_t attempt = 0; sent < n && attempt <= retries; attempt++)
      sent += rte_eth_tx_burst(port, queue, burst_ + sent, static_cast<uint16_t>(n - sent));
    if (sent < n) {
      rte_pktmbuf_free_bulk(burst_ + sent, n - sent);
      st_.txDropped += n - sent;
    }
    st_.txPackets += sent;
    giveBackSlots(n);
    return sent;
  }

  // tx(port, queue, txDesc, count[, retries]) -> packets the device took; the rest are freed and counted.
  Napi::Value Tx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t port = argU32(info, 0, "port"), queue = argU32(info, 1, "queue");
    Napi::Uint32Array t = argU32Array(info, 2, "descriptors");
    uint32_t n = txCount(info, 3, t);
    uint32_t retries = info.Length() > 4 ? argU32(info, 4, "retries") : 4;
    return Napi::Number::New(env, txFrom(env, port, queue, t.Data(), n, retries, false));
  }

  // txRx(port, queue, rxDesc, count[, retries]): transmits packets named by RX descriptors (slot, dataOff and
  // dataLen words), so a forwarder sends a received burst without writing TX descriptors.
  Napi::Value TxRx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t port = argU32(info, 0, "port"), queue = argU32(info, 1, "queue");
    Napi::Uint32Array t = argU32Array(info, 2, "descriptors");
    uint32_t n = argU32(info, 3, "count");
    if (n > MAX_BURST) fail(env, "ERR_INVALID_ARG", "count must be at most " + std::to_string(MAX_BURST));
    if (static_cast<size_t>(n) * RX_DESC_WORDS > t.ElementLength()) fail(env, "ERR_INVALID_ARG", "descriptor array too short for count");
    uint32_t retries = info.Length() > 4 ? argU32(info, 4, "retries") : 4;
    return Napi::Number::New(env, txFrom(env, port, queue, t.Data(), n, retries, true));
  }

  // free(slots, count): slots is a plain list of slot numbers here.
  Napi::Value Free(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Uint32Array s = argU32Array(info, 0, "slots");
    uint32_t n = argU32(info, 1, "count");
    if (n > s.ElementLength()) fail(env, "ERR_INVALID_ARG", "count exceeds the slot array");
    freeSlots(env, s.Data(), n);
    return env.Undefined();
  }

  // alloc(pool, desc, count) -> count or 0 (all or nothing, counted when the pool is empty)
  Napi::Value Alloc(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    uint32_t pool = argU32(info, 0, "pool");
    Napi::Uint32Array desc = argU32Array(info, 1, "descriptors");
    uint32_t n = argU32(info, 2, "count");
    if (pool >= global().nPools.load()) fail(env, "ERR_INVALID_ARG", "no pool " + std::to_string(pool));
    if (n > MAX_BURST || static_cast<size_t>(n) * RX_DESC_WORDS > desc.ElementLength())
      fail(env, "ERR_INVALID_ARG", "count exceeds the descriptor array or the burst limit");
    if (n == 0) return Napi::Number::New(env, 0);
    if (n > nfree_) {
      st_.allocFailed += n;
      return Napi::Number::New(env, 0);
    }
    if (rte_pktmbuf_alloc_bulk(global().pools[pool].mp, burst_, n) != 0) {
      st_.allocFailed += n;
      return Napi::Number::New(env, 0);
    }
    uint32_t* d = desc.Data();
    for (uint32_t i = 0; i < n; i++) {
      uint32_t slot = put(burst_[i]);
      describe(d + i * RX_DESC_WORDS, slot, burst_[i], NO_QUEUE, NO_QUEUE);
    }
    st_.allocated += n;
    return Napi::Number::New(env, n);
  }

  // copy(slot, dataOff, dataLen, desc, index) -> true, or false when the pool is empty
  Napi::Value Copy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    uint32_t slot = argU32(info, 0, "slot"), off = argU32(info, 1, "dataOff"), len = argU32(info, 2, "dataLen");
    Napi::Uint32Array desc = argU32Array(info, 3, "descriptors");
    uint32_t idx = argU32(info, 4, "index");
    if (slot >= table_.size() || !table_[slot]) fail(env, "ERR_BAD_PACKET", "slot " + std::to_string(slot) + " is not a held packet");
    rte_mbuf* m = table_[slot];
    if (!rangeInBuffer(off, len, m->buf_len)) fail(env, "ERR_BAD_PACKET", descFaultText(DescFault::OutsideBuffer));
    if (static_cast<size_t>(idx + 1) * RX_DESC_WORDS > desc.ElementLength()) fail(env, "ERR_INVALID_ARG", "descriptor index out of range");
    if (nfree_ == 0) {
      st_.allocFailed++;
      return Napi::Boolean::New(env, false);
    }
    rte_mbuf* c = rte_pktmbuf_alloc(m->pool);
    if (!c) {
      st_.allocFailed++;
      return Napi::Boolean::New(env, false);
    }
    memcpy(static_cast<char*>(c->buf_addr) + off, static_cast<char*>(m->buf_addr) + off, len);
    c->data_off = static_cast<uint16_t>(off);
    c->data_len = static_cast<uint16_t>(len);
    c->pkt_len = len;
    c->port = m->port;
    c->hash.rss = m->hash.rss;
    c->ol_flags = m->ol_flags & RTE_MBUF_F_RX_RSS_HASH;
    c->packet_type = m->packet_type;
    uint32_t s = put(c);
    describe(desc.Data() + idx * RX_DESC_WORDS, s, c, c->port, NO_QUEUE);
    st_.copied++;
    return Napi::Boolean::New(env, true);
  }

  // ringPut(ring, txDesc, count) -> packets enqueued; the others stay held by JS (its policy: drop or retry).
  Napi::Value RingPut(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t ring = argU32(info, 0, "ring");
    Napi::Uint32Array t = argU32Array(info, 1, "descriptors");
    uint32_t n = txCount(info, 2, t);
    return Napi::Number::New(env, ringPutFrom(env, ring, t.Data(), n));
  }

  // ringGet(ring, desc, max) -> packets dequeued and described (port from the mbuf, queue 0xffff)
  Napi::Value RingGet(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t ring = argU32(info, 0, "ring");
    Napi::Uint32Array desc = argU32Array(info, 1, "descriptors");
    uint32_t max = std::min<uint32_t>(argU32(info, 2, "max"), static_cast<uint32_t>(desc.ElementLength() / RX_DESC_WORDS));
    return Napi::Number::New(env, ringGetInto(env, ring, desc.Data(), max));
  }

  // chunks(pool) -> ArrayBuffer[] over the pool's memory, made once per worker and cached.
  Napi::Value Chunks(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    uint32_t pool = argU32(info, 0, "pool");
    if (pool >= global().nPools.load()) fail(env, "ERR_INVALID_ARG", "no pool " + std::to_string(pool));
    if (chunkRefs_.size() <= pool) chunkRefs_.resize(pool + 1);
    if (!chunkRefs_[pool].IsEmpty()) return chunkRefs_[pool].Value();
    const PoolEntry& p = global().pools[pool];
    Napi::Array arr = Napi::Array::New(env, p.nChunks);
    for (uint32_t i = 0; i < p.nChunks; i++)
      arr.Set(i, Napi::ArrayBuffer::New(env, reinterpret_cast<void*>(p.chunks[i].addr), p.chunks[i].len));
    chunkRefs_[pool] = Napi::Persistent(arr);
    return arr;
  }

  Napi::Value Held(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), closed_ ? 0 : table_.size() - nfree_);
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object r = Napi::Object::New(env);
    auto set = [&](const char* k, uint64_t v) { r.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
    set("rxPackets", st_.rxPackets);
    set("rxBursts", st_.rxBursts);
    set("rxMultiseg", st_.rxMultiseg);
    set("rxForeign", st_.rxForeign);
    set("rxEmpty", st_.rxEmpty);
    set("txPackets", st_.txPackets);
    set("txDropped", st_.txDropped);
    set("freed", st_.freed);
    set("allocated", st_.allocated);
    set("allocFailed", st_.allocFailed);
    set("copied", st_.copied);
    set("ringPut", st_.ringPut);
    set("ringGet", st_.ringGet);
    set("ringFull", st_.ringFull);
    set("held", closed_ ? 0 : table_.size() - nfree_);
    return r;
  }

  Napi::Value Pin(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t cpu = argU32(info, 0, "cpu");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpu >= CPU_SETSIZE || (ncpu > 0 && cpu >= static_cast<uint32_t>(ncpu)))
      fail(env, "ERR_INVALID_ARG", "cpu " + std::to_string(cpu) + " does not exist (this machine has " + std::to_string(ncpu) + ")");
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc != 0) fail(env, "ERR_LCORE", std::string("cannot pin to cpu ") + std::to_string(cpu) + ": " + strerror(rc));
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    uint32_t held = closed_ ? 0 : static_cast<uint32_t>(table_.size() - nfree_);
    release();
    return Napi::Number::New(info.Env(), held);
  }

  Napi::Value LcoreId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), lcoreId_); }
  Napi::Value Capacity(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), table_.size()); }
};

Napi::Value Lcore::FastArea(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  live(env);
  uint32_t regions = argU32(info, 0, "regions");
  if (regions < 1 || regions > 256) fail(env, "ERR_INVALID_ARG", "regions must be in [1, 256]");
  if (area_) fail(env, "ERR_LCORE", "fastArea was already made for this Lcore");
  // Native-owned memory: JS may drop or detach its view; the ArrayBuffer's finalizer and this Lcore each
  // hold a reference, so neither side can see freed memory.
  area_ = std::make_shared<std::vector<uint32_t>>(PARAM_WORDS + static_cast<size_t>(regions) * REGION_WORDS, 0u);
  regions_ = regions;
  auto* keep = new std::shared_ptr<std::vector<uint32_t>>(area_);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, area_->data(), area_->size() * sizeof(uint32_t),
      [](Napi::Env, void*, std::shared_ptr<std::vector<uint32_t>>* k) { delete k; }, keep);
  if (envData_) envData_->active = this;
  return ab;
}

// Zero-argument hot calls: arguments come from the params words of the fast area, so a call costs one
// N-API transition and nothing else. params: [0] port or ring, [1] queue, [2] count/max, [3] region,
// [4] retries.
template <uint32_t (*Body)(Napi::Env, Lcore*, uint32_t*)>
static napi_value fastCall(napi_env rawEnv, napi_callback_info) {
  Napi::Env env(rawEnv);
  try {
    EnvData* ed = env.GetInstanceData<EnvData>();
    Lcore* lc = ed ? ed->active : nullptr;
    if (!lc) fail(env, "ERR_LCORE_CLOSED", "no open Lcore with a fast area in this thread");
    uint32_t n = Body(env, lc, lc->params());
    napi_value r;
    napi_create_uint32(rawEnv, n, &r);
    return r;
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

// params[5] <- packets the offload executor handled in this call (work done, though none reach JS).
static uint32_t bodyRx(Napi::Env env, Lcore* lc, uint32_t* p) {
  uint32_t n = lc->rxInto(env, p[FP_PORT], p[FP_QUEUE], lc->region(env, p[FP_REGION]), p[FP_COUNT]);
  p[FP_HANDLED] = lc->lastHandled_;
  p[FP_RX_DROPPED] = lc->lastRxDropped_;
  return n;
}
static uint32_t bodyTx(Napi::Env env, Lcore* lc, uint32_t* p) { return lc->txFrom(env, p[FP_PORT], p[FP_QUEUE], lc->region(env, p[FP_REGION]), p[FP_COUNT], p[FP_RETRIES], false); }
static uint32_t bodyTxRx(Napi::Env env, Lcore* lc, uint32_t* p) { return lc->txFrom(env, p[FP_PORT], p[FP_QUEUE], lc->region(env, p[FP_REGION]), p[FP_COUNT], p[FP_RETRIES], true); }
static uint32_t bodyFree(Napi::Env env, Lcore* lc, uint32_t* p) { lc->freeSlots(env, lc->region(env, p[FP_REGION]), p[FP_COUNT]); return p[FP_COUNT]; }
// params[7], params[8] <- the ring's free slots after the put, and its capacity (a put of 0 only reads them).
static uint32_t bodyRingPut(Napi::Env env, Lcore* lc, uint32_t* p) {
  uint32_t k = lc->ringPutFrom(env, p[FP_PORT], lc->region(env, p[FP_REGION]), p[FP_COUNT]);
  p[FP_RING_FREE] = lc->lastRingFree_;
  p[FP_RING_CAP] = lc->lastRingCap_;
  return k;
}
static uint32_t bodyRingPutRx(Napi::Env env, Lcore* lc, uint32_t* p) {
  uint32_t k = lc->ringPutFrom(env, p[FP_PORT], lc->region(env, p[FP_REGION]), p[FP_COUNT], true);
  p[FP_RING_FREE] = lc->lastRingFree_;
  p[FP_RING_CAP] = lc->lastRingCap_;
  return k;
}
static uint32_t bodyRingGet(Napi::Env env, Lcore* lc, uint32_t* p) { return lc->ringGetInto(env, p[FP_PORT], lc->region(env, p[FP_REGION]), p[FP_COUNT]); }

static uint32_t bodyRingDrain(Napi::Env env, Lcore* lc, uint32_t* p) { return lc->ringDrain(env, p[FP_PORT], p[FP_COUNT]); }

static void addFast(Napi::Env env, Napi::Object o, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  o.Set(name, Napi::Value(env, fn));
}

Napi::Object initLcore(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<EnvData>(new EnvData());
  exports.Set("Lcore", Lcore::Define(env));
  Napi::Object fast = Napi::Object::New(env);
  addFast(env, fast, "rx", fastCall<bodyRx>);
  addFast(env, fast, "tx", fastCall<bodyTx>);
  addFast(env, fast, "txRx", fastCall<bodyTxRx>);
  addFast(env, fast, "free", fastCall<bodyFree>);
  addFast(env, fast, "ringPut", fastCall<bodyRingPut>);
  addFast(env, fast, "ringPutRx", fastCall<bodyRingPutRx>);
  addFast(env, fast, "ringGet", fastCall<bodyRingGet>);
  addFast(env, fast, "ringDrain", fastCall<bodyRingDrain>);
  exports.Set("fast", fast);
  exports.Set("FAST_PARAM_WORDS", Napi::Number::New(env, Lcore::PARAM_WORDS));
  exports.Set("FAST_REGION_WORDS", Napi::Number::New(env, Lcore::REGION_WORDS));
  return exports;
}

}  // namespace netstar
