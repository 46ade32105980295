// Reference batch norm over (N, C, L) (NCHW with L = H*W): training forward (batch statistics, biased
// variance for normalising, unbiased for the running variance, PyTorch's momentum convention), backward
// (dx, dgamma, dbeta from the batch statistics) and evaluation forward (running statistics). Double precision.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace ck {
namespace ref {

// 1 / sqrt(var + eps), and 0 where var + eps == 0 (a constant channel with eps 0), as the kernels.
inline double bn_inv_std(double var, double eps) { return (var != 0.0 || eps != 0.0) ? 1.0 / std::sqrt(var + eps) : 0.0; }

struct BatchNorm {
  std::vector<double> y, mean, invstd, running_mean, running_var, dx, dgamma, dbeta, y_eval;
};

// gamma/beta empty: no affine (1, 0); rm0/rv0 empty: no running statistics (running_* and y_eval stay 0).
inline BatchNorm batchnorm(int64_t N, int64_t C, int64_t L, const std::vector<float>& x, const std::vector<float>& dy,
                           const std::vector<float>& gamma, const std::vector<float>& beta, const std::vector<float>& rm0,
                           const std::vector<float>& rv0, double eps, double momentum) {
  const int64_t n = N * L;
  const bool affine = !gamma.empty(), running = !rm0.empty();
  BatchNorm r;
  r.y.assign(N * C * L, 0.0);
  r.dx.assign(N * C * L, 0.0);
  r.y_eval.assign(N * C * L, 0.0);
  r.mean.assign(C, 0.0);
  r.invstd.assign(C, 0.0);
  r.running_mean.assign(C, 0.0);
  r.running_var.assign(C, 0.0);
  r.dgamma.assign(C, 0.0);
  r.dbeta.assign(C, 0.0);
  auto at = [&](int64_t i, int64_t c, int64_t l) { return (i * C + c) * L + l; };
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t l = 0; l < L; ++l) s += x[at(i, c, l)];
    const double mean = s / n;
    double q = 0.0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t l = 0; l < L; ++l) q += (x[at(i, c, l)] - mean) * (x[at(i, c, l)] - mean);
    const double var = q / n;
    const double invstd = bn_inv_std(var, eps);
    const double g = affine ? gamma[c] : 1.0, b = affine ? beta[c] : 0.0;
    r.mean[c] = mean;
    r.invstd[c] = invstd;
    if (running) {
      r.running_mean[c] = (1.0 - momentum) * rm0[c] + momentum * mean;
      r.running_var[c] = (1.0 - momentum) * rv0[c] + momentum * var * n / (n - 1);
    }
    double sdy = 0.0, sdyxhat = 0.0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t e = at(i, c, l);
        const double xhat = (x[e] - mean) * invstd;
        r.y[e] = xhat * g + b;
        sdy += dy[e];
        sdyxhat += dy[e] * xhat;
      }
    r.dbeta[c] = sdy;
    r.dgamma[c] = sdyxhat;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t e = at(i, c, l);
        const double xhat = (x[e] - mean) * invstd;
        r.dx[e] = g * invstd / n * (n * dy[e] - sdy - xhat * sdyxhat);
      }
    if (running) {
      const double einv = bn_inv_std(rv0[c], eps);
      for (int64_t i = 0; i < N; ++i)
        for (int64_t l = 0; l < L; ++l) {
          const int64_t e = at(i, c, l);
          r.y_eval[e] = (x[e] - rm0[c]) * einv * g + b;
        }
    }
  }
  return r;
}

}  // namespace ref
}  // namespace ck
