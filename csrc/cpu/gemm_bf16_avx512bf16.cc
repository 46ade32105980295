// The AVX512_BF16 pieces of the BF16 GEMM (compiled with the AVX-512 flags plus -mavx512bf16; see cpu/isa.h for
// the rules, cpu/gemm_bf16.h for the numerics): an 8x32 micro-kernel on _mm512_dpbf16_ps (vdpbf16ps: 16 lanes,
// each a chain of two FP32 FMAs per k pair; 16 accumulators cover its latency on two ports) and the packing of B
// with the FP32 -> bf16 rounding in vector integer code (not vcvtne2ps2bf16, whose input-denormal handling would
// differ from the portable path's), bit for bit the portable packing.
// GCC 12's AVX-512 headers build some intrinsics on _mm512_undefined_* and then warn about it under -Wall
// (-Werror in CI): nothing here reads an undefined lane.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "cpu/gemm_bf16.h"

#if !defined(__AVX512F__) || !defined(__AVX512BF16__) || !defined(__AVX512BW__)
#error "gemm_bf16_avx512bf16.cc must be compiled with the AVX-512 + AVX512_BF16 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx512bf16 {
namespace {

constexpr int64_t MR = 8;
constexpr int64_t NR = 32;
static_assert(MR <= kGemmBf16MaxMR && NR <= kGemmBf16MaxNR, "edge scratch too small");

void micro_kernel(int64_t kp, const uint32_t* __restrict a, const uint32_t* __restrict b, float* c, int64_t ldc,
                  bool accumulate) {
  __m512 acc[MR][2];  // fully unrolled below: stays in 16 zmm registers
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t p = 0; p < kp; ++p) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 16);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[r]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
    }
    a += MR;
    b += NR;
  }
  // C = acc or C + acc: one FP32 add, as the portable kernel (no multiply here that could be contracted).
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    __m512 lo = acc[r][0], hi = acc[r][1];
    if (accumulate) {
      lo = _mm512_add_ps(_mm512_loadu_ps(cr), lo);
      hi = _mm512_add_ps(_mm512_loadu_ps(cr + 16), hi);
    }
    _mm512_storeu_ps(cr, lo);
    _mm512_storeu_ps(cr + 16, hi);
  }
}

// 16 FP32 -> their bf16 bits in the low half of each lane: round to nearest even, NaN -> quiet NaN, a bf16
// denormal -> signed zero (gemm_bf16.cc's bf16_pack_bits).
__m512i bf16_bits16(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i hi = _mm512_srli_epi32(u, 16);
  const __m512i lsb = _mm512_and_si512(hi, _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), lsb), 16);
  const __mmask16 nan =
      _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
  r = _mm512_mask_or_epi32(r, nan, hi, _mm512_set1_epi32(0x40));
  const __mmask16 normal = _mm512_test_epi32_mask(r, _mm512_set1_epi32(0x7F80));
  return _mm512_mask_blend_epi32(normal, _mm512_and_si512(r, _mm512_set1_epi32(0x8000)), r);
}

inline __mmask16 first(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// Rows of B contiguous along j (cs == 1): each word row of a sliver is two B rows, 16 columns at a time.
void pack_b_rows(int64_t kc, int64_t nc, const float* b, int64_t rs, uint32_t* dst) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const __mmask16 m0 = first(nc - j0), m1 = first(nc - j0 - 16 > 0 ? nc - j0 - 16 : 0);
    for (int64_t p = 0; p < kp; ++p, dst += NR) {
      const float* r0 = b + 2 * p * rs + j0;
      const bool has1 = 2 * p + 1 < kc;
      for (int h = 0; h < 2; ++h) {
        const __mmask16 m = h ? m1 : m0;
        const __m512i lo = bf16_bits16(_mm512_maskz_loadu_ps(m, r0 + 16 * h));
        const __m512i hi = has1 ? bf16_bits16(_mm512_maskz_loadu_ps(m, r0 + rs + 16 * h)) : _mm512_setzero_si512();
        _mm512_store_si512(dst + 16 * h, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
      }
    }
  }
}

