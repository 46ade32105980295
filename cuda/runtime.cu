// The runtime half of csrc/core/kernels_cuda.h and csrc/core/runtime_cuda.h: devices, one stream and one
// memory pool per device, pinned host memory, events, copies, the device-side error flag, graph capture.
//
// The training step is asynchronous: nothing here waits for a device except where the caller asks for
// host-visible results (memcpy_d2h, synchronize, event_synchronize, timer_stop, empty_cache); each such
// wait is counted (stats Traffic::Sync) and is where device-side errors are reported. Uploads never wait:
// a pinned source is copied directly, a pageable one through a pinned staging block; a pinned block
// comes back to the cache with an event recorded on every stream that read it, and is reused only once
// those events completed.
//
// Real build: nothing may crash or throw on a machine without a driver or GPU: a failing
// cudaGetDeviceCount means is_available() == false and device_count() == 0. Device memory comes from
// each device's default stream-ordered pool (cudaMallocAsync) with the release threshold raised to the
// maximum, so freed blocks stay cached until empty_cache(); CONVKIT_CUDA_MEMORY_FRACTION (or
// set_memory_fraction) caps what one device's pool may hold. Each device gets its own non-blocking stream.
//
// Emulated build: CONVKIT_EMU_DEVICES (1..16, default 1) devices of host memory (64-byte aligned, and
// CONVKIT_EMU_MEMORY_MB, default 81920, each), each with a stream, a caching pool (whose cached blocks
// AddressSanitizer builds poison, so use-after-free is still seen) and an error slot. Kernels run when
// launched, after the copies queued on their stream; host-to-device copies are queued and run at the stream's next
// kernel, copy or synchronisation, so an upload whose pinned source is reused too early reads the wrong
// bytes, as on a GPU. New and reused blocks are filled with 0xFF bytes (NaN as float, -1 as int32) so a
// kernel that reads memory nobody wrote shows it. CONVKIT_CUDA_EMU_DISABLE=1 makes no device available.
#include "runtime.cuh"
#include "core/index_kernels.h"
#include "core/runtime_cuda.h"

#if defined(__SANITIZE_ADDRESS__)
#define CK_RUNTIME_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CK_RUNTIME_ASAN 1
#endif
#endif
#if defined(CK_RUNTIME_ASAN) && !CK_CUDA_REAL
#include <sanitizer/asan_interface.h>
#endif

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ck {
namespace cuda {

namespace {

std::recursive_mutex g_mu;  // every piece of runtime state below
using Lock = std::lock_guard<std::recursive_mutex>;

[[noreturn]] void not_while_capturing(const char* what) {
  throw ::ck::Error("ERR_CUDA", std::string(what) +
                                    " is not permitted while a CUDA graph is being captured (it synchronises the host "
                                    "with the device); the capture is invalidated");
}

double env_fraction() {
  const char* v = std::getenv("CONVKIT_CUDA_MEMORY_FRACTION");
  if (!v || !*v) return 0;
  char* end = nullptr;
  const double f = std::strtod(v, &end);
  if (*end || !(f > 0 && f <= 1))
    throw ::ck::Error("ERR_ARG", std::string("CONVKIT_CUDA_MEMORY_FRACTION must be a number in (0, 1], got '") + v + "'",
                      ::ck::ErrorKind::Range);
  return f;
}

[[maybe_unused]] int env_int(const char* name, int dflt, int lo, int hi) {  // the emulation's settings
  const char* v = std::getenv(name);
  if (!v || !*v) return dflt;
  char* end = nullptr;
  const long r = std::strtol(v, &end, 10);
  if (*end || r < lo || r > hi)
    throw ::ck::Error("ERR_ARG", std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                                     std::to_string(hi) + "], got '" + v + "'", ::ck::ErrorKind::Range);
  return static_cast<int>(r);
}

// A graph being captured or captured: its private pool and, in emulation, its recorded work.
struct GraphRec {
  int device = 0;
  bool capturing = true;
  std::string invalid;                   // why the capture failed, if it did
  std::unordered_set<void*> blocks;      // device memory of the private pool
  std::unordered_set<void*> released;    // of those, freed by their owners (given back at destroy)
  std::vector<void*> pinned;             // staging blocks the recorded copies read at every replay
  std::vector<void*> deferred;           // pool blocks freed during the capture: freed after it (a free
                                         // recorded in the graph would run again at every replay)
  int64_t nodes = 0;
#if CK_CUDA_REAL
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
#else
  std::vector<std::function<void()>> work;
#endif
};
std::unordered_map<void*, GraphRec*> g_graph_owner;  // private-pool block -> its graph
std::unordered_set<void*> g_orphans;                 // private-pool blocks that outlived their graph
GraphRec* g_capture[kMaxDevices] = {};               // the graph each device's stream is capturing

double g_fraction[kMaxDevices] = {};  // 0: not set (env default)
bool g_fraction_set[kMaxDevices] = {};

size_t limit_of(int device, size_t total) {
  double f = g_fraction_set[device] ? g_fraction[device] : env_fraction();
  return f > 0 ? static_cast<size_t>(f * static_cast<double>(total)) : 0;
}

}  // namespace

#if CK_CUDA_REAL
// =====================================================================================================
namespace {

struct DeviceInfo {
  int count = 0;
  std::string error;  // why no device can be used, when count == 0
};

const DeviceInfo& device_info() {
  static const DeviceInfo info = [] {
    DeviceInfo d;
    int n = 0;
    const cudaError_t st = cudaGetDeviceCount(&n);
    if (st != cudaSuccess) {
      (void)cudaGetLastError();  // not sticky, but leave nothing behind for the next check
      d.error = std::string(cudaGetErrorName(st)) + ": " + cudaGetErrorString(st);
      n = 0;
    } else if (n == 0) {
      d.error = "no CUDA device";
    }
    d.count = n > kMaxDevices ? kMaxDevices : n;
    return d;
  }();
  return info;
}

void check_device(int device) {
  const int n = device_info().count;
  if (device < 0 || device >= n)
    throw ::ck::Error("ERR_CUDA", "invalid CUDA device " + std::to_string(device) + " (" + std::to_string(n) +
                                      " available" + (n ? "" : ": " + device_info().error) + ")");
}

// Runs f with `device` current, then restores the caller's device.
template <class F>
void on_device(int device, F&& f) {
  int prev = 0;
  CK_CUDA_CHECK(cudaGetDevice(&prev));
  if (prev != device) CK_CUDA_CHECK(cudaSetDevice(device));
  try {
    f();
  } catch (...) {
    if (prev != device) (void)cudaSetDevice(prev);
    throw;
  }
  if (prev != device) CK_CUDA_CHECK(cudaSetDevice(prev));
}

cudaStream_t g_stream[kMaxDevices] = {};
bool g_pool_ready[kMaxDevices] = {};
cudaEvent_t g_timer[kMaxDevices][2] = {};

cudaStream_t stream_of(int device) {
  Lock lock(g_mu);
  if (!g_stream[device]) {
    check_device(device);
    on_device(device, [&] { CK_CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream[device], cudaStreamNonBlocking)); });
  }
  return g_stream[device];
}

int device_of_stream(Stream s) {
  for (int d = 0; d < kMaxDevices; ++d)
    if (g_stream[d] == static_cast<cudaStream_t>(s)) return d;
  return current_device();
}

cudaMemPool_t pool_of(int device) {
  cudaMemPool_t pool;
  CK_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  Lock lock(g_mu);
  if (!g_pool_ready[device]) {
    uint64_t threshold = UINT64_MAX;
    CK_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
    g_pool_ready[device] = true;
  }
  return pool;
}

uint64_t pool_attr(cudaMemPool_t pool, cudaMemPoolAttr a) {
  uint64_t v = 0;
  CK_CUDA_CHECK(cudaMemPoolGetAttribute(pool, a, &v));
  return v;
}

size_t device_total(int device) {
  static size_t total[kMaxDevices] = {};
  Lock lock(g_mu);
  if (!total[device]) {
    on_device(device, [&] {
      size_t f = 0;
      CK_CUDA_CHECK(cudaMemGetInfo(&f, &total[device]));
    });
  }
  return total[device];
}

void* raw_device_alloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t st = cudaMalloc(&p, bytes);
  if (st == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw ::ck::Error("ERR_CUDA_OOM", "CUDA out of memory: cannot allocate " + std::to_string(bytes) +
                                          " bytes for a CUDA graph's private pool");
  }
  CK_CUDA_CHECK(st);
  return p;
}
void raw_device_free(void* p) { (void)cudaFree(p); }

