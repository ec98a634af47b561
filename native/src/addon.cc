// Module entry: registers the native surface declared in native/index.ts and exports `layout`, the C++
// definitions of every layout shared with TS (layout.h), which native/index.ts checks at load.
#include "common.h"
#include "global.h"
#include "layout.h"

namespace netstar {

static Napi::Object words(Napi::Env env, std::initializer_list<std::pair<const char*, double>> kv) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [k, v] : kv) o.Set(k, Napi::Number::New(env, v));
  return o;
}

static Napi::Value FlowHash(const Napi::CallbackInfo& info) {
  uint32_t proto = argU32(info, 0, "proto"), lo = argU32(info, 1, "lo"), hi = argU32(info, 2, "hi"), ports = argU32(info, 3, "ports");
  return Napi::Number::New(info.Env(), flowHome(proto, lo, hi, ports));
}

// Field names match native/layout.ts LAYOUT exactly: the load-time check walks that object.
static Napi::Object layoutObject(Napi::Env env) {
  Napi::Object l = Napi::Object::New(env);
  l.Set("rxDesc", words(env, {{"words", RX_DESC_WORDS}, {"slot", RXD_SLOT}, {"chunk", RXD_CHUNK}, {"bufOffset", RXD_BUF_OFFSET},
                              {"dataOff", RXD_DATA_OFF}, {"dataLen", RXD_DATA_LEN}, {"port", RXD_PORT}, {"queue", RXD_QUEUE},
                              {"rss", RXD_RSS}, {"olFlags", RXD_OL_FLAGS}, {"ptype", RXD_PTYPE}}));
  l.Set("txDesc", words(env, {{"words", TX_DESC_WORDS}, {"slot", TXD_SLOT}, {"dataOff", TXD_DATA_OFF}, {"dataLen", TXD_DATA_LEN},
                              {"flags", TXD_FLAGS}, {"flagSetPort", TX_FLAG_SET_PORT}}));
  l.Set("burst", words(env, {{"max", MAX_BURST}, {"noQueue", NO_QUEUE}}));
  l.Set("fast", words(env, {{"paramWords", FAST_PARAM_WORDS}, {"regionWords", FAST_REGION_WORDS}, {"port", FP_PORT}, {"queue", FP_QUEUE},
                            {"count", FP_COUNT}, {"region", FP_REGION}, {"retries", FP_RETRIES}, {"handled", FP_HANDLED},
                            {"rxDropped", FP_RX_DROPPED}, {"ringFree", FP_RING_FREE}, {"ringCap", FP_RING_CAP}}));
  l.Set("portStats", words(env, {{"words", PORT_STATS_WORDS}, {"rx", P_RX}, {"tx", P_TX}, {"txDropped", P_TXDROPPED},
                                 {"dropped", P_DROPPED}, {"rxBytes", P_RXBYTES}, {"txBytes", P_TXBYTES}}));
  l.Set("offloadEntry", words(env, {{"stride", OFF_STRIDE}, {"maxOut", OFF_MAX_OUT}, {"counts", OFF_COUNTS}, {"flags", W_FLAGS},
                                    {"epoch", W_EPOCH}, {"out", W_OUT}, {"tag", W_TAG}, {"osrc", W_OSRC}, {"odst", W_ODST},
                                    {"oports", W_OPORTS}, {"nsrc", W_NSRC}, {"ndst", W_NDST}, {"nports", W_NPORTS}, {"dIp", W_DIP},
                                    {"dL4", W_DL4}, {"dmacHi", W_DMAC_HI}, {"dmacLo", W_DMAC_LO}, {"smacHi", W_SMAC_HI},
                                    {"smacLo", W_SMAC_LO}, {"npkts", W_NPKTS}, {"nbytes", W_NBYTES}, {"nlast", W_NLAST}, {"mark", W_MARK}}));
  l.Set("offloadFlags", words(env, {{"valid", F_VALID}, {"ttl", F_TTL}, {"macs", F_MACS}, {"ports", F_PORTS}, {"addrs", F_ADDRS},
                                    {"native", F_NATIVE}, {"protoShift", F_PROTO_SHIFT}}));
  l.Set("offloadCtl", words(env, {{"epoch", C_EPOCH}, {"clock", C_CLOCK}}));
  l.Set("flowTable", words(env, {{"slotWords", FT_SLOT_WORDS}, {"lo", FT_LO}, {"hi", FT_HI}, {"ports", FT_PORTS}, {"meta", FT_META},
                                 {"protoShift", FT_PROTO_SHIFT}, {"valueMask", FT_VALUE_MASK}}));
  l.Set("flowHash", Napi::Function::New(env, FlowHash, "flowHash"));
  return l;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  initEal(env, exports);
  initPool(env, exports);
  initPort(env, exports);
  initLcore(env, exports);
  initMemory(env, exports);
  exports.Set("layout", layoutObject(env));
  initFlow(env, exports);
  exports.Set("RX_DESC_WORDS", Napi::Number::New(env, RX_DESC_WORDS));
  exports.Set("TX_DESC_WORDS", Napi::Number::New(env, TX_DESC_WORDS));
  return exports;
}
}  // namespace netstar

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return netstar::Init(env, exports); }
NODE_API_MODULE(netstar, InitModule)
