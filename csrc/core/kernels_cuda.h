// CUDA twins of csrc/core/kernels.h, implemented in cuda/*.cu. Same arguments as the CPU functions plus
// a trailing stream (a cudaStream_t passed as void* so this header needs no CUDA headers). Pointers are
// device pointers. Compiled only when the build has CUDA (real or emulated): CK_HAVE_CUDA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include "types.h"

namespace ck {
namespace cuda {

using Stream = void*;

// ---- runtime (cuda/runtime.cu) ----
bool is_available();          // a device can be used now (real: driver + GPU present; emulated: always)
bool is_emulated();           // built with the host emulation
int device_count();           // 0 when unavailable
std::string device_name(int device);
std::string runtime_info();   // human-readable: driver/runtime versions, or "host emulation"
void set_device(int device);
int sm_count();               // multiprocessors of the current device (emulated: CONVKIT_EMU_SM_COUNT, default 132)
int compute_capability();     // major*10 + minor (emulated: CONVKIT_EMU_CC, default 90)
Stream default_stream();      // the current device's stream (one per device), where its ops are issued
void* malloc(size_t bytes, Stream s);            // stream-ordered pool; throws ck::Error ERR_CUDA_OOM
void free(void* p, Stream s);
// Asynchronous: the source may be reused at once (a pageable one is staged, runtime_cuda.h)
void memcpy_h2d(void* dst, const void* src, size_t bytes, Stream s);
// Synchronous w.r.t. the host (a counted synchronisation, where device-side errors are reported)
void memcpy_d2h(void* dst, const void* src, size_t bytes, Stream s);
void memcpy_d2d(void* dst, const void* src, size_t bytes, Stream s);  // stream-ordered
void synchronize();  // every device; reports device-side errors (ERR_INDEX)
// Times work on stream s with CUDA events (the benchmarks' clock on a GPU): timer_start records the start
// event, timer_stop records the end, waits for it and returns the milliseconds between the two. One timer
// per process. In the emulation kernels run synchronously, so the host clock is the same thing.
void timer_start(Stream s);
double timer_stop(Stream s);

// ---- kernels ----
void unary_cuda(UnaryOp op, DType in, DType out, const void* x, const Layout& xl, void* y, double a, double b, Stream s);
void binary_cuda(BinaryOp op, DType in, DType out, const void* a, const Layout& al, const void* b,
                 const Layout& bl, void* y, Stream s);
void reduce_cuda(ReduceOp op, DType dt, const void* x, void* y, int64_t outer, int64_t inner, int64_t correction, Stream s);
// dst view <- src view (same shape, 4-byte elements)
void copy_cuda(const void* src, const Layout& sl, void* dst, const Layout& dl, Stream s);
void fill_cuda(DType dt, void* p, int64_t n, double value, Stream s);
void sgemm_cuda(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t sAb, int64_t rsA, int64_t csA,
                const float* B, int64_t sBb, int64_t rsB, int64_t csB,
                float beta, float* C, int64_t sCb, int64_t ldc, Stream s);

}  // namespace cuda
}  // namespace ck
