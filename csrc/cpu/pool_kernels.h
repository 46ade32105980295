// The per-ISA rows of pooling (pool.cc; the convention of cpu/isa.h). Plain declarations only, so the per-ISA
// file can include it.
#pragma once
#include <cstdint>

namespace ck {

struct PoolKernels {
  // Max pool 2x2, stride 2, no padding, dilation 1, over one plane W wide: OH x OW outputs y (and their flat plane
  // indices, idx may be null), output row oh from input rows 2*oh and 2*oh + 1. Taps in PyTorch's order
  // (x0[2j], x0[2j+1], x1[2j], x1[2j+1]): the first maximum wins, a NaN replaces it.
  void (*max2x2)(const float* x, int64_t W, int64_t OH, int64_t OW, float* y, int32_t* idx);
  // Its backward: input rows [0, 2*OH) of dx get dy where the index names the position, +0 elsewhere (as zero-fill
  // + scatter-add would; an odd width's last column too). False, with dx partly written, when an index lies outside
  // its own window (not from max2x2): the caller then scatters the plane. Rows from 2*OH on are the caller's.
  bool (*max2x2_back)(const float* dy, const int32_t* idx, int64_t W, int64_t OH, int64_t OW, float* dx);
  // Global average pooling of `planes` contiguous planes of n values: y[p] = sum(plane p) / h / w, the sum in
  // double (float lanes per block of 256 values on the AVX paths), divided in double as PyTorch's adaptive pool.
  void (*mean_planes)(const float* x, int64_t planes, int64_t n, double h, double w, float* y);
};

namespace avx2 {
extern const PoolKernels kPoolKernels;
}

// The table of the ISA path in use (pool.cc); batchnorm.cc's fused batch norm + ReLU + 2x2 max pool uses it too.
const PoolKernels& pool_rows();

}  // namespace ck
