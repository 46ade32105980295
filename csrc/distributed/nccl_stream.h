// The CUDA half of the NCCL process group: the stream a collective is issued on and the events that say it
// has finished. Compiled from nccl_stream.cu by nvcc (real GPU) or as host C++ (the emulation), so the group
// itself (nccl_group.cc) needs no CUDA header.
#pragma once
#include "core/kernels_cuda.h"

namespace ck {
namespace dist {
namespace ncclcuda {

::ck::cuda::Stream stream_for(int device);      // the library's stream for work on `device`
// Before a collective reads or writes device memory on s: nothing on a GPU (NCCL is stream-ordered); in the
// emulation, where the stand-in runs on the host at once, the work queued on s so far runs first.
void before_collective(::ck::cuda::Stream s);
void* record(::ck::cuda::Stream s);            // a new event recorded on s (no timing)
bool done(void* event);                        // whether the work before the event has finished; ERR_CUDA on a fault
void destroy(void* event);

}  // namespace ncclcuda
}  // namespace dist
}  // namespace ck
