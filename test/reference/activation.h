// Reference activations, PyTorch 1.13's semantics: relu(x) = clamp_min(x, 0) (NaN propagates, relu(-0) = -0);
// its gradient is threshold_backward on the output, a select: dx = y <= 0 ? 0 : dy (a NaN/inf dy where
// y <= 0 gives +0, a NaN y passes dy). bias_relu is relu(x + b[c]) over (N, C, L) with db the per-channel
// sum of dx; add_relu is relu(a + b). Double precision.
#pragma once
#include <cstdint>
#include <vector>

namespace ck {
namespace ref {

inline double relu(double x) { return x < 0.0 ? 0.0 : x; }
inline double relu_grad(double dy, double y) { return y <= 0.0 ? 0.0 : dy; }

inline std::vector<double> bias_relu_forward(int64_t N, int64_t C, int64_t L, const std::vector<float>& x,
                                             const std::vector<float>& b) {
  std::vector<double> y(N * C * L);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = (n * C + c) * L + l;
        y[i] = relu(double(x[i]) + double(b[c]));
      }
  return y;
}

// dx and db of bias_relu from dy and the forward's output y.
inline void bias_relu_backward(int64_t N, int64_t C, int64_t L, const std::vector<float>& dy, const std::vector<float>& y,
                               std::vector<double>& dx, std::vector<double>& db) {
  dx.assign(N * C * L, 0.0);
  db.assign(C, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = (n * C + c) * L + l;
        dx[i] = relu_grad(dy[i], y[i]);
        db[c] += dx[i];
      }
}

inline std::vector<double> add_relu_forward(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<double> y(a.size());
  for (size_t i = 0; i < a.size(); ++i) y[i] = relu(double(a[i]) + double(b[i]));
  return y;
}

inline std::vector<double> relu_backward(const std::vector<float>& dy, const std::vector<float>& y) {
  std::vector<double> dx(dy.size());
  for (size_t i = 0; i < dy.size(); ++i) dx[i] = relu_grad(dy[i], y[i]);
  return dx;
}

}  // namespace ref
}  // namespace ck
