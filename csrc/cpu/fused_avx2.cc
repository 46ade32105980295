// The AVX2 + FMA rows of the fused training-mode batch norm + ReLU (fused.cc; compiled with -mavx2 -mfma, see
// cpu/isa.h): the statistics 8 floats at a time in 4-double accumulators, the ReLU mask as a compare, no
// branches (the baseline's per-element `y > 0 ? dy : 0` in double was a mispredicted branch per element: a
// third of the CIFAR-10 CNN's training step went into it). Also serves the AVX-512 path (memory-bound rows).
#include <immintrin.h>

#include <cstdint>

#include "cpu/fused_kernels.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "fused_avx2.cc must be compiled with -mavx2 -mfma (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

// A product the compiler may not fuse into the next add (GCC contracts _mm256_mul_ps + _mm256_sub_ps into an
// FMA under -mfma): the rows must round as batch norm's unfused loops do, since the backward of a channel with
// very few values (ResNet's 1x1 maps at batch 2) is all cancellation and the fused-vs-unfused test compares it.
inline __m256 mul_exact(__m256 a, __m256 b) {
  __m256 p = _mm256_mul_ps(a, b);
  __asm__("" : "+x"(p));
  return p;
}

inline __m256i tail_mask(int64_t n) {  // lanes [0, n), 0 < n < 8
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline void widen(__m256 v, __m256d* lo, __m256d* hi) {
  *lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  *hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}
inline double hsum(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
// 8 floats of p from j (a masked load past L: zeros).
inline __m256 load(const float* p, int64_t j, int64_t L) {
  return j + 8 <= L ? _mm256_loadu_ps(p + j) : _mm256_maskload_ps(p + j, tail_mask(L - j));
}

void norm_relu(const float* x, int64_t L, float m, float k, float sh, float* y) {
  const __m256 vm = _mm256_set1_ps(m), vk = _mm256_set1_ps(k), vs = _mm256_set1_ps(sh), z = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= L; j += 8)
    _mm256_storeu_ps(y + j, _mm256_max_ps(_mm256_add_ps(mul_exact(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm), vk), vs), z));
  if (j < L) {
    const __m256i mk = tail_mask(L - j);
    _mm256_maskstore_ps(y + j, mk, _mm256_max_ps(_mm256_add_ps(mul_exact(_mm256_sub_ps(_mm256_maskload_ps(x + j, mk), vm), vk), vs), z));
  }
}

// g = dy where y > 0 (masked-off tail lanes load y = 0: g = 0 there).
inline __m256 relu_grad(const float* dy, const float* y, int64_t j, int64_t L) {
  return _mm256_and_ps(load(dy, j, L), _mm256_cmp_ps(load(y, j, L), _mm256_setzero_ps(), _CMP_GT_OQ));
}

void relu_dot(const float* dy, const float* y, const float* x, int64_t L, double mean, double* sg, double* sgx) {
  const __m256d m = _mm256_set1_pd(mean);
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), b0 = _mm256_setzero_pd(), b1 = _mm256_setzero_pd();
  for (int64_t j = 0; j < L; j += 8) {
    __m256d glo, ghi, xlo, xhi;
    widen(relu_grad(dy, y, j, L), &glo, &ghi);
    widen(load(x, j, L), &xlo, &xhi);
    a0 = _mm256_add_pd(a0, glo);
    a1 = _mm256_add_pd(a1, ghi);
    b0 = _mm256_fmadd_pd(glo, _mm256_sub_pd(xlo, m), b0);
    b1 = _mm256_fmadd_pd(ghi, _mm256_sub_pd(xhi, m), b1);
  }
  *sg += hsum(_mm256_add_pd(a0, a1));
  *sgx += hsum(_mm256_add_pd(b0, b1));
}

void relu_dx(const float* dy, const float* y, const float* x, int64_t L, float mg, float m, float proj, float k,
             float* dx) {
  const __m256 vmg = _mm256_set1_ps(mg), vm = _mm256_set1_ps(m), vp = _mm256_set1_ps(proj), vk = _mm256_set1_ps(k);
  for (int64_t j = 0; j < L; j += 8) {
    const __m256 g = relu_grad(dy, y, j, L);
    const __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(g, vmg), mul_exact(_mm256_sub_ps(load(x, j, L), vm), vp)), vk);
    if (j + 8 <= L) {
      _mm256_storeu_ps(dx + j, d);
    } else {
      _mm256_maskstore_ps(dx + j, tail_mask(L - j), d);
    }
  }
}

}  // namespace

const FusedBnKernels kFusedBnKernels = {norm_relu, relu_dot, relu_dx};

}  // namespace avx2
}  // namespace ck
