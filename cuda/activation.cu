// Fused activations: bias + ReLU over (N, C, L), add + ReLU, and the ReLU gradient (with the per-channel
// bias gradient for bias_relu). CUDA twins of csrc/cpu/activation.cc (core/nn_kernels.h). A plain relu's
// forward is one case of the elementwise unary map (UnaryOp::Relu in cuda/elementwise.cu).
//
// Layout: contiguous (N, C, L) (NCHW with L = H*W; (N, C, 1) for a Linear layer); flat buffers otherwise.
//
// Semantics: the shared scalar definitions of core/scalar_ops.h, which the CPU code uses too (PyTorch's:
// relu(v) = v < 0 ? 0 : v, NaN propagated, relu(-0) = -0; the gradient is a select, dx = y <= 0 ? 0 : dy).
//
// Algorithm:
//   elementwise (bias_relu forward, add_relu, relu_backward): grid-stride loops. bias_relu_forward_kernel one
//     element per thread per step, its _vec4 twin one float4 (LDG.128/STG.128) when every base is 16-byte
//     aligned; binary_map_kernel either way (common.cuh contiguous_for). bias_relu forward needs
//     the channel (i / L) % C of each element: 32-bit division whenever the element count allows (several
//     times cheaper than 64-bit), and in the float4 path only when L % 4 == 0 so that a vector never
//     straddles two planes.
//   bias_relu backward with db, deterministic (no float atomics), two stages:
//     bias_relu_backward_planes_kernel (L >= 64, long contiguous runs): one 256-thread block per
//       (channel c, split s); the block walks the (n, l) pairs of its share of channel c's N planes flat
//       (float4 when L % 4 == 0), writing dx and summing it; the (n, l) index advances incrementally (one
//       division per thread, not per element). A fixed shuffle/shared-memory tree gives the block's sum
//       -> part (splits, C).
//     bias_relu_backward_columns_kernel (L < 64, e.g. Linear layers with L = 1: runs too short to coalesce
//       per channel): the tensor is viewed as a (N, Q = C*L) matrix; one thread per column (4 columns with
//       float4) sums a chunk of rows, reading whole rows coalesced -> part (row_chunks, Q).
//     bias_relu_backward_db_kernel: one block per channel adds its partials (part viewed as
//       (chunks, C, L')) in a fixed tree -> db (C). Every sum has a fixed order for given shapes, so results
//       repeat bit for bit.
//   Splits/chunks are picked so that about kTargetBlocks blocks run, with a floor on the work per block.
#include <cstdint>
#include <string>

#include "runtime.cuh"
#include "common.cuh"
#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/nn_kernels_cuda.h"
#include "core/scalar_ops.h"
#include "core/types.h"

namespace ck {
namespace cuda {
namespace {

constexpr int64_t kTargetBlocks = 1024;  // reduction kernels: ~8 resident blocks on each of 132 SMs
constexpr int64_t kPlaneMinL = 64;       // L below this takes the column kernel
constexpr int64_t kMinBlockWork = 4096;  // elements per reduction block, at least
constexpr int64_t kMinChunkRows = 16;    // rows per column-kernel chunk, at least
constexpr int64_t kSmallIndex = int64_t(1) << 31;  // below this a 32-bit grid-stride index cannot overflow

using scalar::relu;
using scalar::relu_grad;

__device__ __forceinline__ float4 relu_grad4(float4 g, float4 y) {
  return make_float4(relu_grad(g.x, y.x), relu_grad(g.y, y.y), relu_grad(g.z, y.z), relu_grad(g.w, y.w));
}

// Block-wide sum in a fixed order (common.cuh); the result is valid in thread 0.
__device__ __forceinline__ float block_sum(float v) { return block_reduce(v, SumOp{}, 0.0f); }

// ---- elementwise --------------------------------------------------------------------------------

template <typename I>
__global__ void bias_relu_forward_kernel(const float* __restrict__ x,  // (N, C, L)
                                          const float* __restrict__ b,  // (C)
                                          float* __restrict__ y,        // (N, C, L)
                                          I n, I L, I C) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = relu(x[i] + __ldg(b + (i / L) % C));
}

// L % 4 == 0, x and y 16-byte aligned: n4 = N*C*L/4 vectors, L4 = L/4.
template <typename I>
__global__ void bias_relu_forward_vec4_kernel(const float4* __restrict__ x,  // (N, C, L/4)
                                          const float* __restrict__ b,   // (C)
                                          float4* __restrict__ y,        // (N, C, L/4)
                                          I n4, I L4, I C) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float bc = __ldg(b + (i / L4) % C);
    const float4 v = x[i];
    y[i] = make_float4(relu(v.x + bc), relu(v.y + bc), relu(v.z + bc), relu(v.w + bc));
  }
}

