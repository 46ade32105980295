// CPU batch norm over (N, C, L) contiguous (L = H*W for BatchNorm2d, 1 or the length for BatchNorm1d), with
// PyTorch's semantics, and the training-mode batch norm + ReLU that lib/nn/fusion.ts runs as one op (fused.h):
//   training: mean and biased variance per channel over the n = N*L values (two passes: the mean, then the
//             squared deviations from it); save_invstd = 1/sqrt(var + eps), 0 when var == eps == 0 (PyTorch's
//             InvStd); running_mean = (1-m)*running_mean + m*mean and running_var = (1-m)*running_var +
//             m*var*n/(n-1); n == 1 throws ERR_SHAPE as F.batch_norm.
//   eval:     the running statistics.
//   backward: of the training forward: dbeta = sum(dy), dgamma = sum(dy * xhat),
//             dx = gamma*invstd/n * (n*dy - dbeta - xhat*dgamma).
//   + ReLU:   y = max(bn(x), 0); its backward is batch norm's of g = dy where bn(x) > 0, the mask recomputed from
//             x with the forward's own float operations (so the op keeps x, not y, and reads two tensors).
// Training runs one channel per task: the statistics, then the normalising pass while the channel's N*L values
// are still in cache (likewise backward: the two sums, then dx), so each tensor crosses memory once. The row
// loops are batchnorm_kernels.h's: AVX2 (batchnorm_avx2.cc) on the AVX paths of cpu/isa.h, else the plain ones
// here. Sums accumulate per row block and add up in double across the batch.
#include <cmath>
#include <cstring>
#include <cstdint>
#include <string>
#include <vector>
#include "../core/error.h"
#include "../core/nn_kernels.h"
#include "batchnorm_kernels.h"
#include "grow_buffer.h"
#include "pool_kernels.h"
#include "fused.h"
#include "isa.h"
#include "threadpool.h"

