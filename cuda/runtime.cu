// The runtime half of csrc/core/kernels_cuda.h: device discovery, the default stream, memory, copies.
//
// Real build: nothing here may crash or throw on a machine without a driver or GPU: a failing
// cudaGetDeviceCount means is_available() == false and device_count() == 0. Memory comes from the
// device's default stream-ordered pool (cudaMallocAsync) with its release threshold raised to the
// maximum, so freed blocks stay cached in the pool instead of going back to the driver at every
// synchronisation. Every op is issued on one non-blocking stream per process, created lazily.
//
// Emulated build: host memory (64-byte aligned), one device, streams are no-ops and kernels have
// already finished when launch returns. New allocations are filled with 0xFF bytes (NaN as float,
// -1 as int32) so a kernel that reads memory nobody wrote shows it in the CUDA-vs-CPU tests.
// CONVKIT_CUDA_EMU_DISABLE=1 in the environment makes the emulated device unavailable.
#include "runtime.cuh"
#include <chrono>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

namespace ck {
namespace cuda {

#if CK_CUDA_REAL

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
    d.count = n;
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

std::mutex g_mu;
cudaStream_t g_stream = nullptr;
bool g_stream_made = false;
uint64_t g_pool_ready = 0;  // bit d: device d's default pool keeps freed memory cached

void ready_pool(int device) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (device < 64 && (g_pool_ready >> device & 1u)) return;
  cudaMemPool_t pool;
  CK_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  uint64_t threshold = UINT64_MAX;
  CK_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  if (device < 64) g_pool_ready |= uint64_t(1) << device;
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

Stream default_stream() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_stream_made) {
    check_device(0);
    CK_CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
    g_stream_made = true;
  }
  return static_cast<Stream>(g_stream);
}

void* malloc(size_t bytes, Stream s) {
  if (bytes == 0) return nullptr;
  int device = 0;
  CK_CUDA_CHECK(cudaGetDevice(&device));
  ready_pool(device);
  const cudaStream_t stream = static_cast<cudaStream_t>(s);
  void* p = nullptr;
  cudaError_t st = cudaMallocAsync(&p, bytes, stream);
  if (st == cudaErrorMemoryAllocation) {
    // Memory freed on other streams may only return to the pool once that work is done: wait, give
    // cached blocks back to the driver, and try once more.
    (void)cudaGetLastError();
    CK_CUDA_CHECK(cudaDeviceSynchronize());
    cudaMemPool_t pool;
    if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) (void)cudaMemPoolTrimTo(pool, 0);
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

void free(void* p, Stream s) {
  if (!p) return;
  CK_CUDA_CHECK(cudaFreeAsync(p, static_cast<cudaStream_t>(s)));
}

void memcpy_h2d(void* dst, const void* src, size_t bytes, Stream s) {
  if (!bytes) return;
  const cudaStream_t stream = static_cast<cudaStream_t>(s);
  CK_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
  CK_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void memcpy_d2h(void* dst, const void* src, size_t bytes, Stream s) {
  if (!bytes) return;
  const cudaStream_t stream = static_cast<cudaStream_t>(s);
  CK_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
  CK_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void memcpy_d2d(void* dst, const void* src, size_t bytes, Stream s) {
  if (!bytes) return;
  CK_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(s)));
}

void synchronize() { CK_CUDA_CHECK(cudaDeviceSynchronize()); }

namespace {
cudaEvent_t g_timer[2] = {nullptr, nullptr};
}  // namespace

void timer_start(Stream s) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (auto& e : g_timer)
    if (!e) CK_CUDA_CHECK(cudaEventCreate(&e));
  CK_CUDA_CHECK(cudaEventRecord(g_timer[0], static_cast<cudaStream_t>(s)));
}

