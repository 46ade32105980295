// Batch norm over (N, C, L) contiguous (L = H*W for BatchNorm2d; 1 or the length for BatchNorm1d).
// CUDA twins of batchnorm_*_cpu (csrc/core/nn_kernels.h), with PyTorch's semantics (see
// csrc/cpu/batchnorm.cc): biased batch variance, save_invstd = 1/sqrt(var + eps) (0 when var == eps == 0),
// running_var updated with the unbiased variance, n = N*L == 1 throws ERR_SHAPE.
//
// Layout: channel c owns N runs of L contiguous floats, run i at x + (i*C + c)*L. A channel's values are
// walked as the flat sequence j in [0, N*L) -> (i, l) = (j / L, j % L); a thread steps j by blockDim.x,
// carrying (i, l) with a precomputed (blockDim.x / L, blockDim.x % L) step, so there is one division per
// thread rather than per element, and neighbouring lanes read neighbouring addresses (coalesced) whenever
// L >= 32. When L % 4 == 0 (and the buffers are 16-byte aligned) the walk is over float4 "units"
// (LDG.128/STG.128), else over single floats.
//
// Algorithm (training forward, three launches):
//   batchnorm_stats_kernel       grid = C x splits blocks of 256 threads; block (c, s) takes chunk s of
//                                channel c. Each thread keeps a Welford state (count, mean, M2) in float; a
//                                float4 unit first collapses to its own (4, mean, M2) and joins the state with
//                                Chan's merge, so there is one division per 4 elements. Warp states fold with
//                                __shfl_down_sync (Chan's merge), the 8 warp states through shared memory; the
//                                block writes its chunk's (count, mean, M2) to a scratch buffer. splits is
//                                chosen so that C*splits fills the GPU (~1024 blocks) but no chunk is smaller
//                                than 512 units (nor larger than 2^22 elements, so float counts stay exact).
//   batchnorm_finalize_kernel    one thread per channel merges its chunk states in double (Chan), writes
//                                save_mean/save_invstd, updates the running statistics, and leaves the
//                                per-channel affine coefficients (mean, gamma*invstd, beta) in scratch.
//   batchnorm_apply_kernel       grid-stride elementwise y = (x - mean) * scale + shift; the channel of a unit
//                                is (u / L) % C, by multiply-high
//                                fast division (PyTorch's IntDivider) when the tensor allows 32-bit indices.
// Eval forward: batchnorm_eval_coef_kernel (mean = running_mean, scale = gamma/sqrt(running_var + eps))
// and the same apply kernel.
// Backward: batchnorm_backward_reduce_kernel (same grid and walk; per-thread float sums of dy and
// dy*(x - mean), shuffle/shared tree, chunk partials to scratch), batchnorm_backward_finalize_kernel (double
// merge; dgamma = sum(dy*(x-mean))*invstd, dbeta = sum(dy), and the coefficients of
// dx = (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy*(x-mean))) * gamma*invstd), batchnorm_backward_dx_kernel.
// Scratch comes from the stream-ordered pool (ck::cuda::malloc) and is freed in stream order.
#include <cstdint>
#include <string>

#include "runtime.cuh"
#include "common.cuh"
#include "divider.cuh"
#include "core/error.h"
#include "core/nn_kernels_cuda.h"

