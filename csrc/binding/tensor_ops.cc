// N-API entry points for the tensor core: storage creation and byte transfer (byte ranges { storage,
// byteOffset }), and the tensor ops (elementwise, reductions, copy, fill, random, matmul), each taking
// (params, operands) like the nn entry points: contiguous runs { storage, offset } or strided views
// { storage, layout }, read by args.h's NamedOperands, which also finds their one device for CK_DISPATCH.
#include <napi.h>
#include <cstring>
#include "../core/kernels.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"
#include "storage.h"

namespace ck {

// The "op" field of an op family whose codes are 0 .. E::Count - 1.
template <class E>
E op_of(const Fields& f, const char* family) {
  const int64_t v = f.i64("op");
  if (v < 0 || v >= static_cast<int64_t>(E::Count))
    throw Error("ERR_ARG", std::string("unknown ") + family + " op " + std::to_string(v), ErrorKind::Range);
  return static_cast<E>(v);
}
DType dtype_of(const Fields& f, const char* key) {
  const int64_t d = f.i64(key);
  if (d != 0 && d != 1) throw Error("ERR_ARG", f.at(key) + ": unknown dtype code " + std::to_string(d), ErrorKind::Range);
  return (DType)d;
}

// A byte range { storage, byteOffset } of `bytes` bytes inside its storage; returns its first byte.
uint8_t* byte_range(const Napi::Value& v, int64_t bytes, const char* name, Storage** out) {
  Fields f(v, name);
  Storage* s = Storage::From(f.get("storage"), name);
  const int64_t off = f.i64("byteOffset");
  if (off < 0 || bytes < 0 || off + bytes > s->bytes())
    throw Error("ERR_SHAPE", std::string(name) + ": " + std::to_string(bytes) + " bytes from byte " + std::to_string(off) +
                                 " reach outside its storage of " + std::to_string(s->bytes()), ErrorKind::Range);
  *out = s;
  return static_cast<uint8_t*>(s->data()) + off;
}

Napi::TypedArray typed_array(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = arg(info, i);
  if (!v.IsTypedArray()) throw Error("ERR_ARG", std::string(name) + " must be a typed array", ErrorKind::Type);
  return v.As<Napi::TypedArray>();
}

// alloc(device, bytes) -> Storage
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  return Storage::Create(info.Env(), (int)arg_int(info, 0, "device"), arg_int(info, 1, "bytes"));
}

// upload({storage, byteOffset}, typedArray): host bytes -> storage
Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::TypedArray ta = typed_array(info, 1, "upload source");
  Storage* s;
  uint8_t* dst = byte_range(arg(info, 0), (int64_t)ta.ByteLength(), "upload destination", &s);
  const uint8_t* src = (const uint8_t*)ta.ArrayBuffer().Data() + ta.ByteOffset();
  device_copy(s->device(), dst, -1, src, (int64_t)ta.ByteLength());
  return info.Env().Undefined();
}

// download({storage, byteOffset}, typedArray): storage bytes -> host typed array (its whole length)
Napi::Value Download(const Napi::CallbackInfo& info) {
  Napi::TypedArray ta = typed_array(info, 1, "download destination");
  Storage* s;
  const uint8_t* src = byte_range(arg(info, 0), (int64_t)ta.ByteLength(), "download source", &s);
  uint8_t* dst = (uint8_t*)ta.ArrayBuffer().Data() + ta.ByteOffset();
  device_copy(-1, dst, s->device(), src, (int64_t)ta.ByteLength());
  return info.Env().Undefined();
}

// copyBytes(dst {storage, byteOffset}, src {storage, byteOffset}, bytes): between any two devices
Napi::Value CopyBytes(const Napi::CallbackInfo& info) {
  const int64_t n = arg_int(info, 2, "bytes");
  Storage *d, *s;
  uint8_t* dst = byte_range(arg(info, 0), n, "copyBytes destination", &d);
  const uint8_t* src = byte_range(arg(info, 1), n, "copyBytes source", &s);
  device_copy(d->device(), dst, s->device(), src, n);
  return info.Env().Undefined();
}

namespace {
// unary's and binary's frame: params {op, inDtype, outDtype, ...}; the input views, read by read_inputs(f, o),
// which returns their element count; the contiguous output of that count; then run(op, in, out, output,
// device) unless it is empty.
template <class Op, class ReadInputs, class Run>
Napi::Value elementwise_entry(const Napi::CallbackInfo& info, const char* family, ReadInputs read_inputs, Run run) {
  Fields f(info, 0, std::string(family) + " params");
  const Op op = op_of<Op>(f, family);
  const DType in = dtype_of(f, "inDtype"), out = dtype_of(f, "outDtype");
  NamedOperands o(info, 1, family);
  const int64_t n = read_inputs(f, o);
  void* y = o.run("output", n);
  if (n > 0) run(op, in, out, y, o.device());
  return info.Env().Undefined();
}
}  // namespace

