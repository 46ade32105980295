// Softmax / log_softmax over the rows of x (R, K) and their gradients, and the per-row negative
// log-likelihood with ignore_index. CUDA twins of csrc/cpu/softmax_loss.cc (core/nn_kernels.h).
//
// Layout: x, y, dy, dx, logp, dlogp (R, K) row-major contiguous; targets int32 (R); loss, g (R).
//
// Numerics (as the CPU reference and PyTorch): subtract the row max; softmax = exp(x - max) * (1 / sum),
// log_softmax = (x - max) - log(sum); backward softmax dx = y * (dy - sum(dy * y)), log_softmax
// dx = dy - exp(y) * sum(dy). expf/logf, not the __expf intrinsics (whose error grows with |x|): the kernels
// are memory-bound either way. A NaN in a row makes the row NaN; a row of -inf gives NaN.
//
// Algorithm:
//   _kernel1  K <= 1024: one warp per row, 4 rows per 128-thread block, grid-stride over rows. The row lives
//             in registers (kPer = 1..32 values per lane, a template parameter: K <= 32 * kPer), loaded once,
//             coalesced (lane-strided, or float4 per lane when K % 4 == 0 and the base is 16-byte aligned);
//             max and sum are butterfly (__shfl_xor_sync) reductions, so every lane has them with no shared
//             memory and no __syncthreads.
//   _kernel2  K > 1024: one block per row (256 threads, 512 from K = 8192), grid-stride over rows; passes over
//             the row (max, sum of exp, write; the re-reads come from L1/L2) with float4 when legal; block
//             reductions are warp shuffles plus one shared-memory slot per warp, broadcast to all threads.
//   nll       _kernel1 forward: one thread per row (a gather of one element per row). _kernel1 backward: flat
//             grid-stride over the R*K gradient (coalesced writes), 32-bit index math when it fits.
//             A target outside [0, K) that is not ignore_index: the row gets 0 (nothing is read out of
//             bounds) and the kernel reports it into the device's error slot (core/runtime_cuda.h); nothing
//             waits for it: the host raises ck::Error ERR_INDEX naming the op, the target and the row at its
//             next synchronisation (item(), dataSync(), synchronize()), as PyTorch's device-side assert does.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime.cuh"
#include "common.cuh"
#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/nn_kernels_cuda.h"
#include "core/runtime_cuda.h"
#include "core/types.h"

