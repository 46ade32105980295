// CUDA twins of csrc/core/nn_kernels.h (same arguments, device pointers, plus the stream), implemented
// in cuda/<op>.cu. Only in builds with CUDA (real or emulated).
#pragma once
#include <cstdint>
#include "kernels_cuda.h"
#include "nn_kernels.h"

namespace ck {
namespace cuda {

// ---- math switches and the convolution dispatcher's testing overrides (cuda/conv.cu) ----
// PyTorch's pair: backends.cudnn.allow_tf32 (convolutions, default true) and
// backends.cuda.matmul.allow_tf32 (matmul/linear, default false). Process-wide.
struct MathOptions {
  bool conv_tf32 = true;
  bool matmul_tf32 = false;
};
void set_math_options(const MathOptions& m);
MathOptions math_options();
// Forces the convolution kernels' tile (bm x bn, 0: automatic), split-K factor (0: automatic) and math
// (0 automatic, 1 fp32 SIMT, 2 tf32 mma: sm_80+ only) so tests reach every variant on small shapes.
struct ConvTuning {
  int bm = 0, bn = 0, splits = 0, math = 0;
};
void set_conv_tuning(const ConvTuning& t);
ConvTuning conv_tuning();

// ---- convolution (implicit GEMM) ----
// x (N, C, H, W), w (O, C/g, KH, KW), b (O) | null -> y (N, O, OH, OW)
void conv2d_forward_cuda(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y, Stream s);
// dy (N, O, OH, OW), w -> dx (N, C, H, W) (overwritten)
void conv2d_backward_data_cuda(const Conv2dParams& p, const float* dy, const float* w, float* dx, Stream s);
// x, dy -> dw (O, C/g, KH, KW) (overwritten), db (O) | null (overwritten)
void conv2d_backward_weight_cuda(const Conv2dParams& p, const float* x, const float* dy, float* dw, float* db, Stream s);

// ---- batch norm over (N, C, L): L = H*W for 2d, 1 (or length) for 1d ----
// Training: batch statistics; writes save_mean (C) and save_invstd (C) = 1/sqrt(var_biased + eps);
// updates running_mean/var (C) | null with momentum, running var unbiased (n/(n-1)) as PyTorch.
void batchnorm_forward_train_cuda(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                 float eps, float momentum, float* running_mean, float* running_var, float* y,
                                 float* save_mean, float* save_invstd, Stream s);
// Eval: running statistics.
void batchnorm_forward_eval_cuda(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                const float* running_mean, const float* running_var, float eps, float* y, Stream s);
// Backward of the training-mode forward: dx (overwritten), dgamma/dbeta (C) | null (overwritten).
void batchnorm_backward_cuda(int64_t N, int64_t C, int64_t L, const float* dy, const float* x, const float* gamma,
                            const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta, Stream s);

// ---- pooling ----
// indices (N, C, OH, OW) int32: flat index h*W + w of the max within the input plane, as PyTorch.
void maxpool2d_forward_cuda(const Pool2dParams& p, const float* x, float* y, int32_t* indices, Stream s);
void maxpool2d_backward_cuda(const Pool2dParams& p, const float* dy, const int32_t* indices, float* dx, Stream s);  // dx overwritten
void avgpool2d_forward_cuda(const Pool2dParams& p, const float* x, float* y, Stream s);
void avgpool2d_backward_cuda(const Pool2dParams& p, const float* dy, float* dx, Stream s);  // dx overwritten
// Adaptive: window of output i spans [floor(i*H/OH), ceil((i+1)*H/OH)).
void adaptive_avgpool2d_forward_cuda(const AdaptivePool2dParams& p, const float* x, float* y, Stream s);
void adaptive_avgpool2d_backward_cuda(const AdaptivePool2dParams& p, const float* dy, float* dx, Stream s);

// ---- fused activations ----
// y = relu(x + b[c]) over (N, C, L, Stream s); b (C)
void bias_relu_forward_cuda(int64_t N, int64_t C, int64_t L, const float* x, const float* b, float* y, Stream s);
// dx = dy * (y > 0, Stream s); db[c] = sum over N, L of dx | null
void bias_relu_backward_cuda(int64_t N, int64_t C, int64_t L, const float* dy, const float* y, float* dx, float* db, Stream s);
// y = relu(a + b), n elements
void add_relu_forward_cuda(int64_t n, const float* a, const float* b, float* y, Stream s);
// dx = dy * (y > 0): the gradient of both addends (and of a plain relu)
void relu_backward_cuda(int64_t n, const float* dy, const float* y, float* dx, Stream s);

// ---- softmax and losses over rows: x (R, K) ----
void softmax_forward_cuda(int64_t R, int64_t K, const float* x, float* y, bool log, Stream s);
// dx from y = softmax(x) or log_softmax(x) and dy
void softmax_backward_cuda(int64_t R, int64_t K, const float* y, const float* dy, float* dx, bool log, Stream s);
// loss[r] = -logp[r, t[r]] (0 where t[r] == ignore_index, Stream s); t int32 (R, Stream s); out of range t -> throws ERR_ARG on CPU
void nll_forward_cuda(int64_t R, int64_t K, const float* logp, const int32_t* t, int32_t ignore_index, float* loss, Stream s);
// dlogp (R, K) overwritten: -g[r] at t[r], 0 elsewhere; g (R) the upstream gradient per row
void nll_backward_cuda(int64_t R, int64_t K, const int32_t* t, int32_t ignore_index, const float* g, float* dlogp, Stream s);

// ---- dropout ----
// keep[i] = philox_unit(philox(offset + i, seed).v[0]) < 1 - p (core/philox.h; the Bernoulli draw of random_cpu, Stream s);
// mask[i] = keep ? 1/(1-p) : 0; y = x * mask. p == 1 gives all zeros.
// offset_base (device, one uint64) | null: added to offset by the kernel (a graph-safe draw, cuda/dropout.cu).
void dropout_forward_cuda(int64_t n, const float* x, float p, uint64_t seed, uint64_t offset, float* y, float* mask, Stream s,
                          const uint64_t* offset_base = nullptr);

}  // namespace cuda
}  // namespace ck