// unary({op, inDtype, outDtype, a, b}, {input: view, output: run}): output (contiguous) = op(input)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  double a = 0, b = 0;
  Layout xl;
  const void* x = nullptr;
  return elementwise_entry<UnaryOp>(
      info, "unary",
      [&](const Fields& f, NamedOperands& o) {
        a = f.num("a");
        b = f.num("b");
        x = o.view("input", xl);
        return layout_numel(xl);
      },
      [&](UnaryOp op, DType in, DType out, void* y, int dev) {
        CK_DISPATCH(dev, unary_cpu(op, in, out, x, xl, y, a, b), cuda::unary_cuda(op, in, out, x, xl, y, a, b, stream));
      });
}

// binary({op, inDtype, outDtype}, {a: view, b: view, output: run}): views share one shape (broadcast = stride 0)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Layout al, bl;
  const void *a = nullptr, *b = nullptr;
  return elementwise_entry<BinaryOp>(
      info, "binary",
      [&](const Fields&, NamedOperands& o) {
        a = o.view("a", al);
        b = o.view("b", bl);
        if (al.ndim != bl.ndim) throw Error("ERR_SHAPE", "binary layouts differ in rank", ErrorKind::Range);
        for (int d = 0; d < al.ndim; ++d)
          if (al.shape[d] != bl.shape[d]) throw Error("ERR_SHAPE", "binary layouts differ in shape", ErrorKind::Range);
        return layout_numel(al);
      },
      [&](BinaryOp op, DType in, DType out, void* y, int dev) {
        CK_DISPATCH(dev, binary_cpu(op, in, out, a, al, b, bl, y), cuda::binary_cuda(op, in, out, a, al, b, bl, y, stream));
      });
}

// reduce({op, dtype, outer, inner, correction}, {input: run, output: run}): input (outer, inner) contiguous
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "reduce params");
  const auto op = op_of<ReduceOp>(f, "reduce");
  const DType dt = dtype_of(f, "dtype");
  const int64_t outer = f.i64("outer"), inner = f.i64("inner"), corr = f.i64("correction");
  if (outer < 0 || inner < 0) throw Error("ERR_SHAPE", "reduce: negative extent", ErrorKind::Range);
  NamedOperands o(info, 1, "reduce");
  const void* x = o.run("input", outer * inner);
  void* y = o.run("output", outer);
  if (outer == 0) return info.Env().Undefined();
  CK_DISPATCH(o.device(), reduce_cpu(op, dt, x, y, outer, inner, corr), cuda::reduce_cuda(op, dt, x, y, outer, inner, corr, stream));
  return info.Env().Undefined();
}

// copy({source: view, destination: view}): destination <- source, same shape, same device
Napi::Value Copy(const Napi::CallbackInfo& info) {
  NamedOperands o(info, 0, "copy");
  Layout sl, dl;
  void* const src = o.view("source", sl);
  void* const dst = o.view("destination", dl);
  if (sl.ndim != dl.ndim) throw Error("ERR_SHAPE", "copy: layouts differ in rank", ErrorKind::Range);
  for (int d = 0; d < sl.ndim; ++d)
    if (sl.shape[d] != dl.shape[d]) throw Error("ERR_SHAPE", "copy: layouts differ in shape", ErrorKind::Range);
  const int dev = o.device();
  const int64_t n = layout_numel(sl);
  if (n == 0) return info.Env().Undefined();
  // Memory overlap, the same way on every device (PyTorch's TensorIterator checks): a destination with
  // a stride-0 dim is rejected; views of one storage that share memory are either the same view (a
  // no-op), both dense with intersecting ranges (rejected, as PyTorch does), or not dense and merely
  // interleaved or intersecting (copied through a temporary, so the result is a copy of src's snapshot).
  for (int d = 0; d < dl.ndim; ++d)
    if (dl.strides[d] == 0 && dl.shape[d] > 1)
      throw Error("ERR_ARG", "copy: unsupported operation: more than one element of the written-to tensor refers to a "
                             "single memory location (a stride of 0); clone() it first", ErrorKind::Range);
  if (src == dst) {  // the same storage
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
        CK_DISPATCH(dev, (copy_cpu(src, sl, tmp, tl), copy_cpu(tmp, tl, dst, dl)),
                    (cuda::copy_cuda(src, sl, tmp, tl, stream), cuda::copy_cuda(tmp, tl, dst, dl, stream)));
      } catch (...) {
        device_free(dev, tmp, n * 4);
        throw;
      }
      device_free(dev, tmp, n * 4);
      return info.Env().Undefined();
    }
  }
  CK_DISPATCH(dev, copy_cpu(src, sl, dst, dl), cuda::copy_cuda(src, sl, dst, dl, stream));
  return info.Env().Undefined();
}