namespace ck {

namespace {

constexpr int64_t kRowGrainElems = 1 << 14;  // elements per parallel chunk, at least
constexpr int kLanes = 8;

int64_t grain_for(int64_t per_item) { return per_item >= kRowGrainElems ? 1 : kRowGrainElems / (per_item + 1) + 1; }

// ---- the baseline loops of batchnorm_kernels.h: per row, 8 independent lanes, sums in double ----

template <class Row>
double rows_sum(int64_t N, Row row) {
  double s = 0.0;
  for (int64_t i = 0; i < N; ++i) s += row(i);
  return s;
}

double base_sum(const float* x, int64_t N, int64_t L, int64_t stride) {
  return rows_sum(N, [&](int64_t i) {
    const float* r = x + i * stride;
    double a[kLanes] = {};
    int64_t j = 0;
    for (; j + kLanes <= L; j += kLanes)
      for (int l = 0; l < kLanes; ++l) a[l] += static_cast<double>(r[j + l]);
    for (; j < L; ++j) a[0] += static_cast<double>(r[j]);
    double s = 0.0;
    for (int l = 0; l < kLanes; ++l) s += a[l];
    return s;
  });
}

double base_sqdev(const float* x, int64_t N, int64_t L, int64_t stride, float mean) {
  const double m = mean;
  return rows_sum(N, [&](int64_t i) {
    const float* r = x + i * stride;
    double a[kLanes] = {};
    int64_t j = 0;
    for (; j + kLanes <= L; j += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const double d = static_cast<double>(r[j + l]) - m;
        a[l] += d * d;
      }
    for (; j < L; ++j) {
      const double d = static_cast<double>(r[j]) - m;
      a[0] += d * d;
    }
    double s = 0.0;
    for (int l = 0; l < kLanes; ++l) s += a[l];
    return s;
  });
}

void base_normalize(const float* x, int64_t N, int64_t L, int64_t stride, float m, float k, float sh, bool relu,
                    float* y) {
  for (int64_t i = 0; i < N; ++i) {
    const float* xr = x + i * stride;
    float* yr = y + i * stride;
    if (relu) {
      for (int64_t j = 0; j < L; ++j) {
        const float v = (xr[j] - m) * k + sh;
        yr[j] = v > 0.0f ? v : 0.0f;
      }
    } else {
      for (int64_t j = 0; j < L; ++j) yr[j] = (xr[j] - m) * k + sh;
    }
  }
}

// g of batchnorm_kernels.h: dy, or with relu dy where the forward's (x - m) * k + sh > 0.
inline float base_grad(float dy, float x, float m, float k, float sh, bool relu) {
  return !relu || (x - m) * k + sh > 0.0f ? dy : 0.0f;
}

void base_dot(const float* dy, const float* x, int64_t N, int64_t L, int64_t stride, int64_t gstride, float m, float k,
              float sh, bool relu, double* sg, double* sgx) {
  double a[kLanes] = {}, b[kLanes] = {};
  for (int64_t i = 0; i < N; ++i) {
    const float* gr = dy + i * gstride;
    const float* xr = x + i * stride;
    int64_t j = 0;
    for (; j + kLanes <= L; j += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const double g = base_grad(gr[j + l], xr[j + l], m, k, sh, relu);
        a[l] += g;
        b[l] += g * static_cast<double>(xr[j + l] - m);
      }
    for (; j < L; ++j) {
      const double g = base_grad(gr[j], xr[j], m, k, sh, relu);
      a[0] += g;
      b[0] += g * static_cast<double>(xr[j] - m);
    }
  }
  *sg = *sgx = 0.0;
  for (int l = 0; l < kLanes; ++l) {
    *sg += a[l];
    *sgx += b[l];
  }
}

void base_dx(const float* dy, const float* x, int64_t N, int64_t L, int64_t stride, int64_t gstride, float m, float k,
             float sh, bool relu, float mg, float proj, float* dx) {
  for (int64_t i = 0; i < N; ++i) {
    const float* gr = dy + i * gstride;
    const float* xr = x + i * stride;
    float* dr = dx + i * stride;
    for (int64_t j = 0; j < L; ++j) dr[j] = (base_grad(gr[j], xr[j], m, k, sh, relu) - mg - (xr[j] - m) * proj) * k;
  }
}

const BnRowKernels kBaseRows = {base_sum, base_sqdev, base_normalize, base_dot, base_dx};

// The ISA path in use (cpu/isa.h); the AVX-512 path uses the AVX2 rows (bound by memory).
const BnRowKernels& rows() {
  static const BnRowKernels& k = CK_AVX2_OR_BASE(kBaseRows, avx2::kBnRowKernels);
  return k;
}

// invstd * gamma[c] (gamma null: weight 1), the per-channel factor of the normalised output and of dx. Training
// forward and backward both take invstd as the saved float, so that the backward's recomputed ReLU mask uses the
// forward's factor exactly.
float gamma_scale(double invstd, const float* gamma, int64_t c) {
  return static_cast<float>(invstd * (gamma ? static_cast<double>(gamma[c]) : 1.0));
}

// Both per-channel outputs (either may be null) zeroed: the results over an empty batch.
void zero_channels(int64_t C, float* a, float* b) {
  for (int64_t c = 0; c < C; ++c) {
    if (a) a[c] = 0.0f;
    if (b) b[c] = 0.0f;
  }
}

// Channel c's batch statistics over its N rows of L (row i at xc + i * stride): the mean as the float both
// passes use, and invstd; updates the running statistics (either may be null) with momentum.
struct ChannelStats {
  float mean, invstd;
};
ChannelStats channel_stats(const BnRowKernels& rk, int64_t N, int64_t L, int64_t stride, const float* xc, float eps,
                           float momentum, float* running_mean, float* running_var, int64_t c) {
  const int64_t n = N * L;
  const double mu = rk.sum(xc, N, L, stride) / static_cast<double>(n);
  const float mf = static_cast<float>(mu);
  const double q = rk.sqdev(xc, N, L, stride, mf);
  const float invstd = static_cast<float>(batchnorm_inv_std(q / static_cast<double>(n), static_cast<double>(eps)));
  const double m = static_cast<double>(momentum);
  if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * static_cast<double>(running_mean[c]) + m * mu);
  if (running_var)
    running_var[c] = static_cast<float>((1.0 - m) * static_cast<double>(running_var[c]) + m * q / static_cast<double>(n - 1));
  return {mf, invstd};
}

// Training forward, optionally with ReLU: per channel, its statistics, then its normalised rows.
void train_forward(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta, float eps,
                   float momentum, float* running_mean, float* running_var, float* y, float* save_mean,
                   float* save_invstd, bool relu) {
  const int64_t n = N * L, CL = C * L;
  if (C == 0) return;
  if (n == 0) return zero_channels(C, save_mean, save_invstd);  // PyTorch leaves the running statistics alone then
  const BnRowKernels& rk = rows();
  parallel_for(C, grain_for(n), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float* xc = x + c * L;
      const ChannelStats st = channel_stats(rk, N, L, CL, xc, eps, momentum, running_mean, running_var, c);
      if (save_mean) save_mean[c] = st.mean;
      if (save_invstd) save_invstd[c] = st.invstd;
      rk.normalize(xc, N, L, CL, st.mean, gamma_scale(st.invstd, gamma, c), beta ? beta[c] : 0.0f, relu, y + c * L);
    }
  });
}

