// N-API entry points for the data pipeline kernels (core/augment_kernels.h). Tensors travel as
// (storage, element offset) pairs of contiguous tensors; lib/transforms/batch_augment.ts checks shapes
// first, and every size is checked again here against its storage so a wrong call is a JS error.
#include <napi.h>
#include <string>
#include "../core/augment_kernels.h"
#include "args.h"
#include "errors.h"
#include "storage.h"
#ifdef CK_HAVE_CUDA
#include "../core/augment_kernels_cuda.h"
#endif

namespace ck {
namespace {

// The storage at i with its element offset at i+1, holding at least `elems` 4-byte elements.
uint8_t* span(const Napi::CallbackInfo& info, size_t i, int64_t elems, const char* name, int& device) {
  Storage* s = Storage::From(info[i], name);
  const int64_t off = arg_int(info, i + 1, name);
  if (off < 0 || elems < 0 || (off + elems) * 4 > s->bytes())
    throw Error("ERR_SHAPE", std::string("batchAugment: ") + name + " is smaller than the batch needs", ErrorKind::Range);
  if (device == -2) device = s->device();
  else if (device != s->device())
    throw Error("ERR_DEVICE", std::string("batchAugment: ") + name + " is on another device than the input");
  return static_cast<uint8_t*>(s->data()) + off * 4;
}

// batchAugment([N, C, H, W, OH, OW, pad], fill, x, xo, params, po, norm|null, no, y, yo)
Napi::Value BatchAugment(const Napi::CallbackInfo& info) {
  if (info.Length() < 10 || !info[0].IsArray()) throw Error("ERR_ARG", "batchAugment: expected 10 arguments", ErrorKind::Type);
  Napi::Array dims = info[0].As<Napi::Array>();
  if (dims.Length() != 7) throw Error("ERR_ARG", "batchAugment: dims must be [N, C, H, W, OH, OW, pad]", ErrorKind::Range);
  int64_t d[7];
  for (uint32_t k = 0; k < 7; ++k) {
    Napi::Value v = dims.Get(k);
    if (!v.IsNumber()) throw Error("ERR_ARG", "batchAugment: dims hold a non-number", ErrorKind::Type);
    d[k] = static_cast<int64_t>(v.As<Napi::Number>().DoubleValue());
    if (d[k] < 0) throw Error("ERR_SHAPE", "batchAugment: negative size", ErrorKind::Range);
  }
  BatchAugmentParams p{d[0], d[1], d[2], d[3], d[4], d[5], d[6], static_cast<float>(arg_num(info, 1, "fill"))};
  int device = -2;
  const float* x = reinterpret_cast<const float*>(span(info, 2, p.N * p.C * p.H * p.W, "input", device));
  const int32_t* params = reinterpret_cast<const int32_t*>(span(info, 4, p.N * 3, "params", device));
  const float* norm = nullptr;
  if (!info[6].IsNull() && !info[6].IsUndefined()) norm = reinterpret_cast<const float*>(span(info, 6, 2 * p.C, "norm", device));
  float* y = reinterpret_cast<float*>(span(info, 8, p.N * p.C * p.OH * p.OW, "output", device));
  if (device < 0) {
    batch_augment_cpu(p, x, params, norm, y);
  } else {
#ifdef CK_HAVE_CUDA
    cuda::set_device(device);
    cuda::batch_augment_cuda(p, x, params, norm, y, cuda::default_stream());
#else
    throw Error("ERR_DEVICE", "built without CUDA");
#endif
  }
  return info.Env().Undefined();
}

}  // namespace

void init_data_ops(Napi::Env env, Napi::Object exports) {
  (void)env;
  CK_EXPORT(exports, "batchAugment", BatchAugment);
}

}  // namespace ck