namespace ck {
namespace cuda {
namespace {

constexpr int kRowWarps = 4;               // _kernel1: rows (warps) per block
constexpr int64_t kWarpRowMax = 1024;      // longest row one warp takes
constexpr float kNegInf = -__builtin_huge_valf();

// ---- reductions ---------------------------------------------------------------------------------

// Warp folds and block folds: common.cuh (warp_max, warp_sum, block_reduce_all).

// ---- row access for the warp kernels ------------------------------------------------------------

// v[j] = r[j * 32 + lane] (kVec: v[4j + u] = r[4 * (j * 32 + lane) + u]); `pad` past the end.
template <int kPer, bool kVec>
__device__ __forceinline__ void load_row(const float* __restrict__ r, int K, int lane, float (&v)[kPer], float pad) {
  if constexpr (kVec) {
    static_assert(kPer % 4 == 0, "float4 rows need kPer % 4 == 0");
    const float4* r4 = reinterpret_cast<const float4*>(r);
    CK_UNROLL
    for (int j = 0; j < kPer / 4; ++j) {
      const int q = j * kWarp + lane;
      if (q * 4 < K) {
        const float4 a = r4[q];
        v[4 * j] = a.x;
        v[4 * j + 1] = a.y;
        v[4 * j + 2] = a.z;
        v[4 * j + 3] = a.w;
      } else {
        v[4 * j] = v[4 * j + 1] = v[4 * j + 2] = v[4 * j + 3] = pad;
      }
    }
  } else {
    CK_UNROLL
    for (int j = 0; j < kPer; ++j) {
      const int k = j * kWarp + lane;
      v[j] = k < K ? r[k] : pad;
    }
  }
}

// Whether register slot j of this lane holds a row element.
template <int kPer, bool kVec>
__device__ __forceinline__ bool in_row(int j, int K, int lane) {
  if constexpr (kVec) return (j / 4 * kWarp + lane) * 4 < K;  // K % 4 == 0: whole vectors
  else return j * kWarp + lane < K;
}

template <int kPer, bool kVec>
__device__ __forceinline__ void store_row(float* __restrict__ r, int K, int lane, const float (&v)[kPer]) {
  if constexpr (kVec) {
    float4* r4 = reinterpret_cast<float4*>(r);
    CK_UNROLL
    for (int j = 0; j < kPer / 4; ++j) {
      const int q = j * kWarp + lane;
      if (q * 4 < K) r4[q] = make_float4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
    }
  } else {
    CK_UNROLL
    for (int j = 0; j < kPer; ++j) {
      const int k = j * kWarp + lane;
      if (k < K) r[k] = v[j];
    }
  }
}

// ---- softmax forward ----------------------------------------------------------------------------

template <int kPer, bool kLog, bool kVec>
__global__ void softmax_forward_kernel1(const float* __restrict__ x,  // (R, K)
                                        float* __restrict__ y,        // (R, K)
                                        int64_t R, int K) {
  const int lane = static_cast<int>(threadIdx.x) & (kWarp - 1);
  const int64_t wpb = blockDim.x / kWarp;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * wpb + threadIdx.x / kWarp; row < R;
       row += static_cast<int64_t>(gridDim.x) * wpb) {
    float v[kPer];
    load_row<kPer, kVec>(x + row * K, K, lane, v, kNegInf);
    float m = kNegInf;
    CK_UNROLL
    for (int j = 0; j < kPer; ++j) m = fmaxf(m, v[j]);
    m = warp_max(m);
    float s = 0.0f;
    CK_UNROLL
    for (int j = 0; j < kPer; ++j) {
      if (in_row<kPer, kVec>(j, K, lane)) {
        const float e = expf(v[j] - m);
        s += e;
        if constexpr (!kLog) v[j] = e;
      }
    }
    s = warp_sum(s);
    if constexpr (kLog) {
      const float ls = logf(s);
      CK_UNROLL
      for (int j = 0; j < kPer; ++j) v[j] = v[j] - m - ls;
    } else {
      const float inv = 1.0f / s;
      CK_UNROLL
      for (int j = 0; j < kPer; ++j) v[j] *= inv;
    }
    store_row<kPer, kVec>(y + row * K, K, lane, v);
  }
}

// kVec: K % 4 == 0 and x, y 16-byte aligned.
template <bool kLog, bool kVec>
__global__ void softmax_forward_kernel2(const float* __restrict__ x,  // (R, K)
                                        float* __restrict__ y,        // (R, K)
                                        int64_t R, int64_t K) {
  const int64_t t = threadIdx.x, nt = blockDim.x;
  for (int64_t row = blockIdx.x; row < R; row += gridDim.x) {
    const float* xr = x + row * K;
    float* yr = y + row * K;
    const float4* x4 = reinterpret_cast<const float4*>(xr);
    float4* y4 = reinterpret_cast<float4*>(yr);
    float m = kNegInf;
    if constexpr (kVec) {
      for (int64_t q = t; q < K / 4; q += nt) {
        const float4 a = x4[q];
        m = fmaxf(m, fmaxf(fmaxf(a.x, a.y), fmaxf(a.z, a.w)));
      }
    } else {
      for (int64_t k = t; k < K; k += nt) m = fmaxf(m, xr[k]);
    }
    m = block_reduce_all(m, MaxOp{}, kNegInf);
    float s = 0.0f;
    if constexpr (kVec) {
      for (int64_t q = t; q < K / 4; q += nt) {
        const float4 a = x4[q];
        s += (expf(a.x - m) + expf(a.y - m)) + (expf(a.z - m) + expf(a.w - m));
      }
    } else {
      for (int64_t k = t; k < K; k += nt) s += expf(xr[k] - m);
    }
    s = block_reduce_all(s, SumOp{}, 0.0f);
    if constexpr (kLog) {
      const float ls = logf(s);
      if constexpr (kVec) {
        for (int64_t q = t; q < K / 4; q += nt) {
          const float4 a = x4[q];
          y4[q] = make_float4(a.x - m - ls, a.y - m - ls, a.z - m - ls, a.w - m - ls);
        }
      } else {
        for (int64_t k = t; k < K; k += nt) yr[k] = xr[k] - m - ls;
      }
    } else {
      const float inv = 1.0f / s;
      if constexpr (kVec) {
        for (int64_t q = t; q < K / 4; q += nt) {
          const float4 a = x4[q];
          y4[q] = make_float4(expf(a.x - m) * inv, expf(a.y - m) * inv, expf(a.z - m) * inv, expf(a.w - m) * inv);
        }
      } else {
        for (int64_t k = t; k < K; k += nt) yr[k] = expf(xr[k] - m) * inv;
      }
    }
  }
}

// ---- softmax backward ---------------------------------------------------------------------------

template <int kPer, bool kLog, bool kVec>
__global__ void softmax_backward_kernel1(const float* __restrict__ y,   // (R, K)
                                         const float* dy,               // (R, K)
                                         float* dx,                     // (R, K), may alias dy
                                         int64_t R, int K) {
  const int lane = static_cast<int>(threadIdx.x) & (kWarp - 1);
  const int64_t wpb = blockDim.x / kWarp;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * wpb + threadIdx.x / kWarp; row < R;
       row += static_cast<int64_t>(gridDim.x) * wpb) {
    float a[kPer], g[kPer];
    load_row<kPer, kVec>(y + row * K, K, lane, a, 0.0f);
    load_row<kPer, kVec>(dy + row * K, K, lane, g, 0.0f);
    float s = 0.0f;
    CK_UNROLL
    for (int j = 0; j < kPer; ++j) s += kLog ? g[j] : g[j] * a[j];
    s = warp_sum(s);
    CK_UNROLL
    for (int j = 0; j < kPer; ++j) g[j] = kLog ? g[j] - expf(a[j]) * s : a[j] * (g[j] - s);
    store_row<kPer, kVec>(dx + row * K, K, lane, g);
  }
}

// kVec: K % 4 == 0 and y, dy, dx 16-byte aligned.
template <bool kLog, bool kVec>
__global__ void softmax_backward_kernel2(const float* __restrict__ y,   // (R, K)
                                         const float* dy,               // (R, K)
                                         float* dx,                     // (R, K), may alias dy
                                         int64_t R, int64_t K) {
  const int64_t t = threadIdx.x, nt = blockDim.x;
  for (int64_t row = blockIdx.x; row < R; row += gridDim.x) {
    const float* yr = y + row * K;
    const float* gr = dy + row * K;
    float* dr = dx + row * K;
    float s = 0.0f;
    if constexpr (kVec) {
      const float4* y4 = reinterpret_cast<const float4*>(yr);
      const float4* g4 = reinterpret_cast<const float4*>(gr);
      for (int64_t q = t; q < K / 4; q += nt) {
        const float4 b = g4[q];
        if constexpr (kLog) {
          s += (b.x + b.y) + (b.z + b.w);
        } else {
          const float4 a = y4[q];
          s += (b.x * a.x + b.y * a.y) + (b.z * a.z + b.w * a.w);
        }
      }
    } else {
      for (int64_t k = t; k < K; k += nt) s += kLog ? gr[k] : gr[k] * yr[k];
    }
    s = block_reduce_all(s, SumOp{}, 0.0f);  // every read of the row is done before any write (dx may alias dy)
    if constexpr (kVec) {
      const float4* y4 = reinterpret_cast<const float4*>(yr);
      const float4* g4 = reinterpret_cast<const float4*>(gr);
      float4* d4 = reinterpret_cast<float4*>(dr);
      for (int64_t q = t; q < K / 4; q += nt) {
        const float4 a = y4[q], b = g4[q];
        if constexpr (kLog)
          d4[q] = make_float4(b.x - expf(a.x) * s, b.y - expf(a.y) * s, b.z - expf(a.z) * s, b.w - expf(a.w) * s);
        else
          d4[q] = make_float4(a.x * (b.x - s), a.y * (b.y - s), a.z * (b.z - s), a.w * (b.w - s));
      }
    } else {
      for (int64_t k = t; k < K; k += nt) dr[k] = kLog ? gr[k] - expf(yr[k]) * s : yr[k] * (gr[k] - s);
    }
  }
}

// ---- nll ----------------------------------------------------------------------------------------

// An out-of-range target is reported into the device's error slot (core/runtime_cuda.h; the first report
// wins), which the host reads at its next synchronisation: the step itself never waits for the check.
__device__ __forceinline__ void report_bad_target(DeviceError* err, int op, int32_t target, int64_t K, int64_t row) {
  if (atomicCAS(&err->code, 0u, 1u) == 0u) {
    err->op = op;
    err->value = target;
    err->bound = K;
    err->index = row;
  }
}

__global__ void nll_forward_kernel1(const float* __restrict__ logp,   // (R, K)
                                    const int32_t* __restrict__ t,    // (R)
                                    float* __restrict__ loss,         // (R)
                                    DeviceError* __restrict__ err,    // (1): the device's error slot
                                    int64_t R, int64_t K, int32_t ignore_index) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < R; r += stride) {
    const int32_t tr = t[r];
    float l = 0.0f;
    if (tr != ignore_index) {
      if (tr >= 0 && tr < K) l = -logp[r * K + tr];
      else report_bad_target(err, kDevErrNllForward, tr, K, r);
    }
    loss[r] = l;
  }
}

