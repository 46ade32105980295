// Winograd's tile transforms built for AVX2 + FMA (2 ymm per 16 lanes): cpu/winograd_kernels.inc compiled with -mavx2 -mfma
// (see cpu/isa.h for the rules), reached through winograd_kernels().
#include <immintrin.h>

#include <cstdint>

#include "cpu/winograd_kernels.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "winograd_avx2.cc must be compiled with the avx2 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

#include "cpu/winograd_kernels.inc"

}  // namespace

const WinogradKernels kWinogradKernels = CK_WINOGRAD_KERNELS;

}  // namespace avx2
}  // namespace ck
