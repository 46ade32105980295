// N-API entry point for the fused eval-mode conv + batch norm (+ residual) (+ ReLU) (csrc/cpu/fused.h), (params,
// operands) as nn_ops.cc. CPU tensors only: lib/nn/fusion.ts calls it for CPU tensors and runs the unfused ops
// elsewhere. (The training-mode batch norm + ReLU goes through nn_ops.cc's batch-norm entry points.)
#include <napi.h>

#include "../cpu/fused.h"
#include "../core/nn_kernels.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"
#include "params.h"

namespace ck {
// params: the convolution's (as conv2dForward) plus eps and relu (boolean); operands: input, weight, bias | null, bnWeight |
// null, bnBias | null, runningMean, runningVar, residual | null, output.
Napi::Value Conv2dBnActEval(const Napi::CallbackInfo& info) {
  const char* op = "conv2d + batch_norm (eval, fused)";
  const Conv2dParams p = read_conv2d(info, 0, op);
  Fields f(info, 0, std::string(op) + " params");
  const float eps = static_cast<float>(f.num("eps"));
  const bool relu = f.flag("relu");
  NamedOperands o(info, 1, op);
  const float* x = o.f32("input", conv2d_input_numel(p));
  const float* w = o.f32("weight", conv2d_weight_numel(p));
  const float* b = o.f32("bias", p.O, true);
  const float* g = o.f32("bnWeight", p.O, true);
  const float* be = o.f32("bnBias", p.O, true);
  const float* rm = o.f32("runningMean", p.O);
  const float* rv = o.f32("runningVar", p.O);
  const float* res = o.f32("residual", conv2d_output_numel(p), true);
  float* y = o.f32("output", conv2d_output_numel(p));
  if (o.device() >= 0) throw Error("ERR_DEVICE", std::string(op) + ": the fused kernel is CPU-only");
  conv2d_bn_act_eval_cpu(p, x, w, b, g, be, rm, rv, eps, res, relu, y);
  return info.Env().Undefined();
}

namespace {
// The sizes of the fused batch norm + ReLU + 2x2 max pool: params { N, C, H, W }, and the pooled plane's size.
struct BnPoolSizes {
  int64_t N, C, H, W, OL;
};
BnPoolSizes read_bn_pool_sizes(const Fields& f, const char* op) {
  const int64_t N = f.i64("N"), C = f.i64("C"), H = f.i64("H"), W = f.i64("W");
  if (N < 0 || C < 0 || H < 2 || W < 2)
    throw Error("ERR_SHAPE", std::string(op) + ": expected N, C >= 0 and a plane of at least 2x2", ErrorKind::Range);
  return {N, C, H, W, (H / 2) * (W / 2)};
}
}  // namespace

// The training-mode batch norm + ReLU + 2x2 max pool (csrc/cpu/fused.h). params { N, C, H, W, eps, momentum };
// operands: input (N*C*H*W), weight | null, bias | null, runningMean | null, runningVar | null, output and indices
// (N*C*(H/2)*(W/2), float and int32), saveMean, saveInvstd (C).
Napi::Value BatchNormReluMaxPool2Train(const Napi::CallbackInfo& info) {
  const char* op = "batch_norm + relu + max_pool2d (fused)";
  Fields f(info, 0, std::string(op) + " params");
  const auto [N, C, H, W, OL] = read_bn_pool_sizes(f, op);
  const float eps = static_cast<float>(f.num("eps")), momentum = static_cast<float>(f.num("momentum"));
  NamedOperands o(info, 1, op);
  const float* x = o.f32("input", N * C * H * W);
  const float* g = o.f32("weight", C, true);
  const float* b = o.f32("bias", C, true);
  float* rm = o.f32("runningMean", C, true);
  float* rv = o.f32("runningVar", C, true);
  float* y = o.f32("output", N * C * OL);
  int32_t* idx = o.i32("indices", N * C * OL);
  float* sm = o.f32("saveMean", C);
  float* si = o.f32("saveInvstd", C);
  if (o.device() >= 0) throw Error("ERR_DEVICE", std::string(op) + ": CPU tensors only");
  batchnorm_relu_maxpool2_forward_train_cpu(N, C, H, W, x, g, b, eps, momentum, rm, rv, y, idx, sm, si);
  return info.Env().Undefined();
}

// Its backward. params { N, C, H, W }; operands: gradOutput, indices (N*C*(H/2)*(W/2)), input, weight | null,
// bias | null, saveMean, saveInvstd, gradInput | null, gradWeight | null, gradBias | null.
Napi::Value BatchNormReluMaxPool2Backward(const Napi::CallbackInfo& info) {
  const char* op = "batch_norm + relu + max_pool2d backward (fused)";
  const auto [N, C, H, W, OL] = read_bn_pool_sizes(Fields(info, 0, std::string(op) + " params"), op);
  NamedOperands o(info, 1, op);
  const float* dy = o.f32("gradOutput", N * C * OL);
  const int32_t* idx = o.i32("indices", N * C * OL);
  const float* x = o.f32("input", N * C * H * W);
  const float* g = o.f32("weight", C, true);
  const float* b = o.f32("bias", C, true);
  const float* sm = o.f32("saveMean", C);
  const float* si = o.f32("saveInvstd", C);
  float* dx = o.f32("gradInput", N * C * H * W, true);
  float* dg = o.f32("gradWeight", C, true);
  float* db = o.f32("gradBias", C, true);
  if (o.device() >= 0) throw Error("ERR_DEVICE", std::string(op) + ": CPU tensors only");
  batchnorm_relu_maxpool2_backward_cpu(N, C, H, W, dy, idx, x, g, b, sm, si, dx, dg, db);
  return info.Env().Undefined();
}

}  // namespace ck