template <typename I>
__global__ void nll_backward_kernel1(const int32_t* __restrict__ t,   // (R)
                                     const float* __restrict__ g,     // (R)
                                     float* __restrict__ dlogp,       // (R, K)
                                     DeviceError* __restrict__ err,   // (1): the device's error slot
                                     I R, I K, int32_t ignore_index) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  const I n = R * K;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const I r = i / K;
    const I k = i - r * K;
    const int32_t tr = __ldg(t + r);
    const bool hit = tr != ignore_index && tr >= 0 && static_cast<I>(tr) == k;
    dlogp[i] = hit ? -__ldg(g + r) : 0.0f;
    if (k == 0 && tr != ignore_index && (tr < 0 || static_cast<I>(tr) >= K))
      report_bad_target(err, kDevErrNllBackward, tr, static_cast<int64_t>(K), static_cast<int64_t>(r));
  }
}

// ---- host side ----------------------------------------------------------------------------------


void check_extents(const char* op, int64_t R, int64_t K) {
  if (R < 0 || K < 0) throw Error("ERR_ARG", std::string(op) + ": negative extent", ErrorKind::Range);
}

[[noreturn]] void throw_bad_target(int32_t target, int64_t K) {
  throw Error("ERR_ARG", "target " + std::to_string(target) + " out of range for " + std::to_string(K) + " classes",
              ErrorKind::Range);
}

