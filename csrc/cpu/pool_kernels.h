// The per-ISA rows of pooling (pool.cc; the convention of cpu/isa.h). Plain declarations only, so the per-ISA
// file can include it.
#pragma once
#include <cstdint>

namespace ck {

struct PoolKernels {
  // Max pool 2x2, stride 2, no padding, dilation 1: output row y[0, OW) (and its flat plane indices, idx may be
  // null) from the input rows x0 (2*oh) and x1 (2*oh + 1) of a plane W wide; i0 = (2*oh) * W, x0[0]'s index.
  // Taps in PyTorch's order (x0[2j], x0[2j+1], x1[2j], x1[2j+1]): the first maximum wins, a NaN replaces it.
  void (*max2x2_row)(const float* x0, const float* x1, int64_t OW, int32_t i0, int32_t W, float* y, int32_t* idx);
  // Its backward over one output row: d0/d1 (input rows 2*oh, 2*oh + 1, columns [0, 2*OW)) get dy where the
  // index names that position, +0 elsewhere (as zero-fill + scatter-add would). False, with d0/d1 partly written,
  // when an index lies outside its own window (not from max2x2_row): the caller then scatters the plane.
  bool (*max2x2_back_row)(const float* dy, const int32_t* idx, int64_t OW, int32_t i0, int32_t W, float* d0, float* d1);
  // Global average pooling of `planes` contiguous planes of n values: y[p] = sum(plane p) / h / w, the sum in
  // double (float lanes per block of 256 values on the AVX paths), divided in double as PyTorch's adaptive pool.
  void (*mean_planes)(const float* x, int64_t planes, int64_t n, double h, double w, float* y);
};

namespace avx2 {
extern const PoolKernels kPoolKernels;
}

}  // namespace ck
