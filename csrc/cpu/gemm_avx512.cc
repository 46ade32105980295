// The AVX-512 pieces of the GEMM (compiled with -mavx512f/bw/dq/vl -mavx2 -mfma; see cpu/isa.h for the
// rules): an 8x32 micro-kernel (16 of the 32 zmm registers hold accumulators: 16 independent FMA chains
// cover 2 FMA pipes x 4 cycles of latency, and 8 rows keep the common channel counts 32/64/128 free of
// edge tiles), the packing fast paths and the dot product of gemv.
#include <immintrin.h>

#include <cstdint>

#include "cpu/gemm_kernels.h"

#if !defined(__AVX512F__) || !defined(__AVX512VL__) || !defined(__FMA__)
#error "gemm_avx512.cc must be compiled with the AVX-512 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx512 {
namespace {

#include "cpu/gemm_pack.inc"

constexpr int64_t MR = 8;
constexpr int64_t NR = 32;
static_assert(MR <= kGemmMaxMR && NR <= kGemmMaxNR, "edge scratch too small");

inline void store_row(float* c, __m512 lo, __m512 hi, __m512 valpha, __m512 vbeta, bool read_c) {
  lo = _mm512_mul_ps(lo, valpha);
  hi = _mm512_mul_ps(hi, valpha);
  if (read_c) {
    lo = _mm512_fmadd_ps(vbeta, _mm512_loadu_ps(c), lo);
    hi = _mm512_fmadd_ps(vbeta, _mm512_loadu_ps(c + 16), hi);
  }
  _mm512_storeu_ps(c, lo);
  _mm512_storeu_ps(c + 16, hi);
}

// Packed: b is kc groups of NR floats, 64-byte aligned. Otherwise b is read in place, row k at b + k*ldb
// (unaligned), and the row 8 steps ahead is prefetched (two lines: a row of 32 floats spans two or three).
template <bool Packed>
inline void micro_impl(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t ldb, float* c,
                       int64_t ldc, float alpha, float beta) {
  prefetch_c_tile<MR, NR>(c, ldc);
  const int64_t bstep = Packed ? NR : ldb;
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
  __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
  __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
  __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
  // Broadcasts fold into the FMAs' memory operand ({1to16}), so a step is 2 loads + 16 FMAs.
#define CK_GEMM512_ROW(r)                        \
  {                                              \
    const __m512 av = _mm512_set1_ps(a[(r)]);    \
    c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);  \
    c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);  \
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = Packed ? _mm512_load_ps(b) : _mm512_loadu_ps(b);
    const __m512 b1 = Packed ? _mm512_load_ps(b + 16) : _mm512_loadu_ps(b + 16);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * bstep), _MM_HINT_T0);
    if (!Packed) _mm_prefetch(reinterpret_cast<const char*>(b + 8 * bstep + NR - 1), _MM_HINT_T0);
    CK_GEMM512_ROW(0)
    CK_GEMM512_ROW(1)
    CK_GEMM512_ROW(2)
    CK_GEMM512_ROW(3)
    CK_GEMM512_ROW(4)
    CK_GEMM512_ROW(5)
    CK_GEMM512_ROW(6)
    CK_GEMM512_ROW(7)
    a += MR;
    b += bstep;
  }
#undef CK_GEMM512_ROW
  const __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
  const bool read_c = beta != 0.0f;
  store_row(c + 0 * ldc, c00, c01, valpha, vbeta, read_c);
  store_row(c + 1 * ldc, c10, c11, valpha, vbeta, read_c);
  store_row(c + 2 * ldc, c20, c21, valpha, vbeta, read_c);
  store_row(c + 3 * ldc, c30, c31, valpha, vbeta, read_c);
  store_row(c + 4 * ldc, c40, c41, valpha, vbeta, read_c);
  store_row(c + 5 * ldc, c50, c51, valpha, vbeta, read_c);
  store_row(c + 6 * ldc, c60, c61, valpha, vbeta, read_c);
  store_row(c + 7 * ldc, c70, c71, valpha, vbeta, read_c);
}

void micro_kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta) {
  micro_impl<true>(kc, a, b, NR, c, ldc, alpha, beta);
}

void micro_kernel_rows(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
                       float beta) {
  micro_impl<false>(kc, a, b, ldb, c, ldc, alpha, beta);
}

// micro_rows for a right-edge panel of n < NR columns, B read in place under a mask and C written under one:
// one accumulator per row when n <= 16 (half the FMAs of a full tile), two otherwise.
void micro_rows_edge(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t ldb, float* c,
                     int64_t ldc, float alpha, float beta, int64_t n) {
  const bool two = n > 16;
  const __mmask16 m0 = two ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
  const __mmask16 m1 = two ? static_cast<__mmask16>((1u << (n - 16)) - 1) : static_cast<__mmask16>(0);
  __m512 lo[MR], hi[MR];
  for (int r = 0; r < MR; ++r) lo[r] = hi[r] = _mm512_setzero_ps();
  if (two) {
    for (int64_t k = 0; k < kc; ++k, a += MR, b += ldb) {
      const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512 av = _mm512_set1_ps(a[r]);
        lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
        hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
      }
    }
  } else {
    for (int64_t k = 0; k < kc; ++k, a += MR, b += ldb) {
      const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) lo[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r]), b0, lo[r]);
    }
  }
  const __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    __m512 v0 = _mm512_mul_ps(lo[r], valpha);
    if (beta != 0.0f) v0 = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m0, cr), v0);
    _mm512_mask_storeu_ps(cr, m0, v0);
    if (two) {
      __m512 v1 = _mm512_mul_ps(hi[r], valpha);
      if (beta != 0.0f) v1 = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m1, cr + 16), v1);
      _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
  }
}

