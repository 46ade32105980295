// N-API entry points for the optimizer updates (csrc/core/optim_kernels.h). One call updates one parameter
// group on one device: CPU, or CUDA with a single multi-tensor launch.
//
// Each tensor of the group travels as one JS array
//   [param, pOff, grad, gOff, n, s0 | null, s0Off, s1 | null, s1Off, s2 | null, s2Off, scalar]
// of (storage, element offset) pairs of contiguous float32 runs of n elements, plus one per-tensor number:
// SGD: 1 when the momentum buffer is new; Adam: the tensor's step count after this step; RMSprop: unused.
// lib/optim checks dtypes, shapes and contiguity first; the bounds and devices are checked again here, so a
// wrong call can only ever produce a JS error.
#include <napi.h>
#include <cmath>
#include <string>
#include <vector>
#include "../core/optim_kernels.h"
#include "args.h"
#include "errors.h"
#include "storage.h"
#ifdef CK_HAVE_CUDA
#include "../core/optim_kernels_cuda.h"
#endif

namespace ck {
namespace {

constexpr uint32_t kEntryLen = 12;

struct Group {
  std::vector<OptimTensor> tensors;
  std::vector<double> scalars;
  int device = -2;  // -2: no tensor yet
};

// (storage, offset) at a[i], a[i + 1] holding n floats; null storage gives null when `optional`.
float* entry_ptr(Napi::Array a, uint32_t i, int64_t n, const std::string& what, bool optional, int& device) {
  Napi::Value v = a.Get(i);
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  Storage* s = Storage::From(v, what.c_str());
  Napi::Value o = a.Get(i + 1);
  if (!o.IsNumber()) throw Error("ERR_ARG", what + ": offset must be a number", ErrorKind::Type);
  const double od = o.As<Napi::Number>().DoubleValue();
  const int64_t off = static_cast<int64_t>(od);
  if (od != static_cast<double>(off) || off < 0 || (off + n) * 4 > s->bytes())
    throw Error("ERR_SHAPE", what + ": tensor smaller than the update needs", ErrorKind::Range);
  if (device == -2) device = s->device();
  else if (device != s->device())
    throw Error("ERR_DEVICE", what + " is on another device than the rest of the parameter group");
  return reinterpret_cast<float*>(static_cast<uint8_t*>(s->data()) + off * 4);
}

// needs[k]: state k must be present (and is read/written); otherwise it is ignored and left null.
Group read_group(const Napi::CallbackInfo& info, const char* op, const bool needs[3]) {
  if (info.Length() < 1 || !info[0].IsArray())
    throw Error("ERR_ARG", std::string(op) + ": tensors must be an array", ErrorKind::Type);
  Napi::Array list = info[0].As<Napi::Array>();
  Group g;
  g.tensors.reserve(list.Length());
  for (uint32_t k = 0; k < list.Length(); ++k) {
    Napi::Value ev = list.Get(k);
    const std::string at = std::string(op) + ": tensor " + std::to_string(k);
    if (!ev.IsArray() || ev.As<Napi::Array>().Length() != kEntryLen)
      throw Error("ERR_ARG", at + " must be an array of " + std::to_string(kEntryLen) + " items", ErrorKind::Type);
    Napi::Array e = ev.As<Napi::Array>();
    Napi::Value nv = e.Get(4u);
    if (!nv.IsNumber()) throw Error("ERR_ARG", at + ": n must be a number", ErrorKind::Type);
    const double nd = nv.As<Napi::Number>().DoubleValue();
    const int64_t n = static_cast<int64_t>(nd);
    if (nd != static_cast<double>(n) || n < 0) throw Error("ERR_ARG", at + ": n must be a count", ErrorKind::Range);
    OptimTensor t{};
    t.param = entry_ptr(e, 0, n, at + " param", false, g.device);
    t.grad = entry_ptr(e, 2, n, at + " grad", false, g.device);
    static const char* kStateNames[3] = {" state 0", " state 1", " state 2"};
    for (uint32_t s = 0; s < 3; ++s) {
      t.state[s] = needs[s] ? entry_ptr(e, 5 + 2 * s, n, at + kStateNames[s], false, g.device) : nullptr;
    }
    t.n = n;
    Napi::Value sv = e.Get(11u);
    if (!sv.IsNumber()) throw Error("ERR_ARG", at + ": the per-tensor scalar must be a number", ErrorKind::Type);
    g.scalars.push_back(sv.As<Napi::Number>().DoubleValue());
    g.tensors.push_back(t);
  }
  return g;
}

bool arg_bool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean())
    throw Error("ERR_ARG", std::string(name) + " must be a boolean", ErrorKind::Type);
  return info[i].As<Napi::Boolean>().Value();
}