// Training backward, optionally through the ReLU: per channel, the two sums, then its dx rows.
void train_backward(int64_t N, int64_t C, int64_t L, const float* dy, const float* x, const float* gamma,
                    const float* beta, const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                    float* dbeta, bool relu) {
  const int64_t n = N * L, CL = C * L;
  if (C == 0) return;
  if (n == 0) return zero_channels(C, dgamma, dbeta);
  const BnRowKernels& rk = rows();
  parallel_for(C, grain_for(n), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float mf = save_mean[c];
      const double invstd = static_cast<double>(save_invstd[c]);
      const float k = gamma_scale(invstd, gamma, c), sh = beta ? beta[c] : 0.0f;
      double sg = 0.0, sgx = 0.0;
      rk.dot(dy + c * L, x + c * L, N, L, CL, CL, mf, k, sh, relu, &sg, &sgx);
      if (dgamma) dgamma[c] = static_cast<float>(sgx * invstd);
      if (dbeta) dbeta[c] = static_cast<float>(sg);
      if (!dx) continue;
      // dx = (g - mean(g) - (x - mu) * proj) * invstd * gamma
      const double inv_n = 1.0 / static_cast<double>(n);
      const float mg = static_cast<float>(sg * inv_n), proj = static_cast<float>(sgx * invstd * invstd * inv_n);
      rk.dx(dy + c * L, x + c * L, N, L, CL, CL, mf, k, sh, relu, mg, proj, dx + c * L);
    }
  });
}

// ---- batch norm + ReLU + 2x2 max pool (stride 2, floor), training (fused.h) ----
// Per channel: its statistics as train_forward; then per image the normalised, clamped plane into a scratch
// plane (it stays in L1/L2) and the pool kernel from there into y and idx, so the full-size activation is never
// written to memory. The backward expands each image's pooled gradient through idx into the scratch plane (the
// pool backward kernel) once per channel, into a scratch that stays in L2 for batch norm's two passes (the sums,
// then dx).

// Scratch planes of the calling thread (pool threads keep theirs).
float* plane_scratch(int64_t L) {
  thread_local GrowBuffer<float> buf("batch norm + max pool plane");
  return buf.get(L);
}

