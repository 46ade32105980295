// Elementwise kernels: unary ops, binary ops (broadcast expressed as stride 0) and fill.
// CUDA twins of unary_cpu / binary_cpu / fill_cpu (csrc/core/kernels.h).
//
// Layout: inputs are strided views (ck::Layout: offset + sum(idx_k * strides_k), in elements); the output
// is always contiguous with the input's shape, row-major, so output element i holds the multi-index of i.
// A 0-d layout is one element.
//
// Algorithm: grid-stride loops, one element (or one 16-byte vector of four) per thread per iteration.
//   *_contiguous_kernel  every operand is one dense run; when every base is 16-byte aligned the body moves
//     4 elements per load/store (LDG.128 / STG.128), the tail goes element-wise (common.cuh contiguous_for).
//   *_strided_kernel  general strided path: i is decomposed into a multi-index (dims unrolled up to kMaxDims
//     so the Layout, passed by value, stays in the constant bank) in 32-bit arithmetic whenever the element
//     count allows it (64-bit division is several times slower).
// Tricks: before launching, the host drops size-1 dims and merges adjacent dims that are contiguous with
// each other in every operand (collapse()), so transposes of dense blocks, channel slices and most
// broadcasts reach 1-3 dims, and dense views (including offset slices) reach the contiguous path.
// Ops are template parameters (one specialised loop per op and dtype pair), selected by a host switch.
//
// Semantics (PyTorch's): F32 and I32. Casts happen only through UnaryOp::Copy (F32->I32 truncates toward
// zero, saturates, NaN -> 0, as CUDA's cvt.rzi does). Comparisons write 0/1 in the output dtype.
// Maximum/Minimum propagate NaN. I32 arithmetic wraps modulo 2^32. I32 Div is floor division (x/0 -> 0);
// I32 Pow is exact integer power (negative exponents give 0 unless the base is +-1). Ops that only make
// sense in floating point (exp, log, sigmoid, ...) throw ck::Error ERR_DTYPE for I32.
// Unary parameters: Clamp lo=a hi=b (NaN = no bound on that side; lo > hi gives hi), PowScalar x^a,
// AddScalar x+a, MulScalar x*a, RsubScalar a-x, RdivScalar a/x; Round is round-half-to-even.
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "runtime.cuh"
#include "common.cuh"
#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/scalar_ops.h"
#include "core/types.h"


namespace ck {
namespace cuda {
namespace {

constexpr int32_t kI32Max = INT32_MAX;  // constants, not numeric_limits calls: usable in device code
constexpr int32_t kI32Min = INT32_MIN;

template <typename T>
struct alignas(16) Vec4 {
  T v[4];
};

// Scalars of a unary op, converted once on the host for each dtype.
struct UParams {
  float fa, fb;
  int32_t ia, ib;
  int32_t has_lo, has_hi;  // I32 clamp only: the bound was not NaN
};

// ---- conversions ----------------------------------------------------------------------------------

template <typename To, typename From>
__device__ __forceinline__ To convert(From x) {
  if constexpr (std::is_same<To, From>::value) {
    return x;
  } else if constexpr (std::is_same<To, int32_t>::value) {
    // float -> int32: truncate toward zero, saturate, NaN -> 0 (defined in both builds).
    if (!(x == x)) return 0;
    if (x >= 2147483648.0f) return kI32Max;
    if (x <= -2147483648.0f) return kI32Min;
    return static_cast<int32_t>(x);
  } else {
    return static_cast<To>(x);
  }
}

__device__ __forceinline__ int32_t wrap_add(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}
__device__ __forceinline__ int32_t wrap_sub(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b));
}
__device__ __forceinline__ int32_t wrap_mul(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) * static_cast<uint32_t>(b));
}

// ---- unary ----------------------------------------------------------------------------------------

template <UnaryOp OP>
constexpr bool unary_int_ok() {
  return OP == UnaryOp::Copy || OP == UnaryOp::Neg || OP == UnaryOp::Abs || OP == UnaryOp::Relu ||
         OP == UnaryOp::Clamp || OP == UnaryOp::AddScalar || OP == UnaryOp::MulScalar ||
         OP == UnaryOp::RsubScalar || OP == UnaryOp::Sign || OP == UnaryOp::Square ||
         OP == UnaryOp::Floor || OP == UnaryOp::Ceil || OP == UnaryOp::Round;
}