namespace ck {
namespace cuda {
namespace {

constexpr int64_t kMinChunkUnits = 512;
constexpr int64_t kMaxChunkElems = int64_t(1) << 22;
constexpr int64_t kTargetBlocks = 1024;
constexpr int64_t kMaxGrid = int64_t(1) << 20;  // stats/reduce grids: one block per (channel, split)

// Divider<I>: division by a run-time constant (cuda/divider.cuh).

// ---- per-channel walk -------------------------------------------------------------------------------

// Calls f(offset) for this thread's units j = lo + threadIdx.x, lo + threadIdx.x + blockDim.x, ... < hi of
// channel c, where offset = (j / Lu * C + c) * Lu + j % Lu is in units.
template <class F>
__device__ __forceinline__ void for_channel_units(int64_t c, int64_t C, int64_t Lu, int64_t lo, int64_t hi, F&& f) {
  const int64_t nt = blockDim.x;
  int64_t j = lo + threadIdx.x;
  if (j >= hi) return;
  int64_t i = j / Lu, l = j - i * Lu;
  const int64_t di = nt / Lu, dl = nt - di * Lu;
  for (; j < hi; j += nt) {
    f((i * C + c) * Lu + l);
    l += dl;
    i += di;
    if (l >= Lu) {
      l -= Lu;
      ++i;
    }
  }
}

// ---- Welford states ---------------------------------------------------------------------------------

struct Stat {
  float n, mean, m2;
};

__device__ __forceinline__ Stat merge(Stat a, Stat b) {
  if (b.n == 0.0f) return a;
  if (a.n == 0.0f) return b;
  const float n = a.n + b.n;
  const float delta = b.mean - a.mean;
  const float fb = b.n / n;
  return Stat{n, a.mean + delta * fb, a.m2 + b.m2 + delta * delta * a.n * fb};
}

struct MergeOp {
  __device__ __forceinline__ Stat operator()(Stat a, Stat b) const { return merge(a, b); }
};
struct Sum2Op {
  __device__ __forceinline__ float2 operator()(float2 a, float2 b) const { return make_float2(a.x + b.x, a.y + b.y); }
};

// Every thread of the block calls them (common.cuh's block_reduce); the results are valid in thread 0.
__device__ __forceinline__ Stat block_merge(Stat s) { return block_reduce(s, MergeOp{}, Stat{0.0f, 0.0f, 0.0f}); }
__device__ __forceinline__ void block_sum2(float* a, float* b) {
  const float2 r = block_reduce(make_float2(*a, *b), Sum2Op{}, make_float2(0.0f, 0.0f));
  *a = r.x;
  *b = r.y;
}

// PyTorch's InvStd.
__device__ __forceinline__ double inv_std(double var, double eps) {
  return (var != 0.0 || eps != 0.0) ? 1.0 / sqrt(var + eps) : 0.0;
}

// ---- kernels ----------------------------------------------------------------------------------------

// Block w = (c, s): Welford state of units [s*chunk, min((s+1)*chunk, units)) of channel c.
template <int V>
__global__ void __launch_bounds__(kThreads)
    batchnorm_stats_kernel(const float* __restrict__ x,  // (N, C, L); read as (N, C, L/V) units of V floats
                           float* __restrict__ part,     // (C, splits, 3): count, mean, M2 of each chunk
                           int64_t C, int64_t Lu, int64_t units, int64_t chunk, int64_t splits) {
  for (int64_t w = blockIdx.x; w < C * splits; w += gridDim.x) {
    const int64_t c = w / splits;
    const int64_t lo = (w - c * splits) * chunk;
    const int64_t hi = lo + chunk < units ? lo + chunk : units;
    Stat st{0.0f, 0.0f, 0.0f};
    if constexpr (V == 4) {
      const float4* x4 = reinterpret_cast<const float4*>(x);
      for_channel_units(c, C, Lu, lo, hi, [&](int64_t off) {
        const float4 v = x4[off];
        const float m = ((v.x + v.y) + (v.z + v.w)) * 0.25f;
        const float d0 = v.x - m, d1 = v.y - m, d2 = v.z - m, d3 = v.w - m;
        st = merge(st, Stat{4.0f, m, (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)});
      });
    } else {
      for_channel_units(c, C, Lu, lo, hi, [&](int64_t off) {
        const float v = x[off];
        st.n += 1.0f;
        const float delta = v - st.mean;
        st.mean += delta / st.n;
        st.m2 += delta * (v - st.mean);
      });
    }
    st = block_merge(st);
    if (threadIdx.x == 0) {
      part[w * 3 + 0] = st.n;
      part[w * 3 + 1] = st.mean;
      part[w * 3 + 2] = st.m2;
    }
  }
}

// One thread per channel: merges the chunk states, writes the saved and running statistics and the
// affine coefficients of the apply pass.
__global__ void batchnorm_finalize_kernel(const float* __restrict__ part,   // (C, splits, 3)
                                          const float* __restrict__ gamma,  // (C) | null
                                          const float* __restrict__ beta,   // (C) | null
                                          float* __restrict__ running_mean, // (C) | null
                                          float* __restrict__ running_var,  // (C) | null
                                          float* __restrict__ save_mean,    // (C) | null
                                          float* __restrict__ save_invstd,  // (C) | null
                                          float* __restrict__ coef,         // (C, 3): mean, scale, shift
                                          int64_t C, int64_t splits, float eps, float momentum) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float* p = part + c * splits * 3;
    double n = 0.0, mean = 0.0, m2 = 0.0;
    for (int64_t s = 0; s < splits; ++s) {
      const double nb = p[s * 3 + 0];
      if (nb == 0.0) continue;
      const double tot = n + nb;
      const double delta = static_cast<double>(p[s * 3 + 1]) - mean;
      mean += delta * (nb / tot);
      m2 += static_cast<double>(p[s * 3 + 2]) + delta * delta * (n * nb / tot);
      n = tot;
    }
    const double var = m2 / n;
    const double invstd = inv_std(var, static_cast<double>(eps));
    const double m = static_cast<double>(momentum);
    if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * static_cast<double>(running_mean[c]) + m * mean);
    if (running_var)
      running_var[c] = static_cast<float>((1.0 - m) * static_cast<double>(running_var[c]) + m * m2 / (n - 1.0));
    if (save_mean) save_mean[c] = static_cast<float>(mean);
    if (save_invstd) save_invstd[c] = static_cast<float>(invstd);
    coef[c * 3 + 0] = static_cast<float>(mean);
    coef[c * 3 + 1] = static_cast<float>(invstd * (gamma ? static_cast<double>(gamma[c]) : 1.0));
    coef[c * 3 + 2] = beta ? beta[c] : 0.0f;
  }
}