void* raw_pinned_alloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t st = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
  if (st != cudaSuccess) {
    (void)cudaGetLastError();
    throw ::ck::Error(st == cudaErrorMemoryAllocation ? "ERR_OOM" : "ERR_CUDA",
                      "cannot allocate " + std::to_string(bytes) + " bytes of pinned host memory: " + cudaGetErrorString(st));
  }
  return p;
}
void raw_pinned_free(void* p) { (void)cudaFreeHost(p); }

void copy_async(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, Stream s) {
  CK_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, static_cast<cudaStream_t>(s)));
}

void upload_async(void* dst, const void* src, size_t bytes, Stream s) {
  copy_async(dst, src, bytes, cudaMemcpyHostToDevice, s);
}

void stream_sync(Stream s) {
  stats_note(Traffic::Sync);
  CK_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(s)));
}

}  // namespace

bool is_available() { return device_info().count > 0; }
bool is_emulated() { return false; }
int device_count() { return device_info().count; }

std::string device_name(int device) {
  check_device(device);
  cudaDeviceProp prop;
  CK_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.name;
}

std::string runtime_info() {
  int runtime = 0, driver = 0;
  (void)cudaRuntimeGetVersion(&runtime);
  const cudaError_t st = cudaDriverGetVersion(&driver);
  (void)cudaGetLastError();
  auto ver = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
  std::string s = "CUDA runtime " + ver(runtime) + ", driver " + (st == cudaSuccess && driver ? ver(driver) : "none");
  const DeviceInfo& d = device_info();
  if (d.count) s += ", " + std::to_string(d.count) + " device(s)";
  else s += ", no usable device (" + d.error + ")";
  return s;
}

// The properties the kernels' launch planning reads (cached per device: they never change).
namespace {
struct Props {
  int sms = 0, cc = 0;
};
Props props_of_current() {
  static std::mutex mu;
  static Props cache[64];
  int dev = 0;
  CK_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  Props& p = cache[dev & 63];
  if (!p.sms) {
    int major = 0, minor = 0;
    CK_CUDA_CHECK(cudaDeviceGetAttribute(&p.sms, cudaDevAttrMultiProcessorCount, dev));
    CK_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    CK_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    p.cc = major * 10 + minor;
  }
  return p;
}
}  // namespace
int sm_count() { return props_of_current().sms; }
int compute_capability() { return props_of_current().cc; }

