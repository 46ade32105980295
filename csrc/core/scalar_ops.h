// The one scalar definition of each elementwise function that both the CPU backend (csrc/cpu) and the CUDA
// kernels (cuda/) compute, so the two cannot disagree on a corner (signed zeros, NaN, ties). Plain C++ that
// g++ and nvcc both compile: under nvcc each function is __host__ __device__; in the CPU build and in the
// host emulation of the CUDA build it is an ordinary inline function.
//
// Semantics are PyTorch 1.13's (CPU), checked bit for bit in test/cuda/signed_zeros.test.ts:
//   relu(x)           = x < 0 ? 0 : x   (clamp_min(x, 0)): relu(-0) = -0, relu(NaN) = NaN
//   relu_grad(g, y)   = y <= 0 ? 0 : g  (threshold_backward on the output): a select, so a NaN/inf g where
//                       y <= 0 gives +0, and a NaN y passes g
//   add_relu(a, b)    = relu(a + b)
//   maximum(a, b)     = NaN if either is NaN, else std::max(a, b) (a on a tie: maximum(-0, +0) = -0)
//   minimum(a, b)     = NaN if either is NaN, else std::min(a, b) (a on a tie: minimum(+0, -0) = +0)
//   sign(x)           = (0 < x) - (x < 0): sign(+-0) = +0 and sign(NaN) = 0 (torch.sign 1.13, not NaN)
//   sigmoid(x)        = 1 / (1 + exp(-x)), evaluated so that exp never sees a positive argument (no inf/inf)
#pragma once
#include <math.h>

#if defined(__CUDACC__)
#define CK_SCALAR_FN __host__ __device__ __forceinline__
#else
#define CK_SCALAR_FN inline
#endif

namespace ck {
namespace scalar {

CK_SCALAR_FN float relu(float x) { return x < 0.0f ? 0.0f : x; }
CK_SCALAR_FN float relu_grad(float g, float y) { return y <= 0.0f ? 0.0f : g; }
CK_SCALAR_FN float add_relu(float a, float b) { return relu(a + b); }

CK_SCALAR_FN float maximum(float a, float b) {
  if (a != a) return a;
  if (b != b) return b;
  return a < b ? b : a;
}
CK_SCALAR_FN float minimum(float a, float b) {
  if (a != a) return a;
  if (b != b) return b;
  return b < a ? b : a;
}

CK_SCALAR_FN float sign(float x) { return static_cast<float>((0.0f < x) - (x < 0.0f)); }

CK_SCALAR_FN float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

}  // namespace scalar
}  // namespace ck
