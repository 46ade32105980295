// Row reductions: x (outer, inner) contiguous -> y (outer,). CUDA twin of reduce_cpu (csrc/core/kernels.h).
//
// Ops and output dtypes: Sum, Prod, Max, Min keep the dtype (I32 Sum/Prod wrap modulo 2^32); Mean and Var are
// F32 only (F32 out); ArgMax/ArgMin write int32 indices of the first occurrence. Max/Min/ArgMax/ArgMin treat
// NaN as the extreme value (PyTorch: NaN propagates, argmax points at the first NaN). Var divides the sum of
// squared deviations by (inner - correction), so inner <= correction gives inf or NaN as in PyTorch; empty
// rows give Sum 0, Prod 1, Mean/Var NaN; Max/Min/ArgMax/ArgMin of empty rows throw ERR_SHAPE.
//
// Algorithm:
//   reduce_rows_warp_kernel: short rows (inner <= 1024), one warp per row. Lanes stride through the row
//     (coalesced), keep a private accumulator, then a warp fold (common.cuh) folds the 32 partials.
//   reduce_rows_block_kernel: long rows, one 256-thread block per (row, chunk). Threads stride through the
//     chunk, with 16-byte vector loads when rows are 16-byte aligned; warp shuffles fold each warp, shared
//     memory holds the 8 warp results, warp 0 folds those. When there are too few rows to fill the GPU the
//     row is split into chunks whose partial states go to a scratch buffer (stream-ordered malloc/free)...
//   reduce_merge_kernel: ...and one thread per row merges that row's chunk partials in order.
// Var is two-pass per row (or per chunk): a block/warp sum gives the mean, a second pass over the same
// (cache-resident) data sums squared deviations; chunk partials (count, mean, M2) merge with Chan's formula
// in double. This matches a double-precision reference to ~1e-6 relative, unlike the one-pass sum-of-squares.
// Sum accumulates in float in a per-thread-then-tree order (as PyTorch's CUDA sum does).
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "runtime.cuh"
#include "common.cuh"
#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/types.h"

namespace ck {
namespace cuda {
namespace {

constexpr int64_t kShortRow = 1024;   // rows up to this length go to one warp each
constexpr int64_t kMinChunk = 4096;   // a block never gets less than this when rows are split
constexpr int64_t kTargetBlocks = 1024;
// Constants rather than numeric_limits calls, which are host functions to nvcc.
constexpr float kInf = __builtin_huge_valf();
constexpr int32_t kI32Max = INT32_MAX;
constexpr int32_t kI32Min = INT32_MIN;

template <typename T>
struct alignas(16) Vec4 {
  T v[4];
};


// ---- reducers: identity, element -> state, associative combine, shuffle, state -> output ----------

struct ProdOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a * b; }
};

// Sum and product: a fold of `Op` from `kIdentity`, in float for float input and in uint32 (wrapping, then
// cast back) for int32 input.
template <typename T_, int kIdentity, class Op>
struct ArithR {
  using T = T_;
  using Acc = typename std::conditional<std::is_same<T, float>::value, float, uint32_t>::type;
  struct S { Acc v; };
  using Out = T;
  static constexpr bool kVar = false;
  static __device__ __forceinline__ S identity() { return S{Acc(kIdentity)}; }
  static __device__ __forceinline__ S from(T x, int64_t) { return S{static_cast<Acc>(x)}; }
  static __device__ __forceinline__ S combine(S a, S b) { return S{Op{}(a.v, b.v)}; }
  static __device__ __forceinline__ Out finish(S a, int64_t, int64_t) { return static_cast<Out>(a.v); }
};
template <typename T>
using SumR = ArithR<T, 0, SumOp>;
template <typename T>
using ProdR = ArithR<T, 1, ProdOp>;

struct MeanR : SumR<float> {
  static __device__ __forceinline__ float finish(S a, int64_t inner, int64_t) {
    return a.v / static_cast<float>(inner);  // empty row: 0/0 = NaN
  }
};

template <typename T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_same<T, float>::value) return v != v;
  else {
    (void)v;
    return false;
  }
}

template <typename T>
__device__ __forceinline__ T lowest() {
  if constexpr (std::is_same<T, float>::value) return -kInf;
  else return kI32Min;
}
template <typename T>
__device__ __forceinline__ T highest() {
  if constexpr (std::is_same<T, float>::value) return kInf;
  else return kI32Max;
}

