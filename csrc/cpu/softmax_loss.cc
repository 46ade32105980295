// CPU reference for softmax / log_softmax over the rows of x (R, K) and their gradients, and the per-row
// negative log-likelihood with ignore_index.
//
// Numerics follow PyTorch's CPU kernels: subtract the row max, softmax = exp(x - max) * (1 / sum),
// log_softmax = (x - max) - log(sum); backward softmax dx = y * (dy - sum(dy * y)), log_softmax
// dx = dy - exp(y) * sum(dy). A NaN anywhere in a row makes the whole row NaN (through the sum); a row of
// -inf gives NaN, as PyTorch. Row sums use 8 float lanes combined in double.
// Speed: rows split across the pool; every inner loop is flat and branch-free so it vectorises (checked
// with -fopt-info-vec), including exp, which is a Cephes-style polynomial written in plain arithmetic
// instead of a call to libm (max error ~1 ulp, exact 0 / inf / NaN at the edges; see fast_exp).
// nll: targets are validated before anything is written; an out-of-range target that is not ignore_index
// throws ERR_ARG naming the first offending target.
// cross_entropy (the mean-reduced, unsmoothed case lib/nn/functional/softmax_loss.ts fuses on the CPU): log_softmax
// + nll + mean forward and their backward as two calls instead of a dozen ops, with the same per-element
// arithmetic as the composed kernels (fast_exp of the saved log-probabilities; dx = exp(logp) * g/n - g/n at t).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include "../core/error.h"
#include "../core/nn_kernels.h"
#include "threadpool.h"

namespace ck {

namespace {

inline int64_t row_grain(int64_t K) { return K >= 16384 ? 1 : 16384 / (K > 0 ? K : 1); }

inline uint32_t f2u(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float u2f(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// expf in vectorisable arithmetic (Cephes expf: x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial for
// e^r, 2^n built in the exponent bits in two halves so results down to the denormals and up to inf come out
// right). Max error ~1 ulp; exp(-inf) = 0, exp(+inf) = inf, NaN stays NaN. |x| is clamped to 120 with one
// select: two separate clamps would let GCC thread the branches and stop vectorising the calling loop.
__attribute__((always_inline)) inline float fast_exp(float x) {
  const float kBig = 120.0f;         // e^120 overflows and e^-120 underflows float
  const float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float xc = __builtin_fabsf(x) > kBig ? __builtin_copysignf(kBig, x) : x;  // NaN passes
  const float t = xc * 1.44269504088896341f + kMagic;
  const float n = t - kMagic;                                  // round(xc / ln 2), in [-174, 174]
  const int32_t ni = (int32_t)(f2u(t) - f2u(kMagic));          // the same n as an integer
  const int32_t n1 = ni >> 1, n2 = ni - n1;                    // 2^n = 2^n1 * 2^n2, each a normal float
  float r = xc - n * 0.693359375f;                             // ln 2 split in two: exact reduction
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * (r * r) + r + 1.0f;
  return e * u2f((uint32_t)(n1 + 127) << 23) * u2f((uint32_t)(n2 + 127) << 23);
}

// GCC does not vectorise a float max reduction without -ffinite-math-only; a vector extension does it.
typedef float v8f __attribute__((vector_size(32)));

inline float row_max(const float* x, int64_t n) {
  const float ninf = -__builtin_huge_valf();
  v8f m = {ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f v;
    std::memcpy(&v, x + i, sizeof v);
    m = v > m ? v : m;
  }
  float r = ninf;
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  for (int j = 0; j < 8; ++j) r = m[j] > r ? m[j] : r;
  return r;  // a NaN in the row may be skipped here, but it turns the row's sum, hence the row, into NaN
}

inline double lanes_total(const float* acc, double tail) {
  for (int j = 0; j < 8; ++j) tail += acc[j];
  return tail;
}

// y[i] = exp(x[i] - m); returns the sum of y.
inline double exp_shift_store(const float* x, float m, float* y, int64_t n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const float e = fast_exp(x[i + j] - m);
      y[i + j] = e;
      acc[j] += e;
    }
  double s = 0.0;
  for (; i < n; ++i) { const float e = fast_exp(x[i] - m); y[i] = e; s += e; }
  return lanes_total(acc, s);
}

// sum of exp(x[i] - m), nothing stored.
inline double exp_shift_sum(const float* x, float m, int64_t n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += fast_exp(x[i + j] - m);
  double s = 0.0;
  for (; i < n; ++i) s += fast_exp(x[i] - m);
  return lanes_total(acc, s);
}

inline double dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  double s = 0.0;
  for (; i < n; ++i) s += a[i] * b[i];
  return lanes_total(acc, s);
}

inline double sum(const float* a, int64_t n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j];
  double s = 0.0;
  for (; i < n; ++i) s += a[i];
  return lanes_total(acc, s);
}

// Throws for the first target that is neither in [0, K) nor ignore_index.
void check_targets(int64_t R, int64_t K, const int32_t* t, int32_t ignore_index) {
  for (int64_t r = 0; r < R; ++r) {
    const int32_t v = t[r];
    if (v != ignore_index && (v < 0 || (int64_t)v >= K))
      throw Error("ERR_ARG", "target " + std::to_string(v) + " out of range for " + std::to_string(K) + " classes",
                  ErrorKind::Range);
  }
}

}  // namespace

