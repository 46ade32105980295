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
// The row sums run on AVX2 in double lanes (a scalar loop where AVX2/FMA is not enabled).
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include "../core/error.h"
#include "../core/nn_kernels.h"
#include "threadpool.h"

namespace ck {

namespace {

constexpr int64_t kRowGrainElems = 1 << 14;  // elements per parallel chunk, at least

int64_t grain_for(int64_t per_item) { return per_item >= kRowGrainElems ? 1 : kRowGrainElems / (per_item + 1) + 1; }

#if defined(__AVX2__) && defined(__FMA__)
// 8 floats as two 4-double vectors.
inline void load8(const float* p, __m256d* lo, __m256d* hi) {
  const __m256 v = _mm256_loadu_ps(p);
  *lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  *hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}
inline double hsum(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
#endif

double sum_row(const float* x, int64_t L) {
  double s = 0.0;
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  for (; i + 8 <= L; i += 8) {
    __m256d lo, hi;
    load8(x + i, &lo, &hi);
    a0 = _mm256_add_pd(a0, lo);
    a1 = _mm256_add_pd(a1, hi);
  }
  s = hsum(_mm256_add_pd(a0, a1));
#endif
  for (; i < L; ++i) s += static_cast<double>(x[i]);
  return s;
}

double sqdev_row(const float* x, int64_t L, double mean) {
  double s = 0.0;
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256d m = _mm256_set1_pd(mean);
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  for (; i + 8 <= L; i += 8) {
    __m256d lo, hi;
    load8(x + i, &lo, &hi);
    lo = _mm256_sub_pd(lo, m);
    hi = _mm256_sub_pd(hi, m);
    a0 = _mm256_fmadd_pd(lo, lo, a0);
    a1 = _mm256_fmadd_pd(hi, hi, a1);
  }
  s = hsum(_mm256_add_pd(a0, a1));
#endif
  for (; i < L; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    s += d * d;
  }
  return s;
}

// Adds sum(dy) and sum(dy * (x - mean)) of one row to *sdy and *sdyx.
void dot_row(const float* dy, const float* x, int64_t L, double mean, double* sdy, double* sdyx) {
  double s = 0.0, t = 0.0;
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256d m = _mm256_set1_pd(mean);
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), b0 = _mm256_setzero_pd(), b1 = _mm256_setzero_pd();
  for (; i + 8 <= L; i += 8) {
    __m256d glo, ghi, xlo, xhi;
    load8(dy + i, &glo, &ghi);
    load8(x + i, &xlo, &xhi);
    a0 = _mm256_add_pd(a0, glo);
    a1 = _mm256_add_pd(a1, ghi);
    b0 = _mm256_fmadd_pd(glo, _mm256_sub_pd(xlo, m), b0);
    b1 = _mm256_fmadd_pd(ghi, _mm256_sub_pd(xhi, m), b1);
  }
  s = hsum(_mm256_add_pd(a0, a1));
  t = hsum(_mm256_add_pd(b0, b1));
#endif
  for (; i < L; ++i) {
    const double g = static_cast<double>(dy[i]);
    s += g;
    t += g * (static_cast<double>(x[i]) - mean);
  }
  *sdy += s;
  *sdyx += t;
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

}  // namespace

void batchnorm_forward_train_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                 float eps, float momentum, float* running_mean, float* running_var, float* y,
                                 float* save_mean, float* save_invstd) {
  check_batchnorm_training(N, C, L, "batchnorm_forward_train");
  const int64_t n = N * L;
  if (C == 0) return;
  if (n == 0) {  // PyTorch leaves the running statistics alone on an empty batch
    for (int64_t c = 0; c < C; ++c) {
      if (save_mean) save_mean[c] = 0.0f;
      if (save_invstd) save_invstd[c] = 0.0f;
    }
    return;
  }
  std::vector<float> mean(C), scale(C), shift(C);
  const int64_t CL = C * L;
  parallel_for(C, grain_for(n), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const float* xc = x + c * L;
      double s = 0.0;
      for (int64_t i = 0; i < N; ++i) s += sum_row(xc + i * CL, L);
      const double mu = s / static_cast<double>(n);
      double q = 0.0;
      for (int64_t i = 0; i < N; ++i) q += sqdev_row(xc + i * CL, L, mu);
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
      scale[c] = static_cast<float>(invstd * (gamma ? static_cast<double>(gamma[c]) : 1.0));
      shift[c] = beta ? beta[c] : 0.0f;
    }
  });
  apply_affine(N, C, L, x, mean.data(), scale.data(), shift.data(), y);
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
    scale[c] = static_cast<float>(invstd * (gamma ? static_cast<double>(gamma[c]) : 1.0));
    shift[c] = beta ? beta[c] : 0.0f;
  }
  apply_affine(N, C, L, x, running_mean, scale.data(), shift.data(), y);
}

void batchnorm_backward_cpu(int64_t N, int64_t C, int64_t L, const float* dy, const float* x, const float* gamma,
                            const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta) {
  check_batchnorm(N, C, L, "batchnorm_backward");
  if (C == 0) return;
  const int64_t n = N * L;
  if (n == 0) {
    for (int64_t c = 0; c < C; ++c) {
      if (dgamma) dgamma[c] = 0.0f;
      if (dbeta) dbeta[c] = 0.0f;
    }
    return;
  }
  // dx = (dy - mdy[c] - (x - mean[c]) * proj[c]) * k[c]
  std::vector<float> mdy(C), proj(C), k(C);
  const int64_t CL = C * L;
  parallel_for(C, grain_for(n), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const double mu = static_cast<double>(save_mean[c]);
      const double invstd = static_cast<double>(save_invstd[c]);
      double sdy = 0.0, sdyx = 0.0;
      for (int64_t i = 0; i < N; ++i) dot_row(dy + i * CL + c * L, x + i * CL + c * L, L, mu, &sdy, &sdyx);
      if (dgamma) dgamma[c] = static_cast<float>(sdyx * invstd);
      if (dbeta) dbeta[c] = static_cast<float>(sdy);
      const double inv_n = 1.0 / static_cast<double>(n);
      mdy[c] = static_cast<float>(sdy * inv_n);
      proj[c] = static_cast<float>(sdyx * invstd * invstd * inv_n);
      k[c] = static_cast<float>(invstd * (gamma ? static_cast<double>(gamma[c]) : 1.0));
    }
  });
  if (!dx) return;
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
