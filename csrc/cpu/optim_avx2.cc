// The AVX2 + FMA element loops of the optimizer updates (optim.cc, optim_ops.inc; compiled with -mavx2 -mfma,
// cpu/isa.h). The numerics are optim.cc's header's: bit-identical to PyTorch 1.13's CPU kernels.
#include <immintrin.h>

#include <cstdint>

#include "cpu/optim_ops.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "optim_avx2.cc must be compiled with -mavx2 -mfma (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

#include "cpu/optim_ops.inc"

}  // namespace

extern const OptimRanges kOptimRanges = {sgd_range, adam_range, rmsprop_range};

}  // namespace avx2
}  // namespace ck
