// The one place that knows whether cuda/*.cu compiles for a real GPU or for the host emulation.
//
//   real GPU : nvcc (__CUDACC__ defined, CK_CUDA_EMU not defined). CK_CUDA_REAL is 1.
//   emulation: plain C++ (g++ -DCK_CUDA_EMU -x c++ file.cu) against cuda/emu/. CK_CUDA_REAL is 0.
//
// Every cuda/*.cu includes this file first and then writes ordinary CUDA, identical for both builds:
//   __global__ __device__ __host__ __forceinline__ __restrict__ __launch_bounds__ __align__
//   dim3, threadIdx, blockIdx, blockDim, gridDim, warpSize
//   CK_SHARED(float, tile, [16][17]);       static shared memory, checked in emulation (see below);
//                                            real build: __shared__ __align__(16) float tile[16][17]
//   __shared__ float tile[16][17];           unchecked static shared memory (prefer CK_SHARED)
//   CK_DYNAMIC_SHARED(float, buf);           dynamic shared memory: declares `float* buf`
//   CK_NOINLINE                              instead of __noinline__ (which emulation cannot define)
//   __syncthreads[_count|_and|_or], __syncwarp, __shfl[_up|_down|_xor]_sync, __ballot_sync,
//   __any_sync, __all_sync, atomicAdd/Sub/Exch/Max/Min/CAS/And/Or/Xor, __threadfence, __ldg,
//   __fdividef, __expf, __logf, rsqrtf, <cmath> functions, __float_as_int, __int_as_float, min, max
//   ck::cuda::launch(kernel, grid, block, smem_bytes, stream, args...)   never raw <<<>>>
//   CK_CUDA_CHECK(cudaCall(...))            real build only (runtime.cu): throws ck::Error
//
// Emulation semantics (cuda/emu/emu.h): the grid runs synchronously on the calling thread, blocks one
// at a time, threads of a block as fibers that switch only at __syncthreads and warp primitives, in
// the order of the schedule (CONVKIT_EMU_SCHEDULE=forward|reverse|random[:seed]|warps, default
// forward; a correct kernel gives bit-identical results under all of them).
//  - CK_SHARED(T, name, dims) declares `name` as a checked view of a `static thread_local T [dims]`
//    (one copy per kernel per OS thread, reused by every block). With checks on (the default;
//    CONVKIT_EMU_CHECKS=0 turns them off) it is filled with 0xFF bytes (NaN, -1) at the first use in
//    every block, and reading an element that no thread of the block wrote, or two threads touching
//    one element between the same two __syncthreads with a plain write among them, is ck::Error
//    ERR_CUDA; an index outside its dimension always is. `name` is a proxy: use `name[i]` (and
//    `&name[i]` for a pointer), not sizeof(name) or `auto x = name[i]` (which keeps the proxy).
//  - Plain `__shared__` is `static thread_local` and unchecked: it holds what the previous block left.
//    Dynamic shared memory is refilled with 0xFF bytes (NaN) before each block. `extern __shared__ T x[]`
//    does not compile in emulation; use CK_DYNAMIC_SHARED.
//  - __syncthreads() reached from different call sites by threads of one block is ck::Error ERR_CUDA
//    (the message names the function and file:line of both). A thread that returns never holds a
//    barrier back; all live lanes named in a warp primitive's mask must reach the same primitive with
//    the same mask. A deadlock becomes ck::Error ERR_CUDA.
//  - A shuffle whose source lane is outside the group (exited, not in the mask, past the end of a
//    partial warp) reads all-one bits (NaN / -1), where the GPU gives an undefined value.
//  - Atomics are real atomic read-modify-writes on the address; __threadfence is a full fence.
//  - Code that emulation cannot run (inline PTX, mma) goes under `#if CK_CUDA_REAL` with an emulable
//    twin in the #else branch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/launch_stats_cuda.h"

#if defined(__CUDACC__) && !defined(CK_CUDA_EMU)
#define CK_CUDA_REAL 1
#elif defined(CK_CUDA_EMU) && !defined(__CUDACC__)
#define CK_CUDA_REAL 0
#elif defined(CK_CUDA_EMU)
#error "CK_CUDA_EMU: compile cuda/*.cu as plain C++ (g++ -DCK_CUDA_EMU -x c++), not with nvcc"
#else
#error "cuda/*.cu compiles with nvcc (real GPU) or as C++ with -DCK_CUDA_EMU -x c++ (host emulation)"
#endif

// =====================================================================================================
#if CK_CUDA_REAL

#include <cuda_runtime.h>

#define CK_DYNAMIC_SHARED(T, name)                                     \
  extern __shared__ __align__(16) unsigned char ck_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(ck_dynamic_smem_)
#define CK_SHARED(T, name, dims) __shared__ __align__(16) T name dims
#define CK_NOINLINE __noinline__

namespace ck {
namespace cuda {
namespace detail {
[[noreturn]] inline void throw_cuda_error(cudaError_t st, const char* expr, const char* file, int line) {
  throw ::ck::Error(st == cudaErrorMemoryAllocation ? "ERR_CUDA_OOM" : "ERR_CUDA",
                    std::string("CUDA error ") + cudaGetErrorName(st) + " (" + cudaGetErrorString(st) +
                        ") from " + expr + " at " + file + ":" + std::to_string(line));
}
}  // namespace detail
}  // namespace cuda
}  // namespace ck