void set_device(int device) {
  check_device(device);
  CK_CUDA_CHECK(cudaSetDevice(device));
}

int current_device() {
  int d = 0;
  CK_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

Stream default_stream() { return static_cast<Stream>(stream_of(current_device())); }

void* malloc(size_t bytes, Stream s) {
  if (bytes == 0) return nullptr;
  const int device = current_device();
  Lock lock(g_mu);
  stats_note(Traffic::Alloc);
  if (GraphRec* g = g_capture[device]) {  // the graph's private pool (relaxed capture permits cudaMalloc)
    void* p = raw_device_alloc(bytes);
    g->blocks.insert(p);
    g_graph_owner[p] = g;
    return p;
  }
  cudaMemPool_t pool = pool_of(device);
  const size_t limit = limit_of(device, device_total(device));
  if (limit) {
    if (pool_attr(pool, cudaMemPoolAttrUsedMemCurrent) + bytes > limit)
      throw ::ck::Error("ERR_CUDA_OOM", "CUDA out of memory: allocating " + std::to_string(bytes) + " bytes on device " +
                                            std::to_string(device) + " would pass its cap of " + std::to_string(limit) +
                                            " bytes (CONVKIT_CUDA_MEMORY_FRACTION / setMemoryFraction)");
    if (pool_attr(pool, cudaMemPoolAttrReservedMemCurrent) + bytes > limit)
      (void)cudaMemPoolTrimTo(pool, limit > bytes ? limit - bytes : 0);
  }
  const cudaStream_t stream = static_cast<cudaStream_t>(s);
  void* p = nullptr;
  cudaError_t st = cudaMallocAsync(&p, bytes, stream);
  if (st == cudaErrorMemoryAllocation) {
    // Memory freed on other streams may only return to the pool once that work is done: wait, give
    // cached blocks back to the driver, and try once more.
    (void)cudaGetLastError();
    stats_note(Traffic::Sync);
    CK_CUDA_CHECK(cudaDeviceSynchronize());
    (void)cudaMemPoolTrimTo(pool, 0);
    st = cudaMallocAsync(&p, bytes, stream);
  }
  if (st == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    (void)cudaMemGetInfo(&free_b, &total_b);
    (void)cudaGetLastError();
    throw ::ck::Error("ERR_CUDA_OOM", "CUDA out of memory: cannot allocate " + std::to_string(bytes) +
                                          " bytes on device " + std::to_string(device) + " (" +
                                          std::to_string(free_b) + " of " + std::to_string(total_b) + " bytes free)");
  }
  CK_CUDA_CHECK(st);
  return p;
}

namespace {
void pool_free(void* p, Stream s) { CK_CUDA_CHECK(cudaFreeAsync(p, static_cast<cudaStream_t>(s))); }
}  // namespace

PoolInfo pool_info(int device) {
  check_device(device);
  PoolInfo r;
  cudaMemPool_t pool = pool_of(device);
  r.reserved = pool_attr(pool, cudaMemPoolAttrReservedMemCurrent);
  r.used = pool_attr(pool, cudaMemPoolAttrUsedMemCurrent);
  r.total = device_total(device);
  Lock lock(g_mu);
  r.limit = limit_of(device, r.total);
  return r;
}

namespace {
void trim_pools() {
  for (int d = 0; d < device_count(); ++d) {
    if (!g_pool_ready[d]) continue;
    on_device(d, [&] {
      CK_CUDA_CHECK(cudaDeviceSynchronize());
      (void)cudaMemPoolTrimTo(pool_of(d), 0);
    });
  }
}
}  // namespace

void memcpy_d2d(void* dst, const void* src, size_t bytes, Stream s) {
  if (!bytes) return;
  stats_note(Traffic::D2d, bytes);
  copy_async(dst, src, bytes, cudaMemcpyDeviceToDevice, s);
}

void memcpy_peer(void* dst, int dst_device, const void* src, int src_device, size_t bytes) {
  if (!bytes) return;
  if (dst_device == src_device) {
    on_device(dst_device, [&] { memcpy_d2d(dst, src, bytes, stream_of(dst_device)); });
    return;
  }
  stats_note(Traffic::D2d, bytes);
  cudaStream_t ss = stream_of(src_device), ds = stream_of(dst_device);
  cudaEvent_t ready, copied;
  // The copy runs on the destination's stream after the source's work so far; the source's later work
  // (a free of the source buffer) waits for the copy.
  on_device(src_device, [&] {
    CK_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    CK_CUDA_CHECK(cudaEventRecord(ready, ss));
  });
  on_device(dst_device, [&] {
    CK_CUDA_CHECK(cudaStreamWaitEvent(ds, ready, 0));
    CK_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device, src, src_device, bytes, ds));
    CK_CUDA_CHECK(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));
    CK_CUDA_CHECK(cudaEventRecord(copied, ds));
  });
  on_device(src_device, [&] { CK_CUDA_CHECK(cudaStreamWaitEvent(ss, copied, 0)); });
  (void)cudaEventDestroy(ready);  // destroying a recorded event is safe: it completes on its own
  (void)cudaEventDestroy(copied);
}

