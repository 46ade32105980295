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

// The conv entry points' (params, operands), read once for the native kernels (nn_ops.cc) and cuDNN (cudnn_ops.cc).
struct Conv2dForwardArgs {
  Conv2dParams p;
  const float *x, *w, *b;
  float* y;
  int device;
};
inline Conv2dForwardArgs read_conv2d_forward(const Napi::CallbackInfo& info, const char* op) {
  const Conv2dParams p = read_conv2d(info, 0, op);
  NamedOperands o(info, 1, op);
  const float* x = o.f32("input", conv2d_input_numel(p));
  const float* w = o.f32("weight", conv2d_weight_numel(p));
  const float* b = o.f32("bias", p.O, true);
  float* y = o.f32("output", conv2d_output_numel(p));
  return {p, x, w, b, y, o.device()};
}
struct Conv2dBackwardDataArgs {
  Conv2dParams p;
  const float *dy, *w;
  float* dx;
  int device;
};
inline Conv2dBackwardDataArgs read_conv2d_backward_data(const Napi::CallbackInfo& info, const char* op) {
  const Conv2dParams p = read_conv2d(info, 0, op);
  NamedOperands o(info, 1, op);
  const float* dy = o.f32("gradOutput", conv2d_output_numel(p));
  const float* w = o.f32("weight", conv2d_weight_numel(p));
  float* dx = o.f32("gradInput", conv2d_input_numel(p));
  return {p, dy, w, dx, o.device()};
}
struct Conv2dBackwardWeightArgs {
  Conv2dParams p;
  const float *x, *dy;
  float *dw, *db;
  int device;
};
inline Conv2dBackwardWeightArgs read_conv2d_backward_weight(const Napi::CallbackInfo& info, const char* op) {
  const Conv2dParams p = read_conv2d(info, 0, op);
  NamedOperands o(info, 1, op);
  const float* x = o.f32("input", conv2d_input_numel(p));
  const float* dy = o.f32("gradOutput", conv2d_output_numel(p));
  float* dw = o.f32("gradWeight", conv2d_weight_numel(p));
  float* db = o.f32("gradBias", p.O, true);
  return {p, x, dy, dw, db, o.device()};
}

// eps and momentum are read where the op uses them (train: both; eval: eps; backward: neither).
inline BatchNormParams read_batchnorm(const Napi::CallbackInfo& info, size_t i, const char* op, bool eps, bool momentum) {
  Fields f(info, i, std::string(op) + " params");
  BatchNormParams p{f.i64("N"), f.i64("C"), f.i64("L"), eps ? (float)f.num("eps") : 0.f,
                    momentum ? (float)f.num("momentum") : 0.f};
  check_batchnorm(p.N, p.C, p.L, op);
  return p;
}

}  // namespace ck