// fill({dtype, n, value}, {output: run})
Napi::Value Fill(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "fill params");
  const DType dt = dtype_of(f, "dtype");
  const int64_t n = f.i64("n");
  const double v = f.num("value");
  NamedOperands o(info, 1, "fill");
  void* p = o.run("output", n);
  if (n == 0) return info.Env().Undefined();
  CK_DISPATCH(o.device(), fill_cpu(dt, p, n, v), cuda::fill_cuda(dt, p, n, v, stream));
  return info.Env().Undefined();
}

// random({kind, dtype, n, seedHi, seedLo, offset, a, b}, {output: run}): CPU storage only; the JS layer
// draws on the host and uploads, so every device sees the same numbers for the same seed.
Napi::Value Random(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "random params");
  auto kind = (RandomKind)f.i64("kind");
  const DType dt = dtype_of(f, "dtype");
  const int64_t n = f.i64("n");
  const uint64_t seed = ((uint64_t)(uint32_t)f.i64("seedHi") << 32) | (uint32_t)f.i64("seedLo");
  const uint64_t offset = (uint64_t)f.i64("offset");
  const double a = f.num("a"), b = f.num("b");
  NamedOperands o(info, 1, "random");
  void* p = o.run("output", n);
  if (o.device() >= 0) throw Error("ERR_DEVICE", "random draws are made on the cpu");
  random_cpu(kind, dt, p, n, seed, offset, a, b);
  return info.Env().Undefined();
}

// A matmul operand { storage, offset, batchStride, rowStride, colStride }: `batch` (rows, cols) matrices.
struct Matrix {
  float* p;
  int64_t sb, rs, cs;
};
Matrix read_matrix(Operands& o, const Fields& ops, const char* name, int64_t batch, int64_t rows, int64_t cols) {
  Napi::Value v = ops.get(name);
  Fields f(v, ops.at(name));
  Matrix m{nullptr, f.i64("batchStride"), f.i64("rowStride"), f.i64("colStride")};
  if (m.sb < 0 || m.rs < 0 || m.cs < 0) throw Error("ERR_SHAPE", ops.at(name) + ": negative stride", ErrorKind::Range);
  // The furthest element it reaches: a run up to there must fit its storage.
  const int64_t reach = (batch == 0 || rows == 0 || cols == 0) ? 0 : (batch - 1) * m.sb + (rows - 1) * m.rs + (cols - 1) * m.cs + 1;
  m.p = o.f32(v, reach, name);
  return m;
}

// gemm({batch, M, N, K, alpha, beta}, {a, b, c}): c = alpha a b + beta c; a (M, K), b (K, N), c (M, N), colStride 1
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "matmul params");
  const int64_t batch = f.i64("batch"), M = f.i64("M"), N = f.i64("N"), K = f.i64("K");
  const float alpha = (float)f.num("alpha"), beta = (float)f.num("beta");
  if (batch < 0 || M < 0 || N < 0 || K < 0) throw Error("ERR_SHAPE", "negative matmul size", ErrorKind::Range);
  Operands o("matmul");
  Fields ops(info, 1, "matmul operands");
  const Matrix A = read_matrix(o, ops, "a", batch, M, K);
  const Matrix B = read_matrix(o, ops, "b", batch, K, N);
  const Matrix C = read_matrix(o, ops, "c", batch, M, N);
  if (C.cs != 1) throw Error("ERR_SHAPE", "matmul operands.c: colStride must be 1", ErrorKind::Range);
  if (batch == 0 || M == 0 || N == 0) return info.Env().Undefined();
  CK_DISPATCH(o.device(), sgemm_cpu(batch, M, N, K, alpha, A.p, A.sb, A.rs, A.cs, B.p, B.sb, B.rs, B.cs, beta, C.p, C.sb, C.rs),
              cuda::sgemm_cuda(batch, M, N, K, alpha, A.p, A.sb, A.rs, A.cs, B.p, B.sb, B.rs, B.cs, beta, C.p, C.sb, C.rs, stream));
  return info.Env().Undefined();
}

}  // namespace ck
