// Fused CPU kernels (see fused.h): conv + batch norm (eval) + residual + ReLU in the convolution's epilogue. The
// training-mode batch norm + ReLU lives with batch norm (batchnorm.cc), whose forward and backward it shares.
#include "cpu/fused.h"

#include <vector>

#include "core/error.h"

namespace ck {

void ConvEpilogue::apply(float* y, int64_t row, int64_t O, int64_t P, int64_t q0, int64_t n) const {
  const int64_t o = row % O;
  const float sc = scale ? scale[o] : 1.0f, sh = shift ? shift[o] : 0.0f;
  float* yr = y + row * P + q0;
  const float* rr = residual ? residual + row * P + q0 : nullptr;
  if (rr) {
    for (int64_t j = 0; j < n; ++j) yr[j] = yr[j] * sc + sh + rr[j];
  } else {
    for (int64_t j = 0; j < n; ++j) yr[j] = yr[j] * sc + sh;
  }
  if (relu)
    for (int64_t j = 0; j < n; ++j) yr[j] = yr[j] > 0.0f ? yr[j] : 0.0f;
}

void conv2d_bn_act_eval_cpu(const Conv2dParams& p, const float* x, const float* w, const float* b, const float* gamma,
                            const float* beta, const float* running_mean, const float* running_var, float eps,
                            const float* residual, bool relu, float* y) {
  if (!running_mean || !running_var)
    throw Error("ERR_ARG", "conv2d_bn_act_eval: running_mean and running_var are required", ErrorKind::Type);
  // bn(z) = (z - mean) * invstd * gamma + beta = z * scale + shift, with z = conv + b (b folded into shift).
  std::vector<float> scale(static_cast<size_t>(p.O)), shift(static_cast<size_t>(p.O));
  for (int64_t o = 0; o < p.O; ++o) {
    const double k = batchnorm_inv_std(running_var[o], eps) * (gamma ? gamma[o] : 1.0);
    scale[o] = static_cast<float>(k);
    shift[o] = static_cast<float>((beta ? beta[o] : 0.0) + ((b ? b[o] : 0.0) - running_mean[o]) * k);
  }
  ConvEpilogue ep;
  ep.scale = scale.data();
  ep.shift = shift.data();
  ep.residual = residual;
  ep.relu = relu;
  conv2d_forward_epilogue_cpu(p, x, w, nullptr, ep, y);
}

}  // namespace ck