template <UnaryOp OP>
__device__ __forceinline__ float unary_f32(float x, const UParams& p) {
  if constexpr (OP == UnaryOp::Copy) return x;
  else if constexpr (OP == UnaryOp::Neg) return -x;
  else if constexpr (OP == UnaryOp::Exp) return expf(x);
  else if constexpr (OP == UnaryOp::Log) return logf(x);
  else if constexpr (OP == UnaryOp::Sqrt) return sqrtf(x);
  else if constexpr (OP == UnaryOp::Abs) return fabsf(x);
  else if constexpr (OP == UnaryOp::Relu) return scalar::relu(x);  // core/scalar_ops.h, shared with the CPU
  else if constexpr (OP == UnaryOp::Sigmoid) return scalar::sigmoid(x);  // exp of a non-positive argument only
  else if constexpr (OP == UnaryOp::Tanh) return tanhf(x);
  else if constexpr (OP == UnaryOp::Clamp) {
    // A NaN bound compares false, i.e. no bound; lo > hi gives hi; a NaN x stays NaN.
    float y = x;
    if (y < p.fa) y = p.fa;
    if (y > p.fb) y = p.fb;
    return y;
  } else if constexpr (OP == UnaryOp::PowScalar) {
    // PyTorch's special cases, which differ from powf at signed zeros and infinities.
    if (p.fa == 2.0f) return x * x;
    if (p.fa == 0.5f) return sqrtf(x);
    if (p.fa == -1.0f) return 1.0f / x;
    return powf(x, p.fa);
  } else if constexpr (OP == UnaryOp::AddScalar) return x + p.fa;
  else if constexpr (OP == UnaryOp::MulScalar) return x * p.fa;
  else if constexpr (OP == UnaryOp::RsubScalar) return p.fa - x;
  else if constexpr (OP == UnaryOp::RdivScalar) return p.fa / x;
  else if constexpr (OP == UnaryOp::Sign) return scalar::sign(x);
  else if constexpr (OP == UnaryOp::Square) return x * x;
  else if constexpr (OP == UnaryOp::Reciprocal) return 1.0f / x;
  else if constexpr (OP == UnaryOp::Rsqrt) return 1.0f / sqrtf(x);
  else if constexpr (OP == UnaryOp::Floor) return floorf(x);
  else if constexpr (OP == UnaryOp::Ceil) return ceilf(x);
  else if constexpr (OP == UnaryOp::Round) return rintf(x);  // round half to even
  else if constexpr (OP == UnaryOp::Log1p) return log1pf(x);
  else if constexpr (OP == UnaryOp::Expm1) return expm1f(x);
  else if constexpr (OP == UnaryOp::Sin) return sinf(x);
  else {
    static_assert(OP == UnaryOp::Cos, "unhandled unary op");
    return cosf(x);
  }
}

template <UnaryOp OP>
__device__ __forceinline__ int32_t unary_i32(int32_t x, const UParams& p) {
  if constexpr (OP == UnaryOp::Copy || OP == UnaryOp::Floor || OP == UnaryOp::Ceil ||
                OP == UnaryOp::Round) return x;
  else if constexpr (OP == UnaryOp::Neg) return wrap_sub(0, x);
  else if constexpr (OP == UnaryOp::Abs) return x < 0 ? wrap_sub(0, x) : x;
  else if constexpr (OP == UnaryOp::Relu) return x < 0 ? 0 : x;
  else if constexpr (OP == UnaryOp::Clamp) {
    int32_t y = x;
    if (p.has_lo && y < p.ia) y = p.ia;
    if (p.has_hi && y > p.ib) y = p.ib;
    return y;
  } else if constexpr (OP == UnaryOp::AddScalar) return wrap_add(x, p.ia);
  else if constexpr (OP == UnaryOp::MulScalar) return wrap_mul(x, p.ia);
  else if constexpr (OP == UnaryOp::RsubScalar) return wrap_sub(p.ia, x);
  else if constexpr (OP == UnaryOp::Sign) return (0 < x) - (x < 0);
  else {
    static_assert(OP == UnaryOp::Square, "unary op not defined for int32");
    return wrap_mul(x, x);
  }
}

template <UnaryOp OP, typename Tin, typename Tout>
__device__ __forceinline__ Tout unary_apply(Tin x, const UParams& p) {
  if constexpr (!std::is_same<Tin, Tout>::value) {
    static_assert(OP == UnaryOp::Copy, "casts only through Copy");
    (void)p;
    return convert<Tout>(x);
  } else if constexpr (std::is_same<Tin, float>::value) {
    return unary_f32<OP>(x, p);
  } else {
    return unary_i32<OP>(x, p);
  }
}

