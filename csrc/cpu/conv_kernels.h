// The convolution's per-ISA pieces (see cpu/isa.h for the convention): conv.cc keeps the drivers (unroll,
// scatter, the depthwise loops) and calls these through the table conv_kernels() picked once from cpu_isa().
// Plain declarations only, so the per-ISA files can include it. Runs of n floats; "may read past" means up to
// 8 floats past the run's end (the buffers' kSlack), never used in a result.
#pragma once
#include <cstdint>

namespace ck {

struct ConvKernels {
  // d[r*dstep + j] = s[r*sstep + j] for r < runs, j < n. With `over`, every run but the last may also write
  // d[r*dstep + n, + 8) and read past s's run (for dstep == n: the next run overwrites the overhang).
  void (*copy_runs)(float* d, int64_t dstep, const float* s, int64_t sstep, int64_t n, int64_t runs, bool over);
  // d[r*dstep + j] += s[r*sstep + j] for r < runs, j < n (the runs of d must not overlap within one run).
  void (*add_runs)(float* d, int64_t dstep, const float* s, int64_t sstep, int64_t n, int64_t runs);
  // The depthwise correlation row, stride 1 along it: for j < n,
  //   out[j] = bias + sum over q < nplanes, kh < KH, kw < KW of
  //            w[(q*KH + kh)*KW + kw] * src[q*plane + kh*rstep + kw*cstep + j]
  // (rstep, cstep may be negative). May read past each source run.
  void (*corr_row)(float* out, const float* src, const float* w, float bias, int64_t nplanes, int64_t plane,
                   int64_t KH, int64_t KW, int64_t rstep, int64_t cstep, int64_t n);
  // Whether depthwise backward-data with stride 1 should gather through corr_row (registers) rather than
  // scatter-add (the baseline's choice: without FMA the scatter's plain loops are as fast).
  bool gather_backward_data;
  // The depthwise weight gradient's taps, stride 1 along the width: for t < nt,
  //   sums[t] += sum over oh < OH, j < OW of dy[oh*OW + j] * pad[oh*prow + off[t] + j].
  void (*taps)(const float* pad, int64_t prow, const float* dy, int64_t OH, int64_t OW, const int64_t* off,
               int64_t nt, double* sums);
};

const ConvKernels& conv_kernels();

namespace avx2 {
extern const ConvKernels kConvKernels;
}

}  // namespace ck
