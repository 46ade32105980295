// N-API entry points for the nn kernels (csrc/core/nn_kernels.h). Each takes (params, operands): the family's
// parameter object, read by params.h's reader, and an object of named contiguous operands { storage, offset }
// (null for an optional one), read by args.h's NamedOperands; lib/binding.ts types both. lib/nn/functional/
// checks shapes and contiguity first; the sizes are checked again here against each storage.
#include <napi.h>
#include "../core/nn_kernels.h"
#include "../cpu/fused.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"
#include "params.h"
#ifdef CK_HAVE_CUDA
#include "../core/nn_kernels_cuda.h"
#endif

namespace ck {

// ---- conv ----
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  const auto a = read_conv2d_forward(info, "conv2d");
  CK_DISPATCH(a.device, conv2d_forward_cpu(a.p, a.x, a.w, a.b, a.y), cuda::conv2d_forward_cuda(a.p, a.x, a.w, a.b, a.y, stream));
  return info.Env().Undefined();
}
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  const auto a = read_conv2d_backward_data(info, "conv2d backward (input)");
  CK_DISPATCH(a.device, conv2d_backward_data_cpu(a.p, a.dy, a.w, a.dx), cuda::conv2d_backward_data_cuda(a.p, a.dy, a.w, a.dx, stream));
  return info.Env().Undefined();
}
Napi::Value Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  const auto a = read_conv2d_backward_weight(info, "conv2d backward (weight)");
  CK_DISPATCH(a.device, conv2d_backward_weight_cpu(a.p, a.x, a.dy, a.dw, a.db),
              cuda::conv2d_backward_weight_cuda(a.p, a.x, a.dy, a.dw, a.db, stream));
  return info.Env().Undefined();
}

// ---- batch norm ----
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  const BatchNormParams p = read_batchnorm(info, 0, "batch_norm", true, true);
  NamedOperands o(info, 1, "batch_norm");
  const int64_t n = p.N * p.C * p.L;
  const float* x = o.f32("input", n);
  const float* g = o.f32("weight", p.C, true);
  const float* b = o.f32("bias", p.C, true);
  float* rm = o.f32("runningMean", p.C, true);
  float* rv = o.f32("runningVar", p.C, true);
  float* y = o.f32("output", n);
  float* sm = o.f32("saveMean", p.C);
  float* si = o.f32("saveInvstd", p.C);
  if (info.Length() > 2 && info[2].ToBoolean()) {  // relu: batch norm + ReLU in one kernel (CPU, csrc/cpu/fused.h)
    if (o.device() >= 0) throw Error("ERR_DEVICE", "batch_norm + relu (fused): CPU tensors only");
    batchnorm_relu_forward_train_cpu(p.N, p.C, p.L, x, g, b, p.eps, p.momentum, rm, rv, y, sm, si);
    return info.Env().Undefined();
  }
  CK_DISPATCH(o.device(), batchnorm_forward_train_cpu(p.N, p.C, p.L, x, g, b, p.eps, p.momentum, rm, rv, y, sm, si),
              cuda::batchnorm_forward_train_cuda(p.N, p.C, p.L, x, g, b, p.eps, p.momentum, rm, rv, y, sm, si, stream));
  return info.Env().Undefined();
}
Napi::Value BatchNormEval(const Napi::CallbackInfo& info) {
  const BatchNormParams p = read_batchnorm(info, 0, "batch_norm (eval)", true, false);
  NamedOperands o(info, 1, "batch_norm (eval)");
  const int64_t n = p.N * p.C * p.L;
  const float* x = o.f32("input", n);
  const float* g = o.f32("weight", p.C, true);
  const float* b = o.f32("bias", p.C, true);
  const float* rm = o.f32("runningMean", p.C);
  const float* rv = o.f32("runningVar", p.C);
  float* y = o.f32("output", n);
  CK_DISPATCH(o.device(), batchnorm_forward_eval_cpu(p.N, p.C, p.L, x, g, b, rm, rv, p.eps, y),
              cuda::batchnorm_forward_eval_cuda(p.N, p.C, p.L, x, g, b, rm, rv, p.eps, y, stream));
  return info.Env().Undefined();
}
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  const BatchNormParams p = read_batchnorm(info, 0, "batch_norm backward", false, false);
  NamedOperands o(info, 1, "batch_norm backward");
  const int64_t n = p.N * p.C * p.L;
  const float* dy = o.f32("gradOutput", n);
  const float* x = o.f32("input", n);
  const float* g = o.f32("weight", p.C, true);
  const float* sm = o.f32("saveMean", p.C);
  const float* si = o.f32("saveInvstd", p.C);
  float* dx = o.f32("gradInput", n);
  float* dg = o.f32("gradWeight", p.C, true);
  float* db = o.f32("gradBias", p.C, true);
  if (const float* y = o.f32("output", n, true)) {  // the fused batch norm + ReLU's backward: dy masked by y > 0
    if (o.device() >= 0) throw Error("ERR_DEVICE", "batch_norm + relu backward (fused): CPU tensors only");
    batchnorm_relu_backward_cpu(p.N, p.C, p.L, dy, y, x, g, sm, si, dx, dg, db);
    return info.Env().Undefined();
  }
  CK_DISPATCH(o.device(), batchnorm_backward_cpu(p.N, p.C, p.L, dy, x, g, sm, si, dx, dg, db),
              cuda::batchnorm_backward_cuda(p.N, p.C, p.L, dy, x, g, sm, si, dx, dg, db, stream));
  return info.Env().Undefined();
}