// Offset (relative to l.offset) of the element whose row-major linear index is i. Dims are unrolled so
// the by-value Layout is only ever indexed with constants.
template <typename Index>
__device__ __forceinline__ int64_t strided_offset(Index i, const Layout& l) {
  if (l.ndim == 1) return static_cast<int64_t>(i) * l.strides[0];
  int64_t off = 0;
  CK_UNROLL
  for (int d = kMaxDims - 1; d >= 1; --d) {
    if (d < l.ndim) {
      const Index s = static_cast<Index>(l.shape[d]);
      const Index q = i / s;
      off += static_cast<int64_t>(i - q * s) * l.strides[d];
      i = q;
    }
  }
  return off + static_cast<int64_t>(i) * l.strides[0];
}

// y[i] = f(x[i]...) over n contiguous elements (bases already offset): four per load/store (one Vec4 of
// every operand) when vec != 0, which promises every pointer 16-byte aligned; the n % 4 tail element-wise.
// The unary and binary contiguous kernels are this with one and two inputs.
template <typename Tout, typename F, typename... V>
__device__ __forceinline__ Vec4<Tout> map4(F f, const V... v) {
  Vec4<Tout> r;
  CK_UNROLL
  for (int j = 0; j < 4; ++j) r.v[j] = f(v.v[j]...);
  return r;
}
template <typename Tout, typename F, typename... Tin>
__device__ __forceinline__ void map_contiguous(int64_t n, int vec, F f, Tout* __restrict__ y, const Tin* __restrict__... x) {
  contiguous_for(
      n, vec, [&](int64_t i) { reinterpret_cast<Vec4<Tout>*>(y)[i] = map4<Tout>(f, reinterpret_cast<const Vec4<Tin>*>(x)[i]...); },
      [&](int64_t i) { y[i] = f(x[i]...); });
}

template <UnaryOp OP, typename Tin, typename Tout>
__global__ void unary_contiguous_kernel(const Tin* __restrict__ x,  // (n,) contiguous
                                        Tout* __restrict__ y,       // (n,) contiguous
                                        int64_t n, UParams p, int vec) {
  map_contiguous(n, vec, [&](Tin a) { return unary_apply<OP, Tin, Tout>(a, p); }, y, x);
}

// General strided path.
template <UnaryOp OP, typename Tin, typename Tout, typename Index>
__global__ void unary_strided_kernel(const Tin* __restrict__ x,  // buffer base; view described by xl
                              Layout xl,                  // shape (d0..dn) = output shape
                              Tout* __restrict__ y,       // (d0..dn) contiguous
                              Index n, UParams p) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  const Index tid = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x;
  const Tin* xb = x + xl.offset;
  for (Index i = tid; i < n; i += stride) y[i] = unary_apply<OP, Tin, Tout>(xb[strided_offset(i, xl)], p);
}

// ---- binary ---------------------------------------------------------------------------------------

template <BinaryOp OP>
constexpr bool is_comparison() {
  return OP == BinaryOp::Eq || OP == BinaryOp::Ne || OP == BinaryOp::Lt || OP == BinaryOp::Le ||
         OP == BinaryOp::Gt || OP == BinaryOp::Ge;
}

