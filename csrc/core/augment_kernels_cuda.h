// CUDA twin of csrc/core/augment_kernels.h (same arguments, device pointers, plus the stream),
// implemented in cuda/augment.cu. Only in builds with CUDA (real or emulated).
#pragma once
#include <cstdint>
#include "augment_kernels.h"
#include "kernels_cuda.h"

namespace ck {
namespace cuda {

// x (N, C, H, W), params (N, 3) int32 [top, left, flip], norm (2, C) | null -> y (N, C, OH, OW)
void batch_augment_cuda(const BatchAugmentParams& p, const float* x, const int32_t* params, const float* norm, float* y, Stream s);

}  // namespace cuda
}  // namespace ck
