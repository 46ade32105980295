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

// The runtime's events (cuda/runtime.cu), created without timing; record destroys its event if recording fails.
void* record(::ck::cuda::Stream s) {
  const ::ck::cuda::Event e = ::ck::cuda::event_create();
  try {
    ::ck::cuda::event_record(e, s);
  } catch (...) {
    ::ck::cuda::event_destroy(e);
    throw;
  }
  return e;
}
bool done(void* event) { return ::ck::cuda::event_query(event); }
void destroy(void* event) { ::ck::cuda::event_destroy(event); }

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