// The two binary maps of this file, each as a functor over one float and over a float4.
struct AddRelu {
  __device__ __forceinline__ float operator()(float a, float b) const { return scalar::add_relu(a, b); }
  __device__ __forceinline__ float4 operator()(float4 u, float4 v) const {
    return make_float4(scalar::add_relu(u.x, v.x), scalar::add_relu(u.y, v.y), scalar::add_relu(u.z, v.z),
                       scalar::add_relu(u.w, v.w));
  }
};
struct ReluGrad {  // (dy, y) -> dx
  __device__ __forceinline__ float operator()(float g, float y) const { return relu_grad(g, y); }
  __device__ __forceinline__ float4 operator()(float4 g, float4 y) const { return relu_grad4(g, y); }
};

// out[i] = op(a[i], b[i]); in float4 units when vec (a, b, out 16-byte aligned), the n % 4 tail element-wise.
template <class Op>
__global__ void binary_map_kernel(const float* __restrict__ a,  // (n)
                                  const float* __restrict__ b,  // (n)
                                  float* __restrict__ out,      // (n)
                                  int64_t n, bool vec, Op op) {
  const float4* a4 = reinterpret_cast<const float4*>(a);
  const float4* b4 = reinterpret_cast<const float4*>(b);
  float4* o4 = reinterpret_cast<float4*>(out);
  contiguous_for(
      n, vec, [&](int64_t i) { o4[i] = op(a4[i], b4[i]); }, [&](int64_t i) { out[i] = op(a[i], b[i]); });
}

// ---- bias_relu backward with db -----------------------------------------------------------------

// One block per work item w = s * C + c: planes [s * pps, min(N, (s + 1) * pps)) of channel c.
// kVec: L % 4 == 0 and dy, y, dx 16-byte aligned; the walk is then in float4 units.
template <bool kVec>
__global__ void bias_relu_backward_planes_kernel(const float* __restrict__ dy,  // (N, C, L)
                                           const float* __restrict__ y,   // (N, C, L)
                                           float* __restrict__ dx,        // (N, C, L)
                                           float* __restrict__ part,      // (splits, C)
                                           int64_t N, int64_t C, int64_t L, int64_t splits, int64_t pps) {
  const int64_t t = threadIdx.x, nt = blockDim.x;
  const int64_t Lv = kVec ? L / 4 : L;  // units per plane
  const int64_t dn = nt / Lv, dl = nt % Lv;
  for (int64_t w = blockIdx.x; w < splits * C; w += gridDim.x) {
    const int64_t s = w / C, c = w - s * C;
    const int64_t n0 = s * pps;
    const int64_t n1 = n0 + pps < N ? n0 + pps : N;
    const int64_t total = (n1 - n0) * Lv;
    int64_t n = n0 + t / Lv, l = t % Lv;
    float acc = 0.0f;
    for (int64_t j = t; j < total; j += nt) {
      const int64_t off = (n * C + c) * Lv + l;
      if constexpr (kVec) {
        const float4 g = relu_grad4(reinterpret_cast<const float4*>(dy)[off], reinterpret_cast<const float4*>(y)[off]);
        reinterpret_cast<float4*>(dx)[off] = g;
        acc += (g.x + g.y) + (g.z + g.w);
      } else {
        const float g = relu_grad(dy[off], y[off]);
        dx[off] = g;
        acc += g;
      }
      l += dl;
      n += dn;
      if (l >= Lv) {
        l -= Lv;
        ++n;
      }
    }
    acc = block_sum(acc);
    if (t == 0) part[w] = acc;
  }
}

