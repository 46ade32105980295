// N-API entry points for the index family (csrc/core/index_kernels.h): cat, where, clampTensor(+Backward),
// gather, scatter, sort. Each takes (params, operands) as the other entry points: contiguous runs
// { storage, offset }, strided views { storage, layout } (broadcast = stride 0), null for an optional
// operand. lib/ops/index.ts validates first; these checks are the last line (shapes against storages,
// one device, ranks and extents that agree), so a wrong call can only ever be a coded JS error.
#include <napi.h>
#include <cstring>
#include <string>
#include "../core/index_kernels.h"
#include "args.h"
#include "entry_points.h"
#ifdef CK_HAVE_CUDA
#include "../core/index_kernels_cuda.h"
#endif

namespace ck {

DType dtype_of(const Fields& f, const char* key);  // tensor_ops.cc

namespace {

// An optional view of `shape`: a missing one reads as an all-zero-stride layout of that shape.
const void* optional_view(NamedOperands& o, const Napi::Object& ops, const char* key, const Layout& shape, Layout& l) {
  if (is_nullish(ops.Get(key))) {
    l = shape;
    l.offset = 0;
    for (int d = 0; d < l.ndim; ++d) l.strides[d] = 0;
    return nullptr;
  }
  return o.view(key, l);
}

// Throws unless l has ref's rank and extents (except dim `skip`, if any).
void same_extents(const std::string& op, const char* name, const Layout& l, const Layout& ref, int skip = -1) {
  bool ok = l.ndim == ref.ndim;
  for (int d = 0; ok && d < l.ndim; ++d) ok = d == skip || l.shape[d] == ref.shape[d];
  if (!ok) throw Error("ERR_SHAPE", op + ": " + name + " does not have the shape of the op", ErrorKind::Range);
}

uint32_t scalar_bits(double v, DType dt) {
  uint32_t bits;
  if (dt == DType::F32) {
    const float f = static_cast<float>(v);
    std::memcpy(&bits, &f, 4);
  } else {
    const int32_t i = static_cast<int32_t>(v);
    std::memcpy(&bits, &i, 4);
  }
  return bits;
}

Napi::Object operands_object(const Napi::CallbackInfo& info, size_t i, const std::string& op) {
  Napi::Value v = arg(info, i);
  if (!v.IsObject()) throw Error("ERR_ARG", op + ": operands must be an object", ErrorKind::Type);
  return v.As<Napi::Object>();
}

// The three views of where / clamp: keys[0] required, keys[1] and keys[2] optional, all of keys[0]'s shape.
void three_views(NamedOperands& o, const Napi::Object& ops, const char* const (&keys)[3], Layout* const (&l)[3],
                 const void* (&p)[3]) {
  p[0] = o.view(keys[0], *l[0]);
  for (int k = 1; k < 3; ++k) {
    p[k] = optional_view(o, ops, keys[k], *l[0], *l[k]);
    same_extents(o.op(), keys[k], *l[k], *l[0]);
  }
}

// where's and clamp's entry: the three views (three_views) and the contiguous output of their numel, then
// run(p, out, device) when that is not empty.
template <class Run>
Napi::Value ternary_entry(const Napi::CallbackInfo& info, const char* op, const char* const (&keys)[3],
                          Layout* const (&l)[3], Run run) {
  NamedOperands o(info, 1, op);
  const void* p[3];
  three_views(o, operands_object(info, 1, op), keys, l, p);
  const int64_t n = layout_numel(*l[0]);
  void* out = o.run("output", n);
  if (n > 0) run(p, out, o.device());
  return info.Env().Undefined();
}

}  // namespace

// cat({outer, inner, total, sizes}, {inputs: [run...], output: run})
Napi::Value Cat(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "cat params");
  const int64_t outer = f.i64("outer"), inner = f.i64("inner"), total = f.i64("total");
  Napi::Value sv = f.get("sizes");
  NamedOperands o(info, 1, "cat");
  Napi::Value iv = operands_object(info, 1, "cat").Get("inputs");
  if (!sv.IsArray() || !iv.IsArray()) throw Error("ERR_ARG", "cat: sizes and inputs must be arrays", ErrorKind::Type);
  Napi::Array sizes = sv.As<Napi::Array>(), inputs = iv.As<Napi::Array>();
  if (sizes.Length() != inputs.Length()) throw Error("ERR_ARG", "cat: one size per input", ErrorKind::Range);
  if (outer < 0 || inner < 0 || total < 0) throw Error("ERR_SHAPE", "cat: negative extent", ErrorKind::Range);
  std::vector<const void*> ptr(inputs.Length());
  std::vector<int64_t> size(inputs.Length()), off(inputs.Length());
  int64_t at = 0;
  for (uint32_t i = 0; i < inputs.Length(); ++i) {
    size[i] = as_int(sizes.Get(i), "cat: sizes[]");
    if (size[i] < 0) throw Error("ERR_SHAPE", "cat: negative size", ErrorKind::Range);
    off[i] = at;
    at += size[i];
    ptr[i] = o.Operands::run(inputs.Get(i), outer * size[i] * inner, "inputs[" + std::to_string(i) + "]");
  }
  if (at != total) throw Error("ERR_SHAPE", "cat: sizes do not add up to total", ErrorKind::Range);
  void* out = o.run("output", outer * total * inner);
  for (uint32_t first = 0; first < inputs.Length(); first += kCatChunk) {
    CatArgs a{};
    a.outer = outer;
    a.inner = inner;
    a.total = total;
    for (uint32_t i = first; i < inputs.Length() && i < first + kCatChunk; ++i, ++a.n) {
      a.inputs[a.n] = ptr[i];
      a.sizes[a.n] = size[i];
      a.offsets[a.n] = off[i];
    }
    CK_DISPATCH(o.device(), cat_cpu(a, out), cuda::cat_cuda(a, out, stream));
  }
  return info.Env().Undefined();
}

