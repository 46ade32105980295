// The AVX2 + FMA row sums of batch norm (batchnorm.cc; compiled with -mavx2 -mfma, cpu/isa.h): 8 floats at a
// time in two 4-double accumulators, as the double-precision statistics need.
#include <immintrin.h>

#include <cstdint>

#include "cpu/batchnorm_kernels.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "batchnorm_avx2.cc must be compiled with -mavx2 -mfma (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

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

// The sum over one row of f(x[i]) in double: 8 floats a step into two 4-double accumulators (acc(v, a) adds
// f of the four values v into a), the tail element-wise (f). sum_row is f(v) = v, sqdev_row f(v) = (v - mean)^2.
template <class Acc, class F>
double reduce_row(const float* x, int64_t L, Acc acc, F f) {
  int64_t i = 0;
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  for (; i + 8 <= L; i += 8) {
    __m256d lo, hi;
    load8(x + i, &lo, &hi);
    a0 = acc(lo, a0);
    a1 = acc(hi, a1);
  }
  double s = hsum(_mm256_add_pd(a0, a1));
  for (; i < L; ++i) s += f(static_cast<double>(x[i]));
  return s;
}

double sum_row(const float* x, int64_t L) {
  return reduce_row(
      x, L, [](__m256d v, __m256d a) { return _mm256_add_pd(a, v); }, [](double v) { return v; });
}

double sqdev_row(const float* x, int64_t L, double mean) {
  const __m256d m = _mm256_set1_pd(mean);
  return reduce_row(
      x, L,
      [m](__m256d v, __m256d a) {
        const __m256d d = _mm256_sub_pd(v, m);
        return _mm256_fmadd_pd(d, d, a);
      },
      [mean](double v) {
        const double d = v - mean;
        return d * d;
      });
}

// Adds sum(dy) and sum(dy * (x - mean)) of one row to *sdy and *sdyx.
void dot_row(const float* dy, const float* x, int64_t L, double mean, double* sdy, double* sdyx) {
  double s = 0.0, t = 0.0;
  int64_t i = 0;
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
  for (; i < L; ++i) {
    const double g = static_cast<double>(dy[i]);
    s += g;
    t += g * (static_cast<double>(x[i]) - mean);
  }
  *sdy += s;
  *sdyx += t;
}

}  // namespace

extern const BnRowKernels kBnRowKernels = {sum_row, sqdev_row, dot_row};

}  // namespace avx2
}  // namespace ck
