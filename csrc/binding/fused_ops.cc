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

}  // namespace ck
