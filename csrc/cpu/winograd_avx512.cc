// Winograd's tile transforms built for AVX-512 (1 zmm per 16 lanes): cpu/winograd_kernels.inc compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma
// (see cpu/isa.h for the rules), reached through winograd_kernels().
#include <immintrin.h>

#include <cstdint>

#include "cpu/winograd_kernels.h"

#if !defined(__AVX512F__)
#error "winograd_avx512.cc must be compiled with the avx512 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx512 {
namespace {

#include "cpu/winograd_kernels.inc"

}  // namespace

const WinogradKernels kWinogradKernels = CK_WINOGRAD_KERNELS;

}  // namespace avx512
}  // namespace ck