template <typename T_, bool kMax>
struct ExtremeR {
  using T = T_;
  struct S { T v; };
  using Out = T;
  static constexpr bool kVar = false;
  static __device__ __forceinline__ S identity() { return S{kMax ? lowest<T>() : highest<T>()}; }
  static __device__ __forceinline__ S from(T x, int64_t) { return S{x}; }
  static __device__ __forceinline__ S combine(S a, S b) {
    if (is_nan(a.v)) return a;
    if (is_nan(b.v)) return b;
    return (kMax ? b.v > a.v : b.v < a.v) ? b : a;
  }
  static __device__ __forceinline__ Out finish(S a, int64_t, int64_t) { return a.v; }
};

template <typename T_, bool kMax>
struct ArgR {
  using T = T_;
  struct S { T v; int32_t i; };
  using Out = int32_t;
  static constexpr bool kVar = false;
  // The identity loses every tie (largest index), so an all-lowest row still reports index 0.
  static __device__ __forceinline__ S identity() {
    return S{kMax ? lowest<T>() : highest<T>(), kI32Max};
  }
  static __device__ __forceinline__ S from(T x, int64_t i) { return S{x, static_cast<int32_t>(i)}; }
  static __device__ __forceinline__ S combine(S a, S b) {
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an || bn) {
      if (an && bn) return a.i <= b.i ? a : b;
      return an ? a : b;
    }
    if (a.v == b.v) return a.i <= b.i ? a : b;
    return (kMax ? b.v > a.v : b.v < a.v) ? b : a;
  }
  static __device__ __forceinline__ Out finish(S a, int64_t, int64_t) { return a.i; }
};

// Var: the generic kernels branch on kVar; S is the chunk partial (count, mean, M2).
struct VarR {
  using T = float;
  struct S { float n, mean, m2; };
  using Out = float;
  static constexpr bool kVar = true;
};

__device__ __forceinline__ float var_finish(float m2, int64_t inner, int64_t correction) {
  const int64_t dof = inner - correction;
  return m2 / static_cast<float>(dof > 0 ? dof : 0);
}

// ---- warp / block folds --------------------------------------------------------------------------

// R's combine as a functor for common.cuh's warp_reduce / block_reduce (lane 0 / thread 0 hold the fold).
template <class R>
struct Combine {
  __device__ __forceinline__ typename R::S operator()(typename R::S a, typename R::S b) const { return R::combine(a, b); }
};

// Block-wide float sum, returned to every thread.
__device__ float block_sum_all(float v) {
  CK_SHARED(float, total, );
  using F = SumR<float>;
  const F::S s = block_reduce(F::S{v}, Combine<F>{}, F::identity());
  if (threadIdx.x == 0) total = s.v;
  __syncthreads();
  const float r = total;
  __syncthreads();
  return r;
}


// This thread's share of r[lo, hi): elements lo+t, lo+t+nt, ... (or 4-vectors when vec; then lo and hi
// are multiples of 4 and r is 16-byte aligned).
template <class R>
__device__ __forceinline__ typename R::S accumulate(const typename R::T* __restrict__ r, int64_t lo, int64_t hi,
                                                    int t, int nt, int vec) {
  using T = typename R::T;
  typename R::S s = R::identity();
  if (vec) {
    const Vec4<T>* r4 = reinterpret_cast<const Vec4<T>*>(r);
    for (int64_t q = lo / 4 + t; q < hi / 4; q += nt) {
      const Vec4<T> v = r4[q];
      for (int j = 0; j < 4; ++j) s = R::combine(s, R::from(v.v[j], q * 4 + j));
    }
  } else {
    for (int64_t i = lo + t; i < hi; i += nt) s = R::combine(s, R::from(r[i], i));
  }
  return s;
}

__device__ __forceinline__ float sum_range(const float* __restrict__ r, int64_t lo, int64_t hi, int t, int nt,
                                           int vec) {
  return accumulate<SumR<float>>(r, lo, hi, t, nt, vec).v;
}

__device__ __forceinline__ float sqdev_range(const float* __restrict__ r, int64_t lo, int64_t hi, float mean, int t,
                                             int nt, int vec) {
  float q = 0.0f;
  if (vec) {
    const Vec4<float>* r4 = reinterpret_cast<const Vec4<float>*>(r);
    for (int64_t k = lo / 4 + t; k < hi / 4; k += nt) {
      const Vec4<float> v = r4[k];
      for (int j = 0; j < 4; ++j) {
        const float d = v.v[j] - mean;
        q += d * d;
      }
    }
  } else {
    for (int64_t i = lo + t; i < hi; i += nt) {
      const float d = r[i] - mean;
      q += d * d;
    }
  }
  return q;
}

// ---- kernels --------------------------------------------------------------------------------------

