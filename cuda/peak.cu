// CUDA peak measurements (core/peak.h): FMA throughput and STREAM-triad bandwidth of the current device,
// each kernel timed with CUDA events. In the host emulation the grids are tiny: the numbers then only
// prove the code runs.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "runtime.cuh"
#include "common.cuh"
#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/peak.h"

namespace ck {
namespace {

constexpr int kChains = 8;

__global__ void fma_kernel(float* out, int64_t iters, float m, float a) {
  float acc[kChains];
  const int tid = blockIdx.x * blockDim.x + threadIdx.x;
  for (int i = 0; i < kChains; ++i) acc[i] = (float)(tid + i);
  for (int64_t it = 0; it < iters; ++it) {
    CK_UNROLL
    for (int i = 0; i < kChains; ++i) acc[i] = fmaf(acc[i], m, a);
  }
  float s = 0;
  for (int i = 0; i < kChains; ++i) s += acc[i];
  if (s == 12345.678f) out[0] = s;  // never true; keeps every chain alive
}

__global__ void triad_kernel(float* __restrict__ a, const float* __restrict__ b, const float* __restrict__ c, int64_t n) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) a[i] = b[i] + 3.f * c[i];
}

__global__ void init_kernel(float* a, float* b, float* c, int64_t n) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    a[i] = 0.f;
    b[i] = 1.f;
    c[i] = 2.f;
  }
}

// Seconds the work f issues on stream s takes, between CUDA events.
template <typename F>
double timed(cuda::Stream s, F&& f) {
  cuda::timer_start(s);
  f();
  return cuda::timer_stop(s) / 1e3;
}

}  // namespace

PeakResult cuda_peak(double seconds, int64_t bytes, int reps) {
  if (!(seconds > 0) || seconds > 60) throw Error("ERR_ARG", "peak: seconds must be in (0, 60]", ErrorKind::Range);
  if (bytes < 4096 || bytes > (int64_t(1) << 33)) throw Error("ERR_ARG", "peak: bytes must be in [4 KiB, 8 GiB]", ErrorKind::Range);
  if (reps < 1 || reps > 100) throw Error("ERR_ARG", "peak: reps must be in 1..100", ErrorKind::Range);
  const bool emu = cuda::is_emulated();
  const cuda::Stream st = cuda::default_stream();
  const unsigned blocks = emu ? 2 : 16384;
  const unsigned threads = emu ? 64 : 256;
  PeakResult r{0, 0};
  float* out = static_cast<float*>(cuda::malloc(sizeof(float), st));
  try {
    // Grow the iteration count until one launch lasts seconds / reps, then keep the fastest of reps.
    int64_t iters = 64;
    const double target = seconds / reps;
    double dt = timed(st, [&] { cuda::launch(fma_kernel, dim3(blocks), dim3(threads), 0, st, out, iters, 0.999999f, 1e-7f); });
    while (dt < target && iters < (int64_t(1) << 30)) {
      iters = std::max<int64_t>(iters * 2, (int64_t)((double)iters * target / std::max(dt, 1e-6)));
      dt = timed(st, [&] { cuda::launch(fma_kernel, dim3(blocks), dim3(threads), 0, st, out, iters, 0.999999f, 1e-7f); });
    }
    double best = dt;
    for (int k = 1; k < reps; ++k)
      best = std::min(best, timed(st, [&] { cuda::launch(fma_kernel, dim3(blocks), dim3(threads), 0, st, out, iters, 0.999999f, 1e-7f); }));
    r.gflops = (double)blocks * threads * (double)iters * kChains * 2.0 / best / 1e9;
  } catch (...) {
    cuda::free(out, st);
    throw;
  }
  cuda::free(out, st);

  const int64_t n = emu ? std::min<int64_t>(bytes / 4, 1 << 16) : bytes / 4;
  float* a = static_cast<float*>(cuda::malloc(3 * n * sizeof(float), st));
  try {
    float* b = a + n;
    float* c = b + n;
    const unsigned grid = emu ? 4 : 4096;
    cuda::launch(init_kernel, dim3(grid), dim3(threads), 0, st, a, b, c, n);
    double best = 1e30;
    for (int k = 0; k < reps + 1; ++k) {  // the first pass warms up
      double t = timed(st, [&] { cuda::launch(triad_kernel, dim3(grid), dim3(threads), 0, st, a, b, c, n); });
      if (k) best = std::min(best, t);
    }
    r.gbps = 12.0 * (double)n / best / 1e9;
    float probe = 0;
    cuda::memcpy_d2h(&probe, a + n / 2, sizeof(float), st);
    if (probe != 7.f) throw Error("ERR_INTERNAL", "peak: triad produced a wrong value", ErrorKind::Generic);
  } catch (...) {
    cuda::free(a, st);
    throw;
  }
  cuda::free(a, st);
  return r;
}

}  // namespace ck
