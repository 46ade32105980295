// The avx2 loops of the CPU peak measurement (peak_kernels.h; compiled with the avx2 flags, cpu/isa.h).
#include <immintrin.h>

#include <cstdint>

#include "cpu/peak_kernels.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "peak_avx2.cc must be compiled with the avx2 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

#define CKV __m256
#define CKP(op) _mm256_##op
#define CKL 8
#include "cpu/peak_simd.inc"
#undef CKV
#undef CKP
#undef CKL

}  // namespace

extern const PeakKernels kPeakKernels = {12 * 8 * 2, fma_chains, triad};

}  // namespace avx2
}  // namespace ck
