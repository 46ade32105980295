// N-API entry points for the tensor core: storage creation and transfer, elementwise, reductions,
// fill, random, matmul. Each dispatches on the storage's device to the CPU reference or the CUDA twin.
#include <napi.h>
#include <cstring>
#include "../core/kernels.h"
#include "args.h"
#include "errors.h"
#include "storage.h"
#ifdef CK_HAVE_CUDA
#include "../core/kernels_cuda.h"
#endif

namespace ck {
namespace {

int same_device(std::initializer_list<Storage*> ss) {
  int dev = (*ss.begin())->device();
  for (Storage* s : ss)
    if (s->device() != dev)
      throw Error("ERR_DEVICE", "operands are on different devices (" + std::string(dev < 0 ? "cpu" : "cuda:" + std::to_string(dev)) +
                                    " and " + (s->device() < 0 ? "cpu" : "cuda:" + std::to_string(s->device())) + ")");
  return dev;
}

#ifdef CK_HAVE_CUDA
#define CK_DISPATCH(dev, cpu_call, cuda_call) \
  do { if ((dev) < 0) { cpu_call; } else { cuda::set_device(dev); auto stream = cuda::default_stream(); cuda_call; } } while (0)
#else
#define CK_DISPATCH(dev, cpu_call, cuda_call) \
  do { if ((dev) < 0) { cpu_call; } else { throw Error("ERR_DEVICE", "built without CUDA"); } } while (0)
#endif

int64_t numel(const Layout& l) { int64_t n = 1; for (int d = 0; d < l.ndim; ++d) n *= l.shape[d]; return n; }

// alloc(device, bytes) -> Storage
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  return Storage::Create(info.Env(), (int)arg_int(info, 0, "device"), arg_int(info, 1, "bytes"));
}

// upload(storage, byteOffset, typedArray): host bytes -> storage
Napi::Value Upload(const Napi::CallbackInfo& info) {
  Storage* s = Storage::From(info[0], "destination");
  int64_t off = arg_int(info, 1, "byteOffset");
  if (!info[2].IsTypedArray()) throw Error("ERR_ARG", "source must be a typed array", ErrorKind::Type);
  Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
  int64_t n = (int64_t)ta.ByteLength();
  if (off < 0 || off + n > s->bytes()) throw Error("ERR_SHAPE", "upload outside the storage", ErrorKind::Range);
  const uint8_t* src = (const uint8_t*)ta.ArrayBuffer().Data() + ta.ByteOffset();
  device_copy(s->device(), (uint8_t*)s->data() + off, -1, src, n);
  return info.Env().Undefined();
}

// download(storage, byteOffset, typedArray): storage bytes -> host typed array (its whole length)
Napi::Value Download(const Napi::CallbackInfo& info) {
  Storage* s = Storage::From(info[0], "source");
  int64_t off = arg_int(info, 1, "byteOffset");
  if (!info[2].IsTypedArray()) throw Error("ERR_ARG", "destination must be a typed array", ErrorKind::Type);
  Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
  int64_t n = (int64_t)ta.ByteLength();
  if (off < 0 || off + n > s->bytes()) throw Error("ERR_SHAPE", "download outside the storage", ErrorKind::Range);
  uint8_t* dst = (uint8_t*)ta.ArrayBuffer().Data() + ta.ByteOffset();
  device_copy(-1, dst, s->device(), (const uint8_t*)s->data() + off, n);
  return info.Env().Undefined();
}

// copyBytes(dst, dstOff, src, srcOff, bytes): between any two devices
Napi::Value CopyBytes(const Napi::CallbackInfo& info) {
  Storage* d = Storage::From(info[0], "destination");
  int64_t doff = arg_int(info, 1, "dstOffset");
  Storage* s = Storage::From(info[2], "source");
  int64_t soff = arg_int(info, 3, "srcOffset");
  int64_t n = arg_int(info, 4, "bytes");
  if (doff < 0 || soff < 0 || n < 0 || doff + n > d->bytes() || soff + n > s->bytes())
    throw Error("ERR_SHAPE", "copy outside a storage", ErrorKind::Range);
  device_copy(d->device(), (uint8_t*)d->data() + doff, s->device(), (const uint8_t*)s->data() + soff, n);
  return info.Env().Undefined();
}

// unary(op, inDtype, outDtype, x, xLayout, y, a, b): y (contiguous) = op(x)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  auto op = (UnaryOp)arg_int(info, 0, "op");
  if ((int)op < 0 || op >= UnaryOp::Count) throw Error("ERR_ARG", "unknown unary op", ErrorKind::Range);
  DType in = arg_dtype(info, 1), out = arg_dtype(info, 2);
  Storage* x = Storage::From(info[3], "input");
  Layout xl = arg_layout(info, 4, "input");
  Storage* y = Storage::From(info[5], "output");
  double a = arg_num(info, 6, "a"), b = arg_num(info, 7, "b");
  check_layout_bounds(xl, x->bytes(), "input");
  if (numel(xl) * 4 > y->bytes()) throw Error("ERR_SHAPE", "output storage too small", ErrorKind::Range);
  int dev = same_device({x, y});
  if (numel(xl) == 0) return info.Env().Undefined();
  CK_DISPATCH(dev, unary_cpu(op, in, out, x->data(), xl, y->data(), a, b),
              cuda::unary_cuda(op, in, out, x->data(), xl, y->data(), a, b, stream));
  return info.Env().Undefined();
}

