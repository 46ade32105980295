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
CK_KERNEL_ENTRY(Conv2dForward, read_conv2d_args(info, "conv2d", ConvDirection::Forward), conv2d_forward, a.p, a.x,
                a.w, a.b, a.y)
CK_KERNEL_ENTRY(Conv2dBackwardData, read_conv2d_args(info, "conv2d backward (input)", ConvDirection::BackwardData),
                conv2d_backward_data, a.p, a.dy, a.w, a.dx)
CK_KERNEL_ENTRY(Conv2dBackwardWeight, read_conv2d_args(info, "conv2d backward (weight)", ConvDirection::BackwardWeight),
                conv2d_backward_weight, a.p, a.x, a.dy, a.dw, a.db)

// ---- batch norm ----
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  const auto a = read_batchnorm_args(info, "batch_norm", BatchNormPass::Train);
  const BatchNormParams& p = a.p;
  if (info.Length() > 2 && info[2].ToBoolean()) {  // relu: batch norm + ReLU in one kernel (CPU, csrc/cpu/fused.h)
    if (a.device >= 0) throw Error("ERR_DEVICE", "batch_norm + relu (fused): CPU tensors only");
    batchnorm_relu_forward_train_cpu(p.N, p.C, p.L, a.x, a.gamma, a.beta, p.eps, p.momentum, a.running_mean,
                                     a.running_var, a.y, a.save_mean, a.save_invstd);
    return info.Env().Undefined();
  }
  CK_DISPATCH(a.device,
              batchnorm_forward_train_cpu(p.N, p.C, p.L, a.x, a.gamma, a.beta, p.eps, p.momentum, a.running_mean,
                                          a.running_var, a.y, a.save_mean, a.save_invstd),
              cuda::batchnorm_forward_train_cuda(p.N, p.C, p.L, a.x, a.gamma, a.beta, p.eps, p.momentum, a.running_mean,
                                                 a.running_var, a.y, a.save_mean, a.save_invstd, stream));
  return info.Env().Undefined();
}
CK_KERNEL_ENTRY(BatchNormEval, read_batchnorm_args(info, "batch_norm (eval)", BatchNormPass::Eval),
                batchnorm_forward_eval, a.p.N, a.p.C, a.p.L, a.x, a.gamma, a.beta, a.running_mean, a.running_var,
                a.p.eps, a.y)
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  const auto a = read_batchnorm_args(info, "batch_norm backward", BatchNormPass::Backward);
  const BatchNormParams& p = a.p;
  if (info.Length() > 2 && info[2].ToBoolean()) {  // the fused batch norm + ReLU's backward (csrc/cpu/fused.h)
    if (a.device >= 0) throw Error("ERR_DEVICE", "batch_norm + relu backward (fused): CPU tensors only");
    batchnorm_relu_backward_cpu(p.N, p.C, p.L, a.dy, a.x, a.gamma, a.beta, a.save_mean, a.save_invstd, a.dx, a.dgamma,
                                a.dbeta);
    return info.Env().Undefined();
  }
  CK_DISPATCH(a.device,
              batchnorm_backward_cpu(p.N, p.C, p.L, a.dy, a.x, a.gamma, a.save_mean, a.save_invstd, a.dx, a.dgamma, a.dbeta),
              cuda::batchnorm_backward_cuda(p.N, p.C, p.L, a.dy, a.x, a.gamma, a.save_mean, a.save_invstd, a.dx, a.dgamma,
                                            a.dbeta, stream));
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
// The average pools, each way: forward (params, {input, output}), backward (params, {gradOutput, gradInput});
// read reads the family's params, kernel##_forward_cpu(p, src, dst) / cuda::kernel##_forward_cuda(p, src, dst,
// stream) run it (likewise _backward).
#define CK_AVG_POOL_ENTRIES(Forward, Backward, op, read, kernel)                                                    \
  Napi::Value Forward(const Napi::CallbackInfo& info) {                                                           \
    const auto p = read(info, op);                                                                                \
    const SrcDst a = read_src_dst(info, op, "input", pool2d_input_numel(p), "output", pool2d_output_numel(p));    \
    CK_DISPATCH(a.device, kernel##_forward_cpu(p, a.src, a.dst), cuda::kernel##_forward_cuda(p, a.src, a.dst, stream)); \
    return info.Env().Undefined();                                                                                \
  }                                                                                                               \
  Napi::Value Backward(const Napi::CallbackInfo& info) {                                                          \
    const auto p = read(info, op " backward");                                                                    \
    const SrcDst a = read_src_dst(info, op " backward", "gradOutput", pool2d_output_numel(p), "gradInput",        \
                                  pool2d_input_numel(p));                                                         \
    CK_DISPATCH(a.device, kernel##_backward_cpu(p, a.src, a.dst),                                                 \
                cuda::kernel##_backward_cuda(p, a.src, a.dst, stream));                                           \
    return info.Env().Undefined();                                                                                \
  }
namespace {
Pool2dParams read_avg_pool2d(const Napi::CallbackInfo& info, const char* op) { return read_pool2d(info, 0, op, false); }
AdaptivePool2dParams read_adaptive(const Napi::CallbackInfo& info, const char* op) { return read_adaptive_pool2d(info, 0, op); }
}  // namespace
CK_AVG_POOL_ENTRIES(AvgPoolForward, AvgPoolBackward, "avg_pool2d", read_avg_pool2d, avgpool2d)
CK_AVG_POOL_ENTRIES(AdaptiveAvgPoolForward, AdaptiveAvgPoolBackward, "adaptive_avg_pool2d", read_adaptive, adaptive_avgpool2d)
#undef CK_AVG_POOL_ENTRIES

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
// out = f(a, b) over n elements, one kernel each way: add+ReLU (a, b -> output) and ReLU's backward
// (gradOutput, output -> gradInput); kernel##_cpu / cuda::kernel##_cuda take (n, a, b, out).
#define CK_BINARY_MAP_ENTRY(Fn, op, a_name, b_name, out_name, kernel)                                              \
  Napi::Value Fn(const Napi::CallbackInfo& info) {                                                                \
    const int64_t n = Fields(info, 0, op " params").i64("n");                                                    \
    NamedOperands o(info, 1, op);                                                                                \
    const float* a = o.f32(a_name, n);                                                                           \
    const float* b = o.f32(b_name, n);                                                                           \
    float* y = o.f32(out_name, n);                                                                               \
    CK_DISPATCH(o.device(), kernel##_cpu(n, a, b, y), cuda::kernel##_cuda(n, a, b, y, stream));                  \
    return info.Env().Undefined();                                                                               \
  }
CK_BINARY_MAP_ENTRY(AddReluForward, "add_relu", "a", "b", "output", add_relu_forward)
CK_BINARY_MAP_ENTRY(ReluBackward, "relu backward", "gradOutput", "output", "gradInput", relu_backward)
#undef CK_BINARY_MAP_ENTRY

// ---- softmax and losses over rows ----
namespace {
// softmax's and nll_loss's (params, operands) over R rows of K, each way; what a pass does not take stays null:
//   softmax   {rows, cols, log}: forward input -> output; backward output, gradOutput -> gradInput
//   nll_loss  {rows, classes, ignoreIndex}: forward input, target -> loss; backward target, gradLoss -> gradInput
struct RowsArgs {
  int64_t R = 0, K = 0;
  bool log = false;
  int32_t ignore = 0;
  const float *x = nullptr, *y = nullptr, *dy = nullptr;
  const int32_t* target = nullptr;
  float *out = nullptr, *dx = nullptr;
  int device = -1;
};
RowsArgs read_softmax(const Napi::CallbackInfo& info, bool backward) {
  Fields f(info, 0, backward ? "softmax backward params" : "softmax params");
  RowsArgs a;
  a.R = f.i64("rows");
  a.K = f.i64("cols");
  a.log = f.flag("log");
  const char* op = a.log ? (backward ? "log_softmax backward" : "log_softmax") : (backward ? "softmax backward" : "softmax");
  NamedOperands o(info, 1, op);
  if (backward) {
    a.y = o.f32("output", a.R * a.K);
    a.dy = o.f32("gradOutput", a.R * a.K);
    a.dx = o.f32("gradInput", a.R * a.K);
  } else {
    a.x = o.f32("input", a.R * a.K);
    a.out = o.f32("output", a.R * a.K);
  }
  a.device = o.device();
  return a;
}
// ce (cross_entropy, op names it): the loss and its gradient are one value (mean), and the log-probabilities
// travel too: forward's logp (in dx), backward's logp (in y).
RowsArgs read_nll(const Napi::CallbackInfo& info, bool backward, const char* ce = nullptr) {
  const std::string op = ce ? ce : backward ? "nll_loss backward" : "nll_loss";
  Fields f(info, 0, op + " params");
  RowsArgs a;
  a.R = f.i64("rows");
  a.K = f.i64("classes");
  a.ignore = static_cast<int32_t>(f.i64("ignoreIndex"));
  NamedOperands o(info, 1, op);
  const int64_t per_row = ce ? 1 : a.R;
  if (backward) {
    if (ce) a.y = o.f32("logp", a.R * a.K);
    a.target = o.i32("target", a.R);
    a.dy = o.f32("gradLoss", per_row);
    a.dx = o.f32("gradInput", a.R * a.K);
  } else {
    a.x = o.f32("input", a.R * a.K);
    a.target = o.i32("target", a.R);
    a.out = o.f32("loss", per_row);
    if (ce) a.dx = o.f32("logp", a.R * a.K);
  }
  a.device = o.device();
  return a;
}
}  // namespace

CK_KERNEL_ENTRY(SoftmaxForward, read_softmax(info, false), softmax_forward, a.R, a.K, a.x, a.out, a.log)
CK_KERNEL_ENTRY(SoftmaxBackward, read_softmax(info, true), softmax_backward, a.R, a.K, a.y, a.dy, a.dx, a.log)
CK_KERNEL_ENTRY(NllForward, read_nll(info, false), nll_forward, a.R, a.K, a.x, a.target, a.ignore, a.out)
CK_KERNEL_ENTRY(NllBackward, read_nll(info, true), nll_backward, a.R, a.K, a.target, a.ignore, a.dy, a.dx)

// cross_entropy (CPU, lib/nn/functional/softmax_loss.ts's fused case): {rows, classes, ignoreIndex};
// forward {input, target} -> {loss (1), logp}; backward {logp, target, gradLoss (1)} -> {gradInput}.
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  const RowsArgs a = read_nll(info, false, "cross_entropy");
  if (a.device >= 0) throw Error("ERR_DEVICE", "cross_entropy (fused): CPU tensors only");
  cross_entropy_forward_cpu(a.R, a.K, a.x, a.target, a.ignore, a.out, a.dx);
  return info.Env().Undefined();
}
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const RowsArgs a = read_nll(info, true, "cross_entropy backward");
  if (a.device >= 0) throw Error("ERR_DEVICE", "cross_entropy backward (fused): CPU tensors only");
  cross_entropy_backward_cpu(a.R, a.K, a.y, a.target, a.ignore, a.dy, a.dx);
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
