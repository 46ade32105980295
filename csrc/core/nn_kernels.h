// The nn kernel interface: CPU references (csrc/cpu/<op>.cc) and CUDA twins (cuda/<op>.cu, in namespace
// ck::cuda, same arguments plus a trailing Stream). All tensors are contiguous NCHW float32 unless stated;
// int32 where stated. Optional pointers may be null. Kernels allocate their own scratch (CPU: host
// memory; CUDA: ck::cuda::malloc on the stream).
#pragma once
#include <cstdint>
#include "nn_params.h"  // Conv2dParams, Pool2dParams and their validation

namespace ck {

// ---- convolution (im2col/col2im + SGEMM) ----
// x (N, C, H, W), w (O, C/g, KH, KW), b (O) | null -> y (N, O, OH, OW)
void conv2d_forward_cpu(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y);
// dy (N, O, OH, OW), w -> dx (N, C, H, W) (overwritten)
void conv2d_backward_data_cpu(const Conv2dParams& p, const float* dy, const float* w, float* dx);
// x, dy -> dw (O, C/g, KH, KW) (overwritten), db (O) | null (overwritten)
void conv2d_backward_weight_cpu(const Conv2dParams& p, const float* x, const float* dy, float* dw, float* db);

// ---- batch norm over (N, C, L): L = H*W for 2d, 1 (or length) for 1d ----
// Training: batch statistics; writes save_mean (C) and save_invstd (C) = 1/sqrt(var_biased + eps);
// updates running_mean/var (C) | null with momentum, running var unbiased (n/(n-1)) as PyTorch.
void batchnorm_forward_train_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                 float eps, float momentum, float* running_mean, float* running_var, float* y,
                                 float* save_mean, float* save_invstd);
// Eval: running statistics.
void batchnorm_forward_eval_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                const float* running_mean, const float* running_var, float eps, float* y);
// Backward of the training-mode forward: dx (overwritten), dgamma/dbeta (C) | null (overwritten).
void batchnorm_backward_cpu(int64_t N, int64_t C, int64_t L, const float* dy, const float* x, const float* gamma,
                            const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta);

// ---- pooling ----
// indices (N, C, OH, OW) int32: flat index h*W + w of the max within the input plane, as PyTorch.
void maxpool2d_forward_cpu(const Pool2dParams& p, const float* x, float* y, int32_t* indices);
void maxpool2d_backward_cpu(const Pool2dParams& p, const float* dy, const int32_t* indices, float* dx);  // dx overwritten
void avgpool2d_forward_cpu(const Pool2dParams& p, const float* x, float* y);
void avgpool2d_backward_cpu(const Pool2dParams& p, const float* dy, float* dx);  // dx overwritten
// Adaptive: window of output i spans [floor(i*H/OH), ceil((i+1)*H/OH)).
void adaptive_avgpool2d_forward_cpu(const AdaptivePool2dParams& p, const float* x, float* y);
void adaptive_avgpool2d_backward_cpu(const AdaptivePool2dParams& p, const float* dy, float* dx);

// ---- fused activations ----
// y = relu(x + b[c]) over (N, C, L); b (C)
void bias_relu_forward_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* b, float* y);
// dx = dy * (y > 0); db[c] = sum over N, L of dx | null
void bias_relu_backward_cpu(int64_t N, int64_t C, int64_t L, const float* dy, const float* y, float* dx, float* db);
// y = relu(a + b), n elements
void add_relu_forward_cpu(int64_t n, const float* a, const float* b, float* y);
// dx = dy * (y > 0): the gradient of both addends (and of a plain relu)
void relu_backward_cpu(int64_t n, const float* dy, const float* y, float* dx);

// ---- softmax and losses over rows: x (R, K) ----
void softmax_forward_cpu(int64_t R, int64_t K, const float* x, float* y, bool log);
// dx from y = softmax(x) or log_softmax(x) and dy
void softmax_backward_cpu(int64_t R, int64_t K, const float* y, const float* dy, float* dx, bool log);
// loss[r] = -logp[r, t[r]] (0 where t[r] == ignore_index); t int32 (R); out of range t -> throws ERR_ARG on CPU
void nll_forward_cpu(int64_t R, int64_t K, const float* logp, const int32_t* t, int32_t ignore_index, float* loss);
// dlogp (R, K) overwritten: -g[r] at t[r], 0 elsewhere; g (R) the upstream gradient per row
void nll_backward_cpu(int64_t R, int64_t K, const int32_t* t, int32_t ignore_index, const float* g, float* dlogp);
// Cross-entropy with the mean over the rows whose target is not ignore_index, in one op (CPU): logp (R, K) =
// log_softmax(x), kept for the backward; loss[0] = -sum logp[r, t[r]] / count (NaN when count == 0). Its
// backward: dx = (exp(logp) - onehot(t)) * g[0] / count, 0 on ignored rows, as log_softmax's of nll's.
void cross_entropy_forward_cpu(int64_t R, int64_t K, const float* x, const int32_t* t, int32_t ignore_index, float* loss,
                               float* logp);
void cross_entropy_backward_cpu(int64_t R, int64_t K, const float* logp, const int32_t* t, int32_t ignore_index,
                                const float* g, float* dx);

// ---- dropout ----
// keep[i] = philox_unit(philox(offset + i, seed).v[0]) < 1 - p (core/philox.h; the Bernoulli draw of random_cpu);
// mask[i] = keep ? 1/(1-p) : 0; y = x * mask. p == 1 gives all zeros.
void dropout_forward_cpu(int64_t n, const float* x, float p, uint64_t seed, uint64_t offset, float* y, float* mask);

}  // namespace ck
