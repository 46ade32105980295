// N-API entry points of BF16 autocast on the CPU (lib/autocast.ts; csrc/cpu/gemm_bf16.h): the GEMM precision
// switch and the rounding of a tensor to bf16 values (kept in FP32 storage).
#include <napi.h>

#include <string>

#include "../cpu/gemm_bf16.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"

namespace ck {

// setGemmPrecision('float32' | 'bfloat16') -> the previous one.
Napi::Value SetGemmPrecision(const Napi::CallbackInfo& info) {
  const std::string want = arg_str(info, 0, "precision");
  if (want != "float32" && want != "bfloat16")
    throw Error("ERR_ARG", "gemm precision must be 'float32' or 'bfloat16', got '" + want + "'");
  const bool was = gemm_bf16_enabled();
  set_gemm_bf16(want == "bfloat16");
  return Napi::String::New(info.Env(), was ? "bfloat16" : "float32");
}

Napi::Value GemmBf16Kernel(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), gemm_bf16_kernel_name()); }

// roundBf16({ n }, { input, output }): CPU tensors only.
Napi::Value RoundBf16(const Napi::CallbackInfo& info) {
  const int64_t n = Fields(info, 0, "roundBf16 params").i64("n");
  NamedOperands o(info, 1, "roundBf16");
  const float* x = o.f32("input", n);
  float* y = o.f32("output", n);
  if (o.device() >= 0) throw Error("ERR_DEVICE", "roundBf16: bf16 rounding runs on CPU tensors only");
  round_bf16_cpu(n, x, y);
  return info.Env().Undefined();
}

}  // namespace ck