// One warp per row. Every warp runs the same number of iterations (inactive rows reduce nothing), so
// the shuffles always see the full warp.
template <class R>
__global__ void reduce_rows_warp_kernel(const typename R::T* __restrict__ x,  // (outer, inner) contiguous
                               typename R::Out* __restrict__ y,     // (outer,)
                               int64_t outer, int64_t inner, int64_t correction) {
  const int lane = static_cast<int>(threadIdx.x) & (kWarp - 1);
  const int64_t wpb = blockDim.x / kWarp;
  const int64_t warp = threadIdx.x / kWarp;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * wpb; base < outer; base += static_cast<int64_t>(gridDim.x) * wpb) {
    const int64_t row = base + warp;
    const bool active = row < outer;
    const int64_t len = active ? inner : 0;
    const typename R::T* r = x + (active ? row : 0) * inner;
    if constexpr (R::kVar) {
      const float mean = warp_sum(sum_range(r, 0, len, lane, kWarp, 0)) / static_cast<float>(inner);
      float q = sqdev_range(r, 0, len, mean, lane, kWarp, 0);
      q = warp_sum(q);
      if (active && lane == 0) y[row] = var_finish(q, inner, correction);
    } else {
      typename R::S s = accumulate<R>(r, 0, len, lane, kWarp, 0);
      s = warp_reduce(s, Combine<R>{});
      if (active && lane == 0) y[row] = R::finish(s, inner, correction);
    }
  }
}

// One block per (row, chunk). splits == 1: writes y; otherwise writes the chunk's partial state.
template <class R>
__global__ void reduce_rows_block_kernel(const typename R::T* __restrict__ x,  // (outer, inner) contiguous
                               typename R::Out* __restrict__ y,     // (outer,)          when splits == 1
                               typename R::S* __restrict__ part,    // (outer, splits)   when splits > 1
                               int64_t outer, int64_t inner, int64_t chunk, int64_t splits, int64_t correction,
                               int vec) {
  const int t = static_cast<int>(threadIdx.x);
  const int nt = static_cast<int>(blockDim.x);
  for (int64_t w = blockIdx.x; w < outer * splits; w += gridDim.x) {
    const int64_t row = w / splits;
    const int64_t lo = (w - row * splits) * chunk;
    const int64_t hi = lo + chunk < inner ? lo + chunk : inner;
    const typename R::T* r = x + row * inner;
    if constexpr (R::kVar) {
      const float cnt = static_cast<float>(hi - lo);
      const float mean = block_sum_all(sum_range(r, lo, hi, t, nt, vec)) / cnt;
      const float q = block_reduce(SumR<float>::S{sqdev_range(r, lo, hi, mean, t, nt, vec)}, Combine<SumR<float>>{}, SumR<float>::identity()).v;
      if (t == 0) {
        if (splits == 1) y[row] = var_finish(q, inner, correction);
        else part[w] = typename R::S{cnt, mean, q};
      }
    } else {
      typename R::S s = block_reduce(accumulate<R>(r, lo, hi, t, nt, vec), Combine<R>{}, R::identity());
      if (t == 0) {
        if (splits == 1) y[row] = R::finish(s, inner, correction);
        else part[w] = s;
      }
    }
  }
}

// One thread per row: merges that row's chunk partials in chunk order.
template <class R>
__global__ void reduce_merge_kernel(const typename R::S* __restrict__ part,  // (outer, splits)
                               typename R::Out* __restrict__ y,         // (outer,)
                               int64_t outer, int64_t splits, int64_t inner, int64_t correction) {
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; row < outer;
       row += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const typename R::S* p = part + row * splits;
    if constexpr (R::kVar) {
      double n = 0.0, mean = 0.0, m2 = 0.0;
      for (int64_t c = 0; c < splits; ++c) {
        const double nb = p[c].n, mb = p[c].mean;
        const double tot = n + nb;
        const double delta = mb - mean;
        mean += delta * (nb / tot);
        m2 += static_cast<double>(p[c].m2) + delta * delta * (n * nb / tot);
        n = tot;
      }
      const int64_t dof = inner - correction;
      y[row] = static_cast<float>(m2 / static_cast<double>(dof > 0 ? dof : 0));
    } else {
      typename R::S s = p[0];
      for (int64_t c = 1; c < splits; ++c) s = R::combine(s, p[c]);
      y[row] = R::finish(s, inner, correction);
    }
  }
}

// ---- host side ------------------------------------------------------------------------------------