// K == 0: no kernel runs, every target not equal to ignore_index is out of range.
void check_targets_no_classes(int64_t R, const int32_t* t, int32_t ignore_index, Stream s) {
  std::vector<int32_t> h(static_cast<size_t>(R));
  memcpy_d2h(h.data(), t, h.size() * sizeof(int32_t), s);
  for (int32_t v : h)
    if (v != ignore_index) throw_bad_target(v, 0);
}

// The warp kernel for rows of K <= 32 * kPer values.
template <int kPer, bool kLog>
void launch_softmax_warp(bool forward, bool vec, int64_t R, int K, const float* a, const float* b, float* out,
                         Stream s) {
  const dim3 grid(grid_for(R, kRowWarps)), block(kRowWarps * kWarp);
  if constexpr (kPer >= 4) {
    if (vec) {
      if (forward) launch(softmax_forward_kernel1<kPer, kLog, true>, grid, block, 0, s, a, out, R, K);
      else launch(softmax_backward_kernel1<kPer, kLog, true>, grid, block, 0, s, a, b, out, R, K);
      return;
    }
  }
  if (forward) launch(softmax_forward_kernel1<kPer, kLog, false>, grid, block, 0, s, a, out, R, K);
  else launch(softmax_backward_kernel1<kPer, kLog, false>, grid, block, 0, s, a, b, out, R, K);
}