// where({condDtype, dtype, aScalar, bScalar}, {condition: view, a: view | null, b: view | null, output: run})
Napi::Value Where(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "where params");
  WhereArgs w{};
  w.cond_dtype = dtype_of(f, "condDtype");
  const DType dt = dtype_of(f, "dtype");
  w.a_bits = scalar_bits(f.num("aScalar"), dt);
  w.b_bits = scalar_bits(f.num("bScalar"), dt);
  return ternary_entry(info, "where", {"condition", "a", "b"}, {&w.cond, &w.a, &w.b}, [&](const void* const* p, void* out, int dev) {
    CK_DISPATCH(dev, where_cpu(w, p[0], p[1], p[2], out), cuda::where_cuda(w, p[0], p[1], p[2], out, stream));
  });
}

// clampTensor({dtype}, {input: view, min: view | null, max: view | null, output: run})
Napi::Value ClampTensor(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "clamp params");
  ClampArgs c{};
  c.dtype = dtype_of(f, "dtype");
  return ternary_entry(info, "clamp", {"input", "min", "max"}, {&c.x, &c.lo, &c.hi}, [&](const void* const* p, void* out, int dev) {
    CK_DISPATCH(dev, clamp_tensor_cpu(c, p[0], p[1], p[2], out), cuda::clamp_tensor_cuda(c, p[0], p[1], p[2], out, stream));
  });
}

// clampTensorBackward({input: view, min: view | null, max: view | null, gradOutput: run,
//                      gradInput: run | null, gradMin: run | null, gradMax: run | null}), float32
Napi::Value ClampTensorBackward(const Napi::CallbackInfo& info) {
  ClampArgs c{};
  c.dtype = DType::F32;
  NamedOperands o(info, 0, "clamp backward");
  const void* p[3];
  three_views(o, operands_object(info, 0, "clamp backward"), {"input", "min", "max"}, {&c.x, &c.lo, &c.hi}, p);
  const auto* x = static_cast<const float*>(p[0]);
  const auto* lo = static_cast<const float*>(p[1]);
  const auto* hi = static_cast<const float*>(p[2]);
  const int64_t n = layout_numel(c.x);
  const float* g = o.f32("gradOutput", n);
  float* gx = o.f32("gradInput", n, true);
  float* glo = o.f32("gradMin", n, true);
  float* ghi = o.f32("gradMax", n, true);
  if (n == 0) return info.Env().Undefined();
  CK_DISPATCH(o.device(), clamp_tensor_backward_cpu(c, x, lo, hi, g, gx, glo, ghi),
              cuda::clamp_tensor_backward_cuda(c, x, lo, hi, g, gx, glo, ghi, stream));
  return info.Env().Undefined();
}

