// Host emulation of the CUDA execution model: the scheduler interface that cuda/runtime.cuh builds on.
//
// A launch runs the whole grid at once on the calling OS thread: blocks one after another, the threads
// of a block as fibers (pooled 64 KiB stacks, reused across blocks and launches). A thread
// runs until it reaches a barrier (__syncthreads, a warp primitive) or returns; the barrier releases
// as soon as every thread it waits for has arrived, and threads that have returned never hold a
// barrier back. Nothing runnable and nothing releasable is a deadlock and becomes ck::Error ERR_CUDA.
// Warps are lanes [32w, 32w+32).
//
// Schedules (CONVKIT_EMU_SCHEDULE, read at the first launch; set_schedule() at run time). A correct
// kernel gives bit-identical results under every one; one whose result changes has a race.
//   forward      (default, fastest) threads start in linear order (x fastest); the thread that
//                completes a barrier carries on first, the released ones follow in linear order.
//                Blocks run in linear order.
//   reverse      every run queue in reverse linear order (last thread first, also after each barrier
//                and warp primitive); blocks in reverse order.
//   random[:S]   every run queue shuffled (at block start and at each release) by a PRNG seeded with S
//                (default 1) and the launch's ordinal in the process; blocks in a seeded pseudo-random
//                order (an affine permutation of the block index).
//   warps        warps interleaved at warp-primitive boundaries: the block starts warp by warp, last
//                warp first (lanes in order), and the lanes released by a warp primitive go to the back
//                of the run queue instead of carrying on, so every other runnable warp executes its next
//                segment between two consecutive warp primitives of one warp. Blocks in linear order.
// The emulation never switches threads between two barriers (a segment runs atomically), so a race
// shows as a schedule-dependent result, not as a torn read-modify-write; the shared-memory checks
// below catch such races deterministically. A missing atomic on global memory is not exposed (no
// two emulated threads ever run at the same time); atomics are nevertheless real atomic operations.
//
// Checks (CONVKIT_EMU_CHECKS=0 turns them off; set_checks() at run time), all ERR_CUDA errors that name
// the function and file:line of the barrier or the array (the kernel, or the device function that
// declares it), the block and the thread:
//  - __syncthreads reached from different call sites by the threads of one block (always on);
//  - CK_SHARED arrays (cuda/runtime.cuh): every index checked against its dimension (always on);
//    filled with 0xFF bytes (NaN, -1) at the start of every block; a read of an element no thread of
//    the block has written; and a race: two threads touching one element between the same two
//    __syncthreads, at least one of them with a plain write (accesses through a pointer taken from the
//    array, e.g. atomicAdd(&a[i], v) or a vector load, are bounds-checked where the pointer is taken
//    and otherwise not tracked; __syncwarp does not order shared accesses for the race check).
// Dynamic shared memory is filled with 0xFF bytes before every block whatever the setting.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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

enum class ScheduleKind : uint8_t { Forward, Reverse, Random, Warps };
struct Schedule {
  ScheduleKind kind = ScheduleKind::Forward;
  uint64_t seed = 1;  // random only
};
// Parses "forward" | "reverse" | "random" | "random:<seed>" | "warps"; throws ck::Error ERR_ARG.
Schedule parse_schedule(const std::string& spec);
std::string schedule_name(const Schedule& s);  // round-trips through parse_schedule
// Process-wide; the first call of either reads CONVKIT_EMU_SCHEDULE (a bad value is ERR_ARG at the
// first launch). Launches already running keep the schedule they started with.
Schedule schedule();
Schedule set_schedule(const Schedule& s);  // returns the previous one
bool checks();
bool set_checks(bool on);  // returns the previous setting

