// The AVX2 rows of pooling (pool.cc, pool_kernels.h; compiled with -mavx2 -mfma, cpu/isa.h; they also serve the
// AVX-512 path: the rows are bound by memory). Max pool 2x2 stride 2 eight outputs at a time: the two input
// rows' 16 columns each are split into even and odd columns, the four taps compared in PyTorch's order with
// blends, the indices blended alongside; the backward writes both input rows of eight windows at once, so there
// is no zero-fill pass and no scatter. Global average pooling's plane sum adds floats in 16 lanes over blocks of
// 256 values, each block's total then added in double, a run of planes per call.
#include <immintrin.h>

#include <cstdint>

#include "cpu/pool_kernels.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "pool_avx2.cc must be compiled with -mavx2 -mfma (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

#include "cpu/lanes_avx2.inc"

inline int64_t clamp8(int64_t n) { return n < 0 ? 0 : (n > 8 ? 8 : n); }

// 16 floats of a row from column c (masked loads past `cols` columns: zeros, never read).
inline void load16(const float* p, int64_t cols, __m256* lo, __m256* hi) {
  if (cols >= 16) {
    *lo = _mm256_loadu_ps(p);
    *hi = _mm256_loadu_ps(p + 8);
  } else {
    *lo = _mm256_maskload_ps(p, lanes_below(clamp8(cols)));
    *hi = _mm256_maskload_ps(p + 8, lanes_below(clamp8(cols - 8)));
  }
}

// m, i <- v, iv where v > m or v is NaN (a max pool's running maximum and its index).
inline void take(__m256 v, __m256i iv, __m256* m, __m256i* i) {
  const __m256 t = _mm256_or_ps(_mm256_cmp_ps(v, *m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  *m = _mm256_blendv_ps(*m, v, t);
  *i = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(*i), _mm256_castsi256_ps(iv), t));
}
// Lanes in the order [0, 1, 4, 5, 2, 3, 6, 7] (what shuffle_ps of two halves gives) back to 0..7.
inline __m256 unshuffle(__m256 v) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xD8));
}

inline __attribute__((always_inline)) void max2x2_row(const float* x0, const float* x1, int64_t OW, int32_t i0, int32_t W,
                                                       float* y, int32_t* idx) {
  // The index of output lane k's first tap, in the shuffled lane order: 2 * [0, 1, 4, 5, 2, 3, 6, 7].
  const __m256i lane2 = _mm256_setr_epi32(0, 2, 8, 10, 4, 6, 12, 14);
  const __m256i one = _mm256_set1_epi32(1), wv = _mm256_set1_epi32(W), w1 = _mm256_set1_epi32(W + 1);
  for (int64_t ow = 0; ow < OW; ow += 8) {
    const int64_t n = OW - ow < 8 ? OW - ow : 8;
    __m256 a0, a1, b0, b1;
    load16(x0 + 2 * ow, 2 * n, &a0, &a1);
    load16(x1 + 2 * ow, 2 * n, &b0, &b1);
    const __m256i base = _mm256_add_epi32(_mm256_set1_epi32(i0 + static_cast<int32_t>(2 * ow)), lane2);
    __m256 m = _mm256_shuffle_ps(a0, a1, 0x88);  // tap (0, 0)
    __m256i i = base;
    take(_mm256_shuffle_ps(a0, a1, 0xDD), _mm256_add_epi32(base, one), &m, &i);  // (0, 1)
    take(_mm256_shuffle_ps(b0, b1, 0x88), _mm256_add_epi32(base, wv), &m, &i);   // (1, 0)
    take(_mm256_shuffle_ps(b0, b1, 0xDD), _mm256_add_epi32(base, w1), &m, &i);   // (1, 1)
    m = unshuffle(m);
    const __m256i io = _mm256_castps_si256(unshuffle(_mm256_castsi256_ps(i)));
    if (n == 8) {
      _mm256_storeu_ps(y + ow, m);
      if (idx) _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + ow), io);
    } else {
      const __m256i mk = lanes_below(n);
      _mm256_maskstore_ps(y + ow, mk, m);
      if (idx) _mm256_maskstore_epi32(idx + ow, mk, io);
    }
  }
}

