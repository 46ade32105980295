// Fused CPU kernels (see fused.h): conv + batch norm (eval) + residual + ReLU in the convolution's epilogue, and
// batch norm + ReLU in training mode, forward and backward, one channel at a time so that each channel's values
// are read from memory once (its N*L floats stay in L2 between the statistics and the normalising pass).
// Plain loops over contiguous rows with 8 independent double lanes, which the compiler vectorises.
#include "cpu/fused.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/nn_kernels.h"
#include "cpu/batchnorm_kernels.h"
#include "cpu/fused_kernels.h"
#include "cpu/isa.h"
#include "cpu/threadpool.h"

namespace ck {
namespace {

constexpr int kLanes = 8;

// Sum of x[i] and of (x[i] - mu)^2 over a row: 8 double lanes each.
void row_stats(const float* x, int64_t L, double mu, double* s, double* q) {
  double a[kLanes] = {}, b[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= L; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const double v = x[i + l];
      a[l] += v;
      b[l] += (v - mu) * (v - mu);
    }
  for (; i < L; ++i) {
    const double v = x[i];
    a[0] += v;
    b[0] += (v - mu) * (v - mu);
  }
  for (int l = 0; l < kLanes; ++l) {
    *s += a[l];
    *q += b[l];
  }
}

// PyTorch's InvStd: 1/sqrt(var + eps), but 0 when both are 0.
double inv_std(double var, double eps) { return (var != 0.0 || eps != 0.0) ? 1.0 / std::sqrt(var + eps) : 0.0; }

// The baseline rows of fused_kernels.h: plain loops.
double base_sum(const float* x, int64_t L) {
  double s = 0.0, unused = 0.0;
  row_stats(x, L, 0.0, &s, &unused);
  return s;
}
double base_sqdev(const float* x, int64_t L, double mean) {
  double s = 0.0, q = 0.0;
  row_stats(x, L, mean, &s, &q);
  return q;
}
void base_norm_relu(const float* x, int64_t L, float m, float k, float sh, float* y) {
  for (int64_t j = 0; j < L; ++j) {
    const float v = (x[j] - m) * k + sh;
    y[j] = v > 0.0f ? v : 0.0f;
  }
}
void base_relu_dot(const float* dr, const float* yr, const float* xr, int64_t L, double mu, double* sgs,
                   double* sgxs) {
  double sg[kLanes] = {}, sgx[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= L; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const double g = yr[j + l] > 0.0f ? dr[j + l] : 0.0f;
      sg[l] += g;
      sgx[l] += g * (xr[j + l] - mu);
    }
  for (; j < L; ++j) {
    const double g = yr[j] > 0.0f ? dr[j] : 0.0f;
    sg[0] += g;
    sgx[0] += g * (xr[j] - mu);
  }
  for (int l = 0; l < kLanes; ++l) {
    *sgs += sg[l];
    *sgxs += sgx[l];
  }
}
void base_relu_dx(const float* dr, const float* yr, const float* xr, int64_t L, float mg, float mf, float proj, float k,
                  float* dxr) {
  for (int64_t j = 0; j < L; ++j) {
    const float g = yr[j] > 0.0f ? dr[j] : 0.0f;
    dxr[j] = (g - mg - (xr[j] - mf) * proj) * k;
  }
}

const FusedBnKernels kBaseFusedBn = {base_norm_relu, base_relu_dot, base_relu_dx};
const BnRowKernels kBaseStats = {base_sum, base_sqdev, nullptr};

const FusedBnKernels& bn_rows() {
  static const FusedBnKernels& k = CK_AVX2_OR_BASE(kBaseFusedBn, avx2::kFusedBnKernels);
  return k;
}
// The statistics' rows: batch norm's own on the SIMD paths (the unfused layer's mean and variance, bit for bit).
const BnRowKernels& stat_rows() {
  static const BnRowKernels& k = CK_AVX2_OR_BASE(kBaseStats, avx2::kBnRowKernels);
  return k;
}

}  // namespace

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
    const double k = inv_std(running_var[o], eps) * (gamma ? gamma[o] : 1.0);
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

void batchnorm_relu_forward_train_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                                      const float* beta, float eps, float momentum, float* running_mean,
                                      float* running_var, float* y, float* save_mean, float* save_invstd) {
  check_batchnorm_training(N, C, L, "batchnorm_relu_forward_train");
  const int64_t n = N * L, CL = C * L;
  if (C == 0 || n == 0) return batchnorm_forward_train_cpu(N, C, L, x, gamma, beta, eps, momentum, running_mean,
                                                           running_var, y, save_mean, save_invstd);
  parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      // Two passes for the statistics, as PyTorch: the mean, then the squared deviations from it.
      const FusedBnKernels& k = bn_rows();
      const BnRowKernels& st = stat_rows();
      double s = 0.0, q = 0.0;
      for (int64_t i = 0; i < N; ++i) s += st.sum(x + i * CL + c * L, L);
      const double mu = s / static_cast<double>(n);
      for (int64_t i = 0; i < N; ++i) q += st.sqdev(x + i * CL + c * L, L, mu);
      const double invstd = inv_std(q / static_cast<double>(n), eps), m = momentum;
      if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * mu);
      if (running_var) running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * q / static_cast<double>(n - 1));
      save_mean[c] = static_cast<float>(mu);
      save_invstd[c] = static_cast<float>(invstd);
      const float mf = static_cast<float>(mu), kc = static_cast<float>(invstd * (gamma ? gamma[c] : 1.0));
      const float sh = beta ? beta[c] : 0.0f;
      for (int64_t i = 0; i < N; ++i) k.norm_relu(x + i * CL + c * L, L, mf, kc, sh, y + i * CL + c * L);
    }
  });
}

