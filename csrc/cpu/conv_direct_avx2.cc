// The direct 3x3 convolution's micro-kernels built for AVX2 (8 floats per vector): cpu/conv_direct_kernels.inc
// compiled with -mavx2 -mfma (see cpu/isa.h for the rules), reached through direct_kernels().
#include <immintrin.h>

#include <cstdint>

#include "cpu/conv_direct_kernels.h"

#if !defined(__AVX2__)
#error "conv_direct_avx2.cc must be compiled with the avx2 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

constexpr int kDirLanes = 8;
typedef __m256 dvec;
#define CK_DIR_SPLAT(s) _mm256_set1_ps(s)
constexpr int kDirRegs = 16;
#include "cpu/conv_direct_kernels.inc"

}  // namespace

const DirectKernels kDirectKernels = CK_DIRECT_KERNELS(dir_unpack_loop);

}  // namespace avx2
}  // namespace ck
