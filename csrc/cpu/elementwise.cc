// CPU reference for the elementwise ops: unary (with scalar parameters and dtype casts), binary with
// broadcasting expressed as stride-0 layouts, and fill. Contiguous operands take a flat loop the
// compiler vectorises; anything else walks coalesced strides. Large tensors split across the pool.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include "../core/error.h"
#include "../core/kernels.h"
#include "scalar_ops.h"
#include "strided.h"
#include "threadpool.h"

namespace ck {

namespace {
constexpr int64_t kGrain = 1 << 15;

template <class In, class Out, class F>
void run_unary(const In* x, const Layout& xl, Out* y, F f) {
  int64_t n = cpu::numel(xl);
  if (cpu::is_contiguous(xl)) {
    const In* xp = x + xl.offset;
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = f(xp[i]);
    });
    return;
  }
  int64_t shape[kMaxDims]; int64_t strides[1][kMaxDims];
  for (int d = 0; d < xl.ndim; ++d) { shape[d] = xl.shape[d]; strides[0][d] = xl.strides[d]; }
  int nd = cpu::coalesce<1>(xl.ndim, shape, strides);
  int64_t base[1] = {xl.offset};
  const int64_t sx = strides[0][nd - 1];
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    cpu::walk_rows<1>(nd, shape, strides, base, b, e, [&](int64_t i, const int64_t* o, int64_t run) {
      const In* xp = x + o[0];
      Out* yp = y + i;
      if (sx == 1) {
        for (int64_t r = 0; r < run; ++r) yp[r] = f(xp[r]);
      } else if (sx == 0) {
        const Out v = f(xp[0]);
        for (int64_t r = 0; r < run; ++r) yp[r] = v;
      } else {
        for (int64_t r = 0; r < run; ++r) yp[r] = f(xp[r * sx]);
      }
    });
  });
}

template <class In, class Out, class F>
void run_binary(const In* a, const Layout& al, const In* b, const Layout& bl, Out* y, F f) {
  int64_t n = cpu::numel(al);
  if (cpu::is_contiguous(al) && cpu::is_contiguous(bl)) {
    const In* ap = a + al.offset; const In* bp = b + bl.offset;
    parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) y[i] = f(ap[i], bp[i]);
    });
    return;
  }
  int64_t shape[kMaxDims]; int64_t strides[2][kMaxDims];
  for (int d = 0; d < al.ndim; ++d) { shape[d] = al.shape[d]; strides[0][d] = al.strides[d]; strides[1][d] = bl.strides[d]; }
  int nd = cpu::coalesce<2>(al.ndim, shape, strides);
  int64_t base[2] = {al.offset, bl.offset};
  // Inner loops by the innermost strides: both contiguous, one side broadcast along the row (a scalar or
  // a bias), or general.
  const int64_t sa = strides[0][nd - 1], sb = strides[1][nd - 1];
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    cpu::walk_rows<2>(nd, shape, strides, base, s, e, [&](int64_t i, const int64_t* o, int64_t run) {
      const In* ap = a + o[0];
      const In* bp = b + o[1];
      Out* yp = y + i;
      if (sa == 1 && sb == 1) {
        for (int64_t r = 0; r < run; ++r) yp[r] = f(ap[r], bp[r]);
      } else if (sa == 1 && sb == 0) {
        const In v = bp[0];
        for (int64_t r = 0; r < run; ++r) yp[r] = f(ap[r], v);
      } else if (sa == 0 && sb == 1) {
        const In u = ap[0];
        for (int64_t r = 0; r < run; ++r) yp[r] = f(u, bp[r]);
      } else {
        for (int64_t r = 0; r < run; ++r) yp[r] = f(ap[r * sa], bp[r * sb]);
      }
    });
  });
}

// float -> int32 truncates toward zero, saturates and maps NaN to 0, as the CUDA kernels do.
template <class Out> inline Out cast_f32(float v) {
  if constexpr (std::is_same<Out, float>::value) {
    return v;
  } else {
    if (v != v) return 0;
    if (v >= 2147483648.0f) return INT32_MAX;
    if (v <= -2147483648.0f) return INT32_MIN;
    return (Out)v;
  }
}

template <class Out>
void cast_to(DType in, const void* x, const Layout& xl, Out* y) {
  if (in == DType::F32) run_unary((const float*)x, xl, y, [](float v) { return cast_f32<Out>(v); });
  else run_unary((const int32_t*)x, xl, y, [](int32_t v) { return (Out)v; });
}

// Float ops dispatched per op so each loop body is a single inlined expression.
template <UnaryOp OP>
void unary_f32_op(const float* x, const Layout& xl, float* y, float a, float b) {
  run_unary(x, xl, y, [a, b](float v) { return cpu::unary_f32(OP, v, a, b); });
}
}  // namespace

