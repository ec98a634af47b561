// Large tables for JS on transparent huge pages: an ArrayBuffer over an anonymous 2 MiB-aligned mapping
// advised MADV_HUGEPAGE. Flow tables are probed at random, one cache line per packet; on 4 KiB pages each
// probe is also a TLB miss (two-dimensional page walks in a VM). No DPDK involved: usable before or
// without the EAL, in any thread. Where THP is off ("never"), the memory is ordinary pages and
// `advised` says so.
#include "common.h"
#include "global.h"
#include <sys/mman.h>
#include <cerrno>
#include <cstring>

namespace netstar {

namespace {
constexpr size_t HUGE_2M = size_t{2} << 20;
// 1 GiB: far beyond any table a shard sizes at start; a bigger request is a configuration mistake.
constexpr double MAX_BYTES = 1024.0 * 1024 * 1024;

struct Mapping {
  void* base;
  size_t len;
};

Napi::Value HugeBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) fail(env, "ERR_INVALID_ARG", "bytes must be a number");
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 1) || d > MAX_BYTES || d != static_cast<double>(static_cast<size_t>(d)))
    fail(env, "ERR_INVALID_ARG", "bytes must be an integer in [1, 2^30]");
  size_t bytes = static_cast<size_t>(d);
  // Map one huge page more than needed so the usable part can start on a 2 MiB boundary.
  size_t rounded = (bytes + HUGE_2M - 1) & ~(HUGE_2M - 1);
  size_t len = rounded + HUGE_2M;
  void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) fail(env, "ERR_NOMEM", std::string("mmap of ") + std::to_string(len) + " bytes failed: " + strerror(errno));
  uintptr_t a = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (a + HUGE_2M - 1) & ~(uintptr_t{HUGE_2M} - 1);
  // Give back the unaligned head and the tail beyond the rounded size.
  if (aligned > a) munmap(raw, aligned - a);
  size_t tail = (a + len) - (aligned + rounded);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + rounded), tail);
  void* base = reinterpret_cast<void*>(aligned);
  bool advised = madvise(base, rounded, MADV_HUGEPAGE) == 0;
  // Fault the pages in now (zeroes, as the mapping already reads): with THP's defrag at its default
  // ("madvise"), advised faults are served with huge pages where memory allows, and the packet path
  // never takes a page fault later.
  std::memset(base, 0, rounded);
  auto* m = new Mapping{base, rounded};
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, base, bytes,
      [](Napi::Env, void*, Mapping* k) {
        munmap(k->base, k->len);
        delete k;
      }, m);
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", ab);
  out.Set("advised", Napi::Boolean::New(env, advised));
  return out;
}
}  // namespace

void initMemory(Napi::Env env, Napi::Object exports) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("hugeBuffer", Napi::Function::New(env, HugeBuffer, "hugeBuffer"));
  exports.Set("memory", o);
}

}  // namespace netstar