void softmax_forward_cpu(int64_t R, int64_t K, const float* x, float* y, bool log) {
  CK_CHECK_ARG(R >= 0 && K >= 0, "softmax_forward: negative extent");
  if (K == 0) return;
  parallel_for(R, row_grain(K), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const float* xr = x + r * K;
      float* yr = y + r * K;
      const float m = row_max(xr, K);
      if (log) {
        const float ls = (float)std::log(exp_shift_sum(xr, m, K));
        for (int64_t i = 0; i < K; ++i) yr[i] = xr[i] - m - ls;
      } else {
        const float inv = (float)(1.0 / exp_shift_store(xr, m, yr, K));
        for (int64_t i = 0; i < K; ++i) yr[i] *= inv;
      }
    }
  });
}

void softmax_backward_cpu(int64_t R, int64_t K, const float* y, const float* dy, float* dx, bool log) {
  CK_CHECK_ARG(R >= 0 && K >= 0, "softmax_backward: negative extent");
  if (K == 0) return;
  parallel_for(R, row_grain(K), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const float* yr = y + r * K;
      const float* gr = dy + r * K;
      float* dr = dx + r * K;  // may alias dy: every row reduction finishes before the row is written
      if (log) {
        const float s = (float)sum(gr, K);
        for (int64_t i = 0; i < K; ++i) dr[i] = gr[i] - fast_exp(yr[i]) * s;
      } else {
        const float d = (float)dot(gr, yr, K);
        for (int64_t i = 0; i < K; ++i) dr[i] = yr[i] * (gr[i] - d);
      }
    }
  });
}

void nll_forward_cpu(int64_t R, int64_t K, const float* logp, const int32_t* t, int32_t ignore_index, float* loss) {
  CK_CHECK_ARG(R >= 0 && K >= 0, "nll_forward: negative extent");
  check_targets(R, K, t, ignore_index);
  parallel_for(R, 1 << 14, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) loss[r] = t[r] == ignore_index ? 0.0f : -logp[r * K + t[r]];
  });
}

void nll_backward_cpu(int64_t R, int64_t K, const int32_t* t, int32_t ignore_index, const float* g, float* dlogp) {
  CK_CHECK_ARG(R >= 0 && K >= 0, "nll_backward: negative extent");
  check_targets(R, K, t, ignore_index);
  parallel_for(R, row_grain(K), [&](int64_t rb, int64_t re) {
    std::memset(dlogp + rb * K, 0, (size_t)((re - rb) * K) * sizeof(float));
    for (int64_t r = rb; r < re; ++r)
      if (t[r] != ignore_index) dlogp[r * K + t[r]] = -g[r];
  });
}

namespace {
int64_t valid_rows(int64_t R, const int32_t* t, int32_t ignore_index) {
  int64_t n = 0;
  for (int64_t r = 0; r < R; ++r) n += t[r] != ignore_index;
  return n;
}
}  // namespace

void cross_entropy_forward_cpu(int64_t R, int64_t K, const float* x, const int32_t* t, int32_t ignore_index, float* loss,
                               float* logp) {
  CK_CHECK_ARG(R >= 0 && K >= 0, "cross_entropy_forward: negative extent");
  check_targets(R, K, t, ignore_index);
  softmax_forward_cpu(R, K, x, logp, true);
  double s = 0.0;
  for (int64_t r = 0; r < R; ++r)
    if (t[r] != ignore_index) s -= logp[r * K + t[r]];
  loss[0] = static_cast<float>(s / static_cast<double>(valid_rows(R, t, ignore_index)));  // 0 / 0: NaN, as PyTorch
}

void cross_entropy_backward_cpu(int64_t R, int64_t K, const float* logp, const int32_t* t, int32_t ignore_index,
                                const float* g, float* dx) {
  CK_CHECK_ARG(R >= 0 && K >= 0, "cross_entropy_backward: negative extent");
  check_targets(R, K, t, ignore_index);
  const float gn = g[0] / static_cast<float>(valid_rows(R, t, ignore_index));  // nll's -g / n, negated
  parallel_for(R, row_grain(K), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      float* dr = dx + r * K;
      const float* lr = logp + r * K;
      if (t[r] == ignore_index) {  // log_softmax's backward of an all-zero row: 0 - exp(logp) * 0 (NaN stays NaN)
        for (int64_t i = 0; i < K; ++i) dr[i] = 0.0f - fast_exp(lr[i]) * 0.0f;
        continue;
      }
      for (int64_t i = 0; i < K; ++i) dr[i] = fast_exp(lr[i]) * gn;
      dr[t[r]] -= gn;
    }
  });
}

}  // namespace ck
