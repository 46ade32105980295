// The one home of the helpers every cuda/*.cu shares: block and warp constants, grid sizing, alignment
// tests, stream-ordered scratch, and warp/block reductions. Include it after runtime.cuh (it includes it).
//
//   kThreads / kWarp / kWarps / kFull  the default block (256 threads = 8 warps) and the full warp mask
//   cdiv(a, b)                          ceil(a / b) for non-negative a, positive b
//   grid_for(work[, threads])           blocks for a grid-stride loop over `work` items: ceil(work/threads),
//                                       at least 1 and at most kMaxGridBlocks
//   aligned(p, bytes) / aligned16(p)    p is a multiple of `bytes` (a power of two) / of 16 bytes
//   CK_UNROLL                           #pragma unroll on a real GPU, nothing in the emulation
//   contiguous_for(n, vec, f4, f1)      grid-stride loop over a dense run, in four-element vectors when
//                                       vec, the tail element-wise
//   Scratch                             stream-ordered device scratch (ck::cuda::malloc), freed on every path
//   warp_reduce(v, op)                  butterfly (__shfl_xor_sync) fold of the warp: every lane gets the
//                                       result; lane 0's bits equal a __shfl_down_sync tree's, for any op
//   warp_sum(v) / warp_max(v)           the two folds the kernels use most
//   block_reduce(v, op, identity)       the block's fold in a fixed order, valid in thread 0 (and all of
//                                       warp 0); every thread of the block must call it
//   block_reduce_all(v, op, identity)   the same, returned to every thread
//
// The grid cap: grid-stride kernels never launch more than kMaxGridBlocks = 8192 blocks (of kThreads:
// ~2M threads, several full waves of the largest GPU), which also keeps a grid-stride loop's reach
// (work + blocks*threads) inside 32 bits whenever the work itself is below 2^31 - 2^21. One-block-per-item
// grids (rows, planes, tiles) size themselves and are not capped by it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "runtime.cuh"
#include "core/kernels_cuda.h"

namespace ck {
namespace cuda {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int kWarps = kThreads / kWarp;
constexpr unsigned kFull = 0xffffffffu;
constexpr int64_t kMaxGridBlocks = 8192;

__host__ __device__ __forceinline__ constexpr int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

inline unsigned grid_for(int64_t work, int threads = kThreads) {
  int64_t b = cdiv(work, threads);
  if (b < 1) b = 1;
  if (b > kMaxGridBlocks) b = kMaxGridBlocks;
  return static_cast<unsigned>(b);
}

inline bool aligned(const void* p, unsigned bytes) { return (reinterpret_cast<uintptr_t>(p) & (bytes - 1u)) == 0; }
inline bool aligned16(const void* p) { return aligned(p, 16); }

// Stream-ordered scratch: `bytes` from the device pool (none for 0), returned in stream order when the
// scope ends, whatever the path. Counted by the launch statistics (core/launch_stats_cuda.h).
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  Stream s;
  Scratch(size_t n, Stream st) : bytes(n), s(st) {
    if (n) p = ck::cuda::malloc(n, st);
    stats_note_scratch(n);
  }
  ~Scratch() {
    if (p) ck::cuda::free(p, s);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* f() const { return static_cast<float*>(p); }
  template <class T>
  T* as() const { return static_cast<T*>(p); }
};

// `#pragma unroll` for the loop that follows, on a real GPU (the emulation's host compiler ignores it).
#if CK_CUDA_REAL
#define CK_UNROLL _Pragma("unroll")
#else
#define CK_UNROLL
#endif

// Grid-stride loop over n contiguous elements. With vec (every base 16-byte aligned), vector_body(i) runs for
// each of the n / 4 four-element vectors, then element_body(i) for the n % 4 tail; without, element_body(i)
// for every element.
template <class VectorBody, class ElementBody>
__device__ __forceinline__ void contiguous_for(int64_t n, bool vec, VectorBody vector_body,
                                               ElementBody element_body) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t i = tid; i < n4; i += stride) vector_body(i);
    start = n4 * 4;
  }
  for (int64_t i = start + tid; i < n; i += stride) element_body(i);
}

// ---- warp and block reductions ------------------------------------------------------------------------

// __shfl_xor_sync of any trivially copyable value: arithmetic types directly, others word by word.
template <class T>
__device__ __forceinline__ T shfl_xor(T v, int lane_mask) {
  if constexpr (std::is_arithmetic<T>::value) {
    return __shfl_xor_sync(kFull, v, lane_mask);
  } else {
    static_assert(sizeof(T) % 4 == 0, "shuffled structs are made of 4-byte words");
    unsigned w[sizeof(T) / 4];
    memcpy(w, &v, sizeof(T));
    for (unsigned i = 0; i < sizeof(T) / 4; ++i) w[i] = __shfl_xor_sync(kFull, w[i], lane_mask);
    memcpy(&v, w, sizeof(T));
    return v;
  }
}

// Lane i combines op(own, partner) at every step, so lane 0 computes exactly what a __shfl_down_sync
// tree computes in lane 0 (for commutative ops every lane holds that same value).
template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int off = kWarp / 2; off > 0; off >>= 1) v = op(v, shfl_xor(v, off));
  return v;
}

struct SumOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

__device__ __forceinline__ float warp_sum(float v) { return warp_reduce(v, SumOp{}); }
__device__ __forceinline__ float warp_max(float v) { return warp_reduce(v, MaxOp{}); }

// Every thread of the block must call it (blockDim.x <= 1024, a multiple of kWarp or not). The result is
// valid in thread 0: the warps' folds combined in warp order by warp 0.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T identity) {
  CK_SHARED(T, warp_part, [kWarp]);
  const int lane = static_cast<int>(threadIdx.x) & (kWarp - 1);
  const int warp = static_cast<int>(threadIdx.x) / kWarp;
  const int nwarps = (static_cast<int>(blockDim.x) + kWarp - 1) / kWarp;
  v = warp_reduce(v, op);
  if (lane == 0) warp_part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < nwarps ? static_cast<T>(warp_part[lane]) : identity;
    v = warp_reduce(v, op);
  }
  __syncthreads();  // warp_part is reused by the next call
  return v;
}

// block_reduce's result, returned to every thread.
template <class T, class Op>
__device__ T block_reduce_all(T v, Op op, T identity) {
  CK_SHARED(T, result, );
  v = block_reduce(v, op, identity);
  if (threadIdx.x == 0) result = v;
  __syncthreads();
  v = result;
  __syncthreads();  // result is reused by the next call
  return v;
}

}  // namespace cuda
}  // namespace ck
