// N-API entry points for the CUDA launch statistics (core/launch_stats_cuda.h), the math switches of the
// hand-written kernels (PyTorch's allow_tf32 pair) and the convolution dispatcher's testing overrides:
//   cudaStatsSet({ enabled, dryRun })   turns statistics on (resetting them) or off; dryRun (emulated
//                                       device only) records launches without running them
//   cudaStats() -> { enabled, dryRun, launches, scratchBytes, scratchAllocs, im2colBytes, hostSyncs, allocs,
//                    frees, h2dBytes, d2hBytes, d2dBytes, uploadsPinned, uploadsPageable, pinnedAllocs, graphReplays,
//                    kernels: [{ name, launches, blocks, threads, minBlocks, maxBlocks, usefulMacs, issuedMacs }] }
//   cudaSetMath({ convTF32, matmulTF32 })   backends.cudnn.allowTF32 / backends.cuda.matmul.allowTF32
//   cudaConvTuning({ tile, splits, math })  tile 'auto' | '64x64' | '64x128' | '128x64' | '128x128';
//                                       splits 0 (auto) or >= 1; math 'auto' | 'fp32' | 'tf32' (tf32 needs sm_80+)
//   cudaDeviceProps() -> { smCount, computeCapability }
// Binaries without CUDA report statistics as disabled and refuse the rest with ERR_DEVICE.
#include <napi.h>
#include <string>
#include "entry_points.h"
#include "errors.h"
#ifdef CK_HAVE_CUDA
#include "../core/kernels_cuda.h"
#include "../core/launch_stats_cuda.h"
#include "../core/nn_kernels_cuda.h"
#endif

namespace ck {
namespace {

Napi::Object arg_object(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsObject())
    throw Error("ERR_ARG", std::string(fn) + ": expects an options object", ErrorKind::Type);
  return info[0].As<Napi::Object>();
}

bool opt_bool(const Napi::Object& o, const char* key, bool dflt, const char* fn) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return dflt;
  if (!o.Get(key).IsBoolean())
    throw Error("ERR_ARG", std::string(fn) + ": " + key + " must be a boolean", ErrorKind::Type);
  return o.Get(key).As<Napi::Boolean>().Value();
}

#ifndef CK_HAVE_CUDA
[[noreturn]] void no_cuda(const char* fn) {
  throw Error("ERR_DEVICE", std::string(fn) + ": this convkit binary was built without CUDA", ErrorKind::Generic);
}
#endif

}  // namespace

Napi::Value CudaStatsSet(const Napi::CallbackInfo& info) {
  const Napi::Object o = arg_object(info, "cudaStatsSet");
  const bool enabled = opt_bool(o, "enabled", true, "cudaStatsSet");
  const bool dry = opt_bool(o, "dryRun", false, "cudaStatsSet");
#ifdef CK_HAVE_CUDA
  if (dry && !cuda::is_emulated())
    throw Error("ERR_DEVICE", "cudaStatsSet: dryRun needs the emulated device (the emu flavour)", ErrorKind::Generic);
  cuda::stats_set(enabled, dry);
#else
  if (enabled || dry) no_cuda("cudaStatsSet");
#endif
  return info.Env().Undefined();
}

namespace {
// The counters of CudaLaunchStats (lib/cuda_stats.ts), in one order for both builds (zero without CUDA).
constexpr const char* kCounterNames[] = {"launches",      "scratchBytes",    "scratchAllocs", "im2colBytes",
                                         "hostSyncs",     "allocs",          "frees",         "h2dBytes",
                                         "d2hBytes",      "d2dBytes",        "uploadsPinned", "uploadsPageable",
                                         "pinnedAllocs",  "graphReplays"};
constexpr size_t kCounters = sizeof(kCounterNames) / sizeof(kCounterNames[0]);
}  // namespace

Napi::Value CudaStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  bool enabled = false, dry_run = false;
  double counters[kCounters] = {};
  Napi::Array ks = Napi::Array::New(env);