// The tensor as a (N, Q) matrix, Q = C * L. Thread -> column q (4 columns q..q+3 when kVec: Q % 4 == 0 and
// dy, y, dx 16-byte aligned), blockIdx.y -> rows [rc * rpc, min(N, (rc + 1) * rpc)).
template <bool kVec>
__global__ void bias_relu_backward_columns_kernel(const float* __restrict__ dy,  // (N, Q)
                                           const float* __restrict__ y,   // (N, Q)
                                           float* __restrict__ dx,        // (N, Q)
                                           float* __restrict__ part,      // (row_chunks, Q)
                                           int64_t N, int64_t Q, int64_t rpc) {
  const int64_t rc = blockIdx.y;
  const int64_t n0 = rc * rpc;
  const int64_t n1 = n0 + rpc < N ? n0 + rpc : N;
  const int64_t q = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * (kVec ? 4 : 1);
  if (q >= Q) return;
  if constexpr (kVec) {
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int64_t n = n0; n < n1; ++n) {
      const int64_t off = (n * Q + q) / 4;
      const float4 g = relu_grad4(reinterpret_cast<const float4*>(dy)[off], reinterpret_cast<const float4*>(y)[off]);
      reinterpret_cast<float4*>(dx)[off] = g;
      acc.x += g.x;
      acc.y += g.y;
      acc.z += g.z;
      acc.w += g.w;
    }
    reinterpret_cast<float4*>(part)[(rc * Q + q) / 4] = acc;
  } else {
    float acc = 0.0f;
    for (int64_t n = n0; n < n1; ++n) {
      const float g = relu_grad(dy[n * Q + q], y[n * Q + q]);
      dx[n * Q + q] = g;
      acc += g;
    }
    part[rc * Q + q] = acc;
  }
}

// db[c] = sum over k < chunks * Lp of part[k / Lp][c][k % Lp], one block per channel.
__global__ void bias_relu_backward_db_kernel(const float* __restrict__ part,  // (chunks, C, Lp)
                                           float* __restrict__ db,          // (C)
                                           int64_t C, int64_t Lp, int64_t chunks) {
  const int64_t t = threadIdx.x, nt = blockDim.x;
  const int64_t total = chunks * Lp;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    float acc = 0.0f;
    for (int64_t k = t; k < total; k += nt) {
      const int64_t r = k / Lp;
      acc += part[(r * C + c) * Lp + (k - r * Lp)];
    }
    acc = block_sum(acc);
    if (t == 0) db[c] = acc;
  }
}

// ---- host side ----------------------------------------------------------------------------------

inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

void check_extents(const char* op, int64_t N, int64_t C, int64_t L) {
  if (N < 0 || C < 0 || L < 0) throw Error("ERR_ARG", std::string(op) + ": negative extent", ErrorKind::Range);
}

template <class Op>
void launch_binary_map(int64_t n, const float* a, const float* b, float* out, Op op, Stream s) {
  const bool vec = aligned16(a) && aligned16(b) && aligned16(out);
  launch(binary_map_kernel<Op>, grid_for(vec ? cdiv(n, 4) : n), dim3(kThreads), 0, s, a, b, out, n, vec, op);
}

}  // namespace

void bias_relu_forward_cuda(int64_t N, int64_t C, int64_t L, const float* x, const float* b, float* y, Stream s) {
  check_extents("bias_relu_forward", N, C, L);
  const int64_t n = N * C * L;
  if (n == 0) return;
  if (L % 4 == 0 && aligned16(x) && aligned16(y)) {
    const int64_t n4 = n / 4;
    if (n4 < kSmallIndex)
      launch(bias_relu_forward_vec4_kernel<uint32_t>, grid_for(n4), dim3(kThreads), 0, s,
             reinterpret_cast<const float4*>(x), b, reinterpret_cast<float4*>(y), static_cast<uint32_t>(n4),
             static_cast<uint32_t>(L / 4), static_cast<uint32_t>(C));
    else
      launch(bias_relu_forward_vec4_kernel<uint64_t>, grid_for(n4), dim3(kThreads), 0, s,
             reinterpret_cast<const float4*>(x), b, reinterpret_cast<float4*>(y), static_cast<uint64_t>(n4),
             static_cast<uint64_t>(L / 4), static_cast<uint64_t>(C));
    return;
  }
  if (n < kSmallIndex)
    launch(bias_relu_forward_kernel<uint32_t>, grid_for(n), dim3(kThreads), 0, s, x, b, y, static_cast<uint32_t>(n),
           static_cast<uint32_t>(L), static_cast<uint32_t>(C));
  else
    launch(bias_relu_forward_kernel<uint64_t>, grid_for(n), dim3(kThreads), 0, s, x, b, y, static_cast<uint64_t>(n),
           static_cast<uint64_t>(L), static_cast<uint64_t>(C));
}