namespace {
// (params, { <src>, <dst> }) of an op that maps one float operand to another: both pointers and the device.
struct SrcDst {
  const float* src;
  float* dst;
  int device;
};
SrcDst read_src_dst(const Napi::CallbackInfo& info, const char* op, const char* src, int64_t src_numel,
                    const char* dst, int64_t dst_numel) {
  NamedOperands o(info, 1, op);
  const float* in = o.f32(src, src_numel);
  return {in, o.f32(dst, dst_numel), o.device()};
}
}  // namespace

// ---- pool ----
Napi::Value MaxPoolForward(const Napi::CallbackInfo& info) {
  const Pool2dParams p = read_pool2d(info, 0, "max_pool2d", true);
  NamedOperands o(info, 1, "max_pool2d");
  const float* x = o.f32("input", pool2d_input_numel(p));
  float* y = o.f32("output", pool2d_output_numel(p));
  int32_t* idx = o.i32("indices", pool2d_output_numel(p));
  CK_DISPATCH(o.device(), maxpool2d_forward_cpu(p, x, y, idx), cuda::maxpool2d_forward_cuda(p, x, y, idx, stream));
  return info.Env().Undefined();
}
Napi::Value MaxPoolBackward(const Napi::CallbackInfo& info) {
  const Pool2dParams p = read_pool2d(info, 0, "max_pool2d backward", true);
  NamedOperands o(info, 1, "max_pool2d backward");
  const float* dy = o.f32("gradOutput", pool2d_output_numel(p));
  const int32_t* idx = o.i32("indices", pool2d_output_numel(p));
  float* dx = o.f32("gradInput", pool2d_input_numel(p));
  CK_DISPATCH(o.device(), maxpool2d_backward_cpu(p, dy, idx, dx), cuda::maxpool2d_backward_cuda(p, dy, idx, dx, stream));
  return info.Env().Undefined();
}
Napi::Value AvgPoolForward(const Napi::CallbackInfo& info) {
  const Pool2dParams p = read_pool2d(info, 0, "avg_pool2d", false);
  const SrcDst a = read_src_dst(info, "avg_pool2d", "input", pool2d_input_numel(p), "output", pool2d_output_numel(p));
  CK_DISPATCH(a.device, avgpool2d_forward_cpu(p, a.src, a.dst),
              cuda::avgpool2d_forward_cuda(p, a.src, a.dst, stream));
  return info.Env().Undefined();
}
Napi::Value AvgPoolBackward(const Napi::CallbackInfo& info) {
  const Pool2dParams p = read_pool2d(info, 0, "avg_pool2d backward", false);
  const SrcDst a = read_src_dst(info, "avg_pool2d backward", "gradOutput", pool2d_output_numel(p), "gradInput",
                                pool2d_input_numel(p));
  CK_DISPATCH(a.device, avgpool2d_backward_cpu(p, a.src, a.dst),
              cuda::avgpool2d_backward_cuda(p, a.src, a.dst, stream));
  return info.Env().Undefined();
}
Napi::Value AdaptiveAvgPoolForward(const Napi::CallbackInfo& info) {
  const AdaptivePool2dParams p = read_adaptive_pool2d(info, 0, "adaptive_avg_pool2d");
  const SrcDst a = read_src_dst(info, "adaptive_avg_pool2d", "input", p.N * p.C * p.H * p.W, "output",
                                p.N * p.C * p.OH * p.OW);
  CK_DISPATCH(a.device, adaptive_avgpool2d_forward_cpu(p.N, p.C, p.H, p.W, p.OH, p.OW, a.src, a.dst),
              cuda::adaptive_avgpool2d_forward_cuda(p.N, p.C, p.H, p.W, p.OH, p.OW, a.src, a.dst, stream));
  return info.Env().Undefined();
}
Napi::Value AdaptiveAvgPoolBackward(const Napi::CallbackInfo& info) {
  const AdaptivePool2dParams p = read_adaptive_pool2d(info, 0, "adaptive_avg_pool2d backward");
  const SrcDst a = read_src_dst(info, "adaptive_avg_pool2d backward", "gradOutput", p.N * p.C * p.OH * p.OW,
                                "gradInput", p.N * p.C * p.H * p.W);
  CK_DISPATCH(a.device, adaptive_avgpool2d_backward_cpu(p.N, p.C, p.H, p.W, p.OH, p.OW, a.src, a.dst),
              cuda::adaptive_avgpool2d_backward_cuda(p.N, p.C, p.H, p.W, p.OH, p.OW, a.src, a.dst, stream));
  return info.Env().Undefined();
}