void batchnorm_relu_backward_cpu(int64_t N, int64_t C, int64_t L, const float* dy, const float* y, const float* x,
                                 const float* gamma, const float* save_mean, const float* save_invstd, float* dx,
                                 float* dgamma, float* dbeta) {
  check_batchnorm(N, C, L, "batchnorm_relu_backward");
  const int64_t n = N * L, CL = C * L;
  if (C == 0 || n == 0) {
    for (int64_t c = 0; c < C; ++c) {
      if (dgamma) dgamma[c] = 0.0f;
      if (dbeta) dbeta[c] = 0.0f;
    }
    return;
  }
  parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      // g = dy where y > 0 (ReLU's backward on its output, as PyTorch), then batch norm's backward of g.
      const FusedBnKernels& rk = bn_rows();
      const double mu = save_mean[c], invstd = save_invstd[c];
      double sdy = 0.0, sdyx = 0.0;
      for (int64_t i = 0; i < N; ++i) {
        const int64_t off = i * CL + c * L;
        rk.relu_dot(dy + off, y + off, x + off, L, mu, &sdy, &sdyx);
      }
      if (dgamma) dgamma[c] = static_cast<float>(sdyx * invstd);
      if (dbeta) dbeta[c] = static_cast<float>(sdy);
      if (!dx) continue;
      // dx = (g - mean(g) - (x - mu) * proj) * invstd * gamma, as batchnorm_backward_cpu.
      const double inv_n = 1.0 / static_cast<double>(n);
      const float mg = static_cast<float>(sdy * inv_n), proj = static_cast<float>(sdyx * invstd * invstd * inv_n);
      const float k = static_cast<float>(invstd * (gamma ? gamma[c] : 1.0)), mf = save_mean[c];
      for (int64_t i = 0; i < N; ++i) {
        const int64_t off = i * CL + c * L;
        rk.relu_dx(dy + off, y + off, x + off, L, mg, mf, proj, k, dx + off);
      }
    }
  });
}

}  // namespace ck