// The 2x2 pool's backward of one plane (H x W) into dx: pool_kernels.h's kernel, zero rows from 2 * OH on; the
// scatter (zero-fill, dx[idx] += dy) for an index outside its window.
void expand_plane(const PoolKernels& pk, const float* dyp, const int32_t* ip, int64_t H, int64_t W, int64_t OH,
                  int64_t OW, float* dxp) {
  if (pk.max2x2_back(dyp, ip, W, OH, OW, dxp)) {
    if (2 * OH < H) std::memset(dxp + 2 * OH * W, 0, static_cast<size_t>((H - 2 * OH) * W) * sizeof(float));
    return;
  }
  std::memset(dxp, 0, static_cast<size_t>(H * W) * sizeof(float));
  for (int64_t o = 0; o < OH * OW; ++o)
    if (ip[o] >= 0 && ip[o] < H * W) dxp[ip[o]] += dyp[o];
}

void train_forward_pool(int64_t N, int64_t C, int64_t H, int64_t W, const float* x, const float* gamma,
                        const float* beta, float eps, float momentum, float* running_mean, float* running_var, float* y,
                        int32_t* idx, float* save_mean, float* save_invstd) {
  const int64_t L = H * W, CL = C * L, OH = H / 2, OW = W / 2, OL = OH * OW;
  const BnRowKernels& rk = rows();
  const PoolKernels& pk = pool_rows();
  parallel_for(C, grain_for(N * L), [&](int64_t c0, int64_t c1) {
    float* t = plane_scratch(L);
    for (int64_t c = c0; c < c1; ++c) {
      const float* xc = x + c * L;
      const ChannelStats st = channel_stats(rk, N, L, CL, xc, eps, momentum, running_mean, running_var, c);
      save_mean[c] = st.mean;
      save_invstd[c] = st.invstd;
      const float k = gamma_scale(st.invstd, gamma, c), sh = beta ? beta[c] : 0.0f;
      for (int64_t i = 0; i < N; ++i) {
        rk.normalize(xc + i * CL, 1, L, L, st.mean, k, sh, true, t);
        pk.max2x2(t, W, OH, OW, y + (i * C + c) * OL, idx + (i * C + c) * OL);
      }
    }
  });
}

void train_backward_pool(int64_t N, int64_t C, int64_t H, int64_t W, const float* dy, const int32_t* idx,
                         const float* x, const float* gamma, const float* beta, const float* save_mean,
                         const float* save_invstd, float* dx, float* dgamma, float* dbeta) {
  const int64_t L = H * W, CL = C * L, OH = H / 2, OW = W / 2, OL = OH * OW, n = N * L;
  const BnRowKernels& rk = rows();
  const PoolKernels& pk = pool_rows();
  parallel_for(C, grain_for(n), [&](int64_t c0, int64_t c1) {
    float* t = plane_scratch(N * L);  // the channel's expanded gradient: written once, read by both passes
    for (int64_t c = c0; c < c1; ++c) {
      const float mf = save_mean[c];
      const double invstd = static_cast<double>(save_invstd[c]);
      const float k = gamma_scale(invstd, gamma, c), sh = beta ? beta[c] : 0.0f;
      for (int64_t i = 0; i < N; ++i)
        expand_plane(pk, dy + (i * C + c) * OL, idx + (i * C + c) * OL, H, W, OH, OW, t + i * L);
      // The channel's N rows in one call each, as train_backward's: the same sums, bit for bit, as the unfused
      // batch norm + ReLU after the pool's backward.
      double sg = 0.0, sgx = 0.0;
      rk.dot(t, x + c * L, N, L, CL, L, mf, k, sh, true, &sg, &sgx);
      if (dgamma) dgamma[c] = static_cast<float>(sgx * invstd);
      if (dbeta) dbeta[c] = static_cast<float>(sg);
      if (!dx) continue;
      const double inv_n = 1.0 / static_cast<double>(n);
      const float mg = static_cast<float>(sg * inv_n), proj = static_cast<float>(sgx * invstd * invstd * inv_n);
      rk.dx(t, x + c * L, N, L, CL, L, mf, k, sh, true, mg, proj, dx + c * L);
    }
  });
}

}  // namespace

