// The one set of argument readers for every N-API entry point (csrc/binding/*.cc), in the manner of sharp's
// src/common.h: numbers, integers and booleans read positionally or by name with one vocabulary of errors;
// tensor operands read from objects; and CK_DISPATCH, the one CPU/CUDA dispatch. lib/binding.ts types
// every entry point and lib/ validates first; these checks are the last line, so a wrong call from JS can
// only ever produce a coded JS error.
//
// Operands travel as objects: a contiguous run { storage, offset } (offset in elements), a strided view
// { storage, layout } (lib/binding.ts's Layout: [ndim, offset, shape..., strides...]), or null where a
// kernel takes an optional tensor. Each entry point gathers its operands through one Operands, which
// checks every size against its storage and that all operands share a device, naming the one that differs.
#pragma once
#include <napi.h>
#include <string>
#include <utility>
#include "../core/error.h"
#include "../core/types.h"
#include "storage.h"
#ifdef CK_HAVE_CUDA
#include "../core/kernels_cuda.h"
#endif

namespace ck {

// Runs cpu_call on the host or cuda_call on the device's stream (named `stream` inside cuda_call).
#ifdef CK_HAVE_CUDA
#define CK_DISPATCH(dev, cpu_call, cuda_call)                                                                      \
  do {                                                                                                             \
    if ((dev) < 0) { cpu_call; }                                                                                   \
    else { ::ck::cuda::set_device(dev); auto stream = ::ck::cuda::default_stream(); (void)stream; cuda_call; }     \
  } while (0)
#else
#define CK_DISPATCH(dev, cpu_call, cuda_call)                                                                      \
  do {                                                                                                             \
    if ((dev) < 0) { cpu_call; }                                                                                   \
    else { throw ::ck::Error("ERR_DEVICE", "this convkit binary was built without CUDA"); }                        \
  } while (0)
#endif

// An entry point whose whole body is: read its (params, operands) into `a` (an expression of info, giving a
// struct with a .device), then kernel##_cpu(args...) on the host or cuda::kernel##_cuda(args..., stream) on
// the device (CK_DISPATCH). The args name fields of a.
#define CK_KERNEL_ENTRY(Fn, read, kernel, ...)                                                      \
  Napi::Value Fn(const Napi::CallbackInfo& info) {                                                \
    const auto a = read;                                                                          \
    CK_DISPATCH(a.device, kernel##_cpu(__VA_ARGS__), ::ck::cuda::kernel##_cuda(__VA_ARGS__, stream)); \
    return info.Env().Undefined();                                                                \
  }

// Runs call when this binary has CUDA and a device is present; otherwise nothing (the device-wide runtime
// calls that are no-ops without a GPU: synchronize, emptyCache).
#ifdef CK_HAVE_CUDA
#define CK_IF_CUDA_AVAILABLE(call) \
  do {                             \
    if (::ck::cuda::is_available()) call; \
  } while (0)
#else
#define CK_IF_CUDA_AVAILABLE(call) \
  do {                             \
  } while (0)
#endif

inline bool is_nullish(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }

// What an argument is called in an error: a string, or a function that composes it, called only when an
// error is thrown (these readers run on every call; the names are for the rare wrong one).
inline std::string name_of(const std::string& s) { return s; }
inline std::string name_of(const char* s) { return s; }
template <class F, class = decltype(std::declval<F>()())>
std::string name_of(const F& f) { return f(); }

template <class Name>
double as_number(const Napi::Value& v, const Name& what) {
  if (!v.IsNumber()) throw Error("ERR_ARG", name_of(what) + " must be a number", ErrorKind::Type);
  return v.As<Napi::Number>().DoubleValue();
}
// Rejects fractions, NaN and values beyond 2^53 alike (stride: 1.5 is an error, never truncated).
template <class Name>
int64_t as_int(const Napi::Value& v, const Name& what) {
  const double d = as_number(v, what);
  if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != (double)(int64_t)d)
    throw Error("ERR_ARG", name_of(what) + " must be an integer, got " + std::to_string(d), ErrorKind::Type);
  return (int64_t)d;
}
template <class Name>
bool as_bool(const Napi::Value& v, const Name& what) {
  if (!v.IsBoolean()) throw Error("ERR_ARG", name_of(what) + " must be a boolean", ErrorKind::Type);
  return v.As<Napi::Boolean>().Value();
}

inline Napi::Value arg(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() ? info[i] : info.Env().Undefined(); }
inline double arg_num(const Napi::CallbackInfo& info, size_t i, const char* name) { return as_number(arg(info, i), name); }
inline int64_t arg_int(const Napi::CallbackInfo& info, size_t i, const char* name) { return as_int(arg(info, i), name); }
inline bool arg_bool(const Napi::CallbackInfo& info, size_t i, const char* name) { return as_bool(arg(info, i), name); }
inline std::string arg_str(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = arg(info, i);
  if (!v.IsString()) throw Error("ERR_ARG", std::string(name) + " must be a string", ErrorKind::Type);
  return v.As<Napi::String>().Utf8Value();
}
inline DType arg_dtype(const Napi::CallbackInfo& info, size_t i) {
  int64_t d = arg_int(info, i, "dtype");
  if (d != 0 && d != 1) throw Error("ERR_ARG", "unknown dtype code " + std::to_string(d), ErrorKind::Range);
  return (DType)d;
}

// An options object read by property name (sharp's AttrAsInt32(options, "width")): `what` names it in errors.
class Fields {
 public:
  Fields(const Napi::Value& v, std::string what) : what_(std::move(what)) {
    if (!v.IsObject()) throw Error("ERR_ARG", what_ + " must be an object", ErrorKind::Type);
    o_ = v.As<Napi::Object>();
  }
  Fields(const Napi::CallbackInfo& info, size_t i, std::string what) : Fields(arg(info, i), std::move(what)) {}
  Napi::Value get(const char* key) const { return o_.Get(key); }
  double num(const char* key) const { return as_number(o_.Get(key), [&] { return at(key); }); }
  int64_t i64(const char* key) const { return as_int(o_.Get(key), [&] { return at(key); }); }
  bool flag(const char* key) const { return as_bool(o_.Get(key), [&] { return at(key); }); }
  std::string at(const char* key) const { return what_ + "." + key; }
  const std::string& what() const { return what_; }

