// N-API entry points of the cuDNN path (csrc/cudnn/): cudnnInfo() says whether cuDNN loaded, which version
// and from where, or why not (every candidate tried); cudnnConv2d* take the arguments of nn_ops.cc's
// conv2d entry points and run them through cuDNN on a CUDA device; cudnnSetOptions sets benchmark and
// allowTF32. Compiles in every flavour: outside the real CUDA build cuDNN reports unavailable.
#include <napi.h>
#include <vector>
#include "../cudnn/conv.h"
#include "../cudnn/loader.h"
#include "args.h"
#include "errors.h"
#include "storage.h"

namespace ck {
namespace {

// (storage, element offset) pairs, all on one CUDA device; sizes checked against each storage.
class Operands {
 public:
  explicit Operands(const Napi::CallbackInfo& info) : info_(info) {}
  float* f(size_t i, int64_t elems, const char* name, bool optional = false) {
    if (optional && (info_[i].IsNull() || info_[i].IsUndefined())) return nullptr;
    Storage* s = Storage::From(info_[i], name);
    int64_t off = arg_int(info_, i + 1, name);
    if (off < 0 || (off + elems) * 4 > s->bytes())
      throw Error("ERR_SHAPE", std::string(name) + ": tensor smaller than the op needs", ErrorKind::Range);
    if (s->device() < 0) throw Error("ERR_DEVICE", std::string("cuDNN convolution: ") + name + " is not on a CUDA device");
    if (dev_ == -2) dev_ = s->device();
    else if (dev_ != s->device())
      throw Error("ERR_DEVICE", std::string(name) + " is on another device than the other operands");
    return (float*)((uint8_t*)s->data() + off * 4);
  }
  int device() const { return dev_; }

 private:
  const Napi::CallbackInfo& info_;
  int dev_ = -2;
};

// conv params: [N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups], as nn_ops.cc reads them
Conv2dParams read_params(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsArray()) throw Error("ERR_ARG", "conv params must be an array", ErrorKind::Type);
  Napi::Array a = info[0].As<Napi::Array>();
  if (a.Length() != 16) throw Error("ERR_ARG", "conv params has the wrong length", ErrorKind::Range);
  int64_t v[16];
  for (uint32_t k = 0; k < 16; ++k) {
    Napi::Value x = a.Get(k);
    if (!x.IsNumber()) throw Error("ERR_ARG", "conv params holds a non-number", ErrorKind::Type);
    v[k] = (int64_t)x.As<Napi::Number>().DoubleValue();
    if (v[k] < 0) throw Error("ERR_SHAPE", "conv2d: negative size or parameter", ErrorKind::Range);
  }
  Conv2dParams p{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]};
  if (p.groups < 1 || p.C % p.groups || p.O % p.groups || p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1)
    throw Error("ERR_SHAPE", "conv2d: invalid groups, stride or dilation", ErrorKind::Range);
  return p;
}

// Why cuDNN cannot run in this process, or "" when it can.
std::string unavailable_reason() {
  const cudnn::LoadResult& r = cudnn::load();
  if (!cudnn::compiled()) {
    std::string e = std::string("cuDNN is not available: this is the '") + CK_FLAVOUR +
                    "' build of convkit, and cuDNN needs the real CUDA build.";
    e += r.ok ? "\n(libcudnn.so.9 " + std::to_string(r.version) + " was found at " + r.path + ")" : "\n" + r.error;
    return e;
  }
  return r.ok ? std::string() : r.error;
}

void require_cudnn() {
  std::string why = unavailable_reason();
  if (!why.empty()) throw Error("ERR_CUDNN", why);
}

// cudnnInfo() -> {compiled, available, version|null, path|null, error|null, attempts: string[], notes: string[]}
Napi::Value CudnnInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cudnn::LoadResult& r = cudnn::load();
  std::string why = unavailable_reason();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", cudnn::compiled());
  o.Set("available", why.empty());
  o.Set("version", why.empty() ? Napi::Value(Napi::Number::New(env, (double)r.version)) : env.Null());
  o.Set("path", r.ok ? Napi::Value(Napi::String::New(env, r.path)) : env.Null());
  o.Set("error", why.empty() ? env.Null() : Napi::Value(Napi::String::New(env, why)));
  Napi::Array at = Napi::Array::New(env, r.attempts.size());
  for (size_t i = 0; i < r.attempts.size(); ++i) at.Set((uint32_t)i, r.attempts[i]);
  o.Set("attempts", at);
  Napi::Array notes = Napi::Array::New(env, r.notes.size());
  for (size_t i = 0; i < r.notes.size(); ++i) notes.Set((uint32_t)i, r.notes[i]);
  o.Set("notes", notes);
  return o;
}

