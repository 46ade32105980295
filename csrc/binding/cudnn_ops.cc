// N-API entry points of the cuDNN path (csrc/cudnn/): cudnnInfo() says whether cuDNN loaded, which version
// and from where, or why not (every candidate tried); cudnnConv2d* take the arguments of nn_ops.cc's
// conv2d entry points (the same params and operand objects, read by the same readers) and run them through cuDNN on a CUDA device; cudnnSetOptions sets benchmark and
// allowTF32. Compiles in every flavour: outside the real CUDA build cuDNN reports unavailable.
#include <napi.h>
#include <string>
#include "../cudnn/conv.h"
#include "../cudnn/loader.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"
#include "params.h"

namespace ck {

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

// The operands are on a CUDA device and cuDNN loaded, or a coded error says which is not so.
void require_cudnn_on(int device, const char* op) {
  if (device < 0) throw Error("ERR_DEVICE", std::string(op) + ": the operands are on the cpu; cuDNN runs on a CUDA device");
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
    if (!o.Get("benchmark").IsUndefined()) bm = as_bool(o.Get("benchmark"), "benchmark");
    if (!o.Get("allowTF32").IsUndefined()) tf32 = as_bool(o.Get("allowTF32"), "allowTF32");
  } else if (info.Length() >= 1 && !info[0].IsUndefined()) {
    throw Error("ERR_ARG", "cudnnSetOptions takes an object {benchmark, allowTF32}", ErrorKind::Type);
  }
  cudnn::set_options(bm, tf32);
  Napi::Object r = Napi::Object::New(env);
  r.Set("benchmark", bm);
  r.Set("allowTF32", tf32);
  return r;
}

Napi::Value CudnnConv2dForward(const Napi::CallbackInfo& info) {
  const auto a = read_conv2d_args(info, "cuDNN conv2d", ConvDirection::Forward);
  require_cudnn_on(a.device, "cuDNN conv2d");
  cudnn::conv2d_forward(a.device, a.p, a.x, a.w, a.b, a.y);
  return info.Env().Undefined();
}

Napi::Value CudnnConv2dBackwardData(const Napi::CallbackInfo& info) {
  const auto a = read_conv2d_args(info, "cuDNN conv2d backward (input)", ConvDirection::BackwardData);
  require_cudnn_on(a.device, "cuDNN conv2d backward (input)");
  cudnn::conv2d_backward_data(a.device, a.p, a.dy, a.w, a.dx);
  return info.Env().Undefined();
}

Napi::Value CudnnConv2dBackwardWeight(const Napi::CallbackInfo& info) {
  const auto a = read_conv2d_args(info, "cuDNN conv2d backward (weight)", ConvDirection::BackwardWeight);
  require_cudnn_on(a.device, "cuDNN conv2d backward (weight)");
  cudnn::conv2d_backward_weight(a.device, a.p, a.x, a.dy, a.dw, a.db);
  return info.Env().Undefined();
}

}  // namespace ck
