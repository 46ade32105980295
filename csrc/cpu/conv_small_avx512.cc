// The shallow-input direct convolution's band kernel built for AVX-512 (16 output pixels per zmm, 8 output
// channels x 3 vectors = 24 accumulators): cpu/conv_small_kernels.inc compiled with -mavx512f -mavx512bw
// -mavx512dq -mavx512vl -mavx2 -mfma (see cpu/isa.h for the rules), reached through small_conv_kernels().
#include <immintrin.h>

#include <cstdint>

#include "cpu/conv_small_kernels.h"

#if !defined(__AVX512F__)
#error "conv_small_avx512.cc must be compiled with the avx512 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx512 {
namespace {

constexpr int kSmLanes = 16;
typedef __m512 svec;
#define CK_SM_SPLAT(s) _mm512_set1_ps(s)
constexpr int kSmOB = 8;
constexpr int kSmV = 3;
// The first n lanes: one masked store.
__attribute__((always_inline)) inline void sm_store_n(float* p, svec v, int n) {
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v);
}
#include "cpu/conv_small_kernels.inc"

}  // namespace

const SmallConvKernels kSmallConvKernels = CK_SMALL_CONV_KERNELS;

}  // namespace avx512
}  // namespace ck
