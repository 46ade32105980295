// N-API entry point for the data pipeline kernel (core/augment_kernels.h):
// batchAugment({N, C, H, W, OH, OW, pad, fill}, {input, params, norm | null, output}), contiguous operands
// { storage, offset } read by the shared reader (args.h); lib/transforms/batch_augment.ts checks shapes first.
#include <napi.h>
#include <string>
#include "../core/augment_kernels.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"
#ifdef CK_HAVE_CUDA
#include "../core/augment_kernels_cuda.h"
#endif

namespace ck {

Napi::Value BatchAugment(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "batchAugment params");
  BatchAugmentParams p{f.i64("N"), f.i64("C"), f.i64("H"), f.i64("W"), f.i64("OH"), f.i64("OW"), f.i64("pad"),
                       static_cast<float>(f.num("fill"))};
  if (p.N < 0 || p.C < 0 || p.H < 0 || p.W < 0 || p.OH < 0 || p.OW < 0 || p.pad < 0)
    throw Error("ERR_SHAPE", "batchAugment: negative size", ErrorKind::Range);
  NamedOperands o(info, 1, "batchAugment");
  const float* x = o.f32("input", p.N * p.C * p.H * p.W);
  const int32_t* params = o.i32("params", p.N * 3);
  const float* norm = o.f32("norm", 2 * p.C, true);
  float* y = o.f32("output", p.N * p.C * p.OH * p.OW);
  CK_DISPATCH(o.device(), batch_augment_cpu(p, x, params, norm, y), cuda::batch_augment_cuda(p, x, params, norm, y, stream));
  return info.Env().Undefined();
}

}  // namespace ck
