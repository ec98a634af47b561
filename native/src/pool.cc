// Packet mempools (created by the main thread) and cross-shard rings of mbuf pointers.
#include "common.h"
#include "global.h"
#include <rte_errno.h>
#include <rte_lcore.h>

namespace netstar {

static void requireEal(Napi::Env env) {
  if (!global().ealUp) fail(env, "ERR_EAL_STATE", "the EAL is not running; call eal.init first");
}

static void collectChunk(rte_mempool* mp, void* opaque, rte_mempool_memhdr* hdr, unsigned idx) {
  PoolEntry* p = static_cast<PoolEntry*>(opaque);
  if (p->nChunks >= MAX_CHUNKS) return;  // checked after iteration
  p->chunks[p->nChunks++] = Chunk{reinterpret_cast<uintptr_t>(hdr->addr), hdr->len};
}

// pool.create(name, {size, cacheSize, dataRoom}) -> pool index
static Napi::Value PoolCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireEal(env);
  std::string name = argString(info, 0, "pool name");
  Napi::Object o = argObject(info, 1, "pool options");
  uint32_t size = optU32(env, o, "size", 8191, 64, 1u << 24);
  uint32_t cache = optU32(env, o, "cacheSize", 256, 0, RTE_MEMPOOL_CACHE_MAX_SIZE);
  uint32_t dataRoom = optU32(env, o, "dataRoom", RTE_MBUF_DEFAULT_BUF_SIZE, RTE_PKTMBUF_HEADROOM + 64, 65535);
  if (cache > size / 2) fail(env, "ERR_INVALID_ARG", "cacheSize must be at most half the pool size");
  if (name.empty() || name.size() >= RTE_MEMPOOL_NAMESIZE) fail(env, "ERR_INVALID_ARG", "pool name must be 1..25 characters");
  Global& g = global();
  std::lock_guard<std::mutex> lock(g.mu);
  uint32_t n = g.nPools.load();
  if (n >= MAX_POOLS) fail(env, "ERR_POOL", "too many pools (at most 32)");
  for (uint32_t i = 0; i < n; i++)
    if (g.pools[i].name == name) fail(env, "ERR_POOL", "a pool named '" + name + "' already exists");
  rte_mempool* mp = rte_pktmbuf_pool_create(name.c_str(), size, cache, 0, static_cast<uint16_t>(dataRoom), static_cast<int>(rte_socket_id()));
  if (!mp) {
    int err = rte_errno;
    std::string msg = "cannot create pool '" + name + "' of " + std::to_string(size) + " mbufs: " + rte_strerror(err);
    if (err == ENOMEM) msg += " (give the EAL more memory: raise eal.memoryMb, or use hugepages)";
    fail(env, "ERR_POOL", msg);
  }
  PoolEntry& p = g.pools[n];
  p.mp = mp;
  p.nChunks = 0;
  p.dataRoom = static_cast<uint16_t>(dataRoom);
  p.name = name;
  rte_mempool_mem_iter(mp, collectChunk, &p);
  if (p.nChunks == 0 || p.nChunks > MAX_CHUNKS) {
    rte_mempool_free(mp);
    p.mp = nullptr;
    fail(env, "ERR_POOL", "pool memory is split into too many chunks");
  }
  g.nPools.store(n + 1, std::memory_order_release);
  return Napi::Number::New(env, n);
}

static PoolEntry& poolArg(const Napi::CallbackInfo& info, size_t i) {
  uint32_t id = argU32(info, i, "pool");
  if (id >= global().nPools.load()) fail(info.Env(), "ERR_INVALID_ARG", "no pool " + std::to_string(id));
  return global().pools[id];
}

static Napi::Value PoolInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PoolEntry& p = poolArg(info, 0);
  Napi::Object r = Napi::Object::New(env);
  r.Set("name", p.name);
  r.Set("size", Napi::Number::New(env, p.mp->size));
  r.Set("cacheSize", Napi::Number::New(env, p.mp->cache_size));
  r.Set("dataRoom", Napi::Number::New(env, p.dataRoom));
  r.Set("headroom", Napi::Number::New(env, RTE_PKTMBUF_HEADROOM));
  r.Set("chunks", Napi::Number::New(env, p.nChunks));
  r.Set("inUse", Napi::Number::New(env, rte_mempool_in_use_count(p.mp)));
  r.Set("available", Napi::Number::New(env, rte_mempool_avail_count(p.mp)));
  return r;
}

static Napi::Value PoolInUse(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), rte_mempool_in_use_count(poolArg(info, 0).mp));
}

static Napi::Value PoolCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), global().nPools.load());
}

// ring.create(name, size) -> ring index. Single producer, single consumer: one ring per ordered shard pair.
static Napi::Value RingCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireEal(env);
  std::string name = argString(info, 0, "ring name");
  uint32_t size = argU32(info, 1, "ring size");
  if (size < 2 || size > (1u << 20) || (size & (size - 1)))
    fail(env, "ERR_INVALID_ARG", "ring size must be a power of two in [2, 2^20]");
  if (name.empty() || name.size() >= RTE_RING_NAMESIZE) fail(env, "ERR_INVALID_ARG", "bad ring name");
  Global& g = global();
  std::lock_guard<std::mutex> lock(g.mu);
  uint32_t n = g.nRings.load();
  if (n >= MAX_RINGS) fail(env, "ERR_RING", "too many rings");
  rte_ring* r = rte_ring_create(name.c_str(), size, static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!r) fail(env, "ERR_RING", std::string("cannot create ring '") + name + "': " + rte_strerror(rte_errno));
  g.rings[n] = r;
  g.nRings.store(n + 1, std::memory_order_release);
  return Napi::Number::New(env, n);
}

static Napi::Value RingCount(const Napi::CallbackInfo& info) {
  uint32_t id = argU32(info, 0, "ring");
  if (id >= global().nRings.load()) fail(info.Env(), "ERR_INVALID_ARG", "no ring " + std::to_string(id));
  return Napi::Number::New(info.Env(), rte_ring_count(global().rings[id]));
}

void initPool(Napi::Env env, Napi::Object exports) {
  Napi::Object pool = Napi::Object::New(env);
  pool.Set("create", Napi::Function::New(env, PoolCreate));
  pool.Set("info", Napi::Function::New(env, PoolInfo));
  pool.Set("inUse", Napi::Function::New(env, PoolInUse));
  pool.Set("count", Napi::Function::New(env, PoolCount));
  exports.Set("pool", pool);
  Napi::Object ring = Napi::Object::New(env);
  ring.Set("create", Napi::Function::New(env, RingCreate));
  ring.Set("count", Napi::Function::New(env, RingCount));
  exports.Set("ring", ring);
}

}  // namespace netstar
