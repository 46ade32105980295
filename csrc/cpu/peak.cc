// CPU peak measurements (csrc/core/peak.h).
#include "../core/peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "../core/error.h"
#include "../core/kernels.h"
#include "isa.h"
#include "peak_kernels.h"
#include "threadpool.h"

namespace ck {
namespace {

using Clock = std::chrono::steady_clock;

// The baseline path: plain C++ (SSE2 mul + add by auto-vectorisation), the same 12 chains of 8 lanes.
float base_fma_chains(int64_t iters, float seed) {
  float acc[12][8];
  for (int i = 0; i < 12; ++i)
    for (int l = 0; l < 8; ++l) acc[i][l] = seed + (float)i;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i)
      for (int l = 0; l < 8; ++l) acc[i][l] = acc[i][l] * 0.999999f + 1e-7f;
  float s = 0;
  for (int i = 0; i < 12; ++i) s += acc[i][0];
  return s;
}

void base_triad(float* __restrict a, const float* __restrict b, const float* __restrict c, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) a[i] = b[i] + 3.f * c[i];
}

const PeakKernels kBasePeak = {12 * 8 * 2, base_fma_chains, base_triad};

// The ISA path in use (cpu/isa.h): the peak the kernels of this process can reach.
const PeakKernels& peak_kernels() {
#if defined(CK_ISA_DISPATCH)
  switch (cpu_isa()) {
    case CpuIsa::kAvx512: return avx512::kPeakKernels;
    case CpuIsa::kAvx2: return avx2::kPeakKernels;
    default: break;
  }
#endif
  return kBasePeak;
}

}  // namespace

PeakResult cpu_peak(double seconds, int64_t bytes, int reps) {
  if (!(seconds > 0) || seconds > 60) throw Error("ERR_ARG", "peak: seconds must be in (0, 60]", ErrorKind::Range);
  if (bytes < 4096 || bytes > (int64_t(1) << 32)) throw Error("ERR_ARG", "peak: bytes must be in [4 KiB, 4 GiB]", ErrorKind::Range);
  if (reps < 1 || reps > 100) throw Error("ERR_ARG", "peak: reps must be in 1..100", ErrorKind::Range);
  const int threads = get_num_threads();
  PeakResult r{0, 0};
  const PeakKernels& pk = peak_kernels();

  // Compute: calibrate a block that takes ~1 ms on one thread, then every thread runs blocks for the
  // same wall-clock budget; the rate is all threads' flops over the wall time of the whole job.
  int64_t block = 1 << 14;
  for (;;) {
    auto t0 = Clock::now();
    volatile float sink = pk.fma_chains(block, 1.f);
    (void)sink;
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt > 1e-3 || block > (int64_t(1) << 30)) break;
    block *= 2;
  }
  // `reps` bursts of seconds / reps each; the best burst is the peak (a shared machine has slow moments).
  std::vector<float> sinks(threads);
  for (int k = 0; k < reps; ++k) {
    std::atomic<int64_t> blocks{0};
    const auto deadline = Clock::now() + std::chrono::duration<double>(seconds / reps);
    auto t0 = Clock::now();
    parallel_for(threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        float s = 0;
        int64_t mine = 0;
        do {
          s += pk.fma_chains(block, (float)t);
          ++mine;
        } while (Clock::now() < deadline);
        blocks += mine;
        sinks[t] = s;
      }
    });
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    r.gflops = std::max(r.gflops, (double)blocks.load() * (double)block * pk.flops_per_iter / wall / 1e9);
  }

  // Memory: triad, first touch by the threads that later stream each part. Stores bypass the caches
  // (non-temporal) on the AVX paths, as STREAM's do, so the 12 bytes per element counted are the
  // bytes moved (no read-for-ownership of a): kernels that stream their outputs can reach this rate.
  const int64_t n = bytes / 4 / 16 * 16;
  struct FreeDeleter { void operator()(float* p) const { std::free(p); } };
  auto alloc = [&] {
    float* p = static_cast<float*>(std::aligned_alloc(64, (size_t)n * 4));
    if (!p) throw Error("ERR_OOM", "peak: out of memory for the triad arrays", ErrorKind::Generic);
    return std::unique_ptr<float, FreeDeleter>(p);
  };
  auto a = alloc(), b = alloc(), c = alloc();
  const int64_t grain = std::max<int64_t>(1 << 16, n / threads / 4) / 16 * 16;
  parallel_for(n, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) { a.get()[i] = 0; b.get()[i] = 1; c.get()[i] = 2; }
  });
  double best = 1e30;
  for (int k = 0; k < reps; ++k) {
    auto s0 = Clock::now();
    float* __restrict pa = a.get();
    const float* __restrict pb = b.get();
    const float* __restrict pc = c.get();
    parallel_for(n / 16, grain / 16, [&](int64_t lo, int64_t hi) { pk.triad(pa, pb, pc, 16 * lo, 16 * hi); });
    best = std::min(best, std::chrono::duration<double>(Clock::now() - s0).count());
  }
  r.gbps = 12.0 * (double)n / best / 1e9;
  if (a.get()[n / 2] != 7.f) throw Error("ERR_INTERNAL", "peak: triad produced a wrong value", ErrorKind::Generic);
  return r;
}

}  // namespace ck