void relu_backward_cuda(int64_t n, const float* dy, const float* y, float* dx, Stream s) {
  if (n < 0) throw Error("ERR_ARG", "relu_backward: negative count", ErrorKind::Range);
  if (n == 0) return;
  launch_binary_map(n, dy, y, dx, ReluGrad{}, s);
}

void bias_relu_backward_cuda(int64_t N, int64_t C, int64_t L, const float* dy, const float* y, float* dx, float* db,
                             Stream s) {
  check_extents("bias_relu_backward", N, C, L);
  if (!db) {
    relu_backward_cuda(N * C * L, dy, y, dx, s);
    return;
  }
  if (C == 0) return;
  if (N == 0 || L == 0) {  // db of an empty sum
    fill_cuda(DType::F32, db, C, 0.0, s);
    return;
  }
  const bool vec_base = aligned16(dy) && aligned16(y) && aligned16(dx);
  if (L >= kPlaneMinL) {
    // splits per channel: enough blocks to fill the GPU, each with at least kMinBlockWork elements
    const int64_t max_splits = clamp64(N * L / kMinBlockWork, 1, N);
    int64_t splits = clamp64(cdiv(kTargetBlocks, C), 1, max_splits);
    const int64_t pps = cdiv(N, splits);
    splits = cdiv(N, pps);
    Scratch part(static_cast<size_t>(splits * C) * sizeof(float), s);
    float* pp = static_cast<float*>(part.p);
    const dim3 grid(static_cast<unsigned>(clamp64(splits * C, 1, int64_t(1) << 20)));
    if (L % 4 == 0 && vec_base)
      launch(bias_relu_backward_planes_kernel<true>, grid, dim3(kThreads), 0, s, dy, y, dx, pp, N, C, L, splits, pps);
    else
      launch(bias_relu_backward_planes_kernel<false>, grid, dim3(kThreads), 0, s, dy, y, dx, pp, N, C, L, splits, pps);
    launch(bias_relu_backward_db_kernel, dim3(static_cast<unsigned>(clamp64(C, 1, 65535))), dim3(128), 0, s,
           static_cast<const float*>(pp), db, C, int64_t(1), splits);
    return;
  }
  const int64_t Q = C * L;
  const bool vec = Q % 4 == 0 && vec_base;
  const int64_t tiles = cdiv(vec ? Q / 4 : Q, kThreads);
  if (tiles > 2147483647) throw Error("ERR_ARG", "bias_relu_backward: too many channels", ErrorKind::Range);
  int64_t chunks = clamp64(cdiv(kTargetBlocks, tiles), 1, clamp64(N / kMinChunkRows, 1, 65535));
  const int64_t rpc = cdiv(N, chunks);
  chunks = cdiv(N, rpc);
  Scratch part(static_cast<size_t>(chunks * Q) * sizeof(float), s);
  float* pp = static_cast<float*>(part.p);
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(chunks));
  if (vec)
    launch(bias_relu_backward_columns_kernel<true>, grid, dim3(kThreads), 0, s, dy, y, dx, pp, N, Q, rpc);
  else
    launch(bias_relu_backward_columns_kernel<false>, grid, dim3(kThreads), 0, s, dy, y, dx, pp, N, Q, rpc);
  launch(bias_relu_backward_db_kernel, dim3(static_cast<unsigned>(clamp64(C, 1, 65535))), dim3(128), 0, s,
         static_cast<const float*>(pp), db, C, L, chunks);
}

void add_relu_forward_cuda(int64_t n, const float* a, const float* b, float* y, Stream s) {
  if (n < 0) throw Error("ERR_ARG", "add_relu_forward: negative count", ErrorKind::Range);
  if (n == 0) return;
  launch_binary_map(n, a, b, y, AddRelu{}, s);
}

}  // namespace cuda
}  // namespace ck