// ---- activation: bias+ReLU over (N, C, L), add+ReLU and ReLU's backward over n elements ----
Napi::Value BiasReluForward(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "bias_relu params");
  const int64_t N = f.i64("N"), C = f.i64("C"), L = f.i64("L");
  NamedOperands o(info, 1, "bias_relu");
  const float* x = o.f32("input", N * C * L);
  const float* b = o.f32("bias", C);
  float* y = o.f32("output", N * C * L);
  CK_DISPATCH(o.device(), bias_relu_forward_cpu(N, C, L, x, b, y), cuda::bias_relu_forward_cuda(N, C, L, x, b, y, stream));
  return info.Env().Undefined();
}
Napi::Value BiasReluBackward(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "bias_relu backward params");
  const int64_t N = f.i64("N"), C = f.i64("C"), L = f.i64("L");
  NamedOperands o(info, 1, "bias_relu backward");
  const float* dy = o.f32("gradOutput", N * C * L);
  const float* y = o.f32("output", N * C * L);
  float* dx = o.f32("gradInput", N * C * L);
  float* db = o.f32("gradBias", C, true);
  CK_DISPATCH(o.device(), bias_relu_backward_cpu(N, C, L, dy, y, dx, db),
              cuda::bias_relu_backward_cuda(N, C, L, dy, y, dx, db, stream));
  return info.Env().Undefined();
}
Napi::Value AddReluForward(const Napi::CallbackInfo& info) {
  const int64_t n = Fields(info, 0, "add_relu params").i64("n");
  NamedOperands o(info, 1, "add_relu");
  const float* a = o.f32("a", n);
  const float* b = o.f32("b", n);
  float* y = o.f32("output", n);
  CK_DISPATCH(o.device(), add_relu_forward_cpu(n, a, b, y), cuda::add_relu_forward_cuda(n, a, b, y, stream));
  return info.Env().Undefined();
}
Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  const int64_t n = Fields(info, 0, "relu backward params").i64("n");
  NamedOperands o(info, 1, "relu backward");
  const float* dy = o.f32("gradOutput", n);
  const float* y = o.f32("output", n);
  float* dx = o.f32("gradInput", n);
  CK_DISPATCH(o.device(), relu_backward_cpu(n, dy, y, dx), cuda::relu_backward_cuda(n, dy, y, dx, stream));
  return info.Env().Undefined();
}

