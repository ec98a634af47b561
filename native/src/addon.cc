// Module entry: registers the native surface declared in native/index.ts.
#include "common.h"
#include "global.h"

namespace netstar {
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  initEal(env, exports);
  initPool(env, exports);
  initPort(env, exports);
  initLcore(env, exports);
  initMemory(env, exports);
  initFlow(env, exports);
  exports.Set("RX_DESC_WORDS", Napi::Number::New(env, RX_DESC_WORDS));
  exports.Set("TX_DESC_WORDS", Napi::Number::New(env, TX_DESC_WORDS));
  return exports;
}
}  // namespace netstar

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return netstar::Init(env, exports); }
NODE_API_MODULE(netstar, InitModule)