void synchronize() {
  {
    Lock lock(g_mu);
    for (int d = 0; d < kMaxDevices; ++d)
      if (g_capture[d]) not_while_capturing("synchronize()");
  }
  stats_note(Traffic::Sync);
  for (int d = 0; d < device_count(); ++d)
    if (g_stream[d]) on_device(d, [&] { CK_CUDA_CHECK(cudaStreamSynchronize(g_stream[d])); });
  check_device_errors();
}

Event event_create() {
  cudaEvent_t e;
  CK_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return static_cast<Event>(e);
}
void event_destroy(Event e) {
  if (e) (void)cudaEventDestroy(static_cast<cudaEvent_t>(e));
}
void event_record(Event e, Stream s) { CK_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(e), static_cast<cudaStream_t>(s))); }
bool event_query(Event e) {
  const cudaError_t st = cudaEventQuery(static_cast<cudaEvent_t>(e));
  if (st == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  CK_CUDA_CHECK(st);
  return true;
}
void event_synchronize(Event e) {
  stats_note(Traffic::Sync);
  CK_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(e)));
  check_device_errors();
}

void timer_start(Stream s) {
  Lock lock(g_mu);
  const int d = device_of_stream(s);
  for (auto& e : g_timer[d])
    if (!e) CK_CUDA_CHECK(cudaEventCreate(&e));
  CK_CUDA_CHECK(cudaEventRecord(g_timer[d][0], static_cast<cudaStream_t>(s)));
}

double timer_stop(Stream s) {
  Lock lock(g_mu);
  const int d = device_of_stream(s);
  if (!g_timer[d][0] || !g_timer[d][1]) throw ::ck::Error("ERR_ARG", "timer_stop without timer_start");
  CK_CUDA_CHECK(cudaEventRecord(g_timer[d][1], static_cast<cudaStream_t>(s)));
  stats_note(Traffic::Sync);
  CK_CUDA_CHECK(cudaEventSynchronize(g_timer[d][1]));
  float ms = 0.f;
  CK_CUDA_CHECK(cudaEventElapsedTime(&ms, g_timer[d][0], g_timer[d][1]));
  return ms;
}

namespace {
DeviceError* g_err_host = nullptr;  // mapped pinned memory: the host view
DeviceError* g_err_dev = nullptr;   // the same slots as the devices address them
}  // namespace

DeviceError* device_error_slot() {
  Lock lock(g_mu);
  if (!g_err_host) {
    void* p = nullptr;
    CK_CUDA_CHECK(cudaHostAlloc(&p, sizeof(DeviceError) * kMaxDevices, cudaHostAllocMapped | cudaHostAllocPortable));
    std::memset(p, 0, sizeof(DeviceError) * kMaxDevices);
    void* d = nullptr;
    CK_CUDA_CHECK(cudaHostGetDevicePointer(&d, p, 0));
    g_err_host = static_cast<DeviceError*>(p);
    g_err_dev = static_cast<DeviceError*>(d);
  }
  return g_err_dev + current_device();
}

namespace {
DeviceError* error_slots_host() { return g_err_host; }

// Graph capture, real build: the device's stream records (relaxed mode, so the private pool may cudaMalloc).
void capture_begin(GraphRec* g) {
  CK_CUDA_CHECK(cudaStreamBeginCapture(stream_of(g->device), cudaStreamCaptureModeRelaxed));
}
void capture_end(GraphRec* g) {
  cudaGraph_t graph = nullptr;
  const cudaError_t st = cudaStreamEndCapture(stream_of(g->device), &graph);
  if (st != cudaSuccess || !g->invalid.empty()) {
    (void)cudaGetLastError();
    if (graph) (void)cudaGraphDestroy(graph);
    if (g->invalid.empty()) g->invalid = std::string(cudaGetErrorName(st)) + ": " + cudaGetErrorString(st);
    return;
  }
  g->graph = graph;
  size_t n = 0;
  CK_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &n));
  g->nodes = static_cast<int64_t>(n);
  CK_CUDA_CHECK(cudaGraphInstantiate(&g->exec, graph, 0));
}
void capture_replay(GraphRec* g) { CK_CUDA_CHECK(cudaGraphLaunch(g->exec, stream_of(g->device))); }
void capture_destroy(GraphRec* g) {
  if (g->exec) (void)cudaGraphExecDestroy(g->exec);
  if (g->graph) (void)cudaGraphDestroy(g->graph);
}
void note_capture_sync(const char* what) {
  Lock lock(g_mu);
  const int d = current_device();
  if (GraphRec* g = g_capture[d]) {
    g->invalid = std::string(what) + " during capture";
    not_while_capturing(what);
  }
}
}  // namespace

void memcpy_d2h(void* dst, const void* src, size_t bytes, Stream s) {
  if (!bytes) return;
  note_capture_sync("a device-to-host copy");
  stats_note(Traffic::D2h, bytes);
  copy_async(dst, src, bytes, cudaMemcpyDeviceToHost, s);
  stream_sync(s);
  check_device_errors();
}

