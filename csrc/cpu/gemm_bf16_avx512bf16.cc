// The AVX512_BF16 micro-kernel of the BF16 GEMM (compiled with the AVX-512 flags plus -mavx512bf16; see cpu/isa.h
// for the rules, cpu/gemm_bf16.h for the numerics): 8x32 on _mm512_dpbf16_ps (vdpbf16ps: 16 lanes, each a chain of
// two FP32 FMAs per k pair). The packing is the AVX-512 one of gemm_bf16_avx512.cc.
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

constexpr int64_t MR = avx512::kBf16MR, NR = avx512::kBf16NR;

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
  alignas(64) float tile[MR * NR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm512_store_ps(tile + r * NR, acc[r][0]);
    _mm512_store_ps(tile + r * NR + 16, acc[r][1]);
  }
  avx512::gemm_bf16_store(tile, c, ldc, accumulate);
}

}  // namespace

extern const GemmBf16Kernels kGemmBf16Kernels = {MR, NR, micro_kernel, avx512::gemm_bf16_pack_a, avx512::gemm_bf16_pack_b};

}  // namespace avx512bf16
}  // namespace ck