// One thread per channel: the affine coefficients of the eval forward.
__global__ void batchnorm_eval_coef_kernel(const float* __restrict__ gamma,         // (C) | null
                                           const float* __restrict__ beta,          // (C) | null
                                           const float* __restrict__ running_mean,  // (C)
                                           const float* __restrict__ running_var,   // (C)
                                           float* __restrict__ coef,                // (C, 3): mean, scale, shift
                                           int64_t C, float eps) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double invstd = inv_std(static_cast<double>(running_var[c]), static_cast<double>(eps));
    coef[c * 3 + 0] = running_mean[c];
    coef[c * 3 + 1] = static_cast<float>(invstd * (gamma ? static_cast<double>(gamma[c]) : 1.0));
    coef[c * 3 + 2] = beta ? beta[c] : 0.0f;
  }
}

// The channel of unit u of a (N, C, L / V) tensor read in units of V floats: (u / (L / V)) % C.
template <typename I>
__device__ __forceinline__ I channel_of(I u, const Divider<I>& divC, const Divider<I>& divL) {
  const I q = divL.div(u);
  return q - divC.div(q) * divC.d;
}

// y = (x - mean[c]) * scale[c] + shift[c], one unit per thread per iteration.
template <int V, typename I>
__global__ void batchnorm_apply_kernel(const float* __restrict__ x,     // (N, C, L)
                                       float* __restrict__ y,           // (N, C, L)
                                       const float* __restrict__ coef,  // (C, 3): mean, scale, shift
                                       Divider<I> divC, Divider<I> divL, I units) {
  const I stride = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I u = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); u < units;
       u += stride) {
    const I c = channel_of(u, divC, divL);
    const float m = coef[c * 3 + 0], k = coef[c * 3 + 1], b = coef[c * 3 + 2];
    if constexpr (V == 4) {
      float4 v = reinterpret_cast<const float4*>(x)[u];
      v.x = (v.x - m) * k + b;
      v.y = (v.y - m) * k + b;
      v.z = (v.z - m) * k + b;
      v.w = (v.w - m) * k + b;
      reinterpret_cast<float4*>(y)[u] = v;
    } else {
      y[u] = (x[u] - m) * k + b;
    }
  }
}

