// The index family (cat, where / masked fill, clamp with tensor bounds, gather / scatter, sort / topk):
// CPU functions (csrc/cpu/index_ops.cc) and the shared argument structs; the CUDA twins with the same
// arguments plus a stream are in index_kernels_cuda.h (cuda/index_ops.cu). Elements are 4 bytes (float32
// or int32, moved as raw bits where the op only selects). Views are ck::Layout, all of one shape unless
// a comment says otherwise; stride 0 is a broadcast.
#pragma once
#include <cstdint>
#include <string>
#include "scalar_ops.h"
#include "types.h"

namespace ck {

// ---- the scalar rules both backends compute (one definition, so CPU and CUDA cannot disagree) ----
namespace idx {

// The element offsets of flat index i (row-major over l[0]'s shape) in NL layouts of that shape.
template <int NL>
CK_SCALAR_FN void offsets(const Layout* const* l, int64_t i, int64_t* off) {
  for (int k = 0; k < NL; ++k) off[k] = l[k]->offset;
  for (int d = l[0]->ndim - 1; d >= 0; --d) {
    const int64_t c = i % l[0]->shape[d];
    i /= l[0]->shape[d];
    for (int k = 0; k < NL; ++k) off[k] += c * l[k]->strides[d];
  }
}

template <class T>
CK_SCALAR_FN bool is_nan(T v) { return v != v; }

// Whether (vj, j) comes before (vi, i) in a stable sort: NaN above every number (last ascending, first
// descending), equal values (NaN equal to NaN) by index.
template <class T>
CK_SCALAR_FN bool before(T vj, int64_t j, T vi, int64_t i, bool descending) {
  const bool nj = is_nan(vj), ni = is_nan(vi);
  if (nj || ni) {
    if (nj && ni) return j < i;
    return descending ? nj : ni;
  }
  if (vj == vi) return j < i;
  return descending ? vj > vi : vj < vi;
}

// clamp.Tensor: NaN where x or a given bound is NaN, else min(max(x, lo), hi).
template <class T>
CK_SCALAR_FN T clamp(T x, const T* lo, const T* hi) {
  if (is_nan(x) || (lo && is_nan(*lo)) || (hi && is_nan(*hi))) return x + (lo ? *lo : x) + (hi ? *hi : x);  // NaN
  if (lo && x < *lo) x = *lo;
  if (hi && x > *hi) x = *hi;
  return x;
}

// clamp.Tensor's gradients (PyTorch's clamp_backward and clamp_backward_min_max): which of x, lo, hi
// receives g. lo/hi null: that side is open.
struct ClampGrad { bool x, lo, hi; };
CK_SCALAR_FN ClampGrad clamp_grad(float x, const float* lo, const float* hi) {
  ClampGrad r;
  r.x = (!lo || x >= *lo) && (!hi || x <= *hi);
  if (lo && hi) {
    r.lo = x < *lo && *lo < *hi;
    r.hi = x > *hi || *hi < *lo;
  } else {
    r.lo = lo && x < *lo;
    r.hi = hi && x > *hi;
  }
  return r;
}

}  // namespace idx

// The most inputs one cat kernel launch takes (their pointers travel as a kernel parameter).
constexpr int kCatChunk = 32;

// cat: output viewed (outer, total, inner); input i (outer, sizes[i], inner), contiguous, lands at
// column offsets[i]. `n` inputs, at most kCatChunk.
struct CatArgs {
  int64_t outer, inner, total;
  int32_t n;
  const void* inputs[kCatChunk];
  int64_t sizes[kCatChunk];
  int64_t offsets[kCatChunk];
};
void cat_cpu(const CatArgs& a, void* output);

// where: out[i] = cond[i] != 0 ? a[i] : b[i] over out's shape; a or b null takes its scalar's bits.
// cond is float32 or int32 (cond_dtype); a, b and out share one 4-byte dtype.
struct WhereArgs {
  Layout cond, a, b;  // views of out's shape (strides 0 where broadcast)
  DType cond_dtype;
  uint32_t a_bits, b_bits;
};
void where_cpu(const WhereArgs& w, const void* cond, const void* a, const void* b, void* out);

// clamp with tensor bounds, PyTorch's clamp.Tensor: NaN where x or a given bound is NaN, else
// min(max(x, lo), hi) (hi wins when lo > hi). lo or hi null: that side is open. out contiguous.
struct ClampArgs {
  Layout x, lo, hi;  // views of out's shape
  DType dtype;
};
void clamp_tensor_cpu(const ClampArgs& c, const void* x, const void* lo, const void* hi, void* out);
// Its gradients at out's shape (float32; g contiguous): gx where lo <= x <= hi; glo where x < lo (and
// lo < hi when both); ghi where x > hi (or hi < lo when both) — PyTorch's clamp_backward(_min_max).
// Any of gx, glo, ghi may be null.
void clamp_tensor_backward_cpu(const ClampArgs& c, const float* x, const float* lo, const float* hi, const float* g,
                               float* gx, float* glo, float* ghi);

// gather / scatter along `dim`: index, data and other are views of index's shape, except that data's
// stride in dim is 0 there: the indexed dim steps by dim_stride, up to dim_size (the bound). gather:
// other[i] = data[i with coordinate dim := index[i]]; scatter: data[...] = other[i] (add: +=).
struct IndexArgs {
  Layout index, data, other;
  int64_t dim_size, dim_stride;
  int32_t dim;
  DType dtype;
};
void gather_cpu(const IndexArgs& a, const int32_t* index, const void* data, void* other);
void scatter_cpu(const IndexArgs& a, bool add, const int32_t* index, void* data, const void* other);
// The error for index value v at flat position i out of [0, size): ERR_INDEX naming the op.
inline std::string index_error_message(const char* op, int64_t v, int32_t dim, int64_t size) {
  return std::string(op) + ": index " + std::to_string(v) + " is out of bounds for dimension " + std::to_string(dim) +
         " with size " + std::to_string(size);
}

// sort / topk of each row of x (rows, n), contiguous: the first k of the row in order (ascending, or
// descending), NaN above every number; values (rows, k), indices (rows, k) int32. topk_order: PyTorch's
// CPU topk (std::nth_element / partial_sort on (value, index) pairs compared by value: ties in its order);
// otherwise a stable sort (ties by index, as torch.sort(stable=True)). sorted=false (topk only) leaves
// the k in nth_element's order, as PyTorch's topk(sorted=False).
struct SortArgs {
  int64_t rows, n, k;
  bool descending, topk_order, sorted;
  DType dtype;
};
void sort_cpu(const SortArgs& s, const void* x, void* values, int32_t* indices);

// ---- one element of each op of the family, as both backends compute it, given the element's offsets
// o[] in the op's views (the CPU walks them row by row, a GPU thread computes them with offsets<>) ----
namespace idx {

// where at output element i: o = offsets in cond, a, b.
CK_SCALAR_FN uint32_t where_at(const WhereArgs& w, const void* cond, const uint32_t* a, const uint32_t* b, const int64_t* o) {
  const bool c = w.cond_dtype == DType::F32 ? static_cast<const float*>(cond)[o[0]] != 0.0f
                                            : static_cast<const int32_t*>(cond)[o[0]] != 0;
  return c ? (a ? a[o[1]] : w.a_bits) : (b ? b[o[2]] : w.b_bits);
}

// clamp.Tensor: o = offsets in x, lo, hi.
template <class T>
CK_SCALAR_FN T clamp_at(const T* x, const T* lo, const T* hi, const int64_t* o) {
  return clamp<T>(x[o[0]], lo ? lo + o[1] : nullptr, hi ? hi + o[2] : nullptr);
}

// clamp.Tensor's backward at output element i (o = offsets in x, lo, hi): writes gx / glo / ghi[i] (those not null).
CK_SCALAR_FN void clamp_backward_at(const float* x, const float* lo, const float* hi, const float* g, float* gx, float* glo,
                                    float* ghi, int64_t i, const int64_t* o) {
  const ClampGrad m = clamp_grad(x[o[0]], lo ? lo + o[1] : nullptr, hi ? hi + o[2] : nullptr);
  if (gx) gx[i] = m.x ? g[i] : 0.0f;
  if (glo) glo[i] = m.lo ? g[i] : 0.0f;
  if (ghi) ghi[i] = m.hi ? g[i] : 0.0f;
}

// gather / scatter, o = offsets in index, data (its dim excluded) and other: the index value, or -1 when it is
// outside [0, dim_size); *d receives the data offset of a valid one.
CK_SCALAR_FN int64_t index_at(const IndexArgs& a, const int32_t* index, const int64_t* o, int64_t* d) {
  const int32_t v = index[o[0]];
  if (v < 0 || v >= a.dim_size) return -1;
  *d = o[1] + static_cast<int64_t>(v) * a.dim_stride;
  return v;
}

}  // namespace idx

}  // namespace ck
