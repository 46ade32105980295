// The avx512 loops of the CPU peak measurement (peak_kernels.h; compiled with the avx512 flags, cpu/isa.h).
#include <immintrin.h>

#include <cstdint>

#include "cpu/peak_kernels.h"

#if !defined(__AVX512F__) || !defined(__FMA__)
#error "peak_avx512.cc must be compiled with the avx512 flags (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx512 {
namespace {

#define CKV __m512
#define CKP(op) _mm512_##op
#define CKL 16
#include "cpu/peak_simd.inc"
#undef CKV
#undef CKP
#undef CKL

}  // namespace

extern const PeakKernels kPeakKernels = {12 * 16 * 2, fma_chains, triad};

}  // namespace avx512
}  // namespace ck