template <bool kLog>
void run_softmax(bool forward, int64_t R, int64_t K, const float* a, const float* b, float* out, Stream s) {
  // forward: a = x, out = y. backward: a = y, b = dy, out = dx.
  const bool vec = K % 4 == 0 && aligned16(a) && aligned16(out) && (forward || aligned16(b));
  if (K <= kWarpRowMax) {
    const int k = static_cast<int>(K);
    if (K <= 32) launch_softmax_warp<1, kLog>(forward, vec, R, k, a, b, out, s);
    else if (K <= 64) launch_softmax_warp<2, kLog>(forward, vec, R, k, a, b, out, s);
    else if (K <= 128) launch_softmax_warp<4, kLog>(forward, vec, R, k, a, b, out, s);
    else if (K <= 256) launch_softmax_warp<8, kLog>(forward, vec, R, k, a, b, out, s);
    else if (K <= 512) launch_softmax_warp<16, kLog>(forward, vec, R, k, a, b, out, s);
    else launch_softmax_warp<32, kLog>(forward, vec, R, k, a, b, out, s);
    return;
  }
  const dim3 grid(grid_for(R, 1)), block(K >= 8192 ? 512 : 256);
  if (forward) {
    if (vec) launch(softmax_forward_kernel2<kLog, true>, grid, block, 0, s, a, out, R, K);
    else launch(softmax_forward_kernel2<kLog, false>, grid, block, 0, s, a, out, R, K);
  } else {
    if (vec) launch(softmax_backward_kernel2<kLog, true>, grid, block, 0, s, a, b, out, R, K);
    else launch(softmax_backward_kernel2<kLog, false>, grid, block, 0, s, a, b, out, R, K);
  }
}

}  // namespace

void softmax_forward_cuda(int64_t R, int64_t K, const float* x, float* y, bool log, Stream s) {
  check_extents("softmax_forward", R, K);
  if (R == 0 || K == 0) return;
  if (log) run_softmax<true>(true, R, K, x, nullptr, y, s);
  else run_softmax<false>(true, R, K, x, nullptr, y, s);
}

void softmax_backward_cuda(int64_t R, int64_t K, const float* y, const float* dy, float* dx, bool log, Stream s) {
  check_extents("softmax_backward", R, K);
  if (R == 0 || K == 0) return;
  if (log) run_softmax<true>(false, R, K, y, dy, dx, s);
  else run_softmax<false>(false, R, K, y, dy, dx, s);
}

void nll_forward_cuda(int64_t R, int64_t K, const float* logp, const int32_t* t, int32_t ignore_index, float* loss,
                      Stream s) {
  check_extents("nll_forward", R, K);
  if (R == 0) return;
  if (K == 0) {
    check_targets_no_classes(R, t, ignore_index, s);
    fill_cuda(DType::F32, loss, R, 0.0, s);
    return;
  }
  launch(nll_forward_kernel1, dim3(grid_for(R, 256)), dim3(256), 0, s, logp, t, loss, device_error_slot(), R, K,
         ignore_index);
}

void nll_backward_cuda(int64_t R, int64_t K, const int32_t* t, int32_t ignore_index, const float* g, float* dlogp,
                       Stream s) {
  check_extents("nll_backward", R, K);
  if (R == 0) return;
  if (K == 0) {
    check_targets_no_classes(R, t, ignore_index, s);
    return;
  }
  DeviceError* bad = device_error_slot();
  const int64_t n = R * K;
  const dim3 grid(grid_for(n, 256)), block(256);
  if (n < (int64_t(1) << 31))
    launch(nll_backward_kernel1<uint32_t>, grid, block, 0, s, t, g, dlogp, bad, static_cast<uint32_t>(R),
           static_cast<uint32_t>(K), ignore_index);
  else
    launch(nll_backward_kernel1<uint64_t>, grid, block, 0, s, t, g, dlogp, bad, static_cast<uint64_t>(R),
           static_cast<uint64_t>(K), ignore_index);
}

}  // namespace cuda
}  // namespace ck
