// CUDA's device-side API for the host emulation: barriers, warp primitives, atomics, intrinsics and
// the min/max overloads, spelled exactly as in CUDA and with CUDA's overload sets (so code that
// compiles here also compiles with nvcc). Included by cuda/runtime.cuh only.
//
// Atomics and fences are real (GCC __atomic builtins on the address, relaxed order as CUDA's atomics;
// fences are sequentially consistent), so they stay correct should blocks ever run on several OS
// threads and they never change the result of a schedule.
//
// __syncthreads and its counting forms are macros that pass their call site to the scheduler (threads
// of one block reaching different __syncthreads are an error). CK_SHARED arrays are SharedView /
// SharedRef proxies below that check every index and, when checks are on, record each element access
// for the race and uninitialised-read checks (see emu.h).
#pragma once
#include <math.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

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

// ---- barriers (macros: the call site identifies the barrier) ----
#define __syncthreads() \
  ((void)::ck::emu::detail::block_barrier(::ck::emu::detail::BlockOp::Sync, 0, __FILE__, __LINE__, __func__))
#define __syncthreads_count(pred) \
  ::ck::emu::detail::block_barrier(::ck::emu::detail::BlockOp::Count, (pred), __FILE__, __LINE__, __func__)
#define __syncthreads_and(pred) \
  ::ck::emu::detail::block_barrier(::ck::emu::detail::BlockOp::And, (pred), __FILE__, __LINE__, __func__)
