// CPU peak measurements (csrc/core/peak.h).
#include "../core/peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "../core/error.h"
#include "../core/kernels.h"
#include "threadpool.h"
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace ck {
namespace {

using Clock = std::chrono::steady_clock;

// `iters` rounds of 12 independent FMA chains (enough to cover the FMA latency on two ports); returns a
// value that depends on every chain so the compiler keeps them all.
float fma_chains(int64_t iters, float seed) {
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 m = _mm256_set1_ps(0.999999f);
  const __m256 a = _mm256_set1_ps(1e-7f);
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(seed + (float)i);
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0];
#else
  float acc[12][8];
  for (int i = 0; i < 12; ++i)
    for (int l = 0; l < 8; ++l) acc[i][l] = seed + (float)i;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i)
      for (int l = 0; l < 8; ++l) acc[i][l] = acc[i][l] * 0.999999f + 1e-7f;
  float s = 0;
  for (int i = 0; i < 12; ++i) s += acc[i][0];
  return s;
#endif
}
constexpr double kFlopsPerIter = 12 * 8 * 2;

}  // namespace

PeakResult cpu_peak(double seconds, int64_t bytes, int reps) {
  if (!(seconds > 0) || seconds > 60) throw Error("ERR_ARG", "peak: seconds must be in (0, 60]", ErrorKind::Range);
  if (bytes < 4096 || bytes > (int64_t(1) << 32)) throw Error("ERR_ARG", "peak: bytes must be in [4 KiB, 4 GiB]", ErrorKind::Range);
  if (reps < 1 || reps > 100) throw Error("ERR_ARG", "peak: reps must be in 1..100", ErrorKind::Range);
  const int threads = get_num_threads();
  PeakResult r{0, 0};

  // Compute: calibrate a block that takes ~1 ms on one thread, then every thread runs blocks for the
  // same wall-clock budget; the rate is all threads' flops over the wall time of the whole job.
  int64_t block = 1 << 14;
  for (;;) {
    auto t0 = Clock::now();
    volatile float sink = fma_chains(block, 1.f);
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
          s += fma_chains(block, (float)t);
          ++mine;
        } while (Clock::now() < deadline);
        blocks += mine;
        sinks[t] = s;
      }
    });
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    r.gflops = std::max(r.gflops, (double)blocks.load() * (double)block * kFlopsPerIter / wall / 1e9);
  }

  // Memory: triad, first touch by the threads that later stream each part. Stores bypass the caches
  // (non-temporal) where AVX is compiled in, as STREAM's do, so the 12 bytes per element counted are the
  // bytes moved (no read-for-ownership of a): kernels that stream their outputs can reach this rate.
  const int64_t n = bytes / 4 / 8 * 8;
  struct FreeDeleter { void operator()(float* p) const { std::free(p); } };
  auto alloc = [&] {
    float* p = static_cast<float*>(std::aligned_alloc(64, (size_t)n * 4));
    if (!p) throw Error("ERR_OOM", "peak: out of memory for the triad arrays", ErrorKind::Generic);
    return std::unique_ptr<float, FreeDeleter>(p);
  };
  auto a = alloc(), b = alloc(), c = alloc();
  const int64_t grain = std::max<int64_t>(1 << 16, n / threads / 4) / 8 * 8;
  parallel_for(n, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) { a.get()[i] = 0; b.get()[i] = 1; c.get()[i] = 2; }
  });
  double best = 1e30;
  for (int k = 0; k < reps; ++k) {
    auto s0 = Clock::now();
    float* __restrict pa = a.get();
    const float* __restrict pb = b.get();
    const float* __restrict pc = c.get();
    parallel_for(n / 8, grain / 8, [&](int64_t lo, int64_t hi) {
#if defined(__AVX2__) && defined(__FMA__)
      const __m256 three = _mm256_set1_ps(3.f);
      for (int64_t v = lo; v < hi; ++v)
        _mm256_stream_ps(pa + 8 * v, _mm256_fmadd_ps(three, _mm256_load_ps(pc + 8 * v), _mm256_load_ps(pb + 8 * v)));
      _mm_sfence();
#else
      for (int64_t i = 8 * lo; i < 8 * hi; ++i) pa[i] = pb[i] + 3.f * pc[i];
#endif
    });
    best = std::min(best, std::chrono::duration<double>(Clock::now() - s0).count());
  }
  r.gbps = 12.0 * (double)n / best / 1e9;
  if (a.get()[n / 2] != 7.f) throw Error("ERR_INTERNAL", "peak: triad produced a wrong value", ErrorKind::Generic);
  return r;
}

}  // namespace ck
