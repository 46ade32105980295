#include "storage.h"
#include <cstdlib>
#include <cstring>
#include <string>
#include "../core/error.h"
#include "../core/host_alloc.h"
#ifdef CK_HAVE_CUDA
#include "../core/kernels_cuda.h"
#include "../core/runtime_cuda.h"
#endif

namespace ck {


DeviceCounters& counters(int device) {
  static DeviceCounters c[1 + kMaxCudaDevices];
  int i = device < 0 ? 0 : 1 + device;
  if (i > kMaxCudaDevices) i = kMaxCudaDevices;
  return c[i];
}

static void check_cuda_device(int device) {
#ifdef CK_HAVE_CUDA
  if (!cuda::is_available())
    throw Error("ERR_DEVICE", "CUDA device requested but no CUDA device is available (" + cuda::runtime_info() + ")");
  if (device >= cuda::device_count())
    throw Error("ERR_DEVICE", "cuda:" + std::to_string(device) + " does not exist (" +
                                  std::to_string(cuda::device_count()) + " CUDA device(s))", ErrorKind::Range);
#else
  (void)device;
  throw Error("ERR_DEVICE", "this convkit binary was built without CUDA; the 'cuda' device is not available");
#endif
}

void* device_alloc(int device, int64_t bytes, bool pinned) {
  if (bytes < 0) throw Error("ERR_ARG", "negative allocation size", ErrorKind::Range);
  if (device < 0 && pinned) {
#ifdef CK_HAVE_CUDA
    if (cuda::is_available()) return cuda::pinned_alloc(bytes == 0 ? 64 : (size_t)bytes);
#endif
    throw Error("ERR_DEVICE", "pinned memory needs a CUDA device (" +
#ifdef CK_HAVE_CUDA
                                  cuda::runtime_info() +
#else
                                  std::string("this convkit binary was built without CUDA") +
#endif
                                  ")");
  }
  if (device < 0) return host_alloc((size_t)bytes);  // host_alloc rounds and aligns
  check_cuda_device(device);
#ifdef CK_HAVE_CUDA
  cuda::set_device(device);
  return cuda::malloc(bytes == 0 ? 64 : (size_t)((bytes + 63) / 64 * 64), cuda::default_stream());
#else
  return nullptr;
#endif
}

void device_free(int device, void* p, int64_t bytes, bool pinned) {
  if (!p) return;
#ifdef CK_HAVE_CUDA
  if (device < 0 && pinned) { cuda::pinned_free(p); return; }
#else
  (void)pinned;
#endif
  if (device < 0) { host_free(p, (size_t)bytes); return; }
#ifdef CK_HAVE_CUDA
  cuda::set_device(device);
  cuda::free(p, cuda::default_stream());
#endif
}

void device_copy(int dst_dev, void* dst, int src_dev, const void* src, int64_t bytes) {
  if (bytes <= 0) return;
  if (dst_dev < 0 && src_dev < 0) { std::memcpy(dst, src, (size_t)bytes); return; }
#ifdef CK_HAVE_CUDA
  if (dst_dev < 0) {
    cuda::set_device(src_dev);
    cuda::memcpy_d2h(dst, src, (size_t)bytes, cuda::default_stream());
  } else if (src_dev < 0) {
    cuda::set_device(dst_dev);
    cuda::memcpy_h2d(dst, src, (size_t)bytes, cuda::default_stream());
  } else if (src_dev == dst_dev) {
    cuda::set_device(dst_dev);
    cuda::memcpy_d2d(dst, src, (size_t)bytes, cuda::default_stream());
  } else {
    cuda::memcpy_peer(dst, dst_dev, src, src_dev, (size_t)bytes);
  }
#else
  throw Error("ERR_DEVICE", "this convkit binary was built without CUDA");
#endif
}

Napi::Function Storage::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Storage", {
    InstanceMethod<&Storage::Dispose>("dispose"),
    InstanceAccessor<&Storage::GetDisposed>("disposed"),
    InstanceAccessor<&Storage::GetBytes>("bytes"),
    InstanceAccessor<&Storage::GetDevice>("device"),
    InstanceAccessor<&Storage::GetPinned>("pinned"),
  });
  // Per environment: each worker thread that loads the addon gets its own constructor, and a worker's
  // teardown frees only its own.
  env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(f)));
  return f;
}

Napi::Object Storage::Create(Napi::Env env, int device, int64_t bytes, bool pinned) {
  void* p = device_alloc(device, bytes, pinned);
  Napi::Object obj;
  try {
    obj = env.GetInstanceData<Napi::FunctionReference>()->New({Napi::External<void>::New(env, p), Napi::Number::New(env, (double)bytes),
                      Napi::Number::New(env, device), Napi::Boolean::New(env, pinned)});
  } catch (...) {
    device_free(device, p, bytes, pinned);
    throw;
  }
  return obj;
}

Storage::Storage(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Storage>(info) {
  if (info.Length() != 4 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "Storage cannot be constructed from JavaScript");
  ptr_ = info[0].As<Napi::External<void>>().Data();
  bytes_ = (int64_t)info[1].As<Napi::Number>().Int64Value();
  device_ = info[2].As<Napi::Number>().Int32Value();
  pinned_ = info[3].As<Napi::Boolean>().Value();
  auto& c = counters(device_);
  c.live++;
  int64_t now = (c.bytes += bytes_);
  int64_t peak = c.peak_bytes.load();
  while (now > peak && !c.peak_bytes.compare_exchange_weak(peak, now)) {}
  if (device_ < 0) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), bytes_);
}

void Storage::release(Napi::Env* env) {
  if (disposed_) return;
  disposed_ = true;
  try { device_free(device_, ptr_, bytes_, pinned_); } catch (...) {}  // freeing must never throw out of a finalizer
  ptr_ = nullptr;
  auto& c = counters(device_);
  c.live--;
  c.bytes -= bytes_;
  // The C call, not the wrapper: this runs in finalizers, where an exception would abort the process.
  int64_t unused;
  if (env && device_ < 0) (void)napi_adjust_external_memory(*env, -bytes_, &unused);
}

void Storage::Finalize(Napi::Env env) { release(&env); }

// Every path that releases a storage gives its bytes back to V8: dispose() and Finalize() pass the env; the
// destructor runs after Finalize (release is then a no-op) or at environment teardown, when V8's count no
// longer matters and no env call is allowed.
Storage::~Storage() { release(nullptr); }

void* Storage::data() const {
  if (disposed_) throw Error("ERR_DISPOSED", "tensor storage was disposed");
  return ptr_;
}

Storage* Storage::From(const Napi::Value& v, const char* what) {
  Napi::FunctionReference* ctor = v.Env().GetInstanceData<Napi::FunctionReference>();
  if (!v.IsObject() || !ctor || !v.As<Napi::Object>().InstanceOf(ctor->Value()))
    throw Error("ERR_ARG", std::string(what) + " is not a convkit storage", ErrorKind::Type);
  Storage* s = Napi::ObjectWrap<Storage>::Unwrap(v.As<Napi::Object>());
  if (s->disposed_) throw Error("ERR_DISPOSED", std::string(what) + ": tensor was disposed");
  return s;
}

Napi::Value Storage::Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  release(&env);
  return env.Undefined();
}
Napi::Value Storage::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }
Napi::Value Storage::GetBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)bytes_); }
Napi::Value Storage::GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
Napi::Value Storage::GetPinned(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), pinned_); }

}  // namespace ck
