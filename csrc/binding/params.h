// One reader per op family's parameters (core/nn_params.h), shared by nn_ops.cc and cudnn_ops.cc: each reads
// the family's JS parameter object by name (lib/binding.ts: Conv2dParams, Pool2dParams, ...) and runs the
// family's one validation.
#pragma once
#include <napi.h>
#include "../core/nn_params.h"
#include "args.h"

namespace ck {

inline Conv2dParams read_conv2d(const Napi::CallbackInfo& info, size_t i, const char* op) {
  Fields f(info, i, std::string(op) + " params");
  Conv2dParams p{f.i64("N"),  f.i64("C"),  f.i64("H"),  f.i64("W"),  f.i64("O"),  f.i64("KH"),
                 f.i64("KW"), f.i64("OH"), f.i64("OW"), f.i64("sh"), f.i64("sw"), f.i64("ph"),
                 f.i64("pw"), f.i64("dh"), f.i64("dw"), f.i64("groups")};
  check_conv2d(p, op);
  return p;
}

inline Pool2dParams read_pool2d(const Napi::CallbackInfo& info, size_t i, const char* op, bool is_max) {
  Fields f(info, i, std::string(op) + " params");
  Pool2dParams p{f.i64("N"),  f.i64("C"),  f.i64("H"),  f.i64("W"),  f.i64("OH"), f.i64("OW"),
                 f.i64("kh"), f.i64("kw"), f.i64("sh"), f.i64("sw"), f.i64("ph"), f.i64("pw"),
                 f.i64("dh"), f.i64("dw"), f.flag("countIncludePad"), f.i64("divisorOverride")};
  check_pool2d(p, is_max, op);
  return p;
}

inline AdaptivePool2dParams read_adaptive_pool2d(const Napi::CallbackInfo& info, size_t i, const char* op) {
  Fields f(info, i, std::string(op) + " params");
  AdaptivePool2dParams p{f.i64("N"), f.i64("C"), f.i64("H"), f.i64("W"), f.i64("OH"), f.i64("OW")};
  check_adaptive_pool2d(p, op);
  return p;
}

// The conv entry points' (params, operands), read once for the native kernels (nn_ops.cc) and cuDNN
// (cudnn_ops.cc). Each direction reads its operands, in this order; the others stay null:
//   forward          input x, weight w, bias b (optional) -> output y
//   backward data    gradOutput dy, weight w               -> gradInput dx
//   backward weight  input x, gradOutput dy                -> gradWeight dw, gradBias db (optional)
enum class ConvDirection { Forward, BackwardData, BackwardWeight };
struct Conv2dArgs {
  Conv2dParams p;
  const float *x = nullptr, *w = nullptr, *b = nullptr, *dy = nullptr;
  float *y = nullptr, *dx = nullptr, *dw = nullptr, *db = nullptr;
  int device = -1;
};
inline Conv2dArgs read_conv2d_args(const Napi::CallbackInfo& info, const char* op, ConvDirection dir) {
  Conv2dArgs a;
  a.p = read_conv2d(info, 0, op);
  NamedOperands o(info, 1, op);
  const int64_t in = conv2d_input_numel(a.p), wt = conv2d_weight_numel(a.p), out = conv2d_output_numel(a.p);
  const bool fwd = dir == ConvDirection::Forward, bwd_data = dir == ConvDirection::BackwardData;
  if (!bwd_data) a.x = o.f32("input", in);
  if (fwd) {
    a.w = o.f32("weight", wt);
    a.b = o.f32("bias", a.p.O, true);
    a.y = o.f32("output", out);
  } else {
    a.dy = o.f32("gradOutput", out);
  }
  if (bwd_data) {
    a.w = o.f32("weight", wt);
    a.dx = o.f32("gradInput", in);
  } else if (!fwd) {
    a.dw = o.f32("gradWeight", wt);
    a.db = o.f32("gradBias", a.p.O, true);
  }
  a.device = o.device();
  return a;
}

// eps and momentum are read where the op uses them (train: both; eval: eps; backward: neither).
inline BatchNormParams read_batchnorm(const Napi::CallbackInfo& info, size_t i, const char* op, bool eps, bool momentum) {
  Fields f(info, i, std::string(op) + " params");
  BatchNormParams p{f.i64("N"), f.i64("C"), f.i64("L"), eps ? (float)f.num("eps") : 0.f,
                    momentum ? (float)f.num("momentum") : 0.f};
  check_batchnorm(p.N, p.C, p.L, op);
  return p;
}

// Batch norm's (params, operands) for each pass, read in this order; what a pass does not take stays null:
//   train     input, weight?, bias?, runningMean?, runningVar?, output, saveMean, saveInvstd
//   eval      input, weight?, bias?, runningMean, runningVar, output
//   backward  gradOutput, input, weight?, saveMean, saveInvstd, gradInput, gradWeight?, gradBias?, output?
//             (output: the fused batch norm + ReLU's backward, which masks dy by output > 0)
enum class BatchNormPass { Train, Eval, Backward };
struct BatchNormArgs {
  BatchNormParams p;
  const float *x = nullptr, *gamma = nullptr, *beta = nullptr, *dy = nullptr;
  float *running_mean = nullptr, *running_var = nullptr, *y = nullptr, *save_mean = nullptr, *save_invstd = nullptr;
  float *dx = nullptr, *dgamma = nullptr, *dbeta = nullptr;
  int device = -1;
};
inline BatchNormArgs read_batchnorm_args(const Napi::CallbackInfo& info, const char* op, BatchNormPass pass) {
  const bool train = pass == BatchNormPass::Train, bwd = pass == BatchNormPass::Backward;
  BatchNormArgs a;
  a.p = read_batchnorm(info, 0, op, !bwd, train);
  NamedOperands o(info, 1, op);
  const int64_t n = a.p.N * a.p.C * a.p.L, C = a.p.C;
  if (bwd) a.dy = o.f32("gradOutput", n);
  a.x = o.f32("input", n);
  a.gamma = o.f32("weight", C, true);
  a.beta = o.f32("bias", C, true);
  if (!bwd) {
    a.running_mean = o.f32("runningMean", C, train);
    a.running_var = o.f32("runningVar", C, train);
    a.y = o.f32("output", n);
  }
  if (pass != BatchNormPass::Eval) {
    a.save_mean = o.f32("saveMean", C);
    a.save_invstd = o.f32("saveInvstd", C);
  }
  if (bwd) {
    a.dx = o.f32("gradInput", n);
    a.dgamma = o.f32("gradWeight", C, true);
    a.dbeta = o.f32("gradBias", C, true);
  }
  a.device = o.device();
  return a;
}

}  // namespace ck