__device__ __forceinline__ int32_t floor_div(int32_t a, int32_t b) {
  if (b == 0) return 0;
  if (b == -1) return wrap_sub(0, a);  // INT_MIN / -1 would trap
  int32_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

__device__ __forceinline__ int32_t int_pow(int32_t base, int32_t e) {
  if (e < 0) {
    if (base == 1) return 1;
    if (base == -1) return (e & 1) ? -1 : 1;
    return 0;
  }
  int32_t r = 1;
  while (e) {
    if (e & 1) r = wrap_mul(r, base);
    base = wrap_mul(base, base);
    e >>= 1;
  }
  return r;
}

template <BinaryOp OP, typename Tin, typename Tout>
__device__ __forceinline__ Tout binary_apply(Tin a, Tin b) {
  if constexpr (OP == BinaryOp::Eq) return static_cast<Tout>(a == b ? 1 : 0);
  else if constexpr (OP == BinaryOp::Ne) return static_cast<Tout>(a != b ? 1 : 0);
  else if constexpr (OP == BinaryOp::Lt) return static_cast<Tout>(a < b ? 1 : 0);
  else if constexpr (OP == BinaryOp::Le) return static_cast<Tout>(a <= b ? 1 : 0);
  else if constexpr (OP == BinaryOp::Gt) return static_cast<Tout>(a > b ? 1 : 0);
  else if constexpr (OP == BinaryOp::Ge) return static_cast<Tout>(a >= b ? 1 : 0);
  else {
    static_assert(std::is_same<Tin, Tout>::value, "arithmetic keeps the dtype");
    if constexpr (std::is_same<Tin, float>::value) {
      if constexpr (OP == BinaryOp::Add) return a + b;
      else if constexpr (OP == BinaryOp::Sub) return a - b;
      else if constexpr (OP == BinaryOp::Mul) return a * b;
      else if constexpr (OP == BinaryOp::Div) return a / b;
      else if constexpr (OP == BinaryOp::Pow) return powf(a, b);
      else if constexpr (OP == BinaryOp::Maximum) return scalar::maximum(a, b);
      else {
        static_assert(OP == BinaryOp::Minimum, "unhandled binary op");
        return scalar::minimum(a, b);
      }
    } else {
      if constexpr (OP == BinaryOp::Add) return wrap_add(a, b);
      else if constexpr (OP == BinaryOp::Sub) return wrap_sub(a, b);
      else if constexpr (OP == BinaryOp::Mul) return wrap_mul(a, b);
      else if constexpr (OP == BinaryOp::Div) return floor_div(a, b);
      else if constexpr (OP == BinaryOp::Pow) return int_pow(a, b);
      else if constexpr (OP == BinaryOp::Maximum) return a > b ? a : b;
      else {
        static_assert(OP == BinaryOp::Minimum, "unhandled binary op");
        return a < b ? a : b;
      }
    }
  }
}

template <BinaryOp OP, typename Tin, typename Tout>
__global__ void binary_contiguous_kernel(const Tin* __restrict__ a,  // (n,) contiguous
                                         const Tin* __restrict__ b,  // (n,) contiguous
                                         Tout* __restrict__ y,       // (n,) contiguous
                                         int64_t n, int vec) {
  map_contiguous(n, vec, [](Tin u, Tin v) { return binary_apply<OP, Tin, Tout>(u, v); }, y, a, b);
}

// General strided path (broadcast = stride 0).
template <BinaryOp OP, typename Tin, typename Tout, typename Index>
__global__ void binary_strided_kernel(const Tin* __restrict__ a,  // buffer base; view described by al
                               Layout al,                  // shape (d0..dn) = output shape
                               const Tin* __restrict__ b,  // buffer base; view described by bl
                               Layout bl,                  // shape (d0..dn) = output shape
                               Tout* __restrict__ y,       // (d0..dn) contiguous
                               Index n) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  const Index tid = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x;
  const Tin* ab = a + al.offset;
  const Tin* bb = b + bl.offset;
  if (al.ndim == 1) {  // after collapse: one dim, any strides (e.g. tensor op scalar-broadcast)
    const int64_t sa = al.strides[0], sb = bl.strides[0];
    for (Index i = tid; i < n; i += stride)
      y[i] = binary_apply<OP, Tin, Tout>(ab[static_cast<int64_t>(i) * sa], bb[static_cast<int64_t>(i) * sb]);
    return;
  }
  for (Index i = tid; i < n; i += stride) {
    // One decomposition serves both operands (they share the shape).
    Index r = i;
    int64_t oa = 0, ob = 0;
    CK_UNROLL
    for (int d = kMaxDims - 1; d >= 1; --d) {
      if (d < al.ndim) {
        const Index s = static_cast<Index>(al.shape[d]);
        const Index q = r / s;
        const int64_t k = static_cast<int64_t>(r - q * s);
        oa += k * al.strides[d];
        ob += k * bl.strides[d];
        r = q;
      }
    }
    oa += static_cast<int64_t>(r) * al.strides[0];
    ob += static_cast<int64_t>(r) * bl.strides[0];
    y[i] = binary_apply<OP, Tin, Tout>(ab[oa], bb[ob]);
  }
}

// ---- fill -----------------------------------------------------------------------------------------