inline __attribute__((always_inline)) bool max2x2_back_row(const float* dy, const int32_t* idx, int64_t OW, int32_t i0,
                                                            int32_t W, float* d0, float* d1) {
  const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i one = _mm256_set1_epi32(1), wv = _mm256_set1_epi32(W), w1 = _mm256_set1_epi32(W + 1);
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t ow = 0; ow < OW; ow += 8) {
    const int64_t n = OW - ow < 8 ? OW - ow : 8;
    const __m256i mk = lanes_below(n);
    const __m256 g = n == 8 ? _mm256_loadu_ps(dy + ow) : _mm256_maskload_ps(dy + ow, mk);
    const __m256i iv = n == 8 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + ow))
                              : _mm256_maskload_epi32(idx + ow, mk);
    const __m256i tap = _mm256_sub_epi32(iv, _mm256_add_epi32(_mm256_set1_epi32(i0 + static_cast<int32_t>(2 * ow)), lane2));
    const __m256 ta = _mm256_castsi256_ps(_mm256_cmpeq_epi32(tap, _mm256_setzero_si256()));
    const __m256 tb = _mm256_castsi256_ps(_mm256_cmpeq_epi32(tap, one));
    const __m256 tc = _mm256_castsi256_ps(_mm256_cmpeq_epi32(tap, wv));
    const __m256 td = _mm256_castsi256_ps(_mm256_cmpeq_epi32(tap, w1));
    const __m256 any = _mm256_or_ps(_mm256_or_ps(ta, tb), _mm256_or_ps(tc, td));
    if ((_mm256_movemask_ps(any) & ((1 << n) - 1)) != (1 << n) - 1) return false;
    // + 0: a -0 gradient lands as +0, as zero-fill + add would make it.
    const __m256 ga = _mm256_add_ps(_mm256_and_ps(g, ta), zero), gb = _mm256_add_ps(_mm256_and_ps(g, tb), zero);
    const __m256 gc = _mm256_add_ps(_mm256_and_ps(g, tc), zero), gd = _mm256_add_ps(_mm256_and_ps(g, td), zero);
    // Interleave (a, b) into row 0's 16 columns and (c, d) into row 1's.
    const __m256 l0 = _mm256_unpacklo_ps(ga, gb), h0 = _mm256_unpackhi_ps(ga, gb);
    const __m256 l1 = _mm256_unpacklo_ps(gc, gd), h1 = _mm256_unpackhi_ps(gc, gd);
    const __m256 r00 = _mm256_permute2f128_ps(l0, h0, 0x20), r01 = _mm256_permute2f128_ps(l0, h0, 0x31);
    const __m256 r10 = _mm256_permute2f128_ps(l1, h1, 0x20), r11 = _mm256_permute2f128_ps(l1, h1, 0x31);
    float* p0 = d0 + 2 * ow;
    float* p1 = d1 + 2 * ow;
    if (n == 8) {
      _mm256_storeu_ps(p0, r00);
      _mm256_storeu_ps(p0 + 8, r01);
      _mm256_storeu_ps(p1, r10);
      _mm256_storeu_ps(p1 + 8, r11);
    } else {
      const __m256i lo = lanes_below(clamp8(2 * n)), hi = lanes_below(clamp8(2 * n - 8));
      _mm256_maskstore_ps(p0, lo, r00);
      _mm256_maskstore_ps(p0 + 8, hi, r01);
      _mm256_maskstore_ps(p1, lo, r10);
      _mm256_maskstore_ps(p1 + 8, hi, r11);
    }
  }
  return true;
}

#include "cpu/pool_planes.inc"

double sum(const float* x, int64_t n) {
  double s = 0.0;
  for (int64_t b = 0; b < n; b += 256) {
    const int64_t e = n - b < 256 ? n : b + 256;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = b;
    for (; i + 16 <= e; i += 16) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
    }
    if (i + 8 <= e) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
      i += 8;
    }
    if (i < e) a1 = _mm256_add_ps(a1, _mm256_maskload_ps(x + i, lanes_below(e - i)));
    s += hsum(_mm256_add_ps(a0, a1));
  }
  return s;
}

// One call for a run of planes (ResNet's and the CIFAR-10 CNN's 7x7 / 8x8 maps are 49-64 values: a call and a
// horizontal sum per plane would be most of the work).
void mean_planes(const float* x, int64_t planes, int64_t n, double h, double w, float* y) {
  for (int64_t p = 0; p < planes; ++p) y[p] = static_cast<float>(sum(x + p * n, n) / h / w);
}

}  // namespace

extern const PoolKernels kPoolKernels = {max2x2_plane, max2x2_back_plane, mean_planes};

}  // namespace avx2
}  // namespace ck