void unary_cpu(UnaryOp op, DType in, DType out, const void* x, const Layout& xl, void* y, double a, double b) {
  if (op == UnaryOp::Copy) {
    if (out == DType::F32) cast_to(in, x, xl, (float*)y);
    else cast_to(in, x, xl, (int32_t*)y);
    return;
  }
  if (in != out) throw Error("ERR_DTYPE", "unary op with a dtype change is only a cast", ErrorKind::Type);
  if (in == DType::I32) {
    if (!cpu::unary_i32_supported(op)) throw Error("ERR_DTYPE", "this op needs a float32 tensor", ErrorKind::Type);
    run_unary((const int32_t*)x, xl, (int32_t*)y, [op, a, b](int32_t v) { return cpu::unary_i32(op, v, a, b); });
    return;
  }
  const float* xf = (const float*)x; float* yf = (float*)y; float fa = (float)a, fb = (float)b;
  switch (op) {
#define CK_CASE(NAME) case UnaryOp::NAME: unary_f32_op<UnaryOp::NAME>(xf, xl, yf, fa, fb); break;
    CK_CASE(Neg) CK_CASE(Exp) CK_CASE(Log) CK_CASE(Sqrt) CK_CASE(Abs) CK_CASE(Relu) CK_CASE(Sigmoid)
    CK_CASE(Tanh) CK_CASE(Clamp) CK_CASE(PowScalar) CK_CASE(AddScalar) CK_CASE(MulScalar)
    CK_CASE(RsubScalar) CK_CASE(RdivScalar) CK_CASE(Sign) CK_CASE(Square) CK_CASE(Reciprocal)
    CK_CASE(Rsqrt) CK_CASE(Floor) CK_CASE(Ceil) CK_CASE(Round) CK_CASE(Log1p) CK_CASE(Expm1)
    CK_CASE(Sin) CK_CASE(Cos)
#undef CK_CASE
    default: throw Error("ERR_ARG", "unknown unary op " + std::to_string((int)op), ErrorKind::Range);
  }
}

namespace {
template <class T, class Out, BinaryOp OP>
void binary_op(const T* a, const Layout& al, const T* b, const Layout& bl, Out* y) {
  run_binary(a, al, b, bl, y, [](T u, T v) { return (Out)cpu::binary_val<T>(OP, u, v); });
}
template <class T, class Out>
void binary_typed(BinaryOp op, const T* a, const Layout& al, const T* b, const Layout& bl, Out* y) {
  switch (op) {
#define CK_CASE(NAME) case BinaryOp::NAME: binary_op<T, Out, BinaryOp::NAME>(a, al, b, bl, y); break;
    CK_CASE(Add) CK_CASE(Sub) CK_CASE(Mul) CK_CASE(Div) CK_CASE(Pow) CK_CASE(Maximum) CK_CASE(Minimum)
    CK_CASE(Eq) CK_CASE(Ne) CK_CASE(Lt) CK_CASE(Le) CK_CASE(Gt) CK_CASE(Ge)
#undef CK_CASE
    default: throw Error("ERR_ARG", "unknown binary op " + std::to_string((int)op), ErrorKind::Range);
  }
}
}  // namespace

void binary_cpu(BinaryOp op, DType in, DType out, const void* a, const Layout& al, const void* b,
                const Layout& bl, void* y) {
  if (in == DType::F32) {
    if (out == DType::F32) binary_typed(op, (const float*)a, al, (const float*)b, bl, (float*)y);
    else binary_typed(op, (const float*)a, al, (const float*)b, bl, (int32_t*)y);
  } else {
    if (out == DType::F32) binary_typed(op, (const int32_t*)a, al, (const int32_t*)b, bl, (float*)y);
    else binary_typed(op, (const int32_t*)a, al, (const int32_t*)b, bl, (int32_t*)y);
  }
}

void copy_cpu(const void* src, const Layout& sl, void* dst, const Layout& dl) {
  const uint32_t* x = (const uint32_t*)src;
  uint32_t* y = (uint32_t*)dst;
  int64_t n = cpu::numel(sl);
  int64_t shape[kMaxDims]; int64_t strides[2][kMaxDims];
  for (int d = 0; d < sl.ndim; ++d) { shape[d] = sl.shape[d]; strides[0][d] = sl.strides[d]; strides[1][d] = dl.strides[d]; }
  int nd = cpu::coalesce<2>(sl.ndim, shape, strides);
  int64_t base[2] = {sl.offset, dl.offset};
  if (nd == 1 && strides[0][0] == 1 && strides[1][0] == 1) {
    std::memcpy(y + dl.offset, x + sl.offset, (size_t)n * 4);
    return;
  }
  const int64_t sx = strides[0][nd - 1], sy = strides[1][nd - 1];
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    cpu::walk_rows<2>(nd, shape, strides, base, s, e, [&](int64_t, const int64_t* o, int64_t run) {
      const uint32_t* xp = x + o[0];
      uint32_t* yp = y + o[1];
      if (sx == 1 && sy == 1) std::memcpy(yp, xp, (size_t)run * 4);
      else if (sx == 0 && sy == 1) { const uint32_t v = xp[0]; for (int64_t r = 0; r < run; ++r) yp[r] = v; }
      else if (sy == 1) { for (int64_t r = 0; r < run; ++r) yp[r] = xp[r * sx]; }
      else { for (int64_t r = 0; r < run; ++r) yp[r * sy] = xp[r * sx]; }
    });
  });
}

void fill_cpu(DType dt, void* p, int64_t n, double value) {
  if (dt == DType::F32) {
    float v = (float)value; float* f = (float*)p;
    parallel_for(n, kGrain * 4, [&](int64_t b, int64_t e) { for (int64_t i = b; i < e; ++i) f[i] = v; });
  } else {
    int32_t v = (int32_t)value; int32_t* q = (int32_t*)p;
    parallel_for(n, kGrain * 4, [&](int64_t b, int64_t e) { for (int64_t i = b; i < e; ++i) q[i] = v; });
  }
}

}  // namespace ck
