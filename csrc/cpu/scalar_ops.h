// Scalar definitions of the elementwise ops of the CPU backend. The CUDA kernels (cuda/elementwise.cu)
// implement the same table; the functions both compute with a sign or NaN corner (relu, maximum, minimum,
// sign, sigmoid) come from the one shared definition in core/scalar_ops.h. test/cuda holds the two tables to each other.
#pragma once
#include <cmath>
#include <cstdint>
#include "../core/scalar_ops.h"
#include "../core/types.h"

namespace ck {
namespace cpu {

template <class T> inline T sign_of(T x) { return (x > T(0)) - (x < T(0)); }

// Float ops; NaN flows through as PyTorch does.
inline float unary_f32(UnaryOp op, float x, float a, float b) {
  switch (op) {
    case UnaryOp::Copy: return x;
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Abs: return std::fabs(x);
    case UnaryOp::Relu: return scalar::relu(x);
    case UnaryOp::Sigmoid: return scalar::sigmoid(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Clamp: {
      float r = x;
      if (!std::isnan(a) && r < a) r = a;
      if (!std::isnan(b) && r > b) r = b;
      return r;
    }
    case UnaryOp::PowScalar: return a == 2.f ? x * x : (a == 0.5f ? std::sqrt(x) : std::pow(x, a));
    case UnaryOp::AddScalar: return x + a;
    case UnaryOp::MulScalar: return x * a;
    case UnaryOp::RsubScalar: return a - x;
    case UnaryOp::RdivScalar: return a / x;
    case UnaryOp::Sign: return scalar::sign(x);
    case UnaryOp::Square: return x * x;
    case UnaryOp::Reciprocal: return 1.f / x;
    case UnaryOp::Rsqrt: return 1.f / std::sqrt(x);
    case UnaryOp::Floor: return std::floor(x);
    case UnaryOp::Ceil: return std::ceil(x);
    case UnaryOp::Round: return std::nearbyint(x);
    case UnaryOp::Log1p: return std::log1p(x);
    case UnaryOp::Expm1: return std::expm1(x);
    case UnaryOp::Sin: return std::sin(x);
    case UnaryOp::Cos: return std::cos(x);
    default: return x;
  }
}

// Integer ops: the subset that keeps integers integers. Returns false when op isn't integral.
inline bool unary_i32_supported(UnaryOp op) {
  switch (op) {
    case UnaryOp::Copy: case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Relu: case UnaryOp::Clamp:
    case UnaryOp::AddScalar: case UnaryOp::MulScalar: case UnaryOp::RsubScalar: case UnaryOp::Sign:
    case UnaryOp::Square: case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round:
      return true;
    default: return false;
  }
}
inline int32_t unary_i32(UnaryOp op, int32_t x, double a, double b) {
  switch (op) {
    case UnaryOp::Copy: case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: return x;
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return x < 0 ? -x : x;
    case UnaryOp::Relu: return x > 0 ? x : 0;
    case UnaryOp::Clamp: {
      int32_t r = x;
      if (!std::isnan(a) && r < (int32_t)std::ceil(a)) r = (int32_t)std::ceil(a);
      if (!std::isnan(b) && r > (int32_t)std::floor(b)) r = (int32_t)std::floor(b);
      return r;
    }
    case UnaryOp::AddScalar: return x + (int32_t)a;
    case UnaryOp::MulScalar: return x * (int32_t)a;
    case UnaryOp::RsubScalar: return (int32_t)a - x;
    case UnaryOp::Sign: return sign_of(x);
    case UnaryOp::Square: return x * x;
    default: return x;
  }
}

// The comparisons, 0/1 in T, for both dtypes (any other op: 0).
template <class T>
inline T compare_val(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::Eq: return x == y;
    case BinaryOp::Ne: return x != y;
    case BinaryOp::Lt: return x < y;
    case BinaryOp::Le: return x <= y;
    case BinaryOp::Gt: return x > y;
    case BinaryOp::Ge: return x >= y;
    default: return T(0);
  }
}

template <class T> inline T binary_val(BinaryOp op, T x, T y);

template <> inline float binary_val<float>(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Pow: return std::pow(x, y);
    case BinaryOp::Maximum: return scalar::maximum(x, y);
    case BinaryOp::Minimum: return scalar::minimum(x, y);
    default: return compare_val(op, x, y);
  }
}
template <> inline int32_t binary_val<int32_t>(BinaryOp op, int32_t x, int32_t y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: {  // floor division, as torch.div(..., rounding_mode='floor') on integers
      if (y == 0) return 0;
      int32_t q = x / y;
      return (q * y != x && ((x < 0) != (y < 0))) ? q - 1 : q;
    }
    case BinaryOp::Pow: {  // exact; negative exponents give 0 unless the base is +-1 (as the CUDA kernel)
      if (y < 0) return x == 1 ? 1 : (x == -1 ? ((y & 1) ? -1 : 1) : 0);
      uint32_t r = 1, b = (uint32_t)x;
      for (int32_t e = y; e > 0; e >>= 1) { if (e & 1) r *= b; b *= b; }
      return (int32_t)r;
    }
    case BinaryOp::Maximum: return x > y ? x : y;
    case BinaryOp::Minimum: return x < y ? x : y;
    default: return compare_val(op, x, y);
  }
}

}  // namespace cpu
}  // namespace ck