// Columns of B contiguous along k (rs == 1, e.g. a transposed operand): 16 k of one column become 8 words
// (vpmovdw packs the bf16 of k = 2i and 2i + 1 into word i), written to a 32 x 8 tile that is then transposed
// into 8 word rows of the sliver with gathers.
void pack_b_cols(int64_t kc, int64_t nc, const float* b, int64_t cs, uint32_t* dst) {
  const int64_t kp = (kc + 1) / 2;
  alignas(64) uint32_t tile[NR * 8];
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(8));
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int64_t ncols = nc - j0 < NR ? nc - j0 : NR;
    for (int64_t k = 0; k < kc; k += 16) {
      const __mmask16 m = first(kc - k);
      for (int64_t j = 0; j < NR; ++j) {
        __m256i w = _mm256_setzero_si256();
        if (j < ncols) w = _mm512_cvtepi32_epi16(bf16_bits16(_mm512_maskz_loadu_ps(m, b + (j0 + j) * cs + k)));
        _mm256_store_si256(reinterpret_cast<__m256i*>(tile + 8 * j), w);
      }
      const int64_t np = (kc - k + 1) / 2 < 8 ? (kc - k + 1) / 2 : 8;
      uint32_t* d = dst + (k / 2) * NR;
      for (int64_t i = 0; i < np; ++i, d += NR) {
        const __m512i g0 = _mm512_i32gather_epi32(_mm512_add_epi32(idx, _mm512_set1_epi32(static_cast<int>(i))), tile, 4);
        const __m512i g1 =
            _mm512_i32gather_epi32(_mm512_add_epi32(idx, _mm512_set1_epi32(static_cast<int>(i + 128))), tile, 4);
        _mm512_store_si512(d, g0);
        _mm512_store_si512(d + 16, g1);
      }
    }
    dst += kp * NR;
  }
}

// A sliver of 8 rows contiguous along k (cs == 1): 16 k of a row become 8 words (vpmovdw), an 8 x 8 word tile
// transposed into the sliver with gathers.
void pack_a_rows(int64_t kc, const float* a, int64_t rs, uint32_t* dst) {
  alignas(32) uint32_t tile[MR * 8];
  const __m256i idx = _mm256_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56);
  for (int64_t k = 0; k < kc; k += 16) {
    const __mmask16 m = first(kc - k);
    for (int64_t r = 0; r < MR; ++r)
      _mm256_store_si256(reinterpret_cast<__m256i*>(tile + 8 * r),
                         _mm512_cvtepi32_epi16(bf16_bits16(_mm512_maskz_loadu_ps(m, a + r * rs + k))));
    const int64_t np = (kc - k + 1) / 2 < 8 ? (kc - k + 1) / 2 : 8;
    uint32_t* d = dst + (k / 2) * MR;
    for (int64_t i = 0; i < np; ++i, d += MR)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(d),
                          _mm256_i32gather_epi32(reinterpret_cast<const int*>(tile) + i, idx, 4));
  }
}

// A sliver of 8 rows contiguous along i (rs == 1, a transposed operand): each word row is two k of 8 rows.
void pack_a_cols(int64_t kc, const float* a, int64_t cs, uint32_t* dst) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t p = 0; p < kp; ++p, dst += MR) {
    const __m512i lo = bf16_bits16(_mm512_maskz_loadu_ps(0xFF, a + 2 * p * cs));
    const __m512i hi = 2 * p + 1 < kc ? bf16_bits16(_mm512_maskz_loadu_ps(0xFF, a + (2 * p + 1) * cs)) : _mm512_setzero_si512();
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm512_castsi512_si256(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 16))));
  }
}

void pack_a(int64_t mc, int64_t kc, const float* a, int64_t rs, int64_t cs, uint32_t* dst) {
  const int64_t kp = (kc + 1) / 2;
  int64_t i0 = 0;
  for (; i0 + MR <= mc; i0 += MR, dst += kp * MR) {
    if (cs == 1) {
      pack_a_rows(kc, a + i0 * rs, rs, dst);
    } else if (rs == 1) {
      pack_a_cols(kc, a + i0, cs, dst);
    } else {
      gemm_bf16_pack_pairs(MR, MR, kc, a + i0 * rs, rs, cs, dst);
    }
  }
  if (i0 < mc) gemm_bf16_pack_pairs(MR, mc - i0, kc, a + i0 * rs, rs, cs, dst);
}

void pack_b(int64_t kc, int64_t nc, const float* b, int64_t rs, int64_t cs, uint32_t* dst) {
  if (cs == 1) return pack_b_rows(kc, nc, b, rs, dst);
  if (rs == 1) return pack_b_cols(kc, nc, b, cs, dst);
  gemm_bf16_pack_pairs(NR, nc, kc, b, cs, rs, dst);
}

}  // namespace

extern const GemmBf16Kernels kGemmBf16Kernels = {MR, NR, micro_kernel, pack_a, pack_b};

}  // namespace avx512bf16
}  // namespace ck