namespace detail {

// One cp.async of this thread not yet completed: `bytes` to shared `dst`, the first `src_bytes` of them
// from global `src`, the rest zero; `group` is the commit group it belongs to (the count of commits the
// thread had made when it was issued).
struct AsyncCopy {
  unsigned char* dst;
  const unsigned char* src;
  uint32_t bytes, src_bytes, group;
};
struct ThreadView {  // the head of each fiber
  uint3 thread_idx;
  std::vector<AsyncCopy> async_copies;  // pending, in issue order (cleared when a block starts)
  uint32_t async_commits = 0;           // cp.async.commit_group count of this thread in this block
};
struct LaunchView {                       // the head of the running launch
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned char* dyn_smem;
  uint32_t block_serial;  // changes with every block run on this OS thread (never 0 in a kernel)
  uint32_t epoch;         // changes at every block start and every __syncthreads release
  bool checks;            // the checks of this launch (see above)
};

// Point at inert dummies (zero indices) whenever no emulated kernel runs on this OS thread.
extern __thread ThreadView* tls_thread;
extern __thread LaunchView* tls_launch;

inline const uint3& thread_idx() { return tls_thread->thread_idx; }
inline const uint3& block_idx() { return tls_launch->block_idx; }
inline const dim3& block_dim() { return tls_launch->block_dim; }
inline const dim3& grid_dim() { return tls_launch->grid_dim; }
inline unsigned char* dynamic_smem() { return tls_launch->dyn_smem; }
inline uint32_t block_serial() { return tls_launch->block_serial; }

// Warp primitives all go through one exchange: the lane publishes `value`, waits until every live
// lane named in `mask` has arrived at the same primitive with the same mask, and receives its result
// (computed for the whole group by the last lane to arrive). A source lane that is outside the group
// (exited, not in mask, or past the end of a partial warp) yields all-one bits: NaN, -1.
// MmaTf32: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32; `value` is the address of the lane's
// MmaFragments (a, b, c in, d out), which the last lane to arrive computes for the whole warp.
enum class WarpOp : uint8_t { Sync, Idx, Up, Down, Xor, Ballot, Any, All, MmaTf32 };
struct MmaFragments {
  uint32_t a[4];  // tf32 bit patterns (the low 13 bits are ignored, as by the tensor cores)
  uint32_t b[2];
  float c[4];
  float d[4];
};
uint64_t warp_op(WarpOp op, unsigned mask, uint64_t value, int arg, int width);
unsigned active_mask();

// __syncthreads and its counting/and/or forms: returns the count/and/or of `pred` over the threads
// that took part in the barrier (all live threads of the block).
// `file`, `line`, `func`: the call site (all threads of a block must reach the same one).
enum class BlockOp : uint8_t { Sync, Count, And, Or };
int block_barrier(BlockOp op, int pred, const char* file, int line, const char* func);

// ---- checked shared arrays (CK_SHARED) ----
// One per CK_SHARED declaration per OS thread (static thread_local, zero-initialised): the array's
// identity for messages and its shadow state. `shadow` is owned by the OS thread's registry.
struct SharedShadow {
  uint32_t epoch;          // interval of the accesses recorded below
  uint32_t written_block;  // block_serial of the last write (0: none)
  uint16_t writer, reader; // linear thread ids in `epoch`; 0xFFFF none
  uint8_t many_readers;
};
struct SharedArray {
  uint32_t block_serial;   // the block it was last set up for
  uint32_t elems;
  SharedShadow* shadow;    // null while checks are off, else `store`
  SharedShadow* store;     // elems entries, made at the first checked use
  const char* name;
  const char* file;
  const char* func;
  int line;
};
// First use of `a` in a block: fills `data` with 0xFF and resets the shadow when checks are on.
void shared_enter(SharedArray* a, void* data, size_t bytes, size_t elems, const char* name, const char* file,
                  int line, const char* func);
void shared_read(SharedArray* a, size_t i);
void shared_write(SharedArray* a, size_t i);
[[noreturn]] void shared_out_of_bounds(const SharedArray* a, long long index, size_t extent);

}  // namespace detail
}  // namespace emu
}  // namespace ck
