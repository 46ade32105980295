// See nccl_stream.h. Real GPU: CUDA events without timing. Emulation: work on a stream has finished when the
// call that issued it returns (kernels, copies and the emulated NCCL's collectives alike), so an event is done
// as soon as it is recorded.
#include "runtime.cuh"
#include "nccl_stream.h"

namespace ck {
namespace dist {
namespace ncclcuda {

// The one place the NCCL group asks for a stream. Today the library issues all work on one stream; a
// per-device stream accessor replaces this call when the runtime has one.
::ck::cuda::Stream stream_for(int device) {
  (void)device;
  return ::ck::cuda::default_stream();
}

#if CK_CUDA_REAL

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
void destroy(void*) {}

#endif

}  // namespace ncclcuda
}  // namespace dist
}  // namespace ck