#else
// =====================================================================================================
// host emulation
namespace {
constexpr size_t kAlign = 64;

// Under AddressSanitizer a cached block is poisoned until it is handed out again, so a kernel that touches
// freed device memory is still reported.
#ifdef CK_RUNTIME_ASAN
void poison_cached(void* p, size_t n) { __asan_poison_memory_region(p, n); }
void unpoison_cached(void* p, size_t n) { __asan_unpoison_memory_region(p, n); }
#else
void poison_cached(void*, size_t) {}
void unpoison_cached(void*, size_t) {}
#endif

bool disabled() {
  const char* v = std::getenv("CONVKIT_CUDA_EMU_DISABLE");
  return v && std::strcmp(v, "1") == 0;
}

int g_emu_devices = 0;  // emu_set_device_count; 0: the environment's
int emu_devices() { return g_emu_devices ? g_emu_devices : env_int("CONVKIT_EMU_DEVICES", 1, 1, kMaxDevices); }

void check_device(int device) {
  if (disabled() || device < 0 || device >= emu_devices())
    throw ::ck::Error("ERR_CUDA", "invalid CUDA device " + std::to_string(device) + " (host emulation has " +
                                      (disabled() ? std::string("none: CONVKIT_CUDA_EMU_DISABLE=1")
                                                  : std::to_string(emu_devices()) + ": CONVKIT_EMU_DEVICES") + ")");
}

// One emulated stream per device: host-to-device copies wait in `pending` until the stream runs again.
struct EmuStream {
  int device = 0;
  std::vector<std::function<void()>> pending;
  uint64_t enqueued = 0, done = 0;
};
EmuStream g_streams[kMaxDevices];
thread_local int t_device = 0;

EmuStream* as_stream(Stream s) {
  EmuStream* st = s ? static_cast<EmuStream*>(s) : &g_streams[t_device];
  st->device = static_cast<int>(st - g_streams);
  return st;
}

void flush(EmuStream* st) {
  // Moved out first: a pending copy never queues more work, but keep the loop safe if one did.
  while (!st->pending.empty()) {
    std::vector<std::function<void()>> run;
    run.swap(st->pending);
    for (auto& f : run) f();
  }
  st->done = st->enqueued;
}

void flush_all() {
  for (int d = 0; d < kMaxDevices; ++d) flush(&g_streams[d]);
}

void* raw_alloc(size_t bytes) {
  // Exactly `bytes` long, so AddressSanitizer builds catch a kernel that runs past the end.
  void* p = ::operator new(bytes, std::align_val_t(kAlign), std::nothrow);
  if (!p)
    throw ::ck::Error("ERR_CUDA_OOM", "emulated CUDA out of memory: cannot allocate " + std::to_string(bytes) + " bytes");
  return p;
}
void raw_free(void* p) { ::operator delete(p, std::align_val_t(kAlign)); }
void* raw_device_alloc(size_t bytes) {
  void* p = raw_alloc(bytes);
  std::memset(p, 0xFF, bytes);  // NaN / -1: reads of memory no kernel wrote stand out
  return p;
}
void raw_device_free(void* p) { raw_free(p); }
void* raw_pinned_alloc(size_t bytes) { return raw_alloc(bytes); }
void raw_pinned_free(void* p) { raw_free(p); }

struct EmuPool {
  std::unordered_map<void*, size_t> live;
  std::multimap<size_t, void*> cached;
  size_t reserved = 0, used = 0;
};
EmuPool g_pools[kMaxDevices];

size_t device_total(int) {
  static const size_t mb = static_cast<size_t>(env_int("CONVKIT_EMU_MEMORY_MB", 81920, 1, 1 << 24));
  return mb << 20;
}

void trim(EmuPool& pool, size_t keep) {
  while (pool.reserved > keep && !pool.cached.empty()) {
    auto it = pool.cached.begin();
    pool.reserved -= it->first;
    unpoison_cached(it->second, it->first);
    raw_free(it->second);
    pool.cached.erase(it);
  }
}

void pool_free(void* p, Stream s) {
  flush(as_stream(s));  // stream order: what was queued before the free has run
  for (auto& pool : g_pools) {
    auto it = pool.live.find(p);
    if (it == pool.live.end()) continue;
    const size_t n = it->second;
    pool.live.erase(it);
    pool.used -= n;
    poison_cached(p, n);
    pool.cached.emplace(n, p);
    return;
  }
  throw ::ck::Error("ERR_CUDA", "emulated cudaFree of a pointer no device pool handed out");
}

void trim_pools() {
  flush_all();
  for (auto& pool : g_pools) trim(pool, 0);
}

struct EmuEvent {
  EmuStream* stream = nullptr;
  uint64_t seq = 0;
};

DeviceError g_err_slots[kMaxDevices] = {};
DeviceError* error_slots_host() { return g_err_slots; }

void stream_sync(Stream s) {
  stats_note(Traffic::Sync);
  flush(as_stream(s));
}

void capture_begin(GraphRec*) {}
void capture_end(GraphRec* g) {
  g->nodes = static_cast<int64_t>(g->work.size());
}
void capture_replay(GraphRec* g) {
  EmuStream* st = &g_streams[g->device];
  flush(st);
  for (auto& f : g->work) f();
}
void capture_destroy(GraphRec*) {}

void note_capture_sync(const char* what) {
  Lock lock(g_mu);
  if (GraphRec* g = g_capture[t_device]) {
    g->invalid = std::string(what) + " during capture";
    not_while_capturing(what);
  }
}

// Queues a host-to-device copy (or records it while capturing).
void upload_async(void* dst, const void* src, size_t bytes, Stream s) {
  EmuStream* st = as_stream(s);
  auto fn = [dst, src, bytes] { std::memmove(dst, src, bytes); };
  if (GraphRec* g = g_capture[st->device]) {
    g->work.push_back(fn);
    return;
  }
  st->pending.push_back(fn);
  ++st->enqueued;
}

}  // namespace