template <class R>
void run_reduce(const void* xv, void* yv, int64_t outer, int64_t inner, int64_t correction, Stream s) {
  using T = typename R::T;
  using Out = typename R::Out;
  const T* x = static_cast<const T*>(xv);
  Out* y = static_cast<Out*>(yv);
  const Stream st = s;
  if (inner <= kShortRow) {
    const int64_t wpb = kThreads / kWarp;
    int64_t blocks = (outer + wpb - 1) / wpb;
    if (blocks > 65535) blocks = 65535;
    launch(reduce_rows_warp_kernel<R>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, st, x, y, outer, inner,
           correction);
    return;
  }
  int64_t splits = 1;
  if (outer < kTargetBlocks) {
    const int64_t by_size = (inner + kMinChunk - 1) / kMinChunk;
    const int64_t by_fill = (kTargetBlocks + outer - 1) / outer;
    splits = by_size < by_fill ? by_size : by_fill;
  }
  int64_t chunk = (inner + splits - 1) / splits;
  chunk = (chunk + 3) / 4 * 4;
  splits = (inner + chunk - 1) / chunk;
  const int vec = (inner % 4 == 0) && aligned16(x);
  int64_t blocks = outer * splits;
  if (blocks > (int64_t(1) << 20)) blocks = int64_t(1) << 20;
  if (splits == 1) {
    launch(reduce_rows_block_kernel<R>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, st, x, y,
           static_cast<typename R::S*>(nullptr), outer, inner, chunk, splits, correction, vec);
    return;
  }
  Scratch part(static_cast<size_t>(outer * splits) * sizeof(typename R::S), s);
  typename R::S* pp = static_cast<typename R::S*>(part.p);
  launch(reduce_rows_block_kernel<R>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, st, x, y, pp, outer, inner,
         chunk, splits, correction, vec);
  launch(reduce_merge_kernel<R>, dim3(static_cast<unsigned>((outer + kThreads - 1) / kThreads)), dim3(kThreads), 0, st,
         static_cast<const typename R::S*>(pp), y, outer, splits, inner, correction);
}

template <typename T>
void dispatch_reduce(ReduceOp op, const void* x, void* y, int64_t outer, int64_t inner, int64_t correction,
                     Stream s) {
  switch (op) {
    case ReduceOp::Sum: run_reduce<SumR<T>>(x, y, outer, inner, correction, s); return;
    case ReduceOp::Prod: run_reduce<ProdR<T>>(x, y, outer, inner, correction, s); return;
    case ReduceOp::Max: run_reduce<ExtremeR<T, true>>(x, y, outer, inner, correction, s); return;
    case ReduceOp::Min: run_reduce<ExtremeR<T, false>>(x, y, outer, inner, correction, s); return;
    case ReduceOp::ArgMax: run_reduce<ArgR<T, true>>(x, y, outer, inner, correction, s); return;
    case ReduceOp::ArgMin: run_reduce<ArgR<T, false>>(x, y, outer, inner, correction, s); return;
    case ReduceOp::Mean:
    case ReduceOp::Var:
      if constexpr (std::is_same<T, float>::value) {
        if (op == ReduceOp::Mean) run_reduce<MeanR>(x, y, outer, inner, correction, s);
        else run_reduce<VarR>(x, y, outer, inner, correction, s);
        return;
      } else {
        throw Error("ERR_DTYPE", "mean/var reduce is defined for float32 only", ErrorKind::Type);
      }
    default:
      throw Error("ERR_ARG", "unknown reduce op " + std::to_string(static_cast<int>(op)), ErrorKind::Range);
  }
}

}  // namespace

void reduce_cuda(ReduceOp op, DType dt, const void* x, void* y, int64_t outer, int64_t inner, int64_t correction,
                 Stream s) {
  if (dt != DType::F32 && dt != DType::I32)
    throw Error("ERR_DTYPE", "unsupported dtype code " + std::to_string(static_cast<int>(dt)), ErrorKind::Type);
  if (outer < 0 || inner < 0) throw Error("ERR_ARG", "reduce: negative extent", ErrorKind::Range);
  if (inner > kI32Max &&
      (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin))
    throw Error("ERR_ARG", "reduce: arg index does not fit int32", ErrorKind::Range);
  if (inner == 0 && outer > 0 &&
      (op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::ArgMax || op == ReduceOp::ArgMin))
    throw Error("ERR_SHAPE", "reduce: max/min/argmax/argmin of an empty row", ErrorKind::Range);
  if (outer == 0) return;
  if (dt == DType::F32) dispatch_reduce<float>(op, x, y, outer, inner, correction, s);
  else dispatch_reduce<int32_t>(op, x, y, outer, inner, correction, s);
}

}  // namespace cuda
}  // namespace ck