// Rows contiguous in k: 8 k-values of the 8 rows at a time, one 8x8 transpose.
int64_t pack_a_rows8(const float* src, int64_t rs, int64_t kc, float* dst) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    const float* q = src + k;
    transpose8_store(_mm256_loadu_ps(q), _mm256_loadu_ps(q + rs), _mm256_loadu_ps(q + 2 * rs),
                     _mm256_loadu_ps(q + 3 * rs), _mm256_loadu_ps(q + 4 * rs), _mm256_loadu_ps(q + 5 * rs),
                     _mm256_loadu_ps(q + 6 * rs), _mm256_loadu_ps(q + 7 * rs), dst, MR);
    dst += 8 * MR;
  }
  return k;
}

float dot(int64_t K, const float* x, const float* y) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 64 <= K; k += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_loadu_ps(y + k), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(y + k + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 32), _mm512_loadu_ps(y + k + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 48), _mm512_loadu_ps(y + k + 48), s3);
  }
  for (; k + 16 <= K; k += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_loadu_ps(y + k), s0);
  if (k < K) {  // the tail under a mask: no scalar loop
    const __mmask16 m = static_cast<__mmask16>((1u << (K - k)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + k), _mm512_maskz_loadu_ps(m, y + k), s1);
  }
  // Through memory: GCC 12's AVX-512 reduce/shuffle/extract intrinsics trip -Wuninitialized in its header.
  alignas(64) float t[16];
  _mm512_store_ps(t, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  float r = 0.0f;
  for (int i = 0; i < 16; ++i) r += t[i];
  return r;
}

// 8 sums of the lanes of x[0..7] (16 lanes each): fold to 8 lanes, then a horizontal-add tree.
inline __m256 sum8(const __m512* x) {
  __m256 h[8];
  for (int i = 0; i < 8; ++i)
    // (zero-masked extracts: GCC 12's unmasked extract and cast intrinsics trip -Wuninitialized in its header)
    h[i] = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, x[i], 0), _mm512_maskz_extractf32x8_ps(0xFF, x[i], 1));
  const __m256 h01 = _mm256_hadd_ps(h[0], h[1]), h23 = _mm256_hadd_ps(h[2], h[3]);
  const __m256 h45 = _mm256_hadd_ps(h[4], h[5]), h67 = _mm256_hadd_ps(h[6], h[7]);
  const __m256 q0 = _mm256_hadd_ps(h01, h23), q1 = _mm256_hadd_ps(h45, h67);
  // q0 = [s0 s1 s2 s3 | s0' s1' s2' s3'] (lower and upper 128-bit halves of each sum), q1 likewise for 4-7.
  return _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
}

constexpr int kDotM = 4, kDotN = 6;

// c[i*ldc + j] = sum_{k < kc} a[i*lda + k] * b[j*ldb + k] (+ beta * c) for i < m <= 4, j < n <= 6: 24
// accumulators vectorised along k, 4 + 6 loads per 24 FMAs, no packing (both operands are read along their
// rows). Missing rows repeat the last one (their sums are dropped); the k tail loads under a mask.
void dot_tile(int64_t m, int64_t n, int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
              int64_t ldc, float beta) {
  const float* ap[kDotM];
  const float* bp[kDotN];
  for (int i = 0; i < kDotM; ++i) ap[i] = a + (i < m ? i : m - 1) * lda;
  for (int j = 0; j < kDotN; ++j) bp[j] = b + (j < n ? j : n - 1) * ldb;
  __m512 acc[kDotM * kDotN];
  for (int q = 0; q < kDotM * kDotN; ++q) acc[q] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    __m512 av[kDotM];
    for (int i = 0; i < kDotM; ++i) av[i] = _mm512_loadu_ps(ap[i] + k);
#pragma GCC unroll 6
    for (int j = 0; j < kDotN; ++j) {
      const __m512 bv = _mm512_loadu_ps(bp[j] + k);
      for (int i = 0; i < kDotM; ++i) acc[i * kDotN + j] = _mm512_fmadd_ps(av[i], bv, acc[i * kDotN + j]);
    }
  }
  if (k < kc) {
    const __mmask16 mk = static_cast<__mmask16>((1u << (kc - k)) - 1);
    __m512 av[kDotM];
    for (int i = 0; i < kDotM; ++i) av[i] = _mm512_maskz_loadu_ps(mk, ap[i] + k);
    for (int j = 0; j < kDotN; ++j) {
      const __m512 bv = _mm512_maskz_loadu_ps(mk, bp[j] + k);
      for (int i = 0; i < kDotM; ++i) acc[i * kDotN + j] = _mm512_fmadd_ps(av[i], bv, acc[i * kDotN + j]);
    }
  }
  // 24 sums, row-major (i, j), in three groups of 8.
  alignas(32) float s[kDotM * kDotN];
  for (int q = 0; q < kDotM * kDotN; q += 8) _mm256_store_ps(s + q, sum8(acc + q));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float* cij = c + i * ldc + j;
      *cij = beta == 0.0f ? s[i * kDotN + j] : s[i * kDotN + j] + beta * *cij;
    }
}

}  // namespace

// KC: a 32 x KC B sliver (32 KiB) plus an 8 x KC A sliver (8 KiB) fit a 48 KiB L1d. MC: the A block in
// L2 (and the small-M threshold); NC: the KC x NC B panel (4 MiB) in L3.
extern const GemmKernels kGemmKernels = {MR,  NR, 256, 144, 4096, micro_kernel, SimdPack<MR, NR, pack_a_rows8>::a,
                                         SimdPack<MR, NR, pack_a_rows8>::b, dot, micro_kernel_rows,
                                         micro_rows_edge, kDotM, kDotN, dot_tile};

}  // namespace avx512
}  // namespace ck