// Block w = (c, s): sum(dy) and sum(dy * (x - mean)) over chunk s of channel c.
template <int V>
__global__ void __launch_bounds__(kThreads)
    batchnorm_backward_reduce_kernel(const float* __restrict__ dy,         // (N, C, L)
                                     const float* __restrict__ x,          // (N, C, L)
                                     const float* __restrict__ save_mean,  // (C)
                                     float* __restrict__ part,             // (C, splits, 2): sum dy, sum dy*(x-mean)
                                     int64_t C, int64_t Lu, int64_t units, int64_t chunk, int64_t splits) {
  for (int64_t w = blockIdx.x; w < C * splits; w += gridDim.x) {
    const int64_t c = w / splits;
    const int64_t lo = (w - c * splits) * chunk;
    const int64_t hi = lo + chunk < units ? lo + chunk : units;
    const float mean = save_mean[c];
    float sdy = 0.0f, sdyx = 0.0f;
    if constexpr (V == 4) {
      const float4* g4 = reinterpret_cast<const float4*>(dy);
      const float4* x4 = reinterpret_cast<const float4*>(x);
      for_channel_units(c, C, Lu, lo, hi, [&](int64_t off) {
        const float4 g = g4[off], v = x4[off];
        sdy += (g.x + g.y) + (g.z + g.w);
        sdyx += (g.x * (v.x - mean) + g.y * (v.y - mean)) + (g.z * (v.z - mean) + g.w * (v.w - mean));
      });
    } else {
      for_channel_units(c, C, Lu, lo, hi, [&](int64_t off) {
        const float g = dy[off];
        sdy += g;
        sdyx += g * (x[off] - mean);
      });
    }
    block_sum2(&sdy, &sdyx);
    if (threadIdx.x == 0) {
      part[w * 2 + 0] = sdy;
      part[w * 2 + 1] = sdyx;
    }
  }
}

// One thread per channel: dgamma, dbeta and the coefficients of the dx pass.
__global__ void batchnorm_backward_finalize_kernel(const float* __restrict__ part,         // (C, splits, 2)
                                                   const float* __restrict__ gamma,        // (C) | null
                                                   const float* __restrict__ save_mean,    // (C)
                                                   const float* __restrict__ save_invstd,  // (C)
                                                   float* __restrict__ dgamma,             // (C) | null
                                                   float* __restrict__ dbeta,              // (C) | null
                                                   float* __restrict__ coef,  // (C, 4): mean, mean(dy), proj, k
                                                   int64_t C, int64_t splits, int64_t n) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float* p = part + c * splits * 2;
    double sdy = 0.0, sdyx = 0.0;
    for (int64_t s = 0; s < splits; ++s) {
      sdy += static_cast<double>(p[s * 2 + 0]);
      sdyx += static_cast<double>(p[s * 2 + 1]);
    }
    const double invstd = static_cast<double>(save_invstd[c]);
    if (dgamma) dgamma[c] = static_cast<float>(sdyx * invstd);
    if (dbeta) dbeta[c] = static_cast<float>(sdy);
    const double inv_n = 1.0 / static_cast<double>(n);
    if (coef) {
      coef[c * 4 + 0] = save_mean[c];
      coef[c * 4 + 1] = static_cast<float>(sdy * inv_n);
      coef[c * 4 + 2] = static_cast<float>(sdyx * invstd * invstd * inv_n);
      coef[c * 4 + 3] = static_cast<float>(invstd * (gamma ? static_cast<double>(gamma[c]) : 1.0));
    }
  }
}

// dx = (dy - mdy[c] - (x - mean[c]) * proj[c]) * k[c].
template <int V, typename I>
__global__ void batchnorm_backward_dx_kernel(const float* __restrict__ dy,    // (N, C, L)
                                             const float* __restrict__ x,     // (N, C, L)
                                             const float* __restrict__ coef,  // (C, 4): mean, mean(dy), proj, k
                                             float* __restrict__ dx,          // (N, C, L)
                                             Divider<I> divC, Divider<I> divL, I units) {
  const I stride = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I u = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); u < units;
       u += stride) {
    const I c = channel_of(u, divC, divL);
    const float m = coef[c * 4 + 0], g = coef[c * 4 + 1], p = coef[c * 4 + 2], k = coef[c * 4 + 3];
    if constexpr (V == 4) {
      const float4 d = reinterpret_cast<const float4*>(dy)[u];
      const float4 v = reinterpret_cast<const float4*>(x)[u];
      float4 r;
      r.x = (d.x - g - (v.x - m) * p) * k;
      r.y = (d.y - g - (v.y - m) * p) * k;
      r.z = (d.z - g - (v.z - m) * p) * k;
      r.w = (d.w - g - (v.w - m) * p) * k;
      reinterpret_cast<float4*>(dx)[u] = r;
    } else {
      dx[u] = (dy[u] - g - (x[u] - m) * p) * k;
    }
  }
}

