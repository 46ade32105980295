// CPU reference for batch norm over (N, C, L) contiguous (L = H*W for BatchNorm2d, 1 or the length for
// BatchNorm1d), with PyTorch's semantics:
//   training: mean and biased variance per channel over the n = N*L values (two passes, accumulated in
//             double, as PyTorch's CPU kernel does); save_invstd = 1/sqrt(var + eps), 0 when var == eps == 0
//             (PyTorch's InvStd); running_mean = (1-m)*running_mean + m*mean and
//             running_var = (1-m)*running_var + m*var*n/(n-1); n == 1 throws ERR_SHAPE as F.batch_norm.
//   eval:     the running statistics.
//   backward: of the training forward: dbeta = sum(dy), dgamma = sum(dy * xhat),
//             dx = gamma*invstd/n * (n*dy - dbeta - xhat*dgamma).
// Statistics are parallel over channels; the elementwise passes are parallel over the N*C rows of L.
// The row sums run on AVX2 in double lanes (batchnorm_avx2.cc) on the AVX paths of cpu/isa.h, else scalar.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>
#include "../core/error.h"
#include "../core/nn_kernels.h"
#include "batchnorm_kernels.h"
#include "isa.h"
#include "threadpool.h"

namespace ck {

namespace {

constexpr int64_t kRowGrainElems = 1 << 14;  // elements per parallel chunk, at least

int64_t grain_for(int64_t per_item) { return per_item >= kRowGrainElems ? 1 : kRowGrainElems / (per_item + 1) + 1; }

double base_sum_row(const float* x, int64_t L) {
  double s = 0.0;
  for (int64_t i = 0; i < L; ++i) s += static_cast<double>(x[i]);
  return s;
}

double base_sqdev_row(const float* x, int64_t L, double mean) {
  double s = 0.0;
  for (int64_t i = 0; i < L; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    s += d * d;
  }
  return s;
}

// Adds sum(dy) and sum(dy * (x - mean)) of one row to *sdy and *sdyx.
void base_dot_row(const float* dy, const float* x, int64_t L, double mean, double* sdy, double* sdyx) {
  double s = 0.0, t = 0.0;
  for (int64_t i = 0; i < L; ++i) {
    const double g = static_cast<double>(dy[i]);
    s += g;
    t += g * (static_cast<double>(x[i]) - mean);
  }
  *sdy += s;
  *sdyx += t;
}

const BnRowKernels kBaseRows = {base_sum_row, base_sqdev_row, base_dot_row};

// The ISA path in use (cpu/isa.h); the AVX-512 path uses the AVX2 rows (the sums are bound by memory).
const BnRowKernels& rows() {
  static const BnRowKernels& k = CK_AVX2_OR_BASE(kBaseRows, avx2::kBnRowKernels);
  return k;
}

// Both per-channel outputs (either may be null) zeroed: the results over an empty batch.
void zero_channels(int64_t C, float* a, float* b) {
  for (int64_t c = 0; c < C; ++c) {
    if (a) a[c] = 0.0f;
    if (b) b[c] = 0.0f;
  }
}

// y = (x - mean[c]) * scale[c] + shift[c] over the N*C rows.
void apply_affine(int64_t N, int64_t C, int64_t L, const float* x, const float* mean, const float* scale,
                  const float* shift, float* y) {
  parallel_for(N * C, grain_for(L), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t c = r % C;
      const float m = mean[c], k = scale[c], b = shift[c];
      const float* xr = x + r * L;
      float* yr = y + r * L;
      for (int64_t i = 0; i < L; ++i) yr[i] = (xr[i] - m) * k + b;
    }
  });
}

// PyTorch's InvStd: 1/sqrt(var + eps), but 0 when both are 0.
double inv_std(double var, double eps) { return (var != 0.0 || eps != 0.0) ? 1.0 / std::sqrt(var + eps) : 0.0; }

// invstd * gamma[c] (gamma null: weight 1), the per-channel factor of the normalised output and of dx.
float gamma_scale(double invstd, const float* gamma, int64_t c) {
  return static_cast<float>(invstd * (gamma ? static_cast<double>(gamma[c]) : 1.0));
}

// The per-channel pass of training forward and backward: per_channel(c) for every channel, in parallel.
// Before it, the empty cases: nothing when C == 0; a and b (either may be null) zeroed when the batch is
// empty (PyTorch leaves the running statistics alone then). False when there was nothing to compute.
template <class PerChannel>
bool for_each_channel(int64_t N, int64_t C, int64_t L, float* a, float* b, PerChannel per_channel) {
  if (C == 0) return false;
  if (N * L == 0) {
    zero_channels(C, a, b);
    return false;
  }
  parallel_for(C, grain_for(N * L), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) per_channel(c);
  });
  return true;
}

}  // namespace

