// CPU reference for the fused activations: bias + ReLU over (N, C, L) planes, add + ReLU, and the ReLU
// gradient that serves all three (and a plain relu). A plain relu's forward is one case of the elementwise
// unary map (UnaryOp::Relu in csrc/cpu/elementwise.cc, cuda/elementwise.cu), with the same scalar::relu.
//
// ReLU and its gradient are the shared scalar definitions of core/scalar_ops.h (PyTorch's: relu(x) = x < 0 ? 0
// : x, so NaN propagates and relu(-0) = -0; the gradient is a select, dx = y <= 0 ? 0 : dy, so a NaN/inf dy
// where y <= 0 gives 0 and a NaN y passes dy, as PyTorch's threshold_backward).
// Loops are flat over contiguous runs so the compiler vectorises them (compare + blend); work splits over
// N*C planes (bias_relu) or over element ranges (add_relu, relu_backward).
// db of bias_relu_backward: each plane's sum is taken on its own (8 vector lanes, then double), and the
// planes of a channel are added in n order afterwards, so the result does not depend on the thread count.
#include <cstdint>
#include <vector>
#include "../core/error.h"
#include "../core/nn_kernels.h"
#include "../core/scalar_ops.h"
#include "threadpool.h"

namespace ck {

namespace {
constexpr int64_t kGrain = 1 << 15;  // elements per task, roughly

using scalar::relu;
using scalar::relu_grad;

inline int64_t plane_grain(int64_t L) { return L >= kGrain ? 1 : kGrain / (L > 0 ? L : 1); }

// dx[i] = relu_grad(dy[i], y[i]) over one run; returns the sum of dx (8 float lanes, combined in double).
inline double relu_grad_sum(const float* dy, const float* y, float* dx, int64_t n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) {
      const float d = dy[i + j], v = y[i + j];
      const float g = relu_grad(d, v);
      dx[i + j] = g;
      acc[j] += g;
    }
  }
  double s = 0.0;
  for (; i < n; ++i) {
    const float g = relu_grad(dy[i], y[i]);
    dx[i] = g;
    s += g;
  }
  for (int j = 0; j < 8; ++j) s += acc[j];
  return s;
}
}  // namespace

void bias_relu_forward_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* b, float* y) {
  CK_CHECK_ARG(N >= 0 && C >= 0 && L >= 0, "bias_relu_forward: negative extent");
  parallel_for(N * C, plane_grain(L), [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      const float bc = b[p % C];
      const float* xp = x + p * L;
      float* yp = y + p * L;
      for (int64_t i = 0; i < L; ++i) yp[i] = relu(xp[i] + bc);
    }
  });
}

void bias_relu_backward_cpu(int64_t N, int64_t C, int64_t L, const float* dy, const float* y, float* dx, float* db) {
  CK_CHECK_ARG(N >= 0 && C >= 0 && L >= 0, "bias_relu_backward: negative extent");
  if (!db) {
    relu_backward_cpu(N * C * L, dy, y, dx);
    return;
  }
  std::vector<double> plane_sum((size_t)(N * C));
  parallel_for(N * C, plane_grain(L), [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) plane_sum[(size_t)p] = relu_grad_sum(dy + p * L, y + p * L, dx + p * L, L);
  });
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;
    for (int64_t n = 0; n < N; ++n) s += plane_sum[(size_t)(n * C + c)];
    db[c] = (float)s;
  }
}

void add_relu_forward_cpu(int64_t n, const float* a, const float* b, float* y) {
  CK_CHECK_ARG(n >= 0, "add_relu_forward: negative count");
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) y[i] = scalar::add_relu(a[i], b[i]);
  });
}

void relu_backward_cpu(int64_t n, const float* dy, const float* y, float* dx) {
  CK_CHECK_ARG(n >= 0, "relu_backward: negative count");
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const float g = dy[i], v = y[i];  // both loaded unconditionally, so the select vectorises
      dx[i] = relu_grad(g, v);
    }
  });
}

}  // namespace ck
