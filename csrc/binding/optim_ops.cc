// N-API entry points for the optimizer updates (csrc/core/optim_kernels.h). One call updates one parameter
// group on one device: CPU, or CUDA with a single multi-tensor launch.
//
// Each call is (tensors, hyper): tensors an array of entries { param, grad, n, states: [s0, s1, s2], scalar }
// whose operands are contiguous float32 runs { storage, offset } of n elements (a state null where the update
// does not use it), scalar one per-tensor number (SGD: 1 when the momentum buffer is new; Adam: the tensor's
// step count after this step; RMSprop: unused); hyper the optimizer's named hyperparameters (lib/binding.ts).
// Capturable Adam (hyper.capturable): each entry has a `step` operand (one float, the tensor's step count,
// incremented by the update) instead of a scalar, and on CUDA hyper.hyper is the group's device buffer of
// kAdamHyperSlots floats, written by adamHyperUpload whenever the hyperparameters change.
// lib/optim checks dtypes, shapes and contiguity first; bounds and devices are checked again here by the
// shared operand reader (args.h), so a wrong call can only ever produce a JS error.
#include <napi.h>
#include <cmath>
#include <string>
#include <vector>
#include "../core/optim_kernels.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"
#ifdef CK_HAVE_CUDA
#include "../core/optim_kernels_cuda.h"
#endif

namespace ck {

struct Group {
  std::vector<OptimTensor> tensors;
  std::vector<double> scalars;
  int device = -1;
};

// needs[k]: state k must be present (and is read/written); otherwise it is ignored and left null.
// steps: when given, each entry's `step` operand (one float) is read into it instead of its scalar.
Group read_group(const Napi::CallbackInfo& info, const char* op, const bool needs[3], std::vector<float*>* steps = nullptr) {
  Napi::Value lv = arg(info, 0);
  if (!lv.IsArray()) throw Error("ERR_ARG", std::string(op) + ": tensors must be an array", ErrorKind::Type);
  Napi::Array list = lv.As<Napi::Array>();
  Operands o(op);
  Group g;
  g.tensors.reserve(list.Length());
  for (uint32_t k = 0; k < list.Length(); ++k) {
    const std::string at = "tensor " + std::to_string(k);
    Fields e(list.Get(k), std::string(op) + ": " + at);
    const int64_t n = e.i64("n");
    if (n < 0) throw Error("ERR_ARG", e.at("n") + " must be a count", ErrorKind::Range);
    OptimTensor t{};
    t.param = o.f32(e.get("param"), n, at + " param");
    t.grad = o.f32(e.get("grad"), n, at + " grad");
    Napi::Value states = e.get("states");
    if (!states.IsArray() || states.As<Napi::Array>().Length() != 3)
      throw Error("ERR_ARG", e.at("states") + " must be an array of 3 operands or nulls", ErrorKind::Type);
    for (uint32_t s = 0; s < 3; ++s)
      t.state[s] = needs[s] ? o.f32(states.As<Napi::Array>().Get(s), n, at + " state " + std::to_string(s)) : nullptr;
    t.n = n;
    if (steps) steps->push_back(o.f32(e.get("step"), 1, at + " step"));
    g.scalars.push_back(steps ? 0.0 : e.num("scalar"));
    g.tensors.push_back(t);
  }
  g.device = o.device();
  return g;
}

// sgdStep(tensors, {lr, momentum, dampening, weightDecay, nesterov, maximize}); scalar: 1 = new momentum buffer
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Fields h(info, 1, "sgdStep hyperparameters");
  SgdParams p{h.num("lr"), h.num("momentum"), h.num("dampening"), h.num("weightDecay"), h.flag("nesterov"),
              h.flag("maximize")};
  const bool needs[3] = {p.momentum != 0.0, false, false};
  Group g = read_group(info, "sgdStep", needs);
  for (size_t k = 0; k < g.tensors.size(); ++k) g.tensors[k].flag = g.scalars[k] != 0.0 ? 1 : 0;
  if (g.tensors.empty()) return info.Env().Undefined();
  const int64_t count = static_cast<int64_t>(g.tensors.size());
  CK_DISPATCH(g.device, sgd_step_cpu(g.tensors.data(), count, p), cuda::sgd_step_cuda(g.tensors.data(), count, p, stream));
  return info.Env().Undefined();
}

