// Argument readers for the N-API entry points. The TypeScript layer validates first; these checks
// are the last line, so a wrong call from JS can only ever produce a JS error.
#pragma once
#include <napi.h>
#include <string>
#include "../core/error.h"
#include "../core/types.h"

namespace ck {

inline double arg_num(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw Error("ERR_ARG", std::string(name) + " must be a number", ErrorKind::Type);
  return info[i].As<Napi::Number>().DoubleValue();
}
inline int64_t arg_int(const Napi::CallbackInfo& info, size_t i, const char* name) {
  double d = arg_num(info, i, name);
  if (d != (double)(int64_t)d) throw Error("ERR_ARG", std::string(name) + " must be an integer", ErrorKind::Type);
  return (int64_t)d;
}
inline DType arg_dtype(const Napi::CallbackInfo& info, size_t i) {
  int64_t d = arg_int(info, i, "dtype");
  if (d != 0 && d != 1) throw Error("ERR_ARG", "unknown dtype code " + std::to_string(d), ErrorKind::Range);
  return (DType)d;
}
// A layout travels as one JS array: [ndim, offset, shape..., strides...].
inline Layout arg_layout(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsArray())
    throw Error("ERR_ARG", std::string(name) + " layout must be an array", ErrorKind::Type);
  Napi::Array a = info[i].As<Napi::Array>();
  Layout l{};
  auto get = [&](uint32_t k) -> int64_t {
    Napi::Value v = a.Get(k);
    if (!v.IsNumber()) throw Error("ERR_ARG", std::string(name) + " layout holds a non-number", ErrorKind::Type);
    return (int64_t)v.As<Napi::Number>().DoubleValue();
  };
  if (a.Length() < 2) throw Error("ERR_ARG", std::string(name) + " layout too short", ErrorKind::Range);
  int64_t nd = get(0);
  if (nd < 0 || nd > kMaxDims || a.Length() != (uint32_t)(2 + 2 * nd))
    throw Error("ERR_SHAPE", std::string(name) + ": at most 8 dimensions are supported", ErrorKind::Range);
  l.ndim = (int32_t)nd;
  l.offset = get(1);
  for (int d = 0; d < nd; ++d) {
    l.shape[d] = get(2 + d);
    l.strides[d] = get(2 + nd + d);
    if (l.shape[d] < 0) throw Error("ERR_SHAPE", std::string(name) + " has a negative size", ErrorKind::Range);
  }
  return l;
}

// The furthest element (in elements) a layout can touch, to check it stays inside its storage.
inline void check_layout_bounds(const Layout& l, int64_t storage_bytes, const char* name) {
  int64_t lo = l.offset, hi = l.offset;
  for (int d = 0; d < l.ndim; ++d) {
    if (l.shape[d] == 0) return;
    int64_t span = (l.shape[d] - 1) * l.strides[d];
    if (span < 0) lo += span; else hi += span;
  }
  if (lo < 0 || (hi + 1) * 4 > storage_bytes)
    throw Error("ERR_SHAPE", std::string(name) + ": view reaches outside its storage", ErrorKind::Range);
}

}  // namespace ck
