// N-API entry points of the asynchronous CUDA runtime (core/runtime_cuda.h):
//   allocPinned(bytes) -> Storage             a CPU storage in pinned host memory (needs a CUDA device)
//   cudaMemory(device) -> { reserved, used, cached, limit, total }   the device's pool, in bytes
//   cudaEmptyCache()                          waits for the devices, gives cached pool and pinned blocks back
//   cudaSetMemoryFraction(fraction, device)   caps the device's pool at fraction x its memory
//   cudaGraphBegin() -> handle                the current device's stream starts capturing
//   cudaGraphEnd(handle) -> nodes             ends the capture (ERR_CUDA if it was invalidated)
//   cudaGraphReplay(handle)                   queues the recorded work
//   cudaGraphDestroy(handle)                  idempotent
//   cudaProbe() -> { ok, why }                the loader's test in a child process: on every device, a context,
//                                             an allocation, one kernel of this build, a synchronisation
// Binaries without CUDA refuse the pool and graph calls with ERR_DEVICE; cudaEmptyCache is a no-op there and
// cudaProbe says why not.
#include <napi.h>
#include <cstring>
#include <string>
#include "entry_points.h"
#include "errors.h"
#include "args.h"
#include "storage.h"
#ifdef CK_HAVE_CUDA
#include "../core/kernels_cuda.h"
#include "../core/runtime_cuda.h"
#endif

namespace ck {

Napi::Value AllocPinned(const Napi::CallbackInfo& info) {
  return Storage::Create(info.Env(), -1, arg_int(info, 0, "bytes"), true);
}

Napi::Value CudaEmptyCache(const Napi::CallbackInfo& info) {
  CK_IF_CUDA_AVAILABLE(cuda::empty_cache());
  return info.Env().Undefined();
}

Napi::Value CudaProbe(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  std::string why;
#ifdef CK_HAVE_CUDA
  int device = 0;
  try {
    if (!cuda::is_available()) throw Error("ERR_DEVICE", cuda::runtime_info());
    for (device = 0; device < cuda::device_count(); ++device) {
      cuda::set_device(device);
      const cuda::Stream s = cuda::default_stream();
      void* p = cuda::malloc(256, s);
      float got[4] = {0, 0, 0, 0};
      try {
        cuda::fill_cuda(DType::F32, p, 64, 1.5, s);  // a kernel compiled into this binary
        cuda::memcpy_d2h(got, p, sizeof got, s);     // waits for it
      } catch (...) {
        cuda::free(p, s);
        throw;
      }
      cuda::free(p, s);
      if (got[0] != 1.5f || got[3] != 1.5f)
        throw Error("ERR_CUDA", "the probe kernel ran but wrote " + std::to_string(got[0]) + " instead of 1.5");
    }
    cuda::set_device(0);
  } catch (const std::exception& e) {
    why = "cuda:" + std::to_string(device) + ": " + e.what();
  }
#else
  why = "this convkit binary was built without CUDA";
#endif
  o.Set("ok", why.empty());
  o.Set("why", why);
  return o;
}

#ifdef CK_HAVE_CUDA
namespace {
struct GraphBox {
  cuda::Graph g = nullptr;
};

GraphBox* graph_arg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsExternal())
    throw Error("ERR_ARG", std::string(fn) + ": expects a graph handle", ErrorKind::Type);
  return info[0].As<Napi::External<GraphBox>>().Data();
}
}  // namespace

Napi::Value CudaMemory(const Napi::CallbackInfo& info) {
  const int device = static_cast<int>(arg_int(info, 0, "device"));
  const cuda::PoolInfo p = cuda::pool_info(device);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("reserved", static_cast<double>(p.reserved));
  o.Set("used", static_cast<double>(p.used));
  o.Set("cached", static_cast<double>(p.reserved - p.used));
  o.Set("limit", static_cast<double>(p.limit));
  o.Set("total", static_cast<double>(p.total));
  return o;
}

