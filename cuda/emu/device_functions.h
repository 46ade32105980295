// CUDA's device-side API for the host emulation: barriers, warp primitives, atomics, intrinsics and
// the min/max overloads, spelled exactly as in CUDA and with CUDA's overload sets (so code that
// compiles here also compiles with nvcc). Included by cuda/runtime.cuh only.
//
// Atomics are plain read-modify-writes: the threads of a launch run as fibers on one OS thread and
// only switch at barriers, so nothing can interleave inside one.
#pragma once
#include <math.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "emu/emu.h"

static constexpr int warpSize = 32;

namespace ck {
namespace emu {
namespace detail {
template <class T>
inline uint64_t to_bits(T v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
inline T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
template <class To, class From>
inline To bit_cast(From v) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast between types of different sizes");
  To t;
  std::memcpy(&t, &v, sizeof(To));
  return t;
}
}  // namespace detail
}  // namespace emu
}  // namespace ck

// ---- barriers ----
inline void __syncthreads() { ::ck::emu::detail::block_barrier(::ck::emu::detail::BlockOp::Sync, 0); }
inline int __syncthreads_count(int pred) {
  return ::ck::emu::detail::block_barrier(::ck::emu::detail::BlockOp::Count, pred);
}
inline int __syncthreads_and(int pred) {
  return ::ck::emu::detail::block_barrier(::ck::emu::detail::BlockOp::And, pred);
}
inline int __syncthreads_or(int pred) {
  return ::ck::emu::detail::block_barrier(::ck::emu::detail::BlockOp::Or, pred);
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::ck::emu::detail::warp_op(::ck::emu::detail::WarpOp::Sync, mask, 0, 0, 32);
}
// Emulation: the lanes of the warp that have not returned (hardware: the converged lanes).
inline unsigned __activemask() { return ::ck::emu::detail::active_mask(); }
inline void __threadfence() { std::atomic_signal_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_signal_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_signal_fence(std::memory_order_seq_cst); }

// ---- warp primitives ----
#define CK_EMU_SHFL(T)                                                                                  \
  inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = 32) {                           \
    using namespace ::ck::emu::detail;                                                                 \
    return from_bits<T>(warp_op(WarpOp::Idx, mask, to_bits(var), srcLane, width));                    \
  }                                                                                                    \
  inline T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = 32) {                 \
    using namespace ::ck::emu::detail;                                                                 \
    return from_bits<T>(warp_op(WarpOp::Up, mask, to_bits(var), static_cast<int>(delta), width));     \
  }                                                                                                    \
  inline T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = 32) {               \
    using namespace ::ck::emu::detail;                                                                 \
    return from_bits<T>(warp_op(WarpOp::Down, mask, to_bits(var), static_cast<int>(delta), width));   \
  }                                                                                                    \
  inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = 32) {                      \
    using namespace ::ck::emu::detail;                                                                 \
    return from_bits<T>(warp_op(WarpOp::Xor, mask, to_bits(var), laneMask, width));                   \
  }
CK_EMU_SHFL(int)
CK_EMU_SHFL(unsigned int)
CK_EMU_SHFL(long)
CK_EMU_SHFL(unsigned long)
CK_EMU_SHFL(long long)
CK_EMU_SHFL(unsigned long long)
CK_EMU_SHFL(float)
CK_EMU_SHFL(double)
#undef CK_EMU_SHFL