 private:
  Napi::Object o_;
  std::string what_;
};

// A layout array [ndim, offset, shape..., strides...] (lib/binding.ts's Layout).
inline Layout as_layout(const Napi::Value& v, const std::string& name) {
  auto what = [&] { return name + " layout"; };
  if (!v.IsArray()) throw Error("ERR_ARG", name + " layout must be an array", ErrorKind::Type);
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() < 2) throw Error("ERR_ARG", name + " layout too short", ErrorKind::Range);
  Layout l{};
  const int64_t nd = as_int(a.Get(0u), what);
  if (nd < 0 || nd > kMaxDims || a.Length() != (uint32_t)(2 + 2 * nd))
    throw Error("ERR_SHAPE", name + ": at most 8 dimensions are supported", ErrorKind::Range);
  l.ndim = (int32_t)nd;
  l.offset = as_int(a.Get(1u), what);
  for (int d = 0; d < nd; ++d) {
    l.shape[d] = as_int(a.Get((uint32_t)(2 + d)), what);
    l.strides[d] = as_int(a.Get((uint32_t)(2 + nd + d)), what);
    if (l.shape[d] < 0) throw Error("ERR_SHAPE", name + " has a negative size", ErrorKind::Range);
  }
  return l;
}

inline int64_t layout_numel(const Layout& l) {
  int64_t n = 1;
  for (int d = 0; d < l.ndim; ++d) n *= l.shape[d];
  return n;
}

// Throws unless every element a layout can touch lies inside a storage of storage_bytes (4-byte elements).
inline void check_layout_bounds(const Layout& l, int64_t storage_bytes, const std::string& name) {
  int64_t lo = l.offset, hi = l.offset;
  for (int d = 0; d < l.ndim; ++d) {
    if (l.shape[d] == 0) return;
    int64_t span = (l.shape[d] - 1) * l.strides[d];
    if (span < 0) lo += span; else hi += span;
  }
  if (lo < 0 || (hi + 1) * 4 > storage_bytes)
    throw Error("ERR_SHAPE", name + ": view reaches outside its storage", ErrorKind::Range);
}

