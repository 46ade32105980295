// CUDA twins of csrc/core/optim_kernels.h, implemented in cuda/optim.cu. Same arguments plus the stream: the
// table is a host array whose entries hold device pointers; each call uploads it and updates the whole group
// with one kernel launch. Only in builds with CUDA (real or emulated).
#pragma once
#include <cstdint>
#include "kernels_cuda.h"
#include "optim_kernels.h"

namespace ck {
namespace cuda {

void sgd_step_cuda(const OptimTensor* tensors, int64_t count, const SgdParams& p, Stream s);
void adam_step_cuda(const OptimTensor* tensors, int64_t count, const AdamParams& p, Stream s);
void rmsprop_step_cuda(const OptimTensor* tensors, int64_t count, const RmspropParams& p, Stream s);

}  // namespace cuda
}  // namespace ck
