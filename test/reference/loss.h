// Reference softmax / log-softmax over the rows of (R, K), their backward, the negative log-likelihood with
// ignore_index (per row, no reduction), and cross entropy = nll(log_softmax(x)) with its gradient
// g * (softmax(x) - onehot(t)) (0 for ignored rows). PyTorch's semantics: a NaN anywhere in a row, or a row
// whose maximum is +-inf, gives a NaN row. Double precision.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace ck {
namespace ref {

inline std::vector<double> softmax_forward(int64_t R, int64_t K, const std::vector<float>& x, bool log) {
  std::vector<double> y(R * K, 0.0);
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = x.data() + r * K;
    double m = -INFINITY;
    bool nan = false;
    for (int64_t k = 0; k < K; ++k) {
      nan |= std::isnan(xr[k]);
      m = std::max(m, double(xr[k]));
    }
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += std::exp(double(xr[k]) - m);
    for (int64_t k = 0; k < K; ++k) {
      double v = log ? double(xr[k]) - m - std::log(s) : std::exp(double(xr[k]) - m) / s;
      if (nan || std::isinf(m)) v = NAN;
      y[r * K + k] = v;
    }
  }
  return y;
}

// dx from the forward's output y (softmax or log_softmax) and dy.
inline std::vector<double> softmax_backward(int64_t R, int64_t K, const std::vector<float>& y, const std::vector<float>& dy,
                                            bool log) {
  std::vector<double> dx(R * K);
  for (int64_t r = 0; r < R; ++r) {
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += log ? double(dy[r * K + k]) : double(dy[r * K + k]) * y[r * K + k];
    for (int64_t k = 0; k < K; ++k) {
      const double yv = y[r * K + k], g = dy[r * K + k];
      dx[r * K + k] = log ? g - std::exp(yv) * s : yv * (g - s);
    }
  }
  return dx;
}

// loss[r] = -logp[r, t[r]] (0 where t[r] == ignore); dlogp[r, t[r]] = -g[r].
inline void nll(int64_t R, int64_t K, const std::vector<float>& logp, const std::vector<int32_t>& t, int32_t ignore,
                const std::vector<float>& g, std::vector<double>& loss, std::vector<double>& dlogp) {
  loss.assign(R, 0.0);
  dlogp.assign(R * K, 0.0);
  for (int64_t r = 0; r < R; ++r) {
    if (t[r] == ignore) continue;
    loss[r] = -double(logp[r * K + t[r]]);
    dlogp[r * K + t[r]] = -double(g[r]);
  }
}

// Cross entropy per row from the logits x, and its gradient for the upstream gradient g (per row).
inline void cross_entropy(int64_t R, int64_t K, const std::vector<float>& x, const std::vector<int32_t>& t, int32_t ignore,
                          const std::vector<float>& g, std::vector<double>& loss, std::vector<double>& dx) {
  const std::vector<double> p = softmax_forward(R, K, x, false), logp = softmax_forward(R, K, x, true);
  loss.assign(R, 0.0);
  dx.assign(R * K, 0.0);
  for (int64_t r = 0; r < R; ++r) {
    if (t[r] == ignore) continue;
    loss[r] = -logp[r * K + t[r]];
    for (int64_t k = 0; k < K; ++k) dx[r * K + k] = double(g[r]) * (p[r * K + k] - (k == t[r] ? 1.0 : 0.0));
  }
}

}  // namespace ref
}  // namespace ck