double batchnorm_inv_std(double var, double eps) { return (var != 0.0 || eps != 0.0) ? 1.0 / std::sqrt(var + eps) : 0.0; }

void batchnorm_forward_train_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                 float eps, float momentum, float* running_mean, float* running_var, float* y,
                                 float* save_mean, float* save_invstd) {
  check_batchnorm_training(N, C, L, "batchnorm_forward_train");
  train_forward(N, C, L, x, gamma, beta, eps, momentum, running_mean, running_var, y, save_mean, save_invstd, false);
}

void batchnorm_relu_forward_train_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                                      const float* beta, float eps, float momentum, float* running_mean,
                                      float* running_var, float* y, float* save_mean, float* save_invstd) {
  check_batchnorm_training(N, C, L, "batchnorm_relu_forward_train");
  train_forward(N, C, L, x, gamma, beta, eps, momentum, running_mean, running_var, y, save_mean, save_invstd, true);
}

void batchnorm_forward_eval_cpu(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                const float* running_mean, const float* running_var, float eps, float* y) {
  check_batchnorm(N, C, L, "batchnorm_forward_eval");
  if (!running_mean || !running_var)
    throw Error("ERR_ARG", "batchnorm_forward_eval: running_mean and running_var are required", ErrorKind::Type);
  if (N * C * L == 0) return;
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = batchnorm_inv_std(static_cast<double>(running_var[c]), static_cast<double>(eps));
    scale[c] = gamma_scale(invstd, gamma, c);
    shift[c] = beta ? beta[c] : 0.0f;
  }
  const BnRowKernels& rk = rows();
  parallel_for(N * C, grain_for(L), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t c = r % C;
      rk.normalize(x + r * L, 1, L, L, running_mean[c], scale[c], shift[c], false, y + r * L);
    }
  });
}

void batchnorm_backward_cpu(int64_t N, int64_t C, int64_t L, const float* dy, const float* x, const float* gamma,
                            const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta) {
  check_batchnorm(N, C, L, "batchnorm_backward");
  train_backward(N, C, L, dy, x, gamma, nullptr, save_mean, save_invstd, dx, dgamma, dbeta, false);
}

void batchnorm_relu_backward_cpu(int64_t N, int64_t C, int64_t L, const float* dy, const float* x, const float* gamma,
                                 const float* beta, const float* save_mean, const float* save_invstd, float* dx,
                                 float* dgamma, float* dbeta) {
  check_batchnorm(N, C, L, "batchnorm_relu_backward");
  train_backward(N, C, L, dy, x, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta, true);
}


void batchnorm_relu_maxpool2_forward_train_cpu(int64_t N, int64_t C, int64_t H, int64_t W, const float* x,
                                               const float* gamma, const float* beta, float eps, float momentum,
                                               float* running_mean, float* running_var, float* y, int32_t* indices,
                                               float* save_mean, float* save_invstd) {
  check_batchnorm_training(N, C, H * W, "batchnorm_relu_maxpool2_forward_train");
  if (H < 2 || W < 2) throw Error("ERR_SHAPE", "batchnorm_relu_maxpool2: a 2x2 pool needs a plane of at least 2x2", ErrorKind::Range);
  if (C == 0 || N == 0) return;
  train_forward_pool(N, C, H, W, x, gamma, beta, eps, momentum, running_mean, running_var, y, indices, save_mean,
                     save_invstd);
}

void batchnorm_relu_maxpool2_backward_cpu(int64_t N, int64_t C, int64_t H, int64_t W, const float* dy,
                                          const int32_t* indices, const float* x, const float* gamma,
                                          const float* beta, const float* save_mean, const float* save_invstd,
                                          float* dx, float* dgamma, float* dbeta) {
  check_batchnorm(N, C, H * W, "batchnorm_relu_maxpool2_backward");
  if (C == 0) return;
  if (N * H * W == 0) return zero_channels(C, dgamma, dbeta);
  train_backward_pool(N, C, H, W, dy, indices, x, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta);
}

}  // namespace ck