#ifdef CK_HAVE_CUDA
#define OPTIM_DISPATCH(dev, cpu_fn, cuda_fn, ...)                                              \
  do {                                                                                         \
    if ((dev) < 0) cpu_fn(__VA_ARGS__);                                                        \
    else { cuda::set_device(dev); cuda::cuda_fn(__VA_ARGS__, cuda::default_stream()); }        \
  } while (0)
#else
#define OPTIM_DISPATCH(dev, cpu_fn, cuda_fn, ...)                                              \
  do {                                                                                         \
    if ((dev) < 0) cpu_fn(__VA_ARGS__);                                                        \
    else throw Error("ERR_DEVICE", "built without CUDA");                                      \
  } while (0)
#endif

// sgdStep(tensors, lr, momentum, dampening, weightDecay, nesterov, maximize); scalar: 1 = new momentum buffer
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  SgdParams p{arg_num(info, 1, "lr"), arg_num(info, 2, "momentum"), arg_num(info, 3, "dampening"),
              arg_num(info, 4, "weightDecay"), arg_bool(info, 5, "nesterov"), arg_bool(info, 6, "maximize")};
  const bool needs[3] = {p.momentum != 0.0, false, false};
  Group g = read_group(info, "sgdStep", needs);
  for (size_t k = 0; k < g.tensors.size(); ++k) g.tensors[k].flag = g.scalars[k] != 0.0 ? 1 : 0;
  if (g.tensors.empty()) return info.Env().Undefined();
  OPTIM_DISPATCH(g.device, sgd_step_cpu, sgd_step_cuda, g.tensors.data(), static_cast<int64_t>(g.tensors.size()), p);
  return info.Env().Undefined();
}

// adamStep(tensors, lr, beta1, beta2, eps, weightDecay, amsgrad, maximize, decoupled); scalar: the step count
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  AdamParams p{arg_num(info, 1, "lr"), arg_num(info, 2, "beta1"), arg_num(info, 3, "beta2"), arg_num(info, 4, "eps"),
               arg_num(info, 5, "weightDecay"), arg_bool(info, 6, "amsgrad"), arg_bool(info, 7, "maximize"),
               arg_bool(info, 8, "decoupled")};
  const bool needs[3] = {true, true, p.amsgrad};
  Group g = read_group(info, "adamStep", needs);
  for (size_t k = 0; k < g.tensors.size(); ++k) {
    const double step = g.scalars[k];
    if (!(step >= 1.0)) throw Error("ERR_ARG", "adamStep: a step count must be at least 1", ErrorKind::Range);
    // Python's `1 - beta ** step` and math.sqrt: the C library's pow and sqrt, in double.
    const double step_size = p.lr / (1.0 - std::pow(p.beta1, step));
    g.tensors[k].coef[0] = static_cast<float>(-step_size);
    g.tensors[k].coef[1] = static_cast<float>(std::sqrt(1.0 - std::pow(p.beta2, step)));
  }
  if (g.tensors.empty()) return info.Env().Undefined();
  OPTIM_DISPATCH(g.device, adam_step_cpu, adam_step_cuda, g.tensors.data(), static_cast<int64_t>(g.tensors.size()), p);
  return info.Env().Undefined();
}

// rmspropStep(tensors, lr, alpha, eps, weightDecay, momentum, centered, maximize)
Napi::Value RmspropStep(const Napi::CallbackInfo& info) {
  RmspropParams p{arg_num(info, 1, "lr"), arg_num(info, 2, "alpha"), arg_num(info, 3, "eps"),
                  arg_num(info, 4, "weightDecay"), arg_num(info, 5, "momentum"), arg_bool(info, 6, "centered"),
                  arg_bool(info, 7, "maximize")};
  const bool needs[3] = {true, p.momentum > 0.0, p.centered};
  Group g = read_group(info, "rmspropStep", needs);
  if (g.tensors.empty()) return info.Env().Undefined();
  OPTIM_DISPATCH(g.device, rmsprop_step_cpu, rmsprop_step_cuda, g.tensors.data(),
                 static_cast<int64_t>(g.tensors.size()), p);
  return info.Env().Undefined();
}

}  // namespace

void init_optim_ops(Napi::Env env, Napi::Object exports) {
  (void)env;
  CK_EXPORT(exports, "sgdStep", SgdStep);
  CK_EXPORT(exports, "adamStep", AdamStep);
  CK_EXPORT(exports, "rmspropStep", RmspropStep);
}

}  // namespace ck
