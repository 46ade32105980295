// The direct 3x3 convolution's micro-kernels built for AVX512 (16 floats per vector): cpu/conv_direct_kernels.inc
// compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma (see cpu/isa.h for the rules), reached through direct_kernels().
#include <immintrin.h>

#include <cstdint>

#include "cpu/conv_direct_kernels.h"

#if !defined(__AVX512F__)
#error "conv_direct_avx512.cc must be compiled with the avx512 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx512 {
namespace {

constexpr int kDirLanes = 16;
typedef __m512 dvec;
#define CK_DIR_SPLAT(s) _mm512_set1_ps(s)
constexpr int kDirRegs = 32;
#include "cpu/conv_direct_kernels.inc"

// DirectKernels::unpack with 16-pixel gathers (vgatherdps) down each channel's column of the pixel-major
// buffer, then a contiguous (masked at the end) store: about 4x faster than the scalar loop.
void dir_unpack_gather(const float* src, int64_t ld, int64_t npix, int64_t nj, const float* bias, float* y,
                       int64_t ldy) {
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(ld)));
  for (int64_t j = 0; j < nj; ++j) {
    const __m512 b = _mm512_set1_ps(bias ? bias[j] : 0.0f);
    float* yr = y + j * ldy;
    int64_t q = 0;
    for (; q + 16 <= npix; q += 16)
      // (The masked form with an all-ones mask: GCC 12's unmasked one warns about an uninitialised pass-through.)
      _mm512_storeu_ps(yr + q, _mm512_add_ps(_mm512_mask_i32gather_ps(b, 0xFFFF, idx, src + q * ld + j, 4), b));
    if (q < npix) {
      const __mmask16 m = static_cast<__mmask16>((1u << (npix - q)) - 1);
      _mm512_mask_storeu_ps(yr + q, m, _mm512_add_ps(_mm512_mask_i32gather_ps(b, m, idx, src + q * ld + j, 4), b));
    }
  }
}

}  // namespace

const DirectKernels kDirectKernels = CK_DIRECT_KERNELS(dir_unpack_gather);

}  // namespace avx512
}  // namespace ck