inline std::string device_name(int device) { return device < 0 ? "cpu" : "cuda:" + std::to_string(device); }

// The operands of one call: each read once, checked against its storage, all on one device.
class Operands {
 public:
  explicit Operands(std::string op) : op_(std::move(op)) {}

  // The storage of operand `v`, on the same device as the operands read before it.
  Storage* storage(const Napi::Value& v, const std::string& name) {
    if (!v.IsObject()) throw Error("ERR_ARG", op_ + ": " + name + " must be a tensor operand object", ErrorKind::Type);
    Storage* s;
    try {
      s = Storage::From(v.As<Napi::Object>().Get("storage"), "");
    } catch (const Error& e) {  // name the operand only when it is wrong
      throw Error(e.code, op_ + ": " + name + e.what(), e.kind);
    }
    if (device_ == kNone) {
      device_ = s->device();
      first_ = name;
    } else if (device_ != s->device()) {
      throw Error("ERR_DEVICE", op_ + ": " + name + " is on " + device_name(s->device()) + " but " + first_ + " is on " +
                                    device_name(device_));
    }
    return s;
  }
  // A contiguous run { storage, offset } of at least `elems` 4-byte elements; null gives nullptr if optional.
  void* run(const Napi::Value& v, int64_t elems, const std::string& name, bool optional = false) {
    if (optional && is_nullish(v)) return nullptr;
    Storage* s = storage(v, name);
    const int64_t off = as_int(v.As<Napi::Object>().Get("offset"), [&] { return op_ + ": " + name + ".offset"; });
    if (off < 0 || elems < 0 || (off + elems) * 4 > s->bytes())
      throw Error("ERR_SHAPE", op_ + ": " + name + " is smaller than the op needs (" + std::to_string(elems) +
                                   " elements from offset " + std::to_string(off) + ", storage of " +
                                   std::to_string(s->bytes() / 4) + ")", ErrorKind::Range);
    return static_cast<uint8_t*>(s->data()) + off * 4;
  }
  float* f32(const Napi::Value& v, int64_t elems, const std::string& name, bool optional = false) {
    return static_cast<float*>(run(v, elems, name, optional));
  }
  int32_t* i32(const Napi::Value& v, int64_t elems, const std::string& name, bool optional = false) {
    return static_cast<int32_t*>(run(v, elems, name, optional));
  }
  // A strided view { storage, layout }, bounds-checked; returns the storage's base pointer.
  void* view(const Napi::Value& v, Layout& layout, const std::string& name) {
    Storage* s = storage(v, name);
    layout = as_layout(v.As<Napi::Object>().Get("layout"), name);
    check_layout_bounds(layout, s->bytes(), name);
    return s->data();
  }
  // The operands' device (-1 cpu, n cuda:n); with none read yet, `fallback`.
  int device(int fallback = -1) const { return device_ == kNone ? fallback : device_; }
  const std::string& op() const { return op_; }

 private:
  static constexpr int kNone = -2;
  std::string op_;
  std::string first_;
  int device_ = kNone;
};

// Operands named by the keys of one JS object ({ input, weight, bias, output } ...), as nn entry points take them.
class NamedOperands : public Operands {
 public:
  NamedOperands(const Napi::CallbackInfo& info, size_t i, std::string op) : Operands(std::move(op)) {
    Napi::Value v = arg(info, i);
    if (!v.IsObject()) throw Error("ERR_ARG", this->op() + ": operands must be an object", ErrorKind::Type);
    o_ = v.As<Napi::Object>();
  }
  void* run(const char* key, int64_t elems, bool optional = false) { return Operands::run(o_.Get(key), elems, key, optional); }
  float* f32(const char* key, int64_t elems, bool optional = false) { return Operands::f32(o_.Get(key), elems, key, optional); }
  int32_t* i32(const char* key, int64_t elems) { return Operands::i32(o_.Get(key), elems, key); }
  void* view(const char* key, Layout& layout) { return Operands::view(o_.Get(key), layout, key); }

 private:
  Napi::Object o_;
};

}  // namespace ck
