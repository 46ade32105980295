// The machine's measured peaks, which the benchmarks divide achieved rates by ("fraction of peak").
// Measured, not read from a spec sheet: a kernel of independent FMA chains for compute, a STREAM triad
// (a[i] = b[i] + s * c[i], arrays far larger than the caches) for memory bandwidth.
#pragma once
#include <cstdint>

namespace ck {

struct PeakResult {
  double gflops;  // single-precision FMA throughput, 2 flops per FMA
  double gbps;    // triad bandwidth, counting 12 bytes per element (two reads, one write)
};

// CPU, on every thread of the pool: compute for about `seconds` in `reps` bursts, triad over arrays of
// `bytes` each; each the best of its `reps` passes.
PeakResult cpu_peak(double seconds, int64_t bytes, int reps);

#ifdef CK_HAVE_CUDA
// The current CUDA device: the same two kernels, timed between synchronisations.
PeakResult cuda_peak(double seconds, int64_t bytes, int reps);
#endif

}  // namespace ck