#define __syncthreads_or(pred) \
  ::ck::emu::detail::block_barrier(::ck::emu::detail::BlockOp::Or, (pred), __FILE__, __LINE__, __func__)
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::ck::emu::detail::warp_op(::ck::emu::detail::WarpOp::Sync, mask, 0, 0, 32);
}
// Emulation: the lanes of the warp that have not returned (hardware: the converged lanes).
inline unsigned __activemask() { return ::ck::emu::detail::active_mask(); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

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
namespace ck {
namespace emu {
namespace detail {
// One atomic read-modify-write: *a = f(old), returns old (a compare-and-swap loop on the address).
template <class T, class F>
inline T atomic_rmw(T* a, F f) {
  T o;
  __atomic_load(a, &o, __ATOMIC_RELAXED);
  T n = f(o);
  while (!__atomic_compare_exchange(a, &o, &n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) n = f(o);
  return o;
}
template <class T>
inline T atomic_exch(T* a, T v) {
  T o;
  __atomic_exchange(a, &v, &o, __ATOMIC_RELAXED);
  return o;
}
}  // namespace detail
}  // namespace emu
}  // namespace ck
#define CK_EMU_RMW(NAME, T, EXPR) \
  inline T NAME(T* a, T v) { return ::ck::emu::detail::atomic_rmw(a, [v](T o) -> T { return EXPR; }); }
CK_EMU_RMW(atomicAdd, int, static_cast<int>(static_cast<unsigned>(o) + static_cast<unsigned>(v)))
CK_EMU_RMW(atomicAdd, unsigned, o + v)
CK_EMU_RMW(atomicAdd, unsigned long long, o + v)
CK_EMU_RMW(atomicAdd, float, o + v)
CK_EMU_RMW(atomicAdd, double, o + v)
CK_EMU_RMW(atomicSub, int, static_cast<int>(static_cast<unsigned>(o) - static_cast<unsigned>(v)))
CK_EMU_RMW(atomicSub, unsigned, o - v)
CK_EMU_RMW(atomicMax, int, v > o ? v : o)
CK_EMU_RMW(atomicMax, unsigned, v > o ? v : o)
CK_EMU_RMW(atomicMax, unsigned long long, v > o ? v : o)
CK_EMU_RMW(atomicMax, long long, v > o ? v : o)
CK_EMU_RMW(atomicMin, int, v < o ? v : o)
CK_EMU_RMW(atomicMin, unsigned, v < o ? v : o)
CK_EMU_RMW(atomicMin, unsigned long long, v < o ? v : o)
CK_EMU_RMW(atomicMin, long long, v < o ? v : o)
CK_EMU_RMW(atomicAnd, int, o & v)
CK_EMU_RMW(atomicAnd, unsigned, o & v)
CK_EMU_RMW(atomicAnd, unsigned long long, o & v)
CK_EMU_RMW(atomicOr, int, o | v)
CK_EMU_RMW(atomicOr, unsigned, o | v)
CK_EMU_RMW(atomicOr, unsigned long long, o | v)
CK_EMU_RMW(atomicXor, int, o ^ v)
CK_EMU_RMW(atomicXor, unsigned, o ^ v)
CK_EMU_RMW(atomicXor, unsigned long long, o ^ v)
CK_EMU_RMW(atomicInc, unsigned, o >= v ? 0u : o + 1u)
CK_EMU_RMW(atomicDec, unsigned, (o == 0u || o > v) ? v : o - 1u)
#undef CK_EMU_RMW
inline int atomicExch(int* a, int v) { return ::ck::emu::detail::atomic_exch(a, v); }
inline unsigned atomicExch(unsigned* a, unsigned v) { return ::ck::emu::detail::atomic_exch(a, v); }
inline unsigned long long atomicExch(unsigned long long* a, unsigned long long v) { return ::ck::emu::detail::atomic_exch(a, v); }
inline float atomicExch(float* a, float v) { return ::ck::emu::detail::atomic_exch(a, v); }
#define CK_EMU_CAS(T)                                                                   \
  inline T atomicCAS(T* a, T cmp, T v) {                                                \
    T o = cmp;                                                                          \
    __atomic_compare_exchange(a, &o, &v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);    \
    return o;                                                                           \
  }
CK_EMU_CAS(int)
CK_EMU_CAS(unsigned)
CK_EMU_CAS(unsigned long long)
CK_EMU_CAS(unsigned short)
#undef CK_EMU_CAS

// ---- checked shared arrays (CK_SHARED in cuda/runtime.cuh) ----
namespace ck {
namespace emu {
namespace detail {
// An element of a CK_SHARED array: reads and writes are recorded (when checks are on); its address is
// a plain pointer (bounds-checked where taken, not tracked after).
template <class T>
class SharedRef {
 public:
  SharedRef(T* p, SharedArray* a, size_t i) : p_(p), a_(a), i_(i) {}
  SharedRef(const SharedRef&) = default;
  operator T() const {
    if (a_->shadow) shared_read(a_, i_);
    return *p_;
  }
  SharedRef& operator=(const T& v) {
    if (a_->shadow) shared_write(a_, i_);
    *p_ = v;
    return *this;
  }
  SharedRef& operator=(const SharedRef& o) { return *this = static_cast<T>(o); }
  T* operator&() const { return p_; }
#define CK_EMU_COMPOUND(OP)                  \
  template <class U>                         \
  SharedRef& operator OP##=(const U& v) {    \
    T x = static_cast<T>(*this);             \
    x OP## = v;                              \
    return *this = x;                        \
  }
  CK_EMU_COMPOUND(+)
  CK_EMU_COMPOUND(-)
  CK_EMU_COMPOUND(*)
  CK_EMU_COMPOUND(/)
  CK_EMU_COMPOUND(%)
  CK_EMU_COMPOUND(&)
  CK_EMU_COMPOUND(|)
  CK_EMU_COMPOUND(^)
  CK_EMU_COMPOUND(<<)
  CK_EMU_COMPOUND(>>)
#undef CK_EMU_COMPOUND
  SharedRef& operator++() { return *this += 1; }
  SharedRef& operator--() { return *this -= 1; }
  T operator++(int) { T x = static_cast<T>(*this); *this = static_cast<T>(x + 1); return x; }
  T operator--(int) { T x = static_cast<T>(*this); *this = static_cast<T>(x - 1); return x; }

 private:
  T* p_;
  SharedArray* a_;
  size_t i_;
};

// A CK_SHARED array (or a row of one) of type A = E[N]...: indexing checks the bound of each dimension.
template <class A>
class SharedView {
  using E = std::remove_all_extents_t<A>;
  using Sub = std::remove_extent_t<A>;
  static constexpr size_t kN = std::extent<A>::value;
  static constexpr size_t kStride = sizeof(Sub) / sizeof(E);
  using Item = std::conditional_t<std::rank<Sub>::value == 0, SharedRef<E>, SharedView<Sub>>;

 public:
  SharedView(E* p, SharedArray* a, size_t off) : p_(p), a_(a), off_(off) {}
  template <class I, std::enable_if_t<std::is_integral<I>::value, int> = 0>
  Item operator[](I i) const {
    if constexpr (std::is_signed<I>::value) {
      if (i < 0 || static_cast<unsigned long long>(i) >= kN) shared_out_of_bounds(a_, static_cast<long long>(i), kN);
    } else {
      if (static_cast<unsigned long long>(i) >= kN) shared_out_of_bounds(a_, static_cast<long long>(i), kN);
    }
    const size_t k = static_cast<size_t>(i) * kStride;
    return Item(p_ + k, a_, off_ + k);
  }
  // Decays like the array it stands for (unchecked from here on).
  operator Sub*() const { return reinterpret_cast<Sub*>(p_); }

 private:
  E* p_;
  SharedArray* a_;
  size_t off_;
};

template <class A>
inline auto shared_view(A& data, SharedArray& a, const char* name, const char* file, int line, const char* func) {
  using E = std::remove_all_extents_t<A>;
  static_assert(std::is_trivially_copyable<E>::value, "CK_SHARED element types are trivially copyable");
  if (a.block_serial != block_serial())
    shared_enter(&a, &data, sizeof(A), sizeof(A) / sizeof(E), name, file, line, func);
  if constexpr (std::rank<A>::value == 0) return SharedRef<E>(reinterpret_cast<E*>(&data), &a, 0);
  else return SharedView<A>(reinterpret_cast<E*>(&data), &a, 0);
}
}  // namespace detail
}  // namespace emu
}  // namespace ck

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

// ---- tensor cores and asynchronous copies (the real build's inline PTX is in cuda/mma.cuh; same names) ----
namespace ck {
namespace cuda {
// cvt.rna.tf32.f32: round to the nearest tf32 (10 mantissa bits), ties away from zero; the result is a
// 32-bit pattern whose low 13 bits are zero. NaN and infinity pass through (NaN stays NaN).
inline uint32_t cvt_rna_tf32(float x) {
  const uint32_t u = ::ck::emu::detail::bit_cast<uint32_t>(x);
  if ((u & 0x7F800000u) == 0x7F800000u) return (u & 0x007FFFFFu) ? ((u | 0x00400000u) & 0xFFFFE000u) : u;
  return (u + 0x1000u) & 0xFFFFE000u;  // sign-magnitude: adding half an ulp rounds the magnitude away on ties
}
// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 d, a, b, c: a warp-collective (all 32 lanes,
// converged); fragment layouts and arithmetic in cuda/emu/emu.cc (mma_m16n8k8_tf32).
inline void mma_m16n8k8_tf32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  using namespace ::ck::emu::detail;
  MmaFragments f;
  for (int i = 0; i < 4; ++i) f.a[i] = a[i], f.c[i] = c[i];
  f.b[0] = b[0];
  f.b[1] = b[1];
  warp_op(WarpOp::MmaTf32, 0xffffffffu, reinterpret_cast<uint64_t>(&f), 0, 32);
  for (int i = 0; i < 4; ++i) d[i] = f.d[i];
}
// cp.async.ca.shared.global [dst], [src], 4, src_bytes: copies 4 bytes (src_bytes 0: zero-fills, src
// unread) from global to shared memory, completed no earlier than the cp_async_wait that covers it: the
// copy happens there, so a read of `dst` before the wait sees the old contents (as a race would).
inline void cp_async4(void* dst, const void* src, bool valid) {
  ::ck::emu::detail::tls_thread->async_copies.push_back(::ck::emu::detail::AsyncCopy{
      static_cast<unsigned char*>(dst), static_cast<const unsigned char*>(src), 4u, valid ? 4u : 0u,
      ::ck::emu::detail::tls_thread->async_commits});
}
// cp.async.commit_group: the copies issued since the last commit form one group.
inline void cp_async_commit() { ++::ck::emu::detail::tls_thread->async_commits; }
// cp.async.wait_group N: completes every committed group but the N most recent ones.
template <int N>
inline void cp_async_wait() {
  auto* t = ::ck::emu::detail::tls_thread;
  auto& q = t->async_copies;
  size_t done = 0;
  for (; done < q.size() && q[done].group + N < t->async_commits; ++done) {
    const ::ck::emu::detail::AsyncCopy& c = q[done];
    if (c.src_bytes) std::memcpy(c.dst, c.src, c.src_bytes);
    if (c.bytes > c.src_bytes) std::memset(c.dst + c.src_bytes, 0, c.bytes - c.src_bytes);
  }
  q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(done));
}
}  // namespace cuda
}  // namespace ck
