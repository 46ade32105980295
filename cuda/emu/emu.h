// Host emulation of the CUDA execution model: the scheduler interface that cuda/runtime.cuh builds on.
//
// A launch runs the whole grid at once on the calling OS thread: blocks one after another, the threads
// of a block as fibers (pooled 64 KiB stacks, reused across blocks and launches). A thread
// runs until it reaches a barrier (__syncthreads, a warp primitive) or returns; the barrier releases
// as soon as every thread it waits for has arrived, and threads that have returned never hold a
// barrier back. Nothing runnable and nothing releasable is a deadlock and becomes ck::Error ERR_CUDA.
// Threads run in linear order (x fastest) until they block; warps are lanes [32w, 32w+32).
//
// Kernel authors never include this file: they include cuda/runtime.cuh and write CUDA.
// Everything here is plain C++17 (no CUDA headers); cuda/emu/emu.cc implements it.
#pragma once
#include <cstddef>
#include <cstdint>

// ---- CUDA's built-in vector types, in the global namespace as in vector_types.h ----
struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};
struct __attribute__((aligned(8))) float2 { float x, y; };
struct float3 { float x, y, z; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct int3 { int x, y, z; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned int x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned int x, y, z, w; };
struct __attribute__((aligned(16))) double2 { double x, y; };
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float3 make_float3(float x, float y, float z) { return float3{x, y, z}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }
inline int3 make_int3(int x, int y, int z) { return int3{x, y, z}; }
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline uint2 make_uint2(unsigned int x, unsigned int y) { return uint2{x, y}; }
inline uint3 make_uint3(unsigned int x, unsigned int y, unsigned int z) { return uint3{x, y, z}; }
inline uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z, unsigned int w) { return uint4{x, y, z, w}; }
inline double2 make_double2(double x, double y) { return double2{x, y}; }

// The "current thread" pointers are read on every threadIdx/blockIdx access, so they are plain
// __thread (no TLS wrapper call). Deliberately no initial-exec TLS model: the module's TLS block also
// holds every kernel's `__shared__` arrays (static thread_local), and initial-exec would force all of
// it into the small static TLS area, where dlopen of the addon can fail.
namespace ck {
namespace emu {

// Type-erased kernel body: called once per emulated thread with the launch's argument closure.
using KernelInvoke = void (*)(void* closure);

// Runs every block of `grid` to completion before returning. The launch configuration has already
// been validated (cuda/runtime.cuh). Throws ck::Error ERR_CUDA on deadlock, on a misused primitive,
// on a launch from inside an emulated kernel, or rethrows what a kernel thread threw.
void launch(const dim3& grid, const dim3& block, size_t smem_bytes, KernelInvoke invoke, void* closure);

// Stack bytes of each emulated thread (the usable part, under a guard page).
size_t fiber_stack_bytes();

namespace detail {

struct ThreadView { uint3 thread_idx; };  // the head of each fiber
struct LaunchView {                       // the head of the running launch
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned char* dyn_smem;
};

// Point at inert dummies (zero indices) whenever no emulated kernel runs on this OS thread.
extern __thread ThreadView* tls_thread;
extern __thread LaunchView* tls_launch;

inline const uint3& thread_idx() { return tls_thread->thread_idx; }
inline const uint3& block_idx() { return tls_launch->block_idx; }
inline const dim3& block_dim() { return tls_launch->block_dim; }
inline const dim3& grid_dim() { return tls_launch->grid_dim; }
inline unsigned char* dynamic_smem() { return tls_launch->dyn_smem; }

// Warp primitives all go through one exchange: the lane publishes `value`, waits until every live
// lane named in `mask` has arrived at the same primitive with the same mask, and receives its result
// (computed for the whole group by the last lane to arrive). A source lane that is outside the group
// (exited, not in mask, or past the end of a partial warp) yields all-one bits: NaN, -1.
enum class WarpOp : uint8_t { Sync, Idx, Up, Down, Xor, Ballot, Any, All };
uint64_t warp_op(WarpOp op, unsigned mask, uint64_t value, int arg, int width);
unsigned active_mask();

// __syncthreads and its counting/and/or forms: returns the count/and/or of `pred` over the threads
// that took part in the barrier (all live threads of the block).
enum class BlockOp : uint8_t { Sync, Count, And, Or };
int block_barrier(BlockOp op, int pred);

}  // namespace detail
}  // namespace emu
}  // namespace ck