// ---- host side --------------------------------------------------------------------------------------

void check_dims(int64_t N, int64_t C, int64_t L, const char* who) {
  if (N < 0 || C < 0 || L < 0)
    throw Error("ERR_ARG", std::string(who) + ": negative extent (N, C, L) = (" + std::to_string(N) + ", " +
                               std::to_string(C) + ", " + std::to_string(L) + ")",
                ErrorKind::Range);
}


// How a channel's N*L values split into units and chunks.
struct Plan {
  int V;                 // floats per unit: 4 or 1
  int64_t Lu, units;     // units per run, per channel
  int64_t chunk, splits; // units per block, blocks per channel
  int64_t blocks;
};

Plan make_plan(int64_t N, int64_t C, int64_t L, bool vec) {
  Plan p;
  p.V = vec ? 4 : 1;
  p.Lu = L / p.V;
  p.units = N * p.Lu;
  const int64_t by_size = (p.units + kMinChunkUnits - 1) / kMinChunkUnits;
  const int64_t by_fill = (kTargetBlocks + C - 1) / C;
  int64_t splits = by_size < by_fill ? by_size : by_fill;
  const int64_t max_chunk = kMaxChunkElems / p.V;
  const int64_t by_cap = (p.units + max_chunk - 1) / max_chunk;
  if (splits < by_cap) splits = by_cap;
  if (splits < 1) splits = 1;
  p.chunk = (p.units + splits - 1) / splits;
  p.splits = (p.units + p.chunk - 1) / p.chunk;
  p.blocks = C * p.splits < kMaxGrid ? C * p.splits : kMaxGrid;
  return p;
}

unsigned channel_blocks(int64_t C) { return static_cast<unsigned>(cdiv(C, kThreads)); }

// Calls f(I{}) with I = uint32_t when a grid-stride loop over `units` stays below 2^31 (fast division).
template <class F>
void with_index(int64_t units, F&& f) {
  if (units + static_cast<int64_t>(grid_for(units)) * kThreads < (int64_t(1) << 31)) f(uint32_t{});
  else f(uint64_t{});
}

void launch_apply(int V, int64_t C, int64_t Lu, int64_t units, const float* x, float* y, const float* coef,
                  Stream s) {
  const unsigned blocks = grid_for(units);
  with_index(units, [&](auto tag) {
    using I = decltype(tag);
    if (V == 4)
      launch(batchnorm_apply_kernel<4, I>, dim3(blocks), dim3(kThreads), 0, s, x, y, coef, Divider<I>(C),
             Divider<I>(Lu), static_cast<I>(units));
    else
      launch(batchnorm_apply_kernel<1, I>, dim3(blocks), dim3(kThreads), 0, s, x, y, coef, Divider<I>(C),
             Divider<I>(Lu), static_cast<I>(units));
  });
}

}  // namespace

void batchnorm_forward_train_cuda(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                  float eps, float momentum, float* running_mean, float* running_var, float* y,
                                  float* save_mean, float* save_invstd, Stream s) {
  check_dims(N, C, L, "batchnorm_forward_train");
  const int64_t n = N * L;
  if (n == 1)
    throw Error("ERR_SHAPE",
                "Expected more than 1 value per channel when training, got input size (" + std::to_string(N) + ", " +
                    std::to_string(C) + ", " + std::to_string(L) + ")",
                ErrorKind::Range);
  if (C == 0) return;
  if (n == 0) {  // PyTorch leaves the running statistics alone on an empty batch
    if (save_mean) fill_cuda(DType::F32, save_mean, C, 0.0, s);
    if (save_invstd) fill_cuda(DType::F32, save_invstd, C, 0.0, s);
    return;
  }
  const Plan p = make_plan(N, C, L, L % 4 == 0 && aligned16(x) && aligned16(y));
  Scratch part(static_cast<size_t>(C * p.splits * 3) * sizeof(float), s);
  Scratch coef(static_cast<size_t>(C * 3) * sizeof(float), s);
  if (p.V == 4)
    launch(batchnorm_stats_kernel<4>, dim3(static_cast<unsigned>(p.blocks)), dim3(kThreads), 0, s, x, part.f(), C,
           p.Lu, p.units, p.chunk, p.splits);
  else
    launch(batchnorm_stats_kernel<1>, dim3(static_cast<unsigned>(p.blocks)), dim3(kThreads), 0, s, x, part.f(), C,
           p.Lu, p.units, p.chunk, p.splits);
  launch(batchnorm_finalize_kernel, dim3(channel_blocks(C)), dim3(kThreads), 0, s,
         static_cast<const float*>(part.f()), gamma, beta, running_mean, running_var, save_mean, save_invstd, coef.f(),
         C, p.splits, eps, momentum);
  launch_apply(p.V, C, p.Lu, N * C * p.Lu, x, y, coef.f(), s);
}