template <typename T>
__global__ void fill_kernel(T* __restrict__ p,  // (n,) contiguous
                            int64_t n, T value, int vec) {
  Vec4<T> v;
  for (int j = 0; j < 4; ++j) v.v[j] = value;
  Vec4<T>* p4 = reinterpret_cast<Vec4<T>*>(p);
  contiguous_for(n, vec, [&](int64_t i) { p4[i] = v; }, [&](int64_t i) { p[i] = value; });
}

// ---- host side ------------------------------------------------------------------------------------

const char* dtype_name(DType t) { return t == DType::F32 ? "float32" : t == DType::I32 ? "int32" : "?"; }

void check_dtype(DType t) {
  if (t != DType::F32 && t != DType::I32)
    throw Error("ERR_DTYPE", "unsupported dtype code " + std::to_string(static_cast<int>(t)), ErrorKind::Type);
}

int64_t checked_numel(const Layout& l, const char* what) {
  if (l.ndim < 0 || l.ndim > kMaxDims)
    throw Error("ERR_ARG", std::string(what) + ": ndim " + std::to_string(l.ndim) + " outside [0, 8]",
                ErrorKind::Range);
  int64_t n = 1;
  for (int d = 0; d < l.ndim; ++d) {
    if (l.shape[d] < 0) throw Error("ERR_SHAPE", std::string(what) + ": negative dimension", ErrorKind::Range);
    n *= l.shape[d];
  }
  return n;
}

// Drops size-1 dims and merges dim d into d-1 where every layout has stride[d-1] == stride[d]*shape[d].
// All layouts share one shape; offsets are kept. The result has at least one dim.
void collapse(Layout* ls, int count) {
  const Layout ref = ls[0];
  int nd = 0;
  int64_t shape[kMaxDims];
  int64_t strides[4][kMaxDims];
  for (int d = 0; d < ref.ndim; ++d) {
    if (ref.shape[d] == 1) continue;
    bool merge = nd > 0;
    for (int j = 0; j < count && merge; ++j)
      merge = strides[j][nd - 1] == ls[j].strides[d] * ref.shape[d];
    if (merge) {
      shape[nd - 1] *= ref.shape[d];
      for (int j = 0; j < count; ++j) strides[j][nd - 1] = ls[j].strides[d];
    } else {
      shape[nd] = ref.shape[d];
      for (int j = 0; j < count; ++j) strides[j][nd] = ls[j].strides[d];
      ++nd;
    }
  }
  if (nd == 0) {
    nd = 1;
    shape[0] = 1;
    for (int j = 0; j < count; ++j) strides[j][0] = 1;
  }
  for (int j = 0; j < count; ++j) {
    ls[j].ndim = nd;
    for (int d = 0; d < kMaxDims; ++d) {
      ls[j].shape[d] = d < nd ? shape[d] : 1;
      ls[j].strides[d] = d < nd ? strides[j][d] : 0;
    }
  }
}


constexpr int64_t kIndex32Limit = int64_t(1) << 31;

template <UnaryOp OP, typename Tin, typename Tout>
void run_unary(const void* x, const Layout& xl, void* y, int64_t n, const UParams& p, Stream s) {
  const Tin* xt = static_cast<const Tin*>(x);
  Tout* yt = static_cast<Tout*>(y);
  const Stream st = s;
  if (xl.ndim == 1 && xl.strides[0] == 1) {
    const Tin* xb = xt + xl.offset;
    const int vec = aligned16(xb) && aligned16(yt) && n >= 4;
    launch(unary_contiguous_kernel<OP, Tin, Tout>, dim3(grid_for(vec ? (n + 3) / 4 : n)), dim3(kThreads), 0, st, xb, yt, n,
           p, vec);
  } else if (n <= kIndex32Limit) {
    launch(unary_strided_kernel<OP, Tin, Tout, uint32_t>, dim3(grid_for(n)), dim3(kThreads), 0, st, xt, xl, yt,
           static_cast<uint32_t>(n), p);
  } else {
    launch(unary_strided_kernel<OP, Tin, Tout, int64_t>, dim3(grid_for(n)), dim3(kThreads), 0, st, xt, xl, yt, n, p);
  }
}