namespace detail {
void emu_submit(Stream s, std::function<void()> work) {
  EmuStream* st = as_stream(s);
  {
    Lock lock(g_mu);
    if (GraphRec* g = g_capture[st->device]) {
      g->work.push_back(std::move(work));
      return;
    }
    flush(st);
  }
  work();
}
}  // namespace detail

bool is_available() { return !disabled(); }
bool is_emulated() { return true; }
int device_count() { return disabled() ? 0 : emu_devices(); }

std::string device_name(int device) {
  check_device(device);
  return "convkit host emulation";
}

std::string runtime_info() {
  return std::string("host emulation (no CUDA runtime; kernels run as fibers, ") +
         std::to_string(::ck::emu::fiber_stack_bytes() / 1024) + " KiB stack per thread; " +
         std::to_string(disabled() ? 0 : emu_devices()) + " device(s))" +
         (disabled() ? ", disabled by CONVKIT_CUDA_EMU_DISABLE=1" : "");
}

void set_device(int device) {
  check_device(device);
  t_device = device;
}

void emu_flush_stream(Stream s) { flush(as_stream(s)); }

int emu_set_device_count(int n) {
  const int prev = emu_devices();
  g_emu_devices = n;
  if (t_device >= emu_devices()) t_device = 0;
  return prev;
}
int current_device() { return t_device; }

// The emulated device reports an H100's 132 SMs and compute capability 9.0 unless CONVKIT_EMU_SM_COUNT /
// CONVKIT_EMU_CC say otherwise (e.g. CONVKIT_EMU_CC=75 plans as for a Turing GPU: no TF32, no cp.async).
int sm_count() { return env_int("CONVKIT_EMU_SM_COUNT", 132, 1, 1024); }
int compute_capability() { return env_int("CONVKIT_EMU_CC", 90, 50, 120); }

Stream default_stream() { return static_cast<Stream>(as_stream(nullptr)); }

void* malloc(size_t bytes, Stream) {
  if (bytes == 0) return nullptr;
  const int device = t_device;
  Lock lock(g_mu);
  stats_note(Traffic::Alloc);
  if (GraphRec* g = g_capture[device]) {
    void* p = raw_device_alloc(bytes);
    g->blocks.insert(p);
    g_graph_owner[p] = g;
    return p;
  }
  EmuPool& pool = g_pools[device];
  const size_t limit = limit_of(device, device_total(device));
  if (limit && pool.used + bytes > limit)
    throw ::ck::Error("ERR_CUDA_OOM", "CUDA out of memory: allocating " + std::to_string(bytes) + " bytes on device " +
                                          std::to_string(device) + " would pass its cap of " + std::to_string(limit) +
                                          " bytes (CONVKIT_CUDA_MEMORY_FRACTION / setMemoryFraction)");
  void* p = nullptr;
  auto it = pool.cached.find(bytes);
  if (it != pool.cached.end()) {
    p = it->second;
    pool.cached.erase(it);
    unpoison_cached(p, bytes);
    std::memset(p, 0xFF, bytes);
  } else {
    if (limit && pool.reserved + bytes > limit) trim(pool, limit - bytes);
    p = raw_device_alloc(bytes);
    pool.reserved += bytes;
  }
  pool.live.emplace(p, bytes);
  pool.used += bytes;
  return p;
}

PoolInfo pool_info(int device) {
  // Any device that may have held memory, even past a count emu_set_device_count lowered since.
  if (device < 0 || device >= kMaxDevices) check_device(device);
  Lock lock(g_mu);
  PoolInfo r;
  r.reserved = g_pools[device].reserved;
  r.used = g_pools[device].used;
  r.total = device_total(device);
  r.limit = limit_of(device, r.total);
  return r;
}

void memcpy_d2h(void* dst, const void* src, size_t bytes, Stream s) {
  if (!bytes) return;
  Lock lock(g_mu);
  note_capture_sync("a device-to-host copy");
  stats_note(Traffic::D2h, bytes);
  stream_sync(s);
  std::memcpy(dst, src, bytes);
  check_device_errors();
}

void memcpy_d2d(void* dst, const void* src, size_t bytes, Stream s) {
  if (!bytes) return;
  stats_note(Traffic::D2d, bytes);
  detail::emu_submit(s, [dst, src, bytes] { std::memmove(dst, src, bytes); });
}

void memcpy_peer(void* dst, int dst_device, const void* src, int src_device, size_t bytes) {
  if (!bytes) return;
  Lock lock(g_mu);
  if (g_capture[dst_device] || g_capture[src_device]) not_while_capturing("a copy between devices");
  stats_note(Traffic::D2d, bytes);
  flush(&g_streams[src_device]);
  flush(&g_streams[dst_device]);
  std::memmove(dst, src, bytes);
}

void synchronize() {
  Lock lock(g_mu);
  for (int d = 0; d < kMaxDevices; ++d)
    if (g_capture[d]) not_while_capturing("synchronize()");
  stats_note(Traffic::Sync);
  flush_all();
  check_device_errors();
}

Event event_create() { return static_cast<Event>(new EmuEvent()); }
void event_destroy(Event e) { delete static_cast<EmuEvent*>(e); }
void event_record(Event e, Stream s) {
  Lock lock(g_mu);
  EmuEvent* ev = static_cast<EmuEvent*>(e);
  ev->stream = as_stream(s);
  ev->seq = ev->stream->enqueued;
}
bool event_query(Event e) {
  Lock lock(g_mu);
  const EmuEvent* ev = static_cast<const EmuEvent*>(e);
  return !ev->stream || ev->stream->done >= ev->seq;
}
void event_synchronize(Event e) {
  Lock lock(g_mu);
  stats_note(Traffic::Sync);
  EmuEvent* ev = static_cast<EmuEvent*>(e);
  if (ev->stream) flush(ev->stream);
  check_device_errors();
}