// binary(op, inDtype, outDtype, a, aLayout, b, bLayout, y): layouts share one shape (broadcast = stride 0)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  auto op = (BinaryOp)arg_int(info, 0, "op");
  if ((int)op < 0 || op >= BinaryOp::Count) throw Error("ERR_ARG", "unknown binary op", ErrorKind::Range);
  DType in = arg_dtype(info, 1), out = arg_dtype(info, 2);
  Storage* a = Storage::From(info[3], "a");
  Layout al = arg_layout(info, 4, "a");
  Storage* b = Storage::From(info[5], "b");
  Layout bl = arg_layout(info, 6, "b");
  Storage* y = Storage::From(info[7], "output");
  if (al.ndim != bl.ndim) throw Error("ERR_SHAPE", "binary layouts differ in rank", ErrorKind::Range);
  for (int d = 0; d < al.ndim; ++d)
    if (al.shape[d] != bl.shape[d]) throw Error("ERR_SHAPE", "binary layouts differ in shape", ErrorKind::Range);
  check_layout_bounds(al, a->bytes(), "a");
  check_layout_bounds(bl, b->bytes(), "b");
  if (numel(al) * 4 > y->bytes()) throw Error("ERR_SHAPE", "output storage too small", ErrorKind::Range);
  int dev = same_device({a, b, y});
  if (numel(al) == 0) return info.Env().Undefined();
  CK_DISPATCH(dev, binary_cpu(op, in, out, a->data(), al, b->data(), bl, y->data()),
              cuda::binary_cuda(op, in, out, a->data(), al, b->data(), bl, y->data(), stream));
  return info.Env().Undefined();
}

// reduce(op, dtype, x, xElemOffset, y, outer, inner, correction): x (outer, inner) contiguous
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  auto op = (ReduceOp)arg_int(info, 0, "op");
  if ((int)op < 0 || op >= ReduceOp::Count) throw Error("ERR_ARG", "unknown reduce op", ErrorKind::Range);
  DType dt = arg_dtype(info, 1);
  Storage* x = Storage::From(info[2], "input");
  int64_t xoff = arg_int(info, 3, "offset");
  Storage* y = Storage::From(info[4], "output");
  int64_t outer = arg_int(info, 5, "outer"), inner = arg_int(info, 6, "inner");
  int64_t corr = arg_int(info, 7, "correction");
  if (outer < 0 || inner < 0 || xoff < 0 || (xoff + outer * inner) * 4 > x->bytes() || outer * 4 > y->bytes())
    throw Error("ERR_SHAPE", "reduction outside its storage", ErrorKind::Range);
  int dev = same_device({x, y});
  if (outer == 0) return info.Env().Undefined();
  const void* xp = (const uint8_t*)x->data() + xoff * 4;
  CK_DISPATCH(dev, reduce_cpu(op, dt, xp, y->data(), outer, inner, corr),
              cuda::reduce_cuda(op, dt, xp, y->data(), outer, inner, corr, stream));
  return info.Env().Undefined();
}

