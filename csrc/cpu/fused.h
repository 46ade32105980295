// Fused CPU kernels that PyTorch eager runs as separate ops (NCHW, float32):
//  - eval mode: Conv2d -> BatchNorm2d (running statistics) [-> + residual] [-> ReLU] in the convolution's epilogue:
//    each output tile is normalised, added to and clamped while it is still in cache, by the Winograd output
//    transform or right after the direct path's GEMM writes a band;
//  - training mode: BatchNorm2d -> ReLU in one pass per channel (statistics, then normalise + clamp while the
//    channel's values are still in cache), and its backward in one pass too, the ReLU mask recomputed from the
//    input (so it reads dy and x only); defined in batchnorm.cc, which shares its loops with plain batch norm.
// Numerics follow PyTorch's unfused ops: statistics in double, running variance unbiased, the same InvStd.
#pragma once
#include <cstdint>

#include "core/nn_params.h"

namespace ck {

// Per-output-channel epilogue of a convolution: y = relu?((conv + bias) * scale[o] + shift[o] (+ residual)).
// Pointers may be null (scale/shift null: identity, residual null: none).
struct ConvEpilogue {
  const float* scale = nullptr;     // (O)
  const float* shift = nullptr;     // (O)
  const float* residual = nullptr;  // (N, O, OH, OW)
  bool relu = false;
  bool active() const { return scale || shift || residual || relu; }
  // Row r (n * O + o) of the output, columns [q0, q0 + n): the epilogue in place over conv + bias.
  void apply(float* y, int64_t row, int64_t O, int64_t P, int64_t q0, int64_t n) const;
};

// conv2d forward with an epilogue (csrc/cpu/conv.cc): Winograd or the direct path, as conv2d_forward_cpu.
void conv2d_forward_epilogue_cpu(const Conv2dParams& p, const float* x, const float* w, const float* b,
                                 const ConvEpilogue& ep, float* y);

// Eval mode: y = relu?(bn(conv(x, w) + b) (+ residual)) with bn by running statistics; gamma, beta, b, residual
// may be null.
void conv2d_bn_act_eval_cpu(const Conv2dParams& p, const float* x, const float* w, const float* b, const float* gamma,
                            const float* beta, const float* running_mean, const float* running_var, float eps,
                            const float* residual, bool relu, float* y);

// PyTorch's InvStd: 1/sqrt(var + eps), but 0 when both are 0 (batchnorm.cc).
double batchnorm_inv_std(double var, double eps);

// Training mode: y = relu(batchnorm(x)) with batch statistics over (N, L) per channel of x (N, C, L); saves mean
// and invstd, updates the running statistics (may be null) with momentum as batchnorm_forward_train_cpu.
void batchnorm_relu_forward_train_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                                      const float* beta, float eps, float momentum, float* running_mean,
                                      float* running_var, float* y, float* save_mean, float* save_invstd);
// Its backward: dy masked where the forward's output was > 0 (recomputed from x, gamma, beta and the saved
// mean / invstd, bit for bit as the forward rounded it), then batch norm's backward. gamma, beta: the forward's
// (null: none). dx (overwritten), dgamma/dbeta (C) | null.
void batchnorm_relu_backward_cpu(int64_t N, int64_t C, int64_t L, const float* dy, const float* x, const float* gamma,
                                 const float* beta, const float* save_mean, const float* save_invstd, float* dx,
                                 float* dgamma, float* dbeta);


// Training mode: y = maxpool2x2(relu(batchnorm(x))) for x (N, C, H, W): 2x2 windows, stride 2, floor (y is
// (N, C, H/2, W/2)), indices as max_pool2d's (flat within the H x W plane, PyTorch's tie and NaN rules); the
// statistics, running statistics and saved mean / invstd (not null) as batchnorm_relu_forward_train_cpu.
// relu(batchnorm(x)) itself is never stored.
void batchnorm_relu_maxpool2_forward_train_cpu(int64_t N, int64_t C, int64_t H, int64_t W, const float* x,
                                               const float* gamma, const float* beta, float eps, float momentum,
                                               float* running_mean, float* running_var, float* y, int32_t* indices,
                                               float* save_mean, float* save_invstd);
// Its backward from the pooled gradient dy (N, C, H/2, W/2) and the indices: dx (N, C, H, W) (overwritten; may be
// null), dgamma / dbeta (C) | null, as batchnorm_relu_backward_cpu of the pool's backward of dy.
void batchnorm_relu_maxpool2_backward_cpu(int64_t N, int64_t C, int64_t H, int64_t W, const float* dy,
                                          const int32_t* indices, const float* x, const float* gamma,
                                          const float* beta, const float* save_mean, const float* save_invstd,
                                          float* dx, float* dgamma, float* dbeta);

}  // namespace ck