double timer_stop(Stream s) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_timer[0] || !g_timer[1]) throw ::ck::Error("ERR_ARG", "timer_stop without timer_start");
  CK_CUDA_CHECK(cudaEventRecord(g_timer[1], static_cast<cudaStream_t>(s)));
  CK_CUDA_CHECK(cudaEventSynchronize(g_timer[1]));
  float ms = 0.f;
  CK_CUDA_CHECK(cudaEventElapsedTime(&ms, g_timer[0], g_timer[1]));
  return ms;
}

#else  // host emulation

namespace {
constexpr size_t kAlign = 64;

bool disabled() {
  const char* v = std::getenv("CONVKIT_CUDA_EMU_DISABLE");
  return v && std::strcmp(v, "1") == 0;
}

void check_device(int device) {
  if (device != 0 || disabled())
    throw ::ck::Error("ERR_CUDA", "invalid CUDA device " + std::to_string(device) + " (host emulation has " +
                                      (disabled() ? "none: CONVKIT_CUDA_EMU_DISABLE=1" : "device 0 only") + ")");
}
}  // namespace

bool is_available() { return !disabled(); }
bool is_emulated() { return true; }
int device_count() { return disabled() ? 0 : 1; }

std::string device_name(int device) {
  check_device(device);
  return "convkit host emulation";
}

std::string runtime_info() {
  return std::string("host emulation (no CUDA runtime; kernels run as fibers, ") +
         std::to_string(::ck::emu::fiber_stack_bytes() / 1024) + " KiB stack per thread)" +
         (disabled() ? ", disabled by CONVKIT_CUDA_EMU_DISABLE=1" : "");
}

void set_device(int device) { check_device(device); }

// The emulated device reports an H100's 132 SMs and compute capability 9.0 unless CONVKIT_EMU_SM_COUNT /
// CONVKIT_EMU_CC say otherwise (e.g. CONVKIT_EMU_CC=75 plans as for a Turing GPU: no TF32, no cp.async).
namespace {
int env_int(const char* name, int dflt, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return dflt;
  char* end = nullptr;
  const long r = std::strtol(v, &end, 10);
  if (*end || r < lo || r > hi)
    throw ::ck::Error("ERR_ARG", std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                                     std::to_string(hi) + "], got '" + v + "'", ::ck::ErrorKind::Range);
  return static_cast<int>(r);
}
}  // namespace
int sm_count() { return env_int("CONVKIT_EMU_SM_COUNT", 132, 1, 1024); }
int compute_capability() { return env_int("CONVKIT_EMU_CC", 90, 50, 120); }

Stream default_stream() { return nullptr; }

void* malloc(size_t bytes, Stream) {
  if (bytes == 0) return nullptr;
  // Exactly `bytes` long, so AddressSanitizer builds catch a kernel that runs past the end.
  void* p = ::operator new(bytes, std::align_val_t(kAlign), std::nothrow);
  if (!p)
    throw ::ck::Error("ERR_CUDA_OOM", "emulated CUDA out of memory: cannot allocate " + std::to_string(bytes) + " bytes");
  std::memset(p, 0xFF, bytes);  // NaN / -1: reads of memory no kernel wrote stand out
  return p;
}

void free(void* p, Stream) {
  if (p) ::operator delete(p, std::align_val_t(kAlign));
}

void memcpy_h2d(void* dst, const void* src, size_t bytes, Stream) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void memcpy_d2h(void* dst, const void* src, size_t bytes, Stream) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void memcpy_d2d(void* dst, const void* src, size_t bytes, Stream) {
  if (bytes) std::memmove(dst, src, bytes);
}

void synchronize() {}

namespace {
std::chrono::steady_clock::time_point g_timer_t0;
bool g_timer_started = false;
}  // namespace

void timer_start(Stream) {
  g_timer_t0 = std::chrono::steady_clock::now();
  g_timer_started = true;
}

double timer_stop(Stream) {
  if (!g_timer_started) throw ::ck::Error("ERR_ARG", "timer_stop without timer_start");
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g_timer_t0).count();
}

#endif

}  // namespace cuda
}  // namespace ck
