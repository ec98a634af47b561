// Hardware steering rules through rte_flow: "IPv4/UDP with this destination port -> RX queue". Validate
// first (most virtual devices have no rte_flow and answer ENOTSUP: the TS layer then steers in software),
// create, destroy, flush. Rules are named by a handle; the table here owns every rte_flow pointer.
#include "common.h"
#include "global.h"
#include <rte_flow.h>
#include <rte_errno.h>
#include <map>
#include <mutex>

namespace netstar {

struct FlowEntry { uint16_t port; rte_flow* flow; };
static std::mutex g_flowLock;
static std::map<uint32_t, FlowEntry> g_flows;
static uint32_t g_nextFlow = 1;

static uint16_t flowPortArg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!global().ealUp) fail(env, "ERR_EAL_STATE", "the EAL is not running; call eal.init first");
  uint32_t id = argU32(info, 0, "port");
  if (id >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(static_cast<uint16_t>(id)))
    fail(env, "ERR_PORT", "no port " + std::to_string(id));
  return static_cast<uint16_t>(id);
}

static std::string flowErrorText(int rc, const rte_flow_error& e) {
  std::string s = rte_strerror(-rc);
  if (e.message) s += std::string(" (") + e.message + ")";
  return s;
}

// udpToQueue(port, udpDstPort, queue, create): validates the rule; with create, installs it and returns a
// handle. Throws ERR_FLOW_UNSUPPORTED when the device refuses the rule, ERR_FLOW when creation fails.
static Napi::Value FlowUdpToQueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = flowPortArg(info);
  uint32_t dst = argU32(info, 1, "udp port");
  uint32_t queue = argU32(info, 2, "queue");
  bool create = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  if (dst < 1 || dst > 65535) fail(env, "ERR_INVALID_ARG", "udp port must be in 1..65535");
  if (queue > 0xffff) fail(env, "ERR_INVALID_ARG", "queue must be < 65536");

  rte_flow_attr attr{};
  attr.ingress = 1;
  rte_flow_item_udp udpSpec{}, udpMask{};
  udpSpec.hdr.dst_port = rte_cpu_to_be_16(static_cast<uint16_t>(dst));
  udpMask.hdr.dst_port = 0xffff;
  rte_flow_item pattern[4]{};
  pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
  pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
  pattern[2].type = RTE_FLOW_ITEM_TYPE_UDP;
  pattern[2].spec = &udpSpec;
  pattern[2].mask = &udpMask;
  pattern[3].type = RTE_FLOW_ITEM_TYPE_END;
  rte_flow_action_queue q{};
  q.index = static_cast<uint16_t>(queue);
  rte_flow_action actions[2]{};
  actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
  actions[0].conf = &q;
  actions[1].type = RTE_FLOW_ACTION_TYPE_END;

  rte_flow_error err{};
  int rc = rte_flow_validate(port, &attr, pattern, actions, &err);
  if (rc != 0) fail(env, "ERR_FLOW_UNSUPPORTED", "rte_flow_validate: " + flowErrorText(rc, err));
  if (!create) return Napi::Number::New(env, 0);
  err = rte_flow_error{};
  rte_flow* f = rte_flow_create(port, &attr, pattern, actions, &err);
  if (f == nullptr) fail(env, "ERR_FLOW", "rte_flow_create: " + flowErrorText(-rte_errno, err));
  std::lock_guard<std::mutex> g(g_flowLock);
  uint32_t h = g_nextFlow++;
  g_flows[h] = FlowEntry{port, f};
  return Napi::Number::New(env, h);
}

static Napi::Value FlowDestroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t h = argU32(info, 0, "flow handle");
  FlowEntry e{};
  {
    std::lock_guard<std::mutex> g(g_flowLock);
    auto it = g_flows.find(h);
    if (it == g_flows.end()) fail(env, "ERR_FLOW", "no flow rule " + std::to_string(h));
    e = it->second;
    g_flows.erase(it);
  }
  rte_flow_error err{};
  int rc = rte_flow_destroy(e.port, e.flow, &err);
  if (rc != 0) fail(env, "ERR_FLOW", "rte_flow_destroy: " + flowErrorText(rc, err));
  return env.Undefined();
}

// flush(port): removes every rule on the port (ours and any other) and forgets our handles for it.
static Napi::Value FlowFlush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = flowPortArg(info);
  {
    std::lock_guard<std::mutex> g(g_flowLock);
    for (auto it = g_flows.begin(); it != g_flows.end();) it = it->second.port == port ? g_flows.erase(it) : std::next(it);
  }
  rte_flow_error err{};
  int rc = rte_flow_flush(port, &err);
  if (rc != 0 && rc != -ENOSYS && rc != -ENOTSUP) fail(env, "ERR_FLOW", "rte_flow_flush: " + flowErrorText(rc, err));
  return env.Undefined();
}

void initFlow(Napi::Env env, Napi::Object exports) {
  Napi::Object f = Napi::Object::New(env);
  f.Set("udpToQueue", Napi::Function::New(env, FlowUdpToQueue));
  f.Set("destroy", Napi::Function::New(env, FlowDestroy));
  f.Set("flush", Napi::Function::New(env, FlowFlush));
  exports.Set("flow", f);
}

}  // namespace netstar
