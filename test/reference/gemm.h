// Reference batched GEMM with arbitrary strides: C[b] = alpha * A[b] B[b] + beta * C[b] (beta == 0: C is not
// read, as BLAS), A (batch, M, K) and B (batch, K, N) addressed by (batch, row, column) strides. Double
// precision; `mag` gets the sum of |products| of each element, the scale of its float rounding error.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace ck {
namespace ref {

struct Strided {
  const float* p;
  int64_t sb, rs, cs;  // batch, row and column strides (elements)
  double at(int64_t b, int64_t i, int64_t j) const { return p[b * sb + i * rs + j * cs]; }
};

// Returns C as (batch, M, N) dense; C_old is read through (sCb, ldc) where beta != 0.
inline std::vector<double> gemm(int64_t batch, int64_t M, int64_t N, int64_t K, double alpha, Strided A, Strided B,
                                double beta, const float* C_old, int64_t sCb, int64_t ldc, std::vector<double>* mag) {
  std::vector<double> c(batch * M * N);
  if (mag) mag->assign(c.size(), 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0, m = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double prod = A.at(b, i, k) * B.at(b, k, j);
          s += prod;
          m += std::fabs(prod);
        }
        const int64_t o = (b * M + i) * N + j;
        const double old = beta == 0.0 ? 0.0 : beta * C_old[b * sCb + i * ldc + j];
        c[o] = alpha * s + old;
        if (mag) (*mag)[o] = std::fabs(alpha) * m + std::fabs(old);
      }
  return c;
}

}  // namespace ref
}  // namespace ck
