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
// Capturable Adam / AdamW: steps[k] (a device pointer to one float) is incremented on the device, the bias
// corrections are computed there from it, and the hyperparameters come from hyper (kAdamHyperSlots floats on
// the device, written by adam_hyper_upload_cuda); p gives only the flags (amsgrad, maximize, adamw). Two
// launches, both capturable: the per-tensor scalars, then the update.
void adam_step_capturable_cuda(const OptimTensor* tensors, float* const* steps, int64_t count, const float* hyper,
                               const AdamParams& p, Stream s);
// Writes adam_hyper_values(p) to hyper (device) through a pinned staging block: asynchronous, never a sync.
void adam_hyper_upload_cuda(float* hyper, const AdamParams& p, Stream s);
void rmsprop_step_cuda(const OptimTensor* tensors, int64_t count, const RmspropParams& p, Stream s);

}  // namespace cuda
}  // namespace ck