template <UnaryOp OP>
void dispatch_unary(DType in, DType out, const void* x, const Layout& xl, void* y, int64_t n, const UParams& p,
                    Stream s) {
  if (in == DType::F32 && out == DType::F32) {
    run_unary<OP, float, float>(x, xl, y, n, p, s);
  } else if (in == DType::I32 && out == DType::I32) {
    if constexpr (unary_int_ok<OP>()) {
      run_unary<OP, int32_t, int32_t>(x, xl, y, n, p, s);
    } else {
      throw Error("ERR_DTYPE", "unary op " + std::to_string(static_cast<int>(OP)) + " is not defined for int32",
                  ErrorKind::Type);
    }
  } else if constexpr (OP == UnaryOp::Copy) {
    if (in == DType::F32) run_unary<OP, float, int32_t>(x, xl, y, n, p, s);
    else run_unary<OP, int32_t, float>(x, xl, y, n, p, s);
  } else {
    throw Error("ERR_DTYPE", "unary op casts only through Copy", ErrorKind::Type);
  }
}

template <BinaryOp OP, typename Tin, typename Tout>
void run_binary(const void* a, const Layout& al, const void* b, const Layout& bl, void* y, int64_t n, Stream s) {
  const Tin* at = static_cast<const Tin*>(a);
  const Tin* bt = static_cast<const Tin*>(b);
  Tout* yt = static_cast<Tout*>(y);
  const Stream st = s;
  if (al.ndim == 1 && al.strides[0] == 1 && bl.strides[0] == 1) {
    const Tin* ab = at + al.offset;
    const Tin* bb = bt + bl.offset;
    const int vec = aligned16(ab) && aligned16(bb) && aligned16(yt) && n >= 4;
    launch(binary_contiguous_kernel<OP, Tin, Tout>, dim3(grid_for(vec ? (n + 3) / 4 : n)), dim3(kThreads), 0, st, ab, bb,
           yt, n, vec);
  } else if (n <= kIndex32Limit) {
    launch(binary_strided_kernel<OP, Tin, Tout, uint32_t>, dim3(grid_for(n)), dim3(kThreads), 0, st, at, al, bt, bl, yt,
           static_cast<uint32_t>(n));
  } else {
    launch(binary_strided_kernel<OP, Tin, Tout, int64_t>, dim3(grid_for(n)), dim3(kThreads), 0, st, at, al, bt, bl, yt,
           n);
  }
}

template <BinaryOp OP>
void dispatch_binary(DType in, DType out, const void* a, const Layout& al, const void* b, const Layout& bl, void* y,
                     int64_t n, Stream s) {
  if constexpr (is_comparison<OP>()) {
    if (in == DType::F32 && out == DType::F32) run_binary<OP, float, float>(a, al, b, bl, y, n, s);
    else if (in == DType::F32) run_binary<OP, float, int32_t>(a, al, b, bl, y, n, s);
    else if (out == DType::F32) run_binary<OP, int32_t, float>(a, al, b, bl, y, n, s);
    else run_binary<OP, int32_t, int32_t>(a, al, b, bl, y, n, s);
  } else {
    if (in != out)
      throw Error("ERR_DTYPE",
                  std::string("binary arithmetic keeps its dtype: ") + dtype_name(in) + " -> " + dtype_name(out),
                  ErrorKind::Type);
    if (in == DType::F32) run_binary<OP, float, float>(a, al, b, bl, y, n, s);
    else run_binary<OP, int32_t, int32_t>(a, al, b, bl, y, n, s);
  }
}

template <typename T>
void run_fill(void* p, int64_t n, T v, Stream s) {
  T* pt = static_cast<T*>(p);
  const int vec = aligned16(pt) && n >= 4;
  launch(fill_kernel<T>, dim3(grid_for(vec ? (n + 3) / 4 : n)), dim3(kThreads), 0, s, pt,
         n, v, vec);
}

int32_t saturate_i32(double v) {
  if (!(v == v)) return 0;
  if (v >= 2147483647.0) return kI32Max;
  if (v <= -2147483648.0) return kI32Min;
  return static_cast<int32_t>(v);
}

}  // namespace