void batchnorm_forward_eval_cuda(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma, const float* beta,
                                 const float* running_mean, const float* running_var, float eps, float* y, Stream s) {
  check_dims(N, C, L, "batchnorm_forward_eval");
  if (!running_mean || !running_var)
    throw Error("ERR_ARG", "batchnorm_forward_eval: running_mean and running_var are required", ErrorKind::Type);
  if (N * C * L == 0) return;
  const int V = (L % 4 == 0 && aligned16(x) && aligned16(y)) ? 4 : 1;
  Scratch coef(static_cast<size_t>(C * 3) * sizeof(float), s);
  launch(batchnorm_eval_coef_kernel, dim3(channel_blocks(C)), dim3(kThreads), 0, s, gamma, beta, running_mean,
         running_var, coef.f(), C, eps);
  launch_apply(V, C, L / V, N * C * (L / V), x, y, coef.f(), s);
}

void batchnorm_backward_cuda(int64_t N, int64_t C, int64_t L, const float* dy, const float* x, const float* gamma,
                             const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                             Stream s) {
  check_dims(N, C, L, "batchnorm_backward");
  if (C == 0) return;
  const int64_t n = N * L;
  if (n == 0) {
    if (dgamma) fill_cuda(DType::F32, dgamma, C, 0.0, s);
    if (dbeta) fill_cuda(DType::F32, dbeta, C, 0.0, s);
    return;
  }
  if (!dx && !dgamma && !dbeta) return;
  const bool vec = L % 4 == 0 && aligned16(dy) && aligned16(x) && (!dx || aligned16(dx));
  const Plan p = make_plan(N, C, L, vec);
  Scratch part(static_cast<size_t>(C * p.splits * 2) * sizeof(float), s);
  Scratch coef(dx ? static_cast<size_t>(C * 4) * sizeof(float) : 4, s);
  if (p.V == 4)
    launch(batchnorm_backward_reduce_kernel<4>, dim3(static_cast<unsigned>(p.blocks)), dim3(kThreads), 0, s, dy, x,
           save_mean, part.f(), C, p.Lu, p.units, p.chunk, p.splits);
  else
    launch(batchnorm_backward_reduce_kernel<1>, dim3(static_cast<unsigned>(p.blocks)), dim3(kThreads), 0, s, dy, x,
           save_mean, part.f(), C, p.Lu, p.units, p.chunk, p.splits);
  launch(batchnorm_backward_finalize_kernel, dim3(channel_blocks(C)), dim3(kThreads), 0, s,
         static_cast<const float*>(part.f()), gamma, save_mean, save_invstd, dgamma, dbeta,
         dx ? coef.f() : static_cast<float*>(nullptr), C, p.splits, n);
  if (!dx) return;
  const int64_t units = N * C * p.Lu;
  const unsigned blocks = grid_for(units);
  const float* cf = coef.f();
  with_index(units, [&](auto tag) {
    using I = decltype(tag);
    if (p.V == 4)
      launch(batchnorm_backward_dx_kernel<4, I>, dim3(blocks), dim3(kThreads), 0, s, dy, x, cf, dx, Divider<I>(C),
             Divider<I>(p.Lu), static_cast<I>(units));
    else
      launch(batchnorm_backward_dx_kernel<1, I>, dim3(blocks), dim3(kThreads), 0, s, dy, x, cf, dx, Divider<I>(C),
             Divider<I>(p.Lu), static_cast<I>(units));
  });
}

}  // namespace cuda
}  // namespace ck