// adamStep(tensors, {lr, beta1, beta2, eps, weightDecay, amsgrad, maximize, adamw}); scalar: the step count
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Fields h(info, 1, "adamStep hyperparameters");
  AdamParams p{h.num("lr"), h.num("beta1"), h.num("beta2"), h.num("eps"), h.num("weightDecay"), h.flag("amsgrad"),
               h.flag("maximize"), h.flag("adamw")};
  const bool needs[3] = {true, true, p.amsgrad};
  if (!is_nullish(h.get("capturable")) && h.flag("capturable")) {
    std::vector<float*> steps;
    Group g = read_group(info, "adamStep", needs, &steps);
    if (g.tensors.empty()) return info.Env().Undefined();
    const int64_t count = static_cast<int64_t>(g.tensors.size());
    float* hyper = nullptr;
    if (g.device >= 0) {
      Operands ho("adamStep");
      hyper = ho.f32(h.get("hyper"), kAdamHyperSlots, "hyperparameter buffer");
      if (ho.device() != g.device)
        throw Error("ERR_DEVICE", "adamStep: the hyperparameter buffer is on " + device_name(ho.device()) +
                                      ", the parameters on " + device_name(g.device));
    }
    (void)hyper;  // the CPU update takes the host values
    CK_DISPATCH(g.device, adam_step_capturable_cpu(g.tensors.data(), steps.data(), count, p),
                cuda::adam_step_capturable_cuda(g.tensors.data(), steps.data(), count, hyper, p, stream));
    return info.Env().Undefined();
  }
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
  const int64_t count = static_cast<int64_t>(g.tensors.size());
  CK_DISPATCH(g.device, adam_step_cpu(g.tensors.data(), count, p), cuda::adam_step_cuda(g.tensors.data(), count, p, stream));
  return info.Env().Undefined();
}

// adamHyperUpload(hyper operand, {lr, beta1, beta2, eps, weightDecay, ...}): the capturable update's device
// buffer (kAdamHyperSlots floats) from the hyperparameters, through pinned staging: asynchronous, no sync.
Napi::Value AdamHyperUpload(const Napi::CallbackInfo& info) {
  Fields h(info, 1, "adamHyperUpload hyperparameters");
  AdamParams p{h.num("lr"), h.num("beta1"), h.num("beta2"), h.num("eps"), h.num("weightDecay"), false, false, false};
  Operands o("adamHyperUpload");
  float* dst = o.f32(arg(info, 0), kAdamHyperSlots, "hyperparameter buffer");
  if (o.device() < 0) {
    adam_hyper_values(p, dst);
    return info.Env().Undefined();
  }
  CK_DISPATCH(o.device(), (void)0, cuda::adam_hyper_upload_cuda(dst, p, stream));
  return info.Env().Undefined();
}

// rmspropStep(tensors, {lr, alpha, eps, weightDecay, momentum, centered, maximize})
Napi::Value RmspropStep(const Napi::CallbackInfo& info) {
  Fields h(info, 1, "rmspropStep hyperparameters");
  RmspropParams p{h.num("lr"), h.num("alpha"), h.num("eps"), h.num("weightDecay"), h.num("momentum"),
                  h.flag("centered"), h.flag("maximize")};
  const bool needs[3] = {true, p.momentum > 0.0, p.centered};
  Group g = read_group(info, "rmspropStep", needs);
  if (g.tensors.empty()) return info.Env().Undefined();
  const int64_t count = static_cast<int64_t>(g.tensors.size());
  CK_DISPATCH(g.device, rmsprop_step_cpu(g.tensors.data(), count, p),
              cuda::rmsprop_step_cuda(g.tensors.data(), count, p, stream));
  return info.Env().Undefined();
}

}  // namespace ck