inline unsigned __ballot_sync(unsigned mask, int pred) {
  using namespace ::ck::emu::detail;
  return static_cast<unsigned>(warp_op(WarpOp::Ballot, mask, pred != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int pred) {
  using namespace ::ck::emu::detail;
  return static_cast<int>(warp_op(WarpOp::Any, mask, pred != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int pred) {
  using namespace ::ck::emu::detail;
  return static_cast<int>(warp_op(WarpOp::All, mask, pred != 0, 0, 32));
}

// ---- atomics (CUDA's overload sets; integer arithmetic wraps as on the GPU) ----
inline int atomicAdd(int* a, int v) { int o = *a; *a = static_cast<int>(static_cast<unsigned>(o) + static_cast<unsigned>(v)); return o; }
inline unsigned atomicAdd(unsigned* a, unsigned v) { unsigned o = *a; *a = o + v; return o; }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) { unsigned long long o = *a; *a = o + v; return o; }
inline float atomicAdd(float* a, float v) { float o = *a; *a = o + v; return o; }
inline double atomicAdd(double* a, double v) { double o = *a; *a = o + v; return o; }
inline int atomicSub(int* a, int v) { int o = *a; *a = static_cast<int>(static_cast<unsigned>(o) - static_cast<unsigned>(v)); return o; }
inline unsigned atomicSub(unsigned* a, unsigned v) { unsigned o = *a; *a = o - v; return o; }
inline int atomicExch(int* a, int v) { int o = *a; *a = v; return o; }
inline unsigned atomicExch(unsigned* a, unsigned v) { unsigned o = *a; *a = v; return o; }
inline unsigned long long atomicExch(unsigned long long* a, unsigned long long v) { unsigned long long o = *a; *a = v; return o; }
inline float atomicExch(float* a, float v) { float o = *a; *a = v; return o; }
inline int atomicMax(int* a, int v) { int o = *a; if (v > o) *a = v; return o; }
inline unsigned atomicMax(unsigned* a, unsigned v) { unsigned o = *a; if (v > o) *a = v; return o; }
inline unsigned long long atomicMax(unsigned long long* a, unsigned long long v) { unsigned long long o = *a; if (v > o) *a = v; return o; }
inline long long atomicMax(long long* a, long long v) { long long o = *a; if (v > o) *a = v; return o; }
inline int atomicMin(int* a, int v) { int o = *a; if (v < o) *a = v; return o; }
inline unsigned atomicMin(unsigned* a, unsigned v) { unsigned o = *a; if (v < o) *a = v; return o; }
inline unsigned long long atomicMin(unsigned long long* a, unsigned long long v) { unsigned long long o = *a; if (v < o) *a = v; return o; }
inline long long atomicMin(long long* a, long long v) { long long o = *a; if (v < o) *a = v; return o; }
inline int atomicCAS(int* a, int cmp, int v) { int o = *a; if (o == cmp) *a = v; return o; }
inline unsigned atomicCAS(unsigned* a, unsigned cmp, unsigned v) { unsigned o = *a; if (o == cmp) *a = v; return o; }
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long cmp, unsigned long long v) { unsigned long long o = *a; if (o == cmp) *a = v; return o; }
inline unsigned short atomicCAS(unsigned short* a, unsigned short cmp, unsigned short v) { unsigned short o = *a; if (o == cmp) *a = v; return o; }
inline int atomicAnd(int* a, int v) { int o = *a; *a = o & v; return o; }
inline unsigned atomicAnd(unsigned* a, unsigned v) { unsigned o = *a; *a = o & v; return o; }
inline unsigned long long atomicAnd(unsigned long long* a, unsigned long long v) { unsigned long long o = *a; *a = o & v; return o; }
inline int atomicOr(int* a, int v) { int o = *a; *a = o | v; return o; }
inline unsigned atomicOr(unsigned* a, unsigned v) { unsigned o = *a; *a = o | v; return o; }
inline unsigned long long atomicOr(unsigned long long* a, unsigned long long v) { unsigned long long o = *a; *a = o | v; return o; }
inline int atomicXor(int* a, int v) { int o = *a; *a = o ^ v; return o; }
inline unsigned atomicXor(unsigned* a, unsigned v) { unsigned o = *a; *a = o ^ v; return o; }
inline unsigned long long atomicXor(unsigned long long* a, unsigned long long v) { unsigned long long o = *a; *a = o ^ v; return o; }
inline unsigned atomicInc(unsigned* a, unsigned v) { unsigned o = *a; *a = o >= v ? 0u : o + 1u; return o; }
inline unsigned atomicDec(unsigned* a, unsigned v) { unsigned o = *a; *a = (o == 0u || o > v) ? v : o - 1u; return o; }

// ---- loads, bit casts, integer intrinsics ----
template <class T>
inline T __ldg(const T* p) { return *p; }
inline int __float_as_int(float x) { return ::ck::emu::detail::bit_cast<int>(x); }
inline float __int_as_float(int x) { return ::ck::emu::detail::bit_cast<float>(x); }
inline unsigned __float_as_uint(float x) { return ::ck::emu::detail::bit_cast<unsigned>(x); }
inline float __uint_as_float(unsigned x) { return ::ck::emu::detail::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return ::ck::emu::detail::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return ::ck::emu::detail::bit_cast<double>(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
  return (x >> 16) | (x << 16);
}

// ---- float intrinsics: the fast variants are the accurate libm functions here ----
inline float __fdividef(float a, float b) { return a / b; }
inline float fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }  // NaN -> NaN
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return ::sqrtf(x); }
inline float __fmaf_rn(float a, float b, float c) { return ::fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline int __float2int_rn(float x) { return static_cast<int>(::nearbyintf(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(::floorf(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(::ceilf(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }

namespace ck {
namespace emu {
namespace intrin {
// glibc's math.h already declares __expf, __logf ... (its own internal aliases), so the CUDA names
// are macros onto these rather than global functions.
inline float expf_(float x) { return ::expf(x); }
inline float logf_(float x) { return ::logf(x); }
inline float log2f_(float x) { return ::log2f(x); }
inline float log10f_(float x) { return ::log10f(x); }
inline float exp10f_(float x) { return ::powf(10.0f, x); }
inline float powf_(float x, float y) { return ::powf(x, y); }
inline float sinf_(float x) { return ::sinf(x); }
inline float cosf_(float x) { return ::cosf(x); }
inline float tanf_(float x) { return ::tanf(x); }
inline void sincosf_(float x, float* s, float* c) { *s = ::sinf(x); *c = ::cosf(x); }
inline float rsqrtf_(float x) { return 1.0f / ::sqrtf(x); }
inline double rsqrt_(double x) { return 1.0 / ::sqrt(x); }
}  // namespace intrin
}  // namespace emu
}  // namespace ck
#define __expf ::ck::emu::intrin::expf_
#define __logf ::ck::emu::intrin::logf_
#define __log2f ::ck::emu::intrin::log2f_
#define __log10f ::ck::emu::intrin::log10f_
#define __exp10f ::ck::emu::intrin::exp10f_
#define __powf ::ck::emu::intrin::powf_
#define __sinf ::ck::emu::intrin::sinf_
#define __cosf ::ck::emu::intrin::cosf_
#define __tanf ::ck::emu::intrin::tanf_
#define __sincosf ::ck::emu::intrin::sincosf_
#define rsqrtf ::ck::emu::intrin::rsqrtf_
#define rsqrt ::ck::emu::intrin::rsqrt_

// ---- min/max: CUDA's host+device overloads (math_functions.hpp), including its mixed-sign ones ----
#define CK_EMU_MINMAX(R, A, B)                                                   \
  inline R min(A a, B b) { return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b); } \
  inline R max(A a, B b) { return static_cast<R>(a) > static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b); }
CK_EMU_MINMAX(int, int, int)
CK_EMU_MINMAX(unsigned int, unsigned int, unsigned int)
CK_EMU_MINMAX(unsigned int, int, unsigned int)
CK_EMU_MINMAX(unsigned int, unsigned int, int)
CK_EMU_MINMAX(long, long, long)
CK_EMU_MINMAX(unsigned long, unsigned long, unsigned long)
CK_EMU_MINMAX(unsigned long, long, unsigned long)
CK_EMU_MINMAX(unsigned long, unsigned long, long)
CK_EMU_MINMAX(long long, long long, long long)
CK_EMU_MINMAX(unsigned long long, unsigned long long, unsigned long long)
CK_EMU_MINMAX(unsigned long long, long long, unsigned long long)
CK_EMU_MINMAX(unsigned long long, unsigned long long, long long)
#undef CK_EMU_MINMAX
inline float min(float a, float b) { return ::fminf(a, b); }
inline float max(float a, float b) { return ::fmaxf(a, b); }
inline double min(double a, double b) { return ::fmin(a, b); }
inline double max(double a, double b) { return ::fmax(a, b); }
inline double min(float a, double b) { return ::fmin(a, b); }
inline double max(float a, double b) { return ::fmax(a, b); }
inline double min(double a, float b) { return ::fmin(a, b); }
inline double max(double a, float b) { return ::fmax(a, b); }
inline unsigned int umin(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int umax(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline long long llmin(long long a, long long b) { return a < b ? a : b; }
inline long long llmax(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long ullmin(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long ullmax(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
