// The BF16 GEMM's micro-kernel for AVX-512 CPUs without AVX512_BF16 (compiled with the AVX-512 flags; see cpu/isa.h
// for the rules, cpu/gemm_bf16.h for the numerics): vdpbf16ps emulated exactly with FP32 FMAs. Each packed word
// holds two bf16 values, which are FP32 values with a zero low half: the high one is the word with its low 16 bits
// cleared, the low one the word shifted up by 16. A vdpbf16ps step is then two FMAs (k = 2p + 1 first), each
// rounded to nearest even with the denormal result flushed to zero: MXCSR.FTZ is set for the accumulation loop
// (the packed operands are never denormal, nor is a flushed accumulator, so DAZ is not needed). It reuses the
// packing below, which the AVX512_BF16 kernel shares: the FP32 -> bf16 rounding in vector integer code (not
// vcvtne2ps2bf16, whose input-denormal handling would differ from the portable path's), bit for bit the portable
// packing (gemm_bf16_pack_pairs, also the fallback for operands strided both ways).
// GCC 12's AVX-512 headers build some intrinsics on _mm512_undefined_* and then warn about it under -Wall
// (-Werror in CI): nothing here reads an undefined lane.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "cpu/gemm_bf16.h"

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__FMA__)
#error "gemm_bf16_avx512.cc must be compiled with the AVX-512 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx512 {
namespace {

constexpr int64_t MR = kBf16MR, NR = kBf16NR;

void micro_kernel(int64_t kp, const uint32_t* __restrict a, const uint32_t* __restrict b, float* c, int64_t ldc,
                  bool accumulate) {
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8000u);  // FTZ
  const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m512 acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; ++p) {
    const __m512i w0 = _mm512_load_si512(b), w1 = _mm512_load_si512(b + 16);
    const __m512 bh0 = _mm512_castsi512_ps(_mm512_and_si512(w0, hi_mask)), bl0 = _mm512_castsi512_ps(_mm512_slli_epi32(w0, 16));
    const __m512 bh1 = _mm512_castsi512_ps(_mm512_and_si512(w1, hi_mask)), bl1 = _mm512_castsi512_ps(_mm512_slli_epi32(w1, 16));
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512i aw = _mm512_set1_epi32(static_cast<int>(a[r]));
      const __m512 ah = _mm512_castsi512_ps(_mm512_and_si512(aw, hi_mask)), al = _mm512_castsi512_ps(_mm512_slli_epi32(aw, 16));
      acc[r][0] = _mm512_fmadd_ps(al, bl0, _mm512_fmadd_ps(ah, bh0, acc[r][0]));
      acc[r][1] = _mm512_fmadd_ps(al, bl1, _mm512_fmadd_ps(ah, bh1, acc[r][1]));
    }
    a += MR;
    b += NR;
  }
  _mm_setcsr(csr);
  alignas(64) float tile[MR * NR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm512_store_ps(tile + r * NR, acc[r][0]);
    _mm512_store_ps(tile + r * NR + 16, acc[r][1]);
  }
  gemm_bf16_store(tile, c, ldc, accumulate);
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

void pack_a_impl(int64_t mc, int64_t kc, const float* a, int64_t rs, int64_t cs, uint32_t* dst) {
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

void pack_b_impl(int64_t kc, int64_t nc, const float* b, int64_t rs, int64_t cs, uint32_t* dst) {
  if (cs == 1) return pack_b_rows(kc, nc, b, rs, dst);
  if (rs == 1) return pack_b_cols(kc, nc, b, cs, dst);
  gemm_bf16_pack_pairs(NR, nc, kc, b, cs, rs, dst);
}

}  // namespace

void gemm_bf16_store(const float* acc, float* c, int64_t ldc, bool accumulate) {
  for (int64_t r = 0; r < MR; ++r, acc += NR, c += ldc) {
    __m512 lo = _mm512_load_ps(acc), hi = _mm512_load_ps(acc + 16);
    if (accumulate) {
      lo = _mm512_add_ps(_mm512_loadu_ps(c), lo);
      hi = _mm512_add_ps(_mm512_loadu_ps(c + 16), hi);
    }
    _mm512_storeu_ps(c, lo);
    _mm512_storeu_ps(c + 16, hi);
  }
}

void gemm_bf16_pack_a(int64_t mc, int64_t kc, const float* a, int64_t rs, int64_t cs, uint32_t* dst) {
  pack_a_impl(mc, kc, a, rs, cs, dst);
}
void gemm_bf16_pack_b(int64_t kc, int64_t nc, const float* b, int64_t rs, int64_t cs, uint32_t* dst) {
  pack_b_impl(kc, nc, b, rs, cs, dst);
}

extern const GemmBf16Kernels kGemmBf16FmaKernels = {MR, NR, micro_kernel, gemm_bf16_pack_a, gemm_bf16_pack_b};

}  // namespace avx512
}  // namespace ck