void unary_cuda(UnaryOp op, DType in, DType out, const void* x, const Layout& xl, void* y, double a, double b,
                Stream s) {
  check_dtype(in);
  check_dtype(out);
  const int64_t n = checked_numel(xl, "unary");
  if (in != out && op != UnaryOp::Copy)
    throw Error("ERR_DTYPE", std::string("unary op casts only through Copy: ") + dtype_name(in) + " -> " +
                                 dtype_name(out), ErrorKind::Type);
  if (n == 0) return;
  Layout l = xl;
  collapse(&l, 1);
  UParams p;
  p.fa = static_cast<float>(a);
  p.fb = static_cast<float>(b);
  if (op == UnaryOp::Clamp) {  // integer bounds: x >= a <=> x >= ceil(a); x <= b <=> x <= floor(b)
    p.has_lo = !std::isnan(a);
    p.has_hi = !std::isnan(b);
    p.ia = p.has_lo ? saturate_i32(std::ceil(a)) : 0;
    p.ib = p.has_hi ? saturate_i32(std::floor(b)) : 0;
  } else {
    p.has_lo = p.has_hi = 0;
    // Integer scalars wrap like the integer arithmetic they feed.
    p.ia = std::isfinite(a) ? static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(a))) : 0;
    p.ib = std::isfinite(b) ? static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(b))) : 0;
  }
#define CK_UNARY_CASE(NAME) \
  case UnaryOp::NAME:       \
    dispatch_unary<UnaryOp::NAME>(in, out, x, l, y, n, p, s); \
    break;
  switch (op) {
    CK_UNARY_CASE(Copy) CK_UNARY_CASE(Neg) CK_UNARY_CASE(Exp) CK_UNARY_CASE(Log) CK_UNARY_CASE(Sqrt)
    CK_UNARY_CASE(Abs) CK_UNARY_CASE(Relu) CK_UNARY_CASE(Sigmoid) CK_UNARY_CASE(Tanh) CK_UNARY_CASE(Clamp)
    CK_UNARY_CASE(PowScalar) CK_UNARY_CASE(AddScalar) CK_UNARY_CASE(MulScalar) CK_UNARY_CASE(RsubScalar)
    CK_UNARY_CASE(RdivScalar) CK_UNARY_CASE(Sign) CK_UNARY_CASE(Square) CK_UNARY_CASE(Reciprocal)
    CK_UNARY_CASE(Rsqrt) CK_UNARY_CASE(Floor) CK_UNARY_CASE(Ceil) CK_UNARY_CASE(Round) CK_UNARY_CASE(Log1p)
    CK_UNARY_CASE(Expm1) CK_UNARY_CASE(Sin) CK_UNARY_CASE(Cos)
    default:
      throw Error("ERR_ARG", "unknown unary op " + std::to_string(static_cast<int>(op)), ErrorKind::Range);
  }
#undef CK_UNARY_CASE
}

void binary_cuda(BinaryOp op, DType in, DType out, const void* a, const Layout& al, const void* b, const Layout& bl,
                 void* y, Stream s) {
  check_dtype(in);
  check_dtype(out);
  const int64_t n = checked_numel(al, "binary");
  if (bl.ndim != al.ndim) throw Error("ERR_SHAPE", "binary: operands differ in ndim", ErrorKind::Range);
  for (int d = 0; d < al.ndim; ++d)
    if (al.shape[d] != bl.shape[d])
      throw Error("ERR_SHAPE", "binary: operands differ in shape (broadcast must be expressed as stride 0)",
                  ErrorKind::Range);
  if (n == 0) return;
  Layout ls[2] = {al, bl};
  collapse(ls, 2);
#define CK_BINARY_CASE(NAME) \
  case BinaryOp::NAME:       \
    dispatch_binary<BinaryOp::NAME>(in, out, a, ls[0], b, ls[1], y, n, s); \
    break;
  switch (op) {
    CK_BINARY_CASE(Add) CK_BINARY_CASE(Sub) CK_BINARY_CASE(Mul) CK_BINARY_CASE(Div) CK_BINARY_CASE(Pow)
    CK_BINARY_CASE(Maximum) CK_BINARY_CASE(Minimum) CK_BINARY_CASE(Eq) CK_BINARY_CASE(Ne) CK_BINARY_CASE(Lt)
    CK_BINARY_CASE(Le) CK_BINARY_CASE(Gt) CK_BINARY_CASE(Ge)
    default:
      throw Error("ERR_ARG", "unknown binary op " + std::to_string(static_cast<int>(op)), ErrorKind::Range);
  }
#undef CK_BINARY_CASE
}

void fill_cuda(DType dt, void* p, int64_t n, double value, Stream s) {
  check_dtype(dt);
  if (n < 0) throw Error("ERR_ARG", "fill: negative count", ErrorKind::Range);
  if (n == 0) return;
  if (dt == DType::F32) run_fill<float>(p, n, static_cast<float>(value), s);
  else run_fill<int32_t>(p, n, saturate_i32(value), s);
}

}  // namespace cuda
}  // namespace ck
