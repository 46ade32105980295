// The shallow-input direct convolution's band kernel built for AVX2 (8 output pixels per ymm, 4 output channels x
// 2 vectors = 8 accumulators): cpu/conv_small_kernels.inc compiled with -mavx2 -mfma (see cpu/isa.h for the
// rules), reached through small_conv_kernels().
#include <immintrin.h>

#include <cstdint>

#include "cpu/conv_small_kernels.h"

#if !defined(__AVX2__)
#error "conv_small_avx2.cc must be compiled with the avx2 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

constexpr int kSmLanes = 8;
typedef __m256 svec;
#define CK_SM_SPLAT(s) _mm256_set1_ps(s)
constexpr int kSmOB = 4;
constexpr int kSmV = 2;
// The first n lanes: one masked store, the mask a window of {-1 x 8, 0 x 8}.
alignas(32) const int32_t kSmMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
__attribute__((always_inline)) inline void sm_store_n(float* p, svec v, int n) {
  _mm256_maskstore_ps(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kSmMask + 8 - n)), v);
}
#include "cpu/conv_small_kernels.inc"

}  // namespace

const SmallConvKernels kSmallConvKernels = CK_SMALL_CONV_KERNELS;

}  // namespace avx2
}  // namespace ck
