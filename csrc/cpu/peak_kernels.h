// The per-ISA loops of the CPU peak measurement (peak.cc; the convention of cpu/isa.h): FMA throughput and
// the triad use the widest vectors of the ISA path in use, so the benchmarks' `% peak` is against the peak
// that path can reach.
#pragma once
#include <cstdint>

namespace ck {

struct PeakKernels {
  double flops_per_iter;  // flops of one fma_chains iteration
  // `iters` rounds of 12 independent multiply-add chains; returns a value depending on all of them.
  float (*fma_chains)(int64_t iters, float seed);
  // a[i] = b[i] + 3 * c[i] for i in [lo, hi) (multiples of 16, arrays 64-byte aligned), streaming stores.
  void (*triad)(float* a, const float* b, const float* c, int64_t lo, int64_t hi);
};

namespace avx2 {
extern const PeakKernels kPeakKernels;
}
namespace avx512 {
extern const PeakKernels kPeakKernels;
}

}  // namespace ck