void batchnorm_forward_train_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                 float eps, float momentum, float* running_mean, float* running_var, float* y,
                                 float* save_mean, float* save_invstd) {
  check_batchnorm_training(N, C, L, "batchnorm_forward_train");
  const int64_t n = N * L, CL = C * L;
  std::vector<float> mean(C), scale(C), shift(C);
  const BnRowKernels& rk = rows();
  const bool any = for_each_channel(N, C, L, save_mean, save_invstd, [&](int64_t c) {
    const float* xc = x + c * L;
    double s = 0.0;
    for (int64_t i = 0; i < N; ++i) s += rk.sum(xc + i * CL, L);
    const double mu = s / static_cast<double>(n);
    double q = 0.0;
    for (int64_t i = 0; i < N; ++i) q += rk.sqdev(xc + i * CL, L, mu);
    const double var = q / static_cast<double>(n);
    const double invstd = inv_std(var, static_cast<double>(eps));
    const double m = static_cast<double>(momentum);
    if (running_mean)
      running_mean[c] = static_cast<float>((1.0 - m) * static_cast<double>(running_mean[c]) + m * mu);
    if (running_var)
      running_var[c] = static_cast<float>((1.0 - m) * static_cast<double>(running_var[c]) +
                                          m * q / static_cast<double>(n - 1));
    if (save_mean) save_mean[c] = static_cast<float>(mu);
    if (save_invstd) save_invstd[c] = static_cast<float>(invstd);
    mean[c] = static_cast<float>(mu);
    scale[c] = gamma_scale(invstd, gamma, c);
    shift[c] = beta ? beta[c] : 0.0f;
  });
  if (any) apply_affine(N, C, L, x, mean.data(), scale.data(), shift.data(), y);
}

void batchnorm_forward_eval_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                const float* running_mean, const float* running_var, float eps, float* y) {
  check_batchnorm(N, C, L, "batchnorm_forward_eval");
  if (!running_mean || !running_var)
    throw Error("ERR_ARG", "batchnorm_forward_eval: running_mean and running_var are required", ErrorKind::Type);
  if (N * C * L == 0) return;
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = inv_std(static_cast<double>(running_var[c]), static_cast<double>(eps));
    scale[c] = gamma_scale(invstd, gamma, c);
    shift[c] = beta ? beta[c] : 0.0f;
  }
  apply_affine(N, C, L, x, running_mean, scale.data(), shift.data(), y);
}

void batchnorm_backward_cpu(int64_t N, int64_t C, int64_t L, const float* dy, const float* x, const float* gamma,
                            const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta) {
  check_batchnorm(N, C, L, "batchnorm_backward");
  const int64_t n = N * L, CL = C * L;
  // dx = (dy - mdy[c] - (x - mean[c]) * proj[c]) * k[c]
  std::vector<float> mdy(C), proj(C), k(C);
  const BnRowKernels& rk = rows();
  const bool any = for_each_channel(N, C, L, dgamma, dbeta, [&](int64_t c) {
    const double mu = static_cast<double>(save_mean[c]);
    const double invstd = static_cast<double>(save_invstd[c]);
    double sdy = 0.0, sdyx = 0.0;
    for (int64_t i = 0; i < N; ++i) rk.dot(dy + i * CL + c * L, x + i * CL + c * L, L, mu, &sdy, &sdyx);
    if (dgamma) dgamma[c] = static_cast<float>(sdyx * invstd);
    if (dbeta) dbeta[c] = static_cast<float>(sdy);
    const double inv_n = 1.0 / static_cast<double>(n);
    mdy[c] = static_cast<float>(sdy * inv_n);
    proj[c] = static_cast<float>(sdyx * invstd * invstd * inv_n);
    k[c] = gamma_scale(invstd, gamma, c);
  });
  if (!any || !dx) return;
  parallel_for(N * C, grain_for(L), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t c = r % C;
      const float m = save_mean[c], g = mdy[c], p = proj[c], kk = k[c];
      const float* dyr = dy + r * L;
      const float* xr = x + r * L;
      float* dxr = dx + r * L;
      for (int64_t i = 0; i < L; ++i) dxr[i] = (dyr[i] - g - (xr[i] - m) * p) * kk;
    }
  });
}

}  // namespace ck
