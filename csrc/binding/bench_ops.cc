// N-API entry points for the benchmarks: the measured machine peaks (core/peak.h) behind the
// fraction-of-peak column, measurePeak(device 'cpu' | 'cuda', seconds, bytes, reps) -> { gflops, gbps },
// and the CUDA event timer.
#include <napi.h>
#include <string>
#include "../core/peak.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"
#ifdef CK_HAVE_CUDA
#include "../core/kernels_cuda.h"
#endif

namespace ck {

Napi::Value MeasurePeak(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Error("ERR_ARG", "measurePeak: device must be 'cpu' or 'cuda'", ErrorKind::Type);
  const std::string device = info[0].As<Napi::String>().Utf8Value();
  const double seconds = arg_num(info, 1, "seconds");
  const int64_t bytes = arg_int(info, 2, "bytes");
  const int64_t reps = arg_int(info, 3, "reps");
  PeakResult r{};
  if (device == "cpu") {
    r = cpu_peak(seconds, bytes, (int)reps);
  } else if (device == "cuda") {
#ifdef CK_HAVE_CUDA
    if (!cuda::is_available()) throw Error("ERR_DEVICE", "measurePeak: no CUDA device is available", ErrorKind::Generic);
    r = cuda_peak(seconds, bytes, (int)reps);
#else
    throw Error("ERR_DEVICE", "measurePeak: this convkit binary was built without CUDA", ErrorKind::Generic);
#endif
  } else {
    throw Error("ERR_ARG", "measurePeak: device must be 'cpu' or 'cuda', got '" + device + "'", ErrorKind::Range);
  }
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("gflops", r.gflops);
  o.Set("gbps", r.gbps);
  return o;
}

#ifdef CK_HAVE_CUDA
// cudaTimerStart() / cudaTimerStop() -> ms: CUDA events around work on convkit's stream (the benchmarks'
// clock on a GPU; the host clock in the emulation).
Napi::Value CudaTimerStart(const Napi::CallbackInfo& info) {
  if (!cuda::is_available()) throw Error("ERR_DEVICE", "cudaTimerStart: no CUDA device is available", ErrorKind::Generic);
  cuda::timer_start(cuda::default_stream());
  return info.Env().Undefined();
}
Napi::Value CudaTimerStop(const Napi::CallbackInfo& info) {
  if (!cuda::is_available()) throw Error("ERR_DEVICE", "cudaTimerStop: no CUDA device is available", ErrorKind::Generic);
  return Napi::Number::New(info.Env(), cuda::timer_stop(cuda::default_stream()));
}
#else
Napi::Value CudaTimerStart(const Napi::CallbackInfo&) {
  throw Error("ERR_DEVICE", "cudaTimerStart: this convkit binary was built without CUDA", ErrorKind::Generic);
}
Napi::Value CudaTimerStop(const Napi::CallbackInfo&) {
  throw Error("ERR_DEVICE", "cudaTimerStop: this convkit binary was built without CUDA", ErrorKind::Generic);
}
#endif

}  // namespace ck
