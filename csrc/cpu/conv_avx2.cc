// The AVX2 + FMA pieces of the CPU convolution (compiled with -mavx2 -mfma; see cpu/isa.h for the rules and
// cpu/conv_kernels.h for the contracts): the unroll/scatter runs with masked tails, the depthwise correlation
// row (4 independent FMA chains over 32 outputs, all taps in registers) and the depthwise weight taps (8 tap
// accumulators fed by one dy vector). The AVX-512 path uses these too (a 16-wide variant was not worth a
// file: depthwise rows of CIFAR/MobileNet sizes are 8 to 56 wide).
#include <immintrin.h>

#include <cstdint>

#include "cpu/conv_kernels.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "conv_avx2.cc must be compiled with -mavx2 -mfma (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

inline __m256i tail_mask(int64_t n) {  // lanes [0, n), 0 < n < 8
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
}

void copy_runs(float* d, int64_t dstep, const float* s, int64_t sstep, int64_t n, int64_t runs, bool over) {
  const int64_t n8 = n & ~int64_t{7};
  const __m256i m = tail_mask(n - n8 > 0 ? n - n8 : 1);
  for (int64_t r = 0; r < runs; ++r, d += dstep, s += sstep) {
    int64_t j = 0;
    for (; j < n8; j += 8) _mm256_storeu_ps(d + j, _mm256_loadu_ps(s + j));
    if (j < n) {
      if (over && r + 1 < runs) {
        _mm256_storeu_ps(d + j, _mm256_loadu_ps(s + j));
      } else {
        _mm256_maskstore_ps(d + j, m, _mm256_maskload_ps(s + j, m));
      }
    }
  }
}

void add_runs(float* d, int64_t dstep, const float* s, int64_t sstep, int64_t n, int64_t runs) {
  const int64_t n8 = n & ~int64_t{7};
  const __m256i m = tail_mask(n - n8 > 0 ? n - n8 : 1);
  for (int64_t r = 0; r < runs; ++r, d += dstep, s += sstep) {
    int64_t j = 0;
    for (; j < n8; j += 8) _mm256_storeu_ps(d + j, _mm256_add_ps(_mm256_loadu_ps(d + j), _mm256_loadu_ps(s + j)));
    if (j < n) _mm256_maskstore_ps(d + j, m, _mm256_add_ps(_mm256_maskload_ps(d + j, m), _mm256_maskload_ps(s + j, m)));
  }
}

void corr_row(float* out, const float* src, const float* w, float bias, int64_t nplanes, int64_t plane, int64_t KH,
              int64_t KW, int64_t rstep, int64_t cstep, int64_t n) {
  const __m256 vb = _mm256_set1_ps(bias);
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    __m256 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
    for (int64_t q = 0; q < nplanes; ++q)
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw) {
          const __m256 wv = _mm256_set1_ps(w[(q * KH + kh) * KW + kw]);
          const float* s = src + q * plane + kh * rstep + kw * cstep + j;
          a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s), a0);
          a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + 8), a1);
          a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + 16), a2);
          a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + 24), a3);
        }
    _mm256_storeu_ps(out + j, a0);
    _mm256_storeu_ps(out + j + 8, a1);
    _mm256_storeu_ps(out + j + 16, a2);
    _mm256_storeu_ps(out + j + 24, a3);
  }
  for (; j < n; j += 8) {
    __m256 a0 = vb;
    for (int64_t q = 0; q < nplanes; ++q)
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw)
          a0 = _mm256_fmadd_ps(_mm256_set1_ps(w[(q * KH + kh) * KW + kw]),
                               _mm256_loadu_ps(src + q * plane + kh * rstep + kw * cstep + j), a0);
    if (j + 8 <= n) {
      _mm256_storeu_ps(out + j, a0);
    } else {
      _mm256_maskstore_ps(out + j, tail_mask(n - j), a0);
    }
  }
}

void taps(const float* pad, int64_t prow, const float* dy, int64_t OH, int64_t OW, const int64_t* off, int64_t nt,
          double* sums) {
  __m256 a[8];
  for (int t = 0; t < 8; ++t) a[t] = _mm256_setzero_ps();
  const int64_t n8 = OW & ~int64_t{7};
  const __m256i m = tail_mask(OW - n8 > 0 ? OW - n8 : 1);
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* src = pad + oh * prow;
    const float* dr = dy + oh * OW;
    int64_t j = 0;
    for (; j < n8; j += 8) {
      const __m256 dv = _mm256_loadu_ps(dr + j);
      for (int64_t t = 0; t < nt; ++t) a[t] = _mm256_fmadd_ps(dv, _mm256_loadu_ps(src + off[t] + j), a[t]);
    }
    if (j < OW) {
      // Lanes past OW load both operands as 0: the input there is a real pixel (another tap's), and
      // 0 * inf or 0 * NaN would leak into this tap's sum.
      const __m256 dv = _mm256_maskload_ps(dr + j, m);
      for (int64_t t = 0; t < nt; ++t) a[t] = _mm256_fmadd_ps(dv, _mm256_maskload_ps(src + off[t] + j, m), a[t]);
    }
  }
  for (int64_t t = 0; t < nt; ++t) {
    alignas(32) float l[8];
    _mm256_store_ps(l, a[t]);
    for (int q = 0; q < 8; ++q) sums[t] += l[q];
  }
}

}  // namespace

const ConvKernels kConvKernels = {copy_runs, add_runs, corr_row, true, taps};

}  // namespace avx2
}  // namespace ck