namespace {
// The views of gather/scatter: index (int32), data (index's shape but dim = the indexed size), other.
IndexArgs index_args(const Fields& f, NamedOperands& o, const char* data_key, const char* other_key, const void** index,
                     void** data, void** other) {
  IndexArgs a{};
  a.dtype = dtype_of(f, "dtype");
  const int64_t dim = f.i64("dim");
  *index = o.view("index", a.index);
  *data = o.view(data_key, a.data);
  *other = o.view(other_key, a.other);
  if (dim < 0 || dim >= a.index.ndim)
    throw Error("ERR_INDEX", o.op() + ": dim " + std::to_string(dim) + " is out of range for " + std::to_string(a.index.ndim) +
                                 " dimensions", ErrorKind::Range);
  a.dim = static_cast<int32_t>(dim);
  same_extents(o.op(), data_key, a.data, a.index, a.dim);
  same_extents(o.op(), other_key, a.other, a.index);
  // The kernels walk data with index's coordinates: the indexed dim moves only by the index value.
  a.dim_size = a.data.shape[a.dim];
  a.dim_stride = a.data.strides[a.dim];
  a.data.shape[a.dim] = a.index.shape[a.dim];
  a.data.strides[a.dim] = 0;
  return a;
}
}  // namespace

// gather({dim, dtype}, {index: view, input: view, output: view})
Napi::Value Gather(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "gather params");
  NamedOperands o(info, 1, "gather");
  const void* index;
  void *data, *other;
  const IndexArgs a = index_args(f, o, "input", "output", &index, &data, &other);
  if (layout_numel(a.index) == 0) return info.Env().Undefined();
  const auto* ix = static_cast<const int32_t*>(index);
  CK_DISPATCH(o.device(), gather_cpu(a, ix, data, other), cuda::gather_cuda(a, ix, data, other, stream));
  return info.Env().Undefined();
}

// scatter({dim, dtype, add}, {index: view, output: view, source: view}): output[.. index ..] (+)= source
Napi::Value Scatter(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "scatter params");
  const bool add = f.flag("add");
  NamedOperands o(info, 1, add ? "scatter_add" : "scatter");
  const void* index;
  void *data, *other;
  const IndexArgs a = index_args(f, o, "output", "source", &index, &data, &other);
  if (layout_numel(a.index) == 0) return info.Env().Undefined();
  const auto* ix = static_cast<const int32_t*>(index);
  CK_DISPATCH(o.device(), scatter_cpu(a, add, ix, data, other), cuda::scatter_cuda(a, add, ix, data, other, stream));
  return info.Env().Undefined();
}

// sort({rows, n, k, descending, topkOrder, sorted, dtype}, {input: run, values: run, indices: run})
Napi::Value Sort(const Napi::CallbackInfo& info) {
  Fields f(info, 0, "sort params");
  SortArgs s{};
  s.rows = f.i64("rows");
  s.n = f.i64("n");
  s.k = f.i64("k");
  s.descending = f.flag("descending");
  s.topk_order = f.flag("topkOrder");
  s.sorted = f.flag("sorted");
  s.dtype = dtype_of(f, "dtype");
  if (s.rows < 0 || s.n < 0 || s.k < 0 || s.k > s.n)
    throw Error("ERR_ARG", "sort: k must lie in [0, n] and extents be non-negative", ErrorKind::Range);
  NamedOperands o(info, 1, "sort");
  const void* x = o.run("input", s.rows * s.n);
  void* v = o.run("values", s.rows * s.k);
  int32_t* ix = o.i32("indices", s.rows * s.k);
  if (s.rows * s.k == 0) return info.Env().Undefined();
  CK_DISPATCH(o.device(), sort_cpu(s, x, v, ix), cuda::sort_cuda(s, x, v, ix, stream));
  return info.Env().Undefined();
}

}  // namespace ck
