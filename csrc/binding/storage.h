// Storage: one native buffer on one device, owned by exactly one JS object. dispose() frees it at once
// (idempotent); the finalizer is only a safety net for storage nobody disposed.
#pragma once
#include <napi.h>
#include <atomic>
#include <cstdint>

namespace ck {

struct DeviceCounters {
  std::atomic<int64_t> live{0};
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> peak_bytes{0};
};
// index 0 = cpu, 1 + n = cuda:n (up to 16 devices)
DeviceCounters& counters(int device);
constexpr int kMaxCudaDevices = 16;

class Storage : public Napi::ObjectWrap<Storage> {
 public:
  static Napi::Function Init(Napi::Env env);
  // pinned (device -1 only): page-locked host memory from the CUDA runtime's pinned pool, so uploads from it
  // are asynchronous copies with no staging (core/runtime_cuda.h)
  static Napi::Object Create(Napi::Env env, int device, int64_t bytes, bool pinned = false);
  static Storage* From(const Napi::Value& v, const char* what);

  explicit Storage(const Napi::CallbackInfo& info);
  ~Storage() override;
  // The garbage collector's path (a storage nobody disposed): frees it and tells V8 the external memory
  // went away, as dispose() does (without this V8 kept counting it and collected ever more often).
  void Finalize(Napi::Env env) override;

  void* data() const;        // throws ERR_DISPOSED once disposed
  int64_t bytes() const { return bytes_; }
  int device() const { return device_; }  // -1 = cpu, n >= 0 = cuda:n
  bool disposed() const { return disposed_; }
  bool pinned() const { return pinned_; }
  void release(Napi::Env* env);

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetBytes(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetPinned(const Napi::CallbackInfo& info);

  void* ptr_ = nullptr;
  int64_t bytes_ = 0;
  int device_ = -1;
  bool disposed_ = false;
  bool pinned_ = false;
};

// Allocation used by Storage and by scratch buffers: host memory (64-byte aligned) or CUDA pool memory.
void* device_alloc(int device, int64_t bytes, bool pinned = false);
void device_free(int device, void* p, int64_t bytes, bool pinned = false);  // as given to device_alloc
// Copies between any two devices, each on its device's stream: device to host waits for the copy (a
// counted synchronisation); host to device does not (a pageable source is staged through pinned memory);
// between two devices it is ordered after both devices' queued work.
void device_copy(int dst_dev, void* dst, int src_dev, const void* src, int64_t bytes);

}  // namespace ck