Napi::Value CudaSetMemoryFraction(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber())
    throw Error("ERR_ARG", "setMemoryFraction: fraction must be a number", ErrorKind::Type);
  cuda::set_memory_fraction(info[0].As<Napi::Number>().DoubleValue(), static_cast<int>(arg_int(info, 1, "device")));
  return info.Env().Undefined();
}

Napi::Value CudaGraphBegin(const Napi::CallbackInfo& info) {
  const int device = static_cast<int>(arg_int(info, 0, "device"));
  cuda::set_device(device);
  auto* box = new GraphBox();
  try {
    box->g = cuda::graph_capture_begin();
  } catch (...) {
    delete box;
    throw;
  }
  // The finalizer is the safety net for a graph nobody destroyed.
  return Napi::External<GraphBox>::New(info.Env(), box, [](Napi::Env, GraphBox* b) {
    try {
      if (b->g) cuda::graph_destroy(b->g);
    } catch (...) {
    }
    delete b;
  });
}

Napi::Value CudaGraphEnd(const Napi::CallbackInfo& info) {
  GraphBox* b = graph_arg(info, "cudaGraphEnd");
  if (!b->g) throw Error("ERR_CUDA", "CUDAGraph: the graph was destroyed");
  try {
    cuda::graph_capture_end(b->g);
  } catch (...) {
    cuda::graph_destroy(b->g);
    b->g = nullptr;
    throw;
  }
  return Napi::Number::New(info.Env(), static_cast<double>(cuda::graph_nodes(b->g)));
}

// cudaGraphReplay(graph[, rngBase {storage, offset}, rngOffset]): with rngBase, first writes rngOffset (uint64) there
// through pinned staging, in stream order: where the graph's dropout draws start (cuda/dropout.cu).
Napi::Value CudaGraphReplay(const Napi::CallbackInfo& info) {
  GraphBox* b = graph_arg(info, "cudaGraphReplay");
  if (!b->g) throw Error("ERR_CUDA", "CUDAGraph.replay: the graph was destroyed or its capture failed");
  if (info.Length() > 1 && !is_nullish(info[1])) {
    Operands o("cudaGraphReplay");
    void* dst = o.run(info[1], 2, "rngBase");
    const double v = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1.0;
    if (!(v >= 0 && v <= 9007199254740991.0)) throw Error("ERR_ARG", "cudaGraphReplay: rngOffset must be a counter", ErrorKind::Range);
    if (o.device() < 0) throw Error("ERR_DEVICE", "cudaGraphReplay: rngBase must be CUDA memory");
    const uint64_t word = static_cast<uint64_t>(v);
    cuda::set_device(o.device());
    void* host = cuda::pinned_alloc(sizeof(word));
    std::memcpy(host, &word, sizeof(word));
    try {
      cuda::memcpy_h2d_async(dst, host, sizeof(word), cuda::default_stream());
    } catch (...) {
      cuda::pinned_free(host);
      throw;
    }
    cuda::pinned_free(host);  // reused once the copy has run
  }
  cuda::graph_replay(b->g);
  return info.Env().Undefined();
}

Napi::Value CudaGraphDestroy(const Napi::CallbackInfo& info) {
  GraphBox* b = graph_arg(info, "cudaGraphDestroy");
  if (b->g) {
    cuda::Graph g = b->g;
    b->g = nullptr;
    cuda::graph_destroy(g);
  }
  return info.Env().Undefined();
}

#else
// Without CUDA: each refuses with ERR_DEVICE.
#define CK_NO_CUDA_ENTRY(fn)                                                                        \
  Napi::Value fn(const Napi::CallbackInfo&) {                                                       \
    throw Error("ERR_DEVICE", std::string(#fn) + ": this convkit binary was built without CUDA"); \
  }
CK_NO_CUDA_ENTRY(CudaMemory)
CK_NO_CUDA_ENTRY(CudaSetMemoryFraction)
CK_NO_CUDA_ENTRY(CudaGraphBegin)
CK_NO_CUDA_ENTRY(CudaGraphEnd)
CK_NO_CUDA_ENTRY(CudaGraphReplay)
CK_NO_CUDA_ENTRY(CudaGraphDestroy)
#undef CK_NO_CUDA_ENTRY
#endif

}  // namespace ck
