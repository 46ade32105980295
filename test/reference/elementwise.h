// Reference elementwise ops (the UnaryOp / BinaryOp tables of core/types.h), one scalar at a time, as
// PyTorch 1.13: relu = clamp_min(x, 0) (relu(-0) = -0); maximum / minimum propagate NaN and return the first
// operand on a tie (maximum(-0, +0) = -0, as std::max); integer division floors, x / 0 gives 0 (the
// kernels' defined answer where PyTorch raises); integer pow is exact. Double precision.
#pragma once
#include <cmath>
#include <cstdint>

#include "activation.h"
#include "core/types.h"

namespace ck {
namespace ref {

inline double unary(UnaryOp op, double x, double a, double b) {
  switch (op) {
    case UnaryOp::Copy: return x;
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Abs: return std::fabs(x);
    case UnaryOp::Relu: return relu(x);
    case UnaryOp::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Clamp: {
      double y = x;
      if (!std::isnan(a) && y < a) y = a;
      if (!std::isnan(b) && y > b) y = b;
      return y;
    }
    case UnaryOp::PowScalar: return std::pow(x, a);
    case UnaryOp::AddScalar: return x + a;
    case UnaryOp::MulScalar: return x * a;
    case UnaryOp::RsubScalar: return a - x;
    case UnaryOp::RdivScalar: return a / x;
    case UnaryOp::Sign: return (0 < x) - (x < 0);  // sign(NaN) = 0, sign(-0) = +0, as torch.sign
    case UnaryOp::Square: return x * x;
    case UnaryOp::Reciprocal: return 1.0 / x;
    case UnaryOp::Rsqrt: return 1.0 / std::sqrt(x);
    case UnaryOp::Floor: return std::floor(x);
    case UnaryOp::Ceil: return std::ceil(x);
    case UnaryOp::Round: return std::nearbyint(x);
    case UnaryOp::Log1p: return std::log1p(x);
    case UnaryOp::Expm1: return std::expm1(x);
    case UnaryOp::Sin: return std::sin(x);
    case UnaryOp::Cos: return std::cos(x);
    default: return NAN;
  }
}

inline double maximum(double a, double b) { return (std::isnan(a) || std::isnan(b)) ? NAN : (a < b ? b : a); }
inline double minimum(double a, double b) { return (std::isnan(a) || std::isnan(b)) ? NAN : (b < a ? b : a); }

inline double binary_f(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return std::pow(a, b);
    case BinaryOp::Maximum: return maximum(a, b);
    case BinaryOp::Minimum: return minimum(a, b);
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
    default: return NAN;
  }
}

// Integers in int64 (the caller wraps to int32 where the op can overflow).
inline int64_t binary_i(BinaryOp op, int64_t a, int64_t b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return b == 0 ? 0 : static_cast<int64_t>(std::floor(static_cast<double>(a) / b));
    case BinaryOp::Pow: {
      if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
      int64_t r = 1;
      for (int64_t i = 0; i < b; ++i) r *= a;
      return r;
    }
    case BinaryOp::Maximum: return a > b ? a : b;
    case BinaryOp::Minimum: return a < b ? a : b;
    default: return static_cast<int64_t>(binary_f(op, static_cast<double>(a), static_cast<double>(b)));
  }
}

}  // namespace ref
}  // namespace ck