// copy(src, srcLayout, dst, dstLayout): dst view <- src view, same shape, same device
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Storage* src = Storage::From(info[0], "source");
  Layout sl = arg_layout(info, 1, "source");
  Storage* dst = Storage::From(info[2], "destination");
  Layout dl = arg_layout(info, 3, "destination");
  if (sl.ndim != dl.ndim) throw Error("ERR_SHAPE", "copy: layouts differ in rank", ErrorKind::Range);
  for (int d = 0; d < sl.ndim; ++d)
    if (sl.shape[d] != dl.shape[d]) throw Error("ERR_SHAPE", "copy: layouts differ in shape", ErrorKind::Range);
  check_layout_bounds(sl, src->bytes(), "source");
  check_layout_bounds(dl, dst->bytes(), "destination");
  int dev = same_device({src, dst});
  const int64_t n = numel(sl);
  if (n == 0) return info.Env().Undefined();
  // Memory overlap, the same way on every device (PyTorch's TensorIterator checks): a destination with
  // a stride-0 dim is rejected; views of one storage that share memory are either the same view (a
  // no-op), both dense with intersecting ranges (rejected, as PyTorch does), or not dense and merely
  // interleaved or intersecting (copied through a temporary, so the result is a copy of src's snapshot).
  for (int d = 0; d < dl.ndim; ++d)
    if (dl.strides[d] == 0 && dl.shape[d] > 1)
      throw Error("ERR_ARG", "copy: unsupported operation: more than one element of the written-to tensor refers to a "
                             "single memory location (a stride of 0); clone() it first", ErrorKind::Range);
  if (src == dst) {
    auto extent = [](const Layout& l, int64_t& lo, int64_t& hi) {
      lo = hi = l.offset;
      for (int d = 0; d < l.ndim; ++d) {
        const int64_t span = (l.shape[d] - 1) * l.strides[d];
        if (span < 0) lo += span; else hi += span;
      }
    };
    int64_t slo, shi, dlo, dhi;
    extent(sl, slo, shi);
    extent(dl, dlo, dhi);
    bool same = sl.offset == dl.offset;
    for (int d = 0; d < sl.ndim && same; ++d) same = sl.shape[d] == 1 || sl.strides[d] == dl.strides[d];
    if (same) return info.Env().Undefined();
    if (slo <= dhi && dlo <= shi) {
      if (shi - slo + 1 == n && dhi - dlo + 1 == n)
        throw Error("ERR_ARG", "copy: unsupported operation: some elements of the input tensor and the written-to "
                               "tensor refer to a single memory location; clone() the input first", ErrorKind::Range);
      Layout tl = sl;  // contiguous temporary of src's shape
      tl.offset = 0;
      int64_t st = 1;
      for (int d = sl.ndim - 1; d >= 0; --d) { tl.strides[d] = st; st *= sl.shape[d]; }
      void* tmp = device_alloc(dev, n * 4);
      try {
        CK_DISPATCH(dev, (copy_cpu(src->data(), sl, tmp, tl), copy_cpu(tmp, tl, dst->data(), dl)),
                    (cuda::copy_cuda(src->data(), sl, tmp, tl, stream), cuda::copy_cuda(tmp, tl, dst->data(), dl, stream)));
      } catch (...) {
        device_free(dev, tmp, n * 4);
        throw;
      }
      device_free(dev, tmp, n * 4);
      return info.Env().Undefined();
    }
  }
  CK_DISPATCH(dev, copy_cpu(src->data(), sl, dst->data(), dl), cuda::copy_cuda(src->data(), sl, dst->data(), dl, stream));
  return info.Env().Undefined();
}

// fill(dtype, storage, elemOffset, n, value)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  DType dt = arg_dtype(info, 0);
  Storage* s = Storage::From(info[1], "storage");
  int64_t off = arg_int(info, 2, "offset"), n = arg_int(info, 3, "n");
  double v = arg_num(info, 4, "value");
  if (off < 0 || n < 0 || (off + n) * 4 > s->bytes()) throw Error("ERR_SHAPE", "fill outside the storage", ErrorKind::Range);
  if (n == 0) return info.Env().Undefined();
  void* p = (uint8_t*)s->data() + off * 4;
  CK_DISPATCH(s->device(), fill_cpu(dt, p, n, v), cuda::fill_cuda(dt, p, n, v, stream));
  return info.Env().Undefined();
}

