// EAL start and stop. The main thread runs rte_eal_init once; its CPU affinity is restored afterwards so
// Node's own threads are not all pinned to the EAL main core.
#include "common.h"
#include "global.h"
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_version.h>
#include <rte_cycles.h>
#include <pthread.h>
#include <sched.h>

namespace netstar {


static std::vector<std::string>& ealArgs() {
  static std::vector<std::string> args;  // EAL may keep pointers into argv; keep the strings alive.
  return args;
}

static Napi::Value EalInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Global& g = global();
  std::lock_guard<std::mutex> lock(g.mu);
  if (g.ealUp) fail(env, "ERR_EAL_STATE", "the EAL is already running in this process (one EAL per process)");
  if (info.Length() < 1 || !info[0].IsArray()) fail(env, "ERR_INVALID_ARG", "eal.init takes an array of EAL arguments");
  Napi::Array a = info[0].As<Napi::Array>();
  auto& args = ealArgs();
  args.clear();
  args.emplace_back("netstar");
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsString()) fail(env, "ERR_INVALID_ARG", "EAL arguments must be strings");
    args.push_back(v.As<Napi::String>().Utf8Value());
  }
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);

  cpu_set_t saved;
  CPU_ZERO(&saved);
  bool haveSaved = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
  int rc = rte_eal_init(static_cast<int>(argv.size() - 1), argv.data());
  if (haveSaved) pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
  if (rc < 0) {
    int err = rte_errno;
    std::string msg = std::string("EAL init failed: ") + rte_strerror(err);
    if (err == EALREADY) msg += " (the EAL cannot start twice in one process)";
    Napi::Error e = makeError(env, "ERR_EAL_INIT", msg);
    e.Set("errno", Napi::Number::New(env, err));
    throw e;
  }
  g.ealUp = true;
  Napi::Object r = Napi::Object::New(env);
  r.Set("mainLcore", Napi::Number::New(env, rte_get_main_lcore()));
  r.Set("socket", Napi::Number::New(env, rte_socket_id()));
  r.Set("ports", Napi::Number::New(env, rte_eth_dev_count_avail()));
  return r;
}

static Napi::Value EalCleanup(const Napi::CallbackInfo& info) {
  Global& g = global();
  std::lock_guard<std::mutex> lock(g.mu);
  if (!g.ealUp) return info.Env().Undefined();
  rte_eal_cleanup();
  g.ealUp = false;
  return info.Env().Undefined();
}

static Napi::Value EalRunning(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), global().ealUp.load());
}

static Napi::Value TscHz(const Napi::CallbackInfo& info) {
  if (!global().ealUp) fail(info.Env(), "ERR_EAL_STATE", "the EAL is not running");
  return Napi::Number::New(info.Env(), static_cast<double>(rte_get_tsc_hz()));
}

static Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), rte_version());
}

void initEal(Napi::Env env, Napi::Object exports) {
  Napi::Object eal = Napi::Object::New(env);
  eal.Set("init", Napi::Function::New(env, EalInit));
  eal.Set("cleanup", Napi::Function::New(env, EalCleanup));
  eal.Set("running", Napi::Function::New(env, EalRunning));
  eal.Set("version", Napi::Function::New(env, Version));
  eal.Set("tscHz", Napi::Function::New(env, TscHz));
  exports.Set("eal", eal);
}

}  // namespace netstar
