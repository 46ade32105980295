// Plain types shared by the CPU kernels, the CUDA kernels (real and emulated) and the binding.
// Nothing here may include N-API or CUDA headers: cuda/*.cu includes it too.
#pragma once
#include <cstdint>

namespace ck {

constexpr int kMaxDims = 8;

enum class DType : int32_t { F32 = 0, I32 = 1 };


// A strided view of a buffer: element (i0..in) lives at base[offset + sum(ik * strides[k])].
// Offsets and strides are in elements, not bytes. A broadcast dimension has stride 0.
struct Layout {
  int32_t ndim;
  int64_t offset;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];
};

// Elementwise operations of one input. Parameters a and b carry scalars where an op needs them
// (clamp: min=a max=b; pow_scalar: exponent=a; add_scalar: a; mul_scalar: a ...).
enum class UnaryOp : int32_t {
  Copy = 0, Neg, Exp, Log, Sqrt, Abs, Relu, Sigmoid, Tanh, Clamp, PowScalar,
  AddScalar, MulScalar, RsubScalar, RdivScalar, Sign, Square, Reciprocal, Rsqrt,
  Floor, Ceil, Round, Log1p, Expm1, Sin, Cos,
  Count
};

// Elementwise operations of two inputs. Comparisons write 0/1 in the output dtype.
enum class BinaryOp : int32_t {
  Add = 0, Sub, Mul, Div, Pow, Maximum, Minimum,
  Eq, Ne, Lt, Le, Gt, Ge,
  Count
};

// Row reductions: the input is (outer, inner) contiguous; each of the outer rows reduces to one value.
// ArgMax/ArgMin write int32 indices (first occurrence, as PyTorch on CPU); Var uses `correction`.
enum class ReduceOp : int32_t { Sum = 0, Mean, Max, Min, ArgMax, ArgMin, Var, Prod, Count };

}  // namespace ck