// random(kind, dtype, storage, n, seedHi, seedLo, offset, a, b): CPU storage only; the JS layer
// draws on the host and uploads, so every device sees the same numbers for the same seed.
Napi::Value Random(const Napi::CallbackInfo& info) {
  auto kind = (RandomKind)arg_int(info, 0, "kind");
  DType dt = arg_dtype(info, 1);
  Storage* s = Storage::From(info[2], "storage");
  int64_t n = arg_int(info, 3, "n");
  uint64_t seed = ((uint64_t)(uint32_t)arg_int(info, 4, "seedHi") << 32) | (uint32_t)arg_int(info, 5, "seedLo");
  uint64_t offset = (uint64_t)arg_int(info, 6, "offset");
  double a = arg_num(info, 7, "a"), b = arg_num(info, 8, "b");
  if (s->device() >= 0) throw Error("ERR_DEVICE", "random draws are made on the cpu");
  if (n < 0 || n * 4 > s->bytes()) throw Error("ERR_SHAPE", "random draw outside the storage", ErrorKind::Range);
  random_cpu(kind, dt, s->data(), n, seed, offset, a, b);
  return info.Env().Undefined();
}

// gemm(batch, M, N, K, alpha, A, offA, sAb, rsA, csA, B, offB, sBb, rsB, csB, beta, C, offC, sCb, ldc)
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  int64_t batch = arg_int(info, 0, "batch"), M = arg_int(info, 1, "M"), N = arg_int(info, 2, "N"), K = arg_int(info, 3, "K");
  float alpha = (float)arg_num(info, 4, "alpha");
  Storage* A = Storage::From(info[5], "A");
  int64_t offA = arg_int(info, 6, "offA"), sAb = arg_int(info, 7, "sAb"), rsA = arg_int(info, 8, "rsA"), csA = arg_int(info, 9, "csA");
  Storage* B = Storage::From(info[10], "B");
  int64_t offB = arg_int(info, 11, "offB"), sBb = arg_int(info, 12, "sBb"), rsB = arg_int(info, 13, "rsB"), csB = arg_int(info, 14, "csB");
  float beta = (float)arg_num(info, 15, "beta");
  Storage* C = Storage::From(info[16], "C");
  int64_t offC = arg_int(info, 17, "offC"), sCb = arg_int(info, 18, "sCb"), ldc = arg_int(info, 19, "ldc");
  if (batch < 0 || M < 0 || N < 0 || K < 0) throw Error("ERR_SHAPE", "negative matmul size", ErrorKind::Range);
  auto reach = [](int64_t off, int64_t b, int64_t sb, int64_t r, int64_t rs, int64_t c, int64_t cs) {
    if (b == 0 || r == 0 || c == 0) return off;
    return off + (b - 1) * sb + (r - 1) * rs + (c - 1) * cs;
  };
  if ((reach(offA, batch, sAb, M, rsA, K, csA) + 1) * 4 > A->bytes() ||
      (reach(offB, batch, sBb, K, rsB, N, csB) + 1) * 4 > B->bytes() ||
      (reach(offC, batch, sCb, M, ldc, N, 1) + 1) * 4 > C->bytes())
    throw Error("ERR_SHAPE", "matmul operand outside its storage", ErrorKind::Range);
  int dev = same_device({A, B, C});
  if (batch == 0 || M == 0 || N == 0) return info.Env().Undefined();
  const float* a = (const float*)A->data() + offA;
  const float* b = (const float*)B->data() + offB;
  float* c = (float*)C->data() + offC;
  CK_DISPATCH(dev, sgemm_cpu(batch, M, N, K, alpha, a, sAb, rsA, csA, b, sBb, rsB, csB, beta, c, sCb, ldc),
              cuda::sgemm_cuda(batch, M, N, K, alpha, a, sAb, rsA, csA, b, sBb, rsB, csB, beta, c, sCb, ldc, stream));
  return info.Env().Undefined();
}

}  // namespace

void init_tensor_ops(Napi::Env env, Napi::Object exports) {
  (void)env;
  CK_EXPORT(exports, "alloc", Alloc);
  CK_EXPORT(exports, "upload", Upload);
  CK_EXPORT(exports, "download", Download);
  CK_EXPORT(exports, "copyBytes", CopyBytes);
  CK_EXPORT(exports, "unary", Unary);
  CK_EXPORT(exports, "binary", Binary);
  CK_EXPORT(exports, "reduce", Reduce);
  CK_EXPORT(exports, "copy", Copy);
  CK_EXPORT(exports, "fill", Fill);
  CK_EXPORT(exports, "random", Random);
  CK_EXPORT(exports, "gemm", Gemm);
}

}  // namespace ck