namespace {
std::chrono::steady_clock::time_point g_timer_t0;
bool g_timer_started = false;
}  // namespace

void timer_start(Stream s) {
  flush(as_stream(s));
  g_timer_t0 = std::chrono::steady_clock::now();
  g_timer_started = true;
}

double timer_stop(Stream s) {
  if (!g_timer_started) throw ::ck::Error("ERR_ARG", "timer_stop without timer_start");
  stream_sync(s);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g_timer_t0).count();
}

DeviceError* device_error_slot() { return g_err_slots + t_device; }

#endif
// =====================================================================================================
// Common to both builds.

void free(void* p, Stream s) {
  if (!p) return;
  Lock lock(g_mu);
  stats_note(Traffic::Free);
  auto owner = g_graph_owner.find(p);
  if (owner != g_graph_owner.end()) {  // a graph's private pool: kept until the graph goes
    owner->second->released.insert(p);
    return;
  }
  auto orphan = g_orphans.find(p);
  if (orphan != g_orphans.end()) {
    g_orphans.erase(orphan);
    raw_device_free(p);
    return;
  }
  if (GraphRec* g = g_capture[current_device()]) {
    g->deferred.push_back(p);
    return;
  }
  pool_free(p, s);
}

void memcpy_h2d(void* dst, const void* src, size_t bytes, Stream s) { memcpy_h2d_async(dst, src, bytes, s); }

void check_device_errors() {
  DeviceError* slots = error_slots_host();
  if (!slots) return;
  for (int d = 0; d < kMaxDevices; ++d) {
    volatile DeviceError* e = slots + d;
    if (e->code == 0) continue;
    const int op = e->op;
    const long long value = e->value, bound = e->bound, index = e->index, dim = e->dim;
    std::memset(slots, 0, sizeof(DeviceError) * kMaxDevices);  // reported once; the process goes on
    const char* later = " (a device-side check, reported at the first synchronisation after it)";
    if (op == kDevErrGather || op == kDevErrScatter || op == kDevErrScatterAdd) {
      const char* fn = op == kDevErrGather ? "gather" : op == kDevErrScatter ? "scatter" : "scatter_add";
      throw ::ck::Error("ERR_INDEX",
                        index_error_message(fn, value, static_cast<int32_t>(dim), bound) + " on cuda:" +
                            std::to_string(d) + later,
                        ::ck::ErrorKind::Range);
    }
    const char* name = op == kDevErrNllForward    ? "nll_loss forward (nll_loss / cross_entropy)"
                       : op == kDevErrNllBackward ? "nll_loss backward (nll_loss / cross_entropy)"
                                                  : "a kernel";
    throw ::ck::Error("ERR_INDEX", std::string(name) + " on cuda:" + std::to_string(d) + ": target " +
                                       std::to_string(value) + " at row " + std::to_string(index) +
                                       " is out of range for " + std::to_string(bound) +
                                       " classes" + later,
                      ::ck::ErrorKind::Range);
  }
}

void set_memory_fraction(double fraction, int device) {
  if (!(fraction > 0 && fraction <= 1))
    throw ::ck::Error("ERR_ARG", "setMemoryFraction: fraction must be in (0, 1], got " + std::to_string(fraction),
                      ::ck::ErrorKind::Range);
  check_device(device);
  Lock lock(g_mu);
  g_fraction[device] = fraction;
  g_fraction_set[device] = true;
}

// ---- pinned host memory --------------------------------------------------------------------------------
namespace {
struct PinnedBlock {
  void* p = nullptr;
  size_t bytes = 0;
  bool in_use = false;
  std::vector<Stream> readers;  // streams that queued a copy from it since it was handed out
  std::vector<Event> events;    // recorded on those streams at release
};
std::map<uintptr_t, PinnedBlock*> g_pinned;             // every block, by address
std::multimap<size_t, PinnedBlock*> g_pinned_free;      // released blocks, by size

size_t pinned_class(size_t bytes) {
  size_t c = 4096;
  while (c < bytes) c <<= 1;
  return c;
}

PinnedBlock* pinned_block_of(const void* p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_pinned.upper_bound(a);
  if (it == g_pinned.begin()) return nullptr;
  --it;
  PinnedBlock* b = it->second;
  if (!b->in_use || a + bytes > it->first + b->bytes) return nullptr;
  return b;
}

bool events_done(PinnedBlock* b) {
  for (Event e : b->events)
    if (!event_query(e)) return false;
  return true;
}

void pinned_release_cache() {
  for (auto it = g_pinned_free.begin(); it != g_pinned_free.end();) {
    PinnedBlock* b = it->second;
    if (!events_done(b)) {
      ++it;
      continue;
    }
    for (Event e : b->events) event_destroy(e);
    g_pinned.erase(reinterpret_cast<uintptr_t>(b->p));
    raw_pinned_free(b->p);
    delete b;
    it = g_pinned_free.erase(it);
  }
}
}  // namespace