#ifdef CK_HAVE_CUDA
  const cuda::LaunchStats s = cuda::stats_snapshot();
  enabled = s.enabled;
  dry_run = s.dry_run;
  const int64_t values[kCounters] = {s.launches,   s.scratch_bytes,  s.scratch_allocs,   s.im2col_bytes,
                                      s.host_syncs, s.allocs,         s.frees,            s.h2d_bytes,
                                      s.d2h_bytes,  s.d2d_bytes,      s.uploads_pinned,   s.uploads_pageable,
                                      s.pinned_allocs, s.graph_replays};
  for (size_t i = 0; i < kCounters; ++i) counters[i] = static_cast<double>(values[i]);
  for (size_t i = 0; i < s.kernels.size(); ++i) {
    const cuda::KernelStats& k = s.kernels[i];
    Napi::Object e = Napi::Object::New(env);
    e.Set("name", k.name);
    e.Set("launches", static_cast<double>(k.launches));
    e.Set("blocks", static_cast<double>(k.blocks));
    e.Set("threads", static_cast<double>(k.threads));
    e.Set("minBlocks", static_cast<double>(k.min_blocks));
    e.Set("maxBlocks", static_cast<double>(k.max_blocks));
    e.Set("usefulMacs", k.useful_macs);
    e.Set("issuedMacs", k.issued_macs);
    ks.Set(static_cast<uint32_t>(i), e);
  }
#endif
  o.Set("enabled", enabled);
  o.Set("dryRun", dry_run);
  for (size_t i = 0; i < kCounters; ++i) o.Set(kCounterNames[i], counters[i]);
  o.Set("kernels", ks);
  return o;
}

Napi::Value CudaSetMath(const Napi::CallbackInfo& info) {
  const Napi::Object o = arg_object(info, "cudaSetMath");
#ifdef CK_HAVE_CUDA
  cuda::MathOptions m = cuda::math_options();
  m.conv_tf32 = opt_bool(o, "convTF32", m.conv_tf32, "cudaSetMath");
  m.matmul_tf32 = opt_bool(o, "matmulTF32", m.matmul_tf32, "cudaSetMath");
  cuda::set_math_options(m);
#else
  (void)opt_bool(o, "convTF32", true, "cudaSetMath");
  (void)opt_bool(o, "matmulTF32", false, "cudaSetMath");
#endif
  return info.Env().Undefined();
}

Napi::Value CudaConvTuning(const Napi::CallbackInfo& info) {
  const Napi::Object o = arg_object(info, "cudaConvTuning");
#ifdef CK_HAVE_CUDA
  cuda::ConvTuning t;
  if (o.Has("tile") && !o.Get("tile").IsUndefined()) {
    if (!o.Get("tile").IsString()) throw Error("ERR_ARG", "cudaConvTuning: tile must be a string", ErrorKind::Type);
    const std::string v = o.Get("tile").As<Napi::String>().Utf8Value();
    if (v == "64x64") t.bm = 64, t.bn = 64;
    else if (v == "64x128") t.bm = 64, t.bn = 128;
    else if (v == "128x64") t.bm = 128, t.bn = 64;
    else if (v == "128x128") t.bm = 128, t.bn = 128;
    else if (v != "auto")
      throw Error("ERR_ARG", "cudaConvTuning: tile must be 'auto', '64x64', '64x128', '128x64' or '128x128', got '" + v + "'",
                  ErrorKind::Range);
  }
  if (o.Has("splits") && !o.Get("splits").IsUndefined()) {
    const double v = o.Get("splits").IsNumber() ? o.Get("splits").As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0 && v <= 256 && v == static_cast<int>(v)))
      throw Error("ERR_ARG", "cudaConvTuning: splits must be an integer in [0, 256] (0: automatic)", ErrorKind::Range);
    t.splits = static_cast<int>(v);
  }
  if (o.Has("math") && !o.Get("math").IsUndefined()) {
    const std::string v = o.Get("math").IsString() ? o.Get("math").As<Napi::String>().Utf8Value() : "";
    if (v == "fp32") t.math = 1;
    else if (v == "tf32") t.math = 2;
    else if (v != "auto") throw Error("ERR_ARG", "cudaConvTuning: math must be 'auto', 'fp32' or 'tf32'", ErrorKind::Range);
  }
  cuda::set_conv_tuning(t);
#else
  (void)o;
  no_cuda("cudaConvTuning");
#endif
  return info.Env().Undefined();
}

Napi::Value CudaDeviceProps(const Napi::CallbackInfo& info) {
#ifdef CK_HAVE_CUDA
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("smCount", cuda::sm_count());
  o.Set("computeCapability", cuda::compute_capability());
  return o;
#else
  (void)info;
  no_cuda("cudaDeviceProps");
#endif
}

}  // namespace ck