// ---- softmax and losses over rows ----
Napi::Value SoftmaxForward(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "softmax params");
  const int64_t R = f.i64("rows"), K = f.i64("cols");
  const bool log = f.flag("log");
  NamedOperands o(info, 1, log ? "log_softmax" : "softmax");
  const float* x = o.f32("input", R * K);
  float* y = o.f32("output", R * K);
  CK_DISPATCH(o.device(), softmax_forward_cpu(R, K, x, y, log), cuda::softmax_forward_cuda(R, K, x, y, log, stream));
  return info.Env().Undefined();
}
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "softmax backward params");
  const int64_t R = f.i64("rows"), K = f.i64("cols");
  const bool log = f.flag("log");
  NamedOperands o(info, 1, log ? "log_softmax backward" : "softmax backward");
  const float* y = o.f32("output", R * K);
  const float* dy = o.f32("gradOutput", R * K);
  float* dx = o.f32("gradInput", R * K);
  CK_DISPATCH(o.device(), softmax_backward_cpu(R, K, y, dy, dx, log), cuda::softmax_backward_cuda(R, K, y, dy, dx, log, stream));
  return info.Env().Undefined();
}
Napi::Value NllForward(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "nll_loss params");
  const int64_t R = f.i64("rows"), K = f.i64("classes");
  const int32_t ig = (int32_t)f.i64("ignoreIndex");
  NamedOperands o(info, 1, "nll_loss");
  const float* lp = o.f32("input", R * K);
  const int32_t* t = o.i32("target", R);
  float* loss = o.f32("loss", R);
  CK_DISPATCH(o.device(), nll_forward_cpu(R, K, lp, t, ig, loss), cuda::nll_forward_cuda(R, K, lp, t, ig, loss, stream));
  return info.Env().Undefined();
}
Napi::Value NllBackward(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "nll_loss backward params");
  const int64_t R = f.i64("rows"), K = f.i64("classes");
  const int32_t ig = (int32_t)f.i64("ignoreIndex");
  NamedOperands o(info, 1, "nll_loss backward");
  const int32_t* t = o.i32("target", R);
  const float* g = o.f32("gradLoss", R);
  float* d = o.f32("gradInput", R * K);
  CK_DISPATCH(o.device(), nll_backward_cpu(R, K, t, ig, g, d), cuda::nll_backward_cuda(R, K, t, ig, g, d, stream));
  return info.Env().Undefined();
}

// ---- dropout ----
Napi::Value DropoutForward(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "dropout params");
  const int64_t n = f.i64("n");
  const float p = (float)f.num("p");
  if (!(p >= 0 && p <= 1)) throw Error("ERR_ARG", "dropout probability must be in [0, 1]", ErrorKind::Range);
  const uint64_t seed = ((uint64_t)(uint32_t)f.i64("seedHi") << 32) | (uint32_t)f.i64("seedLo");
  const uint64_t off = (uint64_t)f.i64("offset");
  NamedOperands o(info, 1, "dropout");
  const float* x = o.f32("input", n);
  float* y = o.f32("output", n);
  float* m = o.f32("mask", n);
  // offsetBase (inside a CUDA graph capture): the device word the counter starts from (cuda/dropout.cu)
  const auto* base = static_cast<const uint64_t*>(o.run("offsetBase", 2, true));
  if (base && o.device() < 0) throw Error("ERR_DEVICE", "dropout: offsetBase is for CUDA graph captures");
  CK_DISPATCH(o.device(), dropout_forward_cpu(n, x, p, seed, off, y, m), cuda::dropout_forward_cuda(n, x, p, seed, off, y, m, stream, base));
  return info.Env().Undefined();
}

}  // namespace ck
