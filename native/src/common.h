// Shared helpers for the native layer: typed JS errors and argument checks.
#pragma once
#include <napi.h>
#include <string>
#include <cstdint>
#include "layout.h"

namespace netstar {

// Every error that crosses into JS carries a stable `code` the TS layer maps to a typed error.
inline Napi::Error makeError(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

[[noreturn]] inline void fail(Napi::Env env, const char* code, const std::string& msg) {
  throw makeError(env, code, msg);
}

inline uint32_t argU32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber())
    fail(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 4294967295.0 || d != static_cast<double>(static_cast<uint32_t>(d)))
    fail(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be an integer in [0, 2^32)");
  return static_cast<uint32_t>(d);
}

inline Napi::Uint32Array argU32Array(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    fail(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be a Uint32Array");
  return info[i].As<Napi::Uint32Array>();
}

inline std::string argString(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    fail(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline Napi::Object argObject(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsObject())
    fail(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be an object");
  return info[i].As<Napi::Object>();
}

// Optional integer property of a config object, range-checked.
inline uint32_t optU32(Napi::Env env, Napi::Object o, const char* key, uint32_t dflt, uint32_t lo, uint32_t hi) {
  if (!o.Has(key)) return dflt;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) fail(env, "ERR_INVALID_ARG", std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != static_cast<double>(static_cast<uint32_t>(d)))
    fail(env, "ERR_INVALID_ARG", std::string(key) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<uint32_t>(d);
}

inline bool optBool(Napi::Env env, Napi::Object o, const char* key, bool dflt) {
  if (!o.Has(key)) return dflt;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) fail(env, "ERR_INVALID_ARG", std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

}  // namespace netstar
