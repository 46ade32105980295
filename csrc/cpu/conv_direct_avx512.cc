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

}  // namespace

const DirectKernels kDirectKernels = CK_DIRECT_KERNELS;

}  // namespace avx512
}  // namespace ck
