// The addon's entry: registers Storage and every exported group, and reports what this binary is.
#include <napi.h>
#include "../core/host_alloc.h"
#include "../core/kernels.h"
#include "../cpu/isa.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"
#include "storage.h"
#ifdef CK_HAVE_CUDA
#include "../core/kernels_cuda.h"
#endif

#ifndef CK_FLAVOUR
#define CK_FLAVOUR "cpu"
#endif
#ifndef CK_CUDA_ARCHS
#define CK_CUDA_ARCHS ""
#endif

namespace ck {

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("flavour", CK_FLAVOUR);
  o.Set("cudaArchs", CK_CUDA_ARCHS);
#ifdef CK_HAVE_CUDA
  o.Set("cudaCompiled", true);
  o.Set("cudaEmulated", cuda::is_emulated());
#else
  o.Set("cudaCompiled", false);
  o.Set("cudaEmulated", false);
#endif
  o.Set("cpuIsa", cpu_isa_name(cpu_isa()));
  o.Set("cpuIsaSupported", cpu_isa_name(cpu_isa_supported()));
  o.Set("cpuIsaNote", cpu_isa_note());
  o.Set("cpuBf16", cpu_features().avx512_bf16);
  return o;
}

Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#ifdef CK_HAVE_CUDA
  bool avail = cuda::is_available();
  o.Set("available", avail);
  o.Set("emulated", cuda::is_emulated());
  int n = avail ? cuda::device_count() : 0;
  o.Set("deviceCount", n);
  Napi::Array names = Napi::Array::New(env, n);
  for (int i = 0; i < n; ++i) names.Set(i, cuda::device_name(i));
  o.Set("devices", names);
  o.Set("runtime", cuda::runtime_info());
#else
  o.Set("available", false);
  o.Set("emulated", false);
  o.Set("deviceCount", 0);
  o.Set("devices", Napi::Array::New(env, 0));
  o.Set("runtime", "built without CUDA");
#endif
  return o;
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  CK_IF_CUDA_AVAILABLE(cuda::synchronize());
  return info.Env().Undefined();
}

// memoryStats() -> [{device, live, bytes, peakBytes, cachedBytes}] for every device that ever held memory
// (cachedBytes: freed large host blocks kept for reuse, core/host_alloc.h; 0 on CUDA devices)
Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  for (int d = -1; d < kMaxCudaDevices; ++d) {
    DeviceCounters& c = counters(d);
    if (d >= 0 && c.peak_bytes.load() == 0 && c.live.load() == 0) continue;
    Napi::Object o = Napi::Object::New(env);
    o.Set("device", d);
    o.Set("live", (double)c.live.load());
    o.Set("bytes", (double)c.bytes.load());
    o.Set("peakBytes", (double)c.peak_bytes.load());
    o.Set("cachedBytes", d < 0 ? (double)host_cache_stats().cached_bytes : 0.0);
    out.Set(k++, o);
  }
  return out;
}

// V8's count of external memory (what every CPU Storage reports on allocation and gives back on release),
// read through a zero adjustment: process.memoryUsage().external does not include it.
Napi::Value ExternalMemory(const Napi::CallbackInfo& info) {
  int64_t now = 0;
  if (napi_adjust_external_memory(info.Env(), 0, &now) != napi_ok)
    throw Error("ERR_NATIVE", "napi_adjust_external_memory failed");
  return Napi::Number::New(info.Env(), (double)now);
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  host_empty_cache();
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int64_t n = arg_int(info, 0, "threads");
  if (n < 1 || n > 1024) throw Error("ERR_ARG", "threads must be in 1..1024", ErrorKind::Range);
  set_num_threads((int)n);
  return info.Env().Undefined();
}
Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), get_num_threads()); }

}  // namespace ck

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ck::cpu_isa();  // the CPU kernels' ISA path is chosen once, here at load (cpu/isa.h)
  exports.Set("Storage", ck::Storage::Init(env));
#define CK_REGISTER_ENTRY(js, fn) CK_EXPORT(exports, #js, ck::fn);
  CK_ENTRY_POINTS(CK_REGISTER_ENTRY)
#undef CK_REGISTER_ENTRY
  return exports;
}

NODE_API_MODULE(convkit, Init)
