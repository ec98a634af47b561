// Process-wide native state: EAL status, the pool and ring registries, per-port queue counts.
// Written only by the main thread before shards start; read lock-free by shards on hot paths.
#pragma once
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace netstar {

constexpr uint32_t MAX_POOLS = 32;
constexpr uint32_t MAX_RINGS = 1024;
constexpr uint32_t MAX_CHUNKS = 64;

struct Chunk {
  uintptr_t addr;
  size_t len;
};

struct PoolEntry {
  rte_mempool* mp = nullptr;
  uint32_t nChunks = 0;
  Chunk chunks[MAX_CHUNKS];
  uint16_t dataRoom = 0;
  std::string name;
};

struct PortState {
  std::atomic<uint16_t> rxQueues{0};
  std::atomic<uint16_t> txQueues{0};
  std::atomic<bool> started{false};
  int32_t pool = -1;
};

struct Global {
  std::mutex mu;
  std::atomic<bool> ealUp{false};
  std::atomic<uint32_t> nPools{0};
  PoolEntry pools[MAX_POOLS];
  std::atomic<uint32_t> nRings{0};
  rte_ring* rings[MAX_RINGS] = {};
  PortState ports[RTE_MAX_ETHPORTS];
};

// One instance for the process; an inline variable so hot paths pay no function-local-static guard.
inline Global g_global;
inline Global& global() { return g_global; }

// Finds the pool index of an mempool pointer, or -1 when the mbuf came from a pool we did not create.
inline int32_t poolIndexOf(const rte_mempool* mp) {
  Global& g = global();
  uint32_t n = g.nPools.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; i++)
    if (g.pools[i].mp == mp) return static_cast<int32_t>(i);
  return -1;
}

// Finds the chunk holding a buffer address; -1 when none does.
inline int32_t chunkIndexOf(const PoolEntry& p, uintptr_t addr, size_t len) {
  for (uint32_t i = 0; i < p.nChunks; i++) {
    const Chunk& c = p.chunks[i];
    if (addr >= c.addr && addr + len <= c.addr + c.len) return static_cast<int32_t>(i);
  }
  return -1;
}

void initEal(Napi::Env env, Napi::Object exports);
void initPort(Napi::Env env, Napi::Object exports);
void initPool(Napi::Env env, Napi::Object exports);
void initMemory(Napi::Env env, Napi::Object exports);
void initFlow(Napi::Env env, Napi::Object exports);
Napi::Object initLcore(Napi::Env env, Napi::Object exports);

}  // namespace netstar
