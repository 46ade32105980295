// See nccl_stream.h. Real GPU: CUDA events without timing. Emulation: before_collective runs the work queued
// on the stream (uploads wait there for the next launch), and the emulated NCCL's collective itself has
// finished when its call returns, so the event recorded after it is done at once.
#include "runtime.cuh"
#include "core/runtime_cuda.h"
#include "nccl_stream.h"

namespace ck {
namespace dist {
namespace ncclcuda {

// The one place the NCCL group asks for a stream: the device's own stream (one per device, cuda/runtime.cu).
::ck::cuda::Stream stream_for(int device) {
  ::ck::cuda::set_device(device);
  return ::ck::cuda::default_stream();
}

#if CK_CUDA_REAL

void before_collective(::ck::cuda::Stream) {}

void* record(::ck::cuda::Stream s) {
  cudaEvent_t e = nullptr;
  CK_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  const cudaError_t st = cudaEventRecord(e, static_cast<cudaStream_t>(s));
  if (st != cudaSuccess) {
    (void)cudaEventDestroy(e);
    CK_CUDA_CHECK(st);
  }
  return e;
}

bool done(void* event) {
  const cudaError_t st = cudaEventQuery(static_cast<cudaEvent_t>(event));
  if (st == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  CK_CUDA_CHECK(st);
  return true;
}

void destroy(void* event) {
  if (event) (void)cudaEventDestroy(static_cast<cudaEvent_t>(event));
}

#else

void* record(::ck::cuda::Stream) {
  static char done_event;
  return &done_event;
}
bool done(void*) { return true; }
void before_collective(::ck::cuda::Stream s) { ::ck::cuda::emu_flush_stream(s); }
void destroy(void*) {}

#endif

}  // namespace ncclcuda
}  // namespace dist
}  // namespace ck