#define CK_CUDA_CHECK(expr)                                                                    \
  do {                                                                                         \
    const cudaError_t ck_status_ = (expr);                                                     \
    if (ck_status_ != cudaSuccess) ::ck::cuda::detail::throw_cuda_error(ck_status_, #expr, __FILE__, __LINE__); \
  } while (0)

// =====================================================================================================
#else  // host emulation

#include "emu/emu.h"
#include "emu/device_functions.h"

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __grid_constant__
#define __align__(n) __attribute__((aligned(n)))
// __restrict__ is a g++ keyword already. __noinline__ is not defined: glibc and libstdc++ spell
// __attribute__((__noinline__)) themselves. Write CK_NOINLINE instead.
#define __shared__ static thread_local

#define threadIdx (::ck::emu::detail::thread_idx())
#define blockIdx (::ck::emu::detail::block_idx())
#define blockDim (::ck::emu::detail::block_dim())
#define gridDim (::ck::emu::detail::grid_dim())

#define CK_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::ck::emu::detail::dynamic_smem())
#define CK_SHARED(T, name, dims)                                                                           \
  static thread_local T ck_shared_data_##name dims __attribute__((aligned(16)));                           \
  static thread_local ::ck::emu::detail::SharedArray ck_shared_head_##name;                                \
  auto name = ::ck::emu::detail::shared_view(ck_shared_data_##name, ck_shared_head_##name, #name, __FILE__, \
                                             __LINE__, __func__)
#define CK_NOINLINE __attribute__((noinline))

#endif
// =====================================================================================================

namespace ck {
namespace cuda {

// H100's opt-in maximum of dynamic shared memory per block; above 48 KiB the real launcher opts in.
constexpr size_t kMaxDynamicSmemBytes = 227 * 1024;
constexpr size_t kDefaultDynamicSmemBytes = 48 * 1024;

namespace detail {

inline std::string dim_str(const dim3& d) {
  return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

// The same checks in both builds, so a bad configuration fails the same way with or without a GPU.
inline void check_launch_config(const dim3& grid, const dim3& block, size_t smem) {
  const char* why = nullptr;
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0) why = "a block dimension is 0";
  else if (block.x > 1024 || block.y > 1024 || block.z > 64) why = "block dimensions exceed (1024,1024,64)";
  else if (threads > 1024) why = "more than 1024 threads per block";
  else if (grid.x > 2147483647u || grid.y > 65535u || grid.z > 65535u) why = "grid dimensions exceed (2^31-1,65535,65535)";
  else if (smem > kMaxDynamicSmemBytes) why = "more than 227 KiB of dynamic shared memory";
  if (why)
    throw ::ck::Error("ERR_CUDA", std::string("invalid kernel launch configuration: ") + why + ": grid " +
                                      dim_str(grid) + " block " + dim_str(block) + " smem " + std::to_string(smem));
}

inline bool empty_grid(const dim3& grid) { return grid.x == 0 || grid.y == 0 || grid.z == 0; }

template <class T>
struct type_identity { using type = T; };
// Copy-initialises a T from the argument: the conversions of a function call, and no explicit ones.
template <class T>
inline T implicit_cast(typename type_identity<T>::type v) { return v; }

#if !CK_CUDA_REAL
// Emulation (cuda/runtime.cu): runs `work` on the stream now, after the copies queued on it, or records it
// in the graph the stream is capturing.
void emu_submit(Stream s, std::function<void()> work);

template <class... P>
struct Closure {
  void (*kernel)(P...);
  std::tuple<std::decay_t<P>...> args;
  static void invoke(void* self) {  // every emulated thread gets its own copies of the arguments
    Closure* c = static_cast<Closure*>(self);
    std::apply(c->kernel, c->args);
  }
};
#endif

}  // namespace detail

// Launches `kernel` over `grid` x `block` threads with `smem` bytes of dynamic shared memory on
// `stream`; `args` convert to the kernel's parameter types as in a call. An empty grid is a no-op.
// Real: asynchronous on the stream, launch errors thrown as ck::Error. Emulated: runs to completion
// before returning (after the copies queued on the stream), or is recorded while the stream captures a graph.
template <class... KArgs, class... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, Stream stream, Args&&... args) {
  static_assert(sizeof...(KArgs) == sizeof...(Args), "ck::cuda::launch: wrong number of kernel arguments");
  static_assert(!(std::is_reference<KArgs>::value || ...), "kernel parameters are passed by value");
  detail::check_launch_config(grid, block, smem);
  if (detail::empty_grid(grid)) return;
  if (stats_on()) {
    stats_note_launch(1ull * grid.x * grid.y * grid.z, block.x * block.y * block.z);
    if (stats_dry_run()) return;  // emulation only (stats_set refuses a dry run on a real GPU)
  }
#if CK_CUDA_REAL
  if (smem > kDefaultDynamicSmemBytes)
    CK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  kernel<<<grid, block, smem, static_cast<cudaStream_t>(stream)>>>(
      detail::implicit_cast<std::decay_t<KArgs>>(std::forward<Args>(args))...);
  CK_CUDA_CHECK(cudaGetLastError());
#else
  auto closure = std::make_shared<detail::Closure<KArgs...>>(detail::Closure<KArgs...>{
      kernel, std::tuple<std::decay_t<KArgs>...>(detail::implicit_cast<std::decay_t<KArgs>>(std::forward<Args>(args))...)});
  detail::emu_submit(stream, [closure, grid, block, smem] {
    ::ck::emu::launch(grid, block, smem, &detail::Closure<KArgs...>::invoke, closure.get());
  });
#endif
}

}  // namespace cuda
}  // namespace ck