void* pinned_alloc(size_t bytes) {
  Lock lock(g_mu);
  const size_t cls = pinned_class(bytes);
  auto range = g_pinned_free.equal_range(cls);
  for (auto it = range.first; it != range.second; ++it) {
    PinnedBlock* b = it->second;
    if (!events_done(b)) continue;  // a queued copy still reads it
    g_pinned_free.erase(it);
    b->in_use = true;
    b->readers.clear();
    return b->p;
  }
  stats_note(Traffic::PinnedAlloc);
  auto* b = new PinnedBlock();
  try {
    b->p = raw_pinned_alloc(cls);
  } catch (...) {
    delete b;
    throw;
  }
  b->bytes = cls;
  b->in_use = true;
  g_pinned[reinterpret_cast<uintptr_t>(b->p)] = b;
  return b->p;
}

void pinned_free(void* p) {
  if (!p) return;
  Lock lock(g_mu);
  auto it = g_pinned.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_pinned.end() || !it->second->in_use)
    throw ::ck::Error("ERR_CUDA", "pinned_free of a pointer the pinned pool did not hand out");
  PinnedBlock* b = it->second;
  if (GraphRec* g = g_capture[current_device()]) {
    if (!b->readers.empty()) {  // a captured copy reads it at every replay: the graph keeps it
      g->pinned.push_back(p);
      return;
    }
  }
  b->in_use = false;
  for (size_t i = 0; i < b->readers.size(); ++i) {
    if (i >= b->events.size()) b->events.push_back(event_create());
    event_record(b->events[i], b->readers[i]);
  }
  // Events beyond the readers of this round belong to an earlier one and have completed or still guard
  // the block: keep them, they only make the check stricter.
  g_pinned_free.emplace(b->bytes, b);
}

bool is_pinned(const void* p, size_t bytes) {
  Lock lock(g_mu);
  return pinned_block_of(p, bytes) != nullptr;
}

void memcpy_h2d_async(void* dst, const void* src, size_t bytes, Stream s) {
  if (!bytes) return;
  Lock lock(g_mu);
  PinnedBlock* b = pinned_block_of(src, bytes);
  void* staging = nullptr;
  if (b) {
    stats_note(Traffic::H2dPinned, bytes);
  } else {
    stats_note(Traffic::H2dPageable, bytes);
    staging = pinned_alloc(bytes);
    std::memcpy(staging, src, bytes);
    b = g_pinned[reinterpret_cast<uintptr_t>(staging)];
    src = staging;
  }
  b->readers.push_back(s);
  upload_async(dst, src, bytes, s);
  if (staging) pinned_free(staging);  // while capturing, the graph keeps it
}

void empty_cache() {
  Lock lock(g_mu);
  for (int d = 0; d < kMaxDevices; ++d)
    if (g_capture[d]) not_while_capturing("emptyCache()");
  if (device_count() > 0) {
    stats_note(Traffic::Sync);
    trim_pools();
  }
  pinned_release_cache();
}

// ---- graphs ----------------------------------------------------------------------------------------------
namespace {
void release_deferred(GraphRec* g) {
  set_device(g->device);
  const Stream s = default_stream();
  for (void* p : g->deferred) pool_free(p, s);
  g->deferred.clear();
}
}  // namespace

Graph graph_capture_begin() {
  Lock lock(g_mu);
  const int device = current_device();
  check_device(device);
  if (g_capture[device]) throw ::ck::Error("ERR_CUDA", "a CUDA graph is already being captured on this device");
  auto* g = new GraphRec();
  g->device = device;
  default_stream();
  capture_begin(g);
  g_capture[device] = g;
  return static_cast<Graph>(g);
}

void graph_capture_end(Graph handle) {
  Lock lock(g_mu);
  GraphRec* g = static_cast<GraphRec*>(handle);
  if (!g || !g->capturing) throw ::ck::Error("ERR_CUDA", "capture_end without a capture in progress");
  g_capture[g->device] = nullptr;
  g->capturing = false;
  capture_end(g);
  release_deferred(g);
  if (!g->invalid.empty())
    throw ::ck::Error("ERR_CUDA", "the CUDA graph capture failed: " + g->invalid);
}

void graph_replay(Graph handle) {
  Lock lock(g_mu);
  GraphRec* g = static_cast<GraphRec*>(handle);
  if (!g || g->capturing || !g->invalid.empty())
    throw ::ck::Error("ERR_CUDA", "replay of a CUDA graph that was not captured successfully");
  if (g_capture[g->device]) not_while_capturing("replaying a graph");
  stats_note(Traffic::GraphReplay);
  capture_replay(g);
}

void graph_destroy(Graph handle) {
  Lock lock(g_mu);
  GraphRec* g = static_cast<GraphRec*>(handle);
  if (!g) return;
  if (g->capturing) {
    g_capture[g->device] = nullptr;
    g->invalid = "destroyed during capture";
    capture_end(g);
    release_deferred(g);
  }
#if CK_CUDA_REAL
  if (g->exec) on_device(g->device, [&] { stream_sync(stream_of(g->device)); });
#else
  flush(&g_streams[g->device]);
#endif
  capture_destroy(g);
  for (void* p : g->blocks) {
    g_graph_owner.erase(p);
    if (g->released.count(p)) raw_device_free(p);
    else g_orphans.insert(p);  // still held by a tensor: freed when it is
  }
  for (void* p : g->pinned) pinned_free(p);
  delete g;
}

bool capturing() {
  Lock lock(g_mu);
  return g_capture[current_device()] != nullptr;
}

int64_t graph_nodes(Graph handle) { return static_cast<GraphRec*>(handle)->nodes; }

}  // namespace cuda
}  // namespace ck