// cudnnSetOptions({benchmark, allowTF32}) -> {benchmark, allowTF32}; a missing key keeps its value
Napi::Value CudnnSetOptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool bm = cudnn::benchmark(), tf32 = cudnn::allow_tf32();
  if (info.Length() >= 1 && info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    if (o.Has("benchmark") && !o.Get("benchmark").IsUndefined()) {
      if (!o.Get("benchmark").IsBoolean()) throw Error("ERR_ARG", "benchmark must be a boolean", ErrorKind::Type);
      bm = o.Get("benchmark").As<Napi::Boolean>().Value();
    }
    if (o.Has("allowTF32") && !o.Get("allowTF32").IsUndefined()) {
      if (!o.Get("allowTF32").IsBoolean()) throw Error("ERR_ARG", "allowTF32 must be a boolean", ErrorKind::Type);
      tf32 = o.Get("allowTF32").As<Napi::Boolean>().Value();
    }
  } else if (info.Length() >= 1 && !info[0].IsUndefined()) {
    throw Error("ERR_ARG", "cudnnSetOptions takes an object {benchmark, allowTF32}", ErrorKind::Type);
  }
  cudnn::set_options(bm, tf32);
  Napi::Object r = Napi::Object::New(env);
  r.Set("benchmark", bm);
  r.Set("allowTF32", tf32);
  return r;
}

// cudnnConv2dForward(params, x, xo, w, wo, b|null, bo, y, yo)
Napi::Value CudnnConv2dForward(const Napi::CallbackInfo& info) {
  Conv2dParams p = read_params(info);
  Operands a(info);
  const float* x = a.f(1, p.N * p.C * p.H * p.W, "input");
  const float* w = a.f(3, p.O * (p.C / p.groups) * p.KH * p.KW, "weight");
  const float* b = a.f(5, p.O, "bias", true);
  float* y = a.f(7, p.N * p.O * p.OH * p.OW, "output");
  require_cudnn();
  cudnn::conv2d_forward(a.device(), p, x, w, b, y);
  return info.Env().Undefined();
}

// cudnnConv2dBackwardData(params, dy, dyo, w, wo, dx, dxo)
Napi::Value CudnnConv2dBackwardData(const Napi::CallbackInfo& info) {
  Conv2dParams p = read_params(info);
  Operands a(info);
  const float* dy = a.f(1, p.N * p.O * p.OH * p.OW, "grad output");
  const float* w = a.f(3, p.O * (p.C / p.groups) * p.KH * p.KW, "weight");
  float* dx = a.f(5, p.N * p.C * p.H * p.W, "grad input");
  require_cudnn();
  cudnn::conv2d_backward_data(a.device(), p, dy, w, dx);
  return info.Env().Undefined();
}

// cudnnConv2dBackwardWeight(params, x, xo, dy, dyo, dw, dwo, db|null, dbo)
Napi::Value CudnnConv2dBackwardWeight(const Napi::CallbackInfo& info) {
  Conv2dParams p = read_params(info);
  Operands a(info);
  const float* x = a.f(1, p.N * p.C * p.H * p.W, "input");
  const float* dy = a.f(3, p.N * p.O * p.OH * p.OW, "grad output");
  float* dw = a.f(5, p.O * (p.C / p.groups) * p.KH * p.KW, "grad weight");
  float* db = a.f(7, p.O, "grad bias", true);
  require_cudnn();
  cudnn::conv2d_backward_weight(a.device(), p, x, dy, dw, db);
  return info.Env().Undefined();
}

}  // namespace

void init_cudnn_ops(Napi::Env env, Napi::Object exports) {
  (void)env;
  CK_EXPORT(exports, "cudnnInfo", CudnnInfo);
  CK_EXPORT(exports, "cudnnSetOptions", CudnnSetOptions);
  CK_EXPORT(exports, "cudnnConv2dForward", CudnnConv2dForward);
  CK_EXPORT(exports, "cudnnConv2dBackwardData", CudnnConv2dBackwardData);
  CK_EXPORT(exports, "cudnnConv2dBackwardWeight", CudnnConv2dBackwardWeight);
}

}  // namespace ck
