// The asynchronous half of the CUDA runtime (cuda/runtime.cu), beside the basic calls in kernels_cuda.h:
// per-device streams and pools, pinned host memory, events, the device-side error flag, pool statistics
// and CUDA graph capture. Same API on a real GPU and in the host emulation, where the semantics are real
// too: a host-to-device copy is queued on its stream and only runs when the stream next executes (a
// kernel launch, a synchronisation), an event completes when its stream has run that far, and a pinned
// block is reused only once the event recorded at its release has completed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include "kernels_cuda.h"

namespace ck {
namespace cuda {

constexpr int kMaxDevices = 16;
int current_device();  // the device set_device chose on this thread (0 by default)

// ---- pinned (page-locked) host memory: a caching pool ----
// A block given back by pinned_free is reused only after every copy queued from it so far has run
// (an event recorded at release), so releasing the source of an asynchronous upload is always safe.
void* pinned_alloc(size_t bytes);
void pinned_free(void* p);
bool is_pinned(const void* p, size_t bytes);  // [p, p + bytes) lies inside one live pinned block

// Host to device, asynchronous: a pinned source is copied directly (counted as a pinned upload); a pageable
// one is first copied into a pinned staging block (counted as a pageable upload). Never synchronises.
void memcpy_h2d_async(void* dst, const void* src, size_t bytes, Stream s);
// Between devices (peer or through the host), ordered after the work queued on both devices so far.
void memcpy_peer(void* dst, int dst_device, const void* src, int src_device, size_t bytes);

// ---- device-side errors ----
// Kernels report an invalid argument they cannot act on (a class index out of range) into the slot of
// their device; the host checks every slot at each synchronisation and throws ck::Error ERR_INDEX there
// (then clears them), as PyTorch's device-side asserts surface at the next synchronising call.
enum DeviceErrorOp : int {
  kDevErrNone = 0,
  kDevErrNllForward = 1,   // a class index out of range (value, bound = classes, index = row)
  kDevErrNllBackward = 2,
  kDevErrGather = 3,       // an index out of range (value, bound = size of dim, dim, index = position)
  kDevErrScatter = 4,
  kDevErrScatterAdd = 5,
};
struct DeviceError {
  unsigned int code;  // 0: none; set by atomicCAS so the first report wins
  int op;             // DeviceErrorOp
  long long value;    // the offending value
  long long bound;    // the exclusive upper bound it broke
  long long index;    // where (row, or position in the index tensor)
  long long dim;      // the dimension indexed (gather / scatter)
  long long pad[3];   // 64 bytes per slot
};
DeviceError* device_error_slot();  // device pointer for the current device
void check_device_errors();        // throws ERR_INDEX (and clears) if any slot is set; no synchronisation

// ---- pools ----
struct PoolInfo {
  size_t reserved = 0;  // bytes the pool holds from the device (in use + cached)
  size_t used = 0;      // bytes handed out and not yet freed
  size_t limit = 0;     // the cap (memory fraction x device memory); 0 = none
  size_t total = 0;     // the device's memory
};
PoolInfo pool_info(int device);
void empty_cache();  // every device: waits for the devices, then gives cached blocks back (and the pinned cache)
void set_memory_fraction(double fraction, int device);  // 0 < fraction <= 1; CONVKIT_CUDA_MEMORY_FRACTION sets the default

// ---- events (cudaEvent_t on a GPU) ----
using Event = void*;
Event event_create();
void event_destroy(Event e);
void event_record(Event e, Stream s);
bool event_query(Event e);
void event_synchronize(Event e);  // a host synchronisation (counted)

// ---- CUDA graphs ----
// capture_begin: the current device's stream starts capturing; until capture_end, launches and copies on
// it are recorded instead of run, memory allocated comes from the graph's private pool (kept until the
// graph is destroyed, so the pointers stay valid for every replay) and any synchronisation is ERR_CUDA.
using Graph = void*;
Graph graph_capture_begin();
void graph_capture_end(Graph g);      // throws ERR_CUDA (and discards the capture) if it was invalidated
void graph_replay(Graph g);           // queues the whole recorded work on the device's stream
void graph_destroy(Graph g);          // waits for its replays, then frees the private pool
bool capturing();                     // the current device's stream is capturing
int64_t graph_nodes(Graph g);         // recorded launches and copies

// Emulation only: sets the number of emulated devices (1..16; 0: CONVKIT_EMU_DEVICES again, default 1) and
// returns the previous count. Tests use it; memory on devices beyond the new count stays valid.
int emu_set_device_count(int n);
// Emulation only: runs the work queued on stream s so far (pending uploads), as a kernel launch on s does
// first. Host code standing in for stream-ordered device work (the emulated NCCL's collectives) calls it before
// it touches device memory. Not a synchronisation (a GPU needs none there) and not counted as one.
void emu_flush_stream(Stream s);

}  // namespace cuda
}  // namespace ck
