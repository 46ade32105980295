// Standalone check + benchmark for ck::sgemm_cpu and ck::parallel_for. Build from the repository root:
//   g++ -O3 -mavx2 -mfma -std=c++17 -pthread -Icsrc csrc/cpu/gemm.cc csrc/cpu/threadpool.cc
//       benchmarks/native/gemm_bench.cc -o /tmp/gemm_bench
// Exits non-zero when a correctness check fails. A * after a timing means other processes kept taking
// the CPU during every rep, so the number understates the kernel.
// Usage: gemm_bench [--no-check] [--no-bench] [--threads N] [n | MxNxK ...]   (default 256 1024 2048)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/kernels.h"
#include "cpu/threadpool.h"

namespace {

std::mt19937 rng(12345);

std::vector<float> random_vec(size_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct Case {
  int64_t batch, M, N, K;
  bool transA, transB;
  int64_t pad;  // extra row/column stride padding to exercise general strides
  float alpha, beta;
  bool bcastA, bcastB;
};

// Returns the worst error normalised by sum |alpha*a*b| + |beta*c| per element.
double run_case(const Case& c) {
  const int64_t M = c.M, N = c.N, K = c.K;
  // A logical (M,K): stored either row-major (ld = K+pad) or as a transposed (K,M) buffer (ld = M+pad);
  // with pad > 0 the inner stride is 2 to exercise non-unit strides on both axes.
  const int64_t inner = c.pad ? 2 : 1;
  int64_t rsA, csA, sizeA;
  if (!c.transA) { csA = inner; rsA = (K * inner) + c.pad; sizeA = M * rsA + 1; }
  else { rsA = inner; csA = (M * inner) + c.pad; sizeA = K * csA + 1; }
  int64_t rsB, csB, sizeB;
  if (!c.transB) { csB = inner; rsB = (N * inner) + c.pad; sizeB = K * rsB + 1; }
  else { rsB = inner; csB = (K * inner) + c.pad; sizeB = N * csB + 1; }
  const int64_t ldc = N + c.pad;
  const int64_t sizeC = M * ldc;
  const int64_t sAb = c.bcastA ? 0 : sizeA, sBb = c.bcastB ? 0 : sizeB, sCb = sizeC;
  auto A = random_vec(static_cast<size_t>(sizeA * (c.bcastA ? 1 : c.batch)));
  auto B = random_vec(static_cast<size_t>(sizeB * (c.bcastB ? 1 : c.batch)));
  auto C0 = random_vec(static_cast<size_t>(sizeC * c.batch));
  auto C = C0;
  if (c.beta == 0.0f) std::fill(C.begin(), C.end(), std::numeric_limits<float>::quiet_NaN());
  ck::sgemm_cpu(c.batch, M, N, K, c.alpha, A.data(), sAb, rsA, csA, B.data(), sBb, rsB, csB, c.beta, C.data(),
                sCb, ldc);
  double worst = 0.0;
  for (int64_t b = 0; b < c.batch; ++b) {
    const float* a = A.data() + b * sAb;
    const float* bb = B.data() + b * sBb;
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < ldc; ++j) {
        const int64_t ci = b * sCb + i * ldc + j;
        if (j >= N) {  // padding between rows must be untouched
          const bool untouched = c.beta == 0.0f ? std::isnan(C[ci]) : C[ci] == C0[ci];
          if (!untouched) return 1e30;
          continue;
        }
        double ref = 0.0, mag = 0.0;
        for (int64_t k = 0; k < K; ++k) {
          double p = double(a[i * rsA + k * csA]) * double(bb[k * rsB + j * csB]);
          ref += p;
          mag += std::fabs(p);
        }
        ref *= c.alpha;
        mag *= std::fabs(c.alpha);
        if (c.beta != 0.0f) {
          ref += double(c.beta) * C0[ci];
          mag += std::fabs(double(c.beta) * C0[ci]);
        }
        double err = std::fabs(double(C[ci]) - ref) / (mag + 1e-30);
        if (!std::isfinite(C[ci])) err = 1e30;
        worst = std::max(worst, err);
      }
    }
  }
  return worst;
}

bool check_gemm() {
  std::vector<int64_t> dims = {1, 2, 7, 16, 33, 65, 129};
  std::vector<Case> cases;
  for (int64_t M : dims)
    for (int64_t N : dims)
      for (int64_t K : {int64_t(1), int64_t(7), int64_t(33), int64_t(129)}) {
        bool ta = (M + N + K) % 2, tb = (M * 3 + N + K) % 3 == 0;
        cases.push_back({1, M, N, K, ta, tb, 0, 1.0f, 0.0f, false, false});
      }
  // Every stride combination on shapes with full and partial tiles, alpha/beta variants, batches.
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t pad : {int64_t(0), int64_t(3)})
        for (auto ab : {std::pair<float, float>{1, 0}, {2, 1}, {-0.5f, 0.25f}, {0, 2}}) {
          cases.push_back({1, 65, 33, 129, ta, tb, pad, ab.first, ab.second, false, false});
          cases.push_back({1, 300, 290, 300, ta, tb, pad, ab.first, ab.second, false, false});
          cases.push_back({3, 17, 40, 9, ta, tb, pad, ab.first, ab.second, false, false});
          cases.push_back({2, 1, 70, 33, ta, tb, pad, ab.first, ab.second, false, false});
          cases.push_back({2, 70, 1, 33, ta, tb, pad, ab.first, ab.second, false, false});
        }
  cases.push_back({4, 33, 65, 7, false, false, 0, 1, 1, true, false});
  cases.push_back({4, 33, 65, 7, true, false, 0, 1, 0, false, true});
  cases.push_back({5, 64, 64, 64, false, true, 0, 1, 0, true, false});
  cases.push_back({2, 200, 200, 600, false, false, 0, 1, 0, false, true});  // threaded, batch loop
  cases.push_back({1, 13, 5000, 300, false, false, 0, 1, 0.5f, false, false});  // small-M path
  cases.push_back({1, 5000, 13, 300, true, false, 0, 1, 0, false, false});      // small-N path
  cases.push_back({1, 40, 4100, 20, false, true, 0, 1, 0, false, false});  // two NC blocks
  cases.push_back({1, 300, 4200, 10, true, false, 0, 1, 1, false, false});  // two NC blocks, grid path
  cases.push_back({1, 160, 700, 50, false, false, 0, 1, 1, false, false});  // grid split along N
  cases.push_back({1, 700, 160, 50, false, false, 0, 1, 0, false, false});  // grid split along M
  cases.push_back({3, 150, 150, 100, true, true, 0, 1, 0, false, false});   // batch that does not divide
  cases.push_back({6, 150, 150, 100, false, false, 0, 1, 1, false, false}); // across the batch
  cases.push_back({1, 100, 100, 0, false, false, 0, 1, 0, false, false});  // K == 0: C = 0
  cases.push_back({1, 100, 100, 0, false, false, 0, 1, 3, false, false});  // K == 0: C = 3C
  cases.push_back({1, 1, 1, 1, false, false, 0, 2, 0, false, false});
  cases.push_back({1, 1, 1, 5000, false, true, 0, 1, 1, false, false});
  cases.push_back({1, 1, 3000, 700, false, false, 0, 1, 0, false, false});  // threaded gemv (axpy form)
  cases.push_back({1, 1, 3000, 700, false, true, 0, 1, 0, false, false});   // threaded gemv (dot form)

  bool ok = true;
  double worst = 0.0;
  for (int threads : {1, 2, 3}) {
    ck::set_num_threads(threads);
    for (const Case& c : cases) {
      double e = run_case(c);
      worst = std::max(worst, e);
      if (!(e <= 1e-5)) {
        ok = false;
        std::printf("FAIL threads=%d batch=%ld M=%ld N=%ld K=%ld tA=%d tB=%d pad=%ld alpha=%g beta=%g "
                    "bcA=%d bcB=%d: rel err %.3g\n",
                    threads, long(c.batch), long(c.M), long(c.N), long(c.K), c.transA, c.transB, long(c.pad),
                    c.alpha, c.beta, c.bcastA, c.bcastB, e);
      }
    }
  }
  std::printf("gemm correctness: %zu cases x 3 thread counts, max normalised rel err %.3g -> %s\n",
              cases.size(), worst, ok ? "OK" : "FAILED");
  return ok;
}

bool check_pool() {
  bool ok = true;
  ck::set_num_threads(4);
  for (int64_t n : {1, 2, 3, 7, 100, 100000}) {
    for (int64_t grain : {1, 5, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (auto& h : hits) h = 0;
      ck::parallel_for(n, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i]++;
        // Nested calls must run inline, not deadlock.
        ck::parallel_for(4, 1, [&](int64_t, int64_t) {});
      });
      for (auto& h : hits) ok &= h.load() == 1;
    }
  }
  bool caught = false;
  try {
    ck::parallel_for(64, 1, [&](int64_t b, int64_t) {
      if (b >= 32) throw std::runtime_error("boom");
    });
  } catch (const std::runtime_error&) {
    caught = true;
  }
  ok &= caught;
  std::atomic<int64_t> sum{0};
  ck::parallel_for(1000, 1, [&](int64_t b, int64_t e) { for (int64_t i = b; i < e; ++i) sum += i; });
  ok &= sum.load() == 999 * 1000 / 2;
  // Many tiny jobs of varying chunk counts from several outside threads, some throwing, while the
  // thread count changes: catches chunks lost or run twice when a late worker meets the next job.
  {
    std::atomic<long> bad{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 3; ++t) {
      ts.emplace_back([&, t] {
        for (int r = 0; r < 20000; ++r) {
          if (t == 0 && r % 500 == 0) ck::set_num_threads(1 + (r / 500) % 4);
          const int64_t n = 1 + (r * 7919) % 37;
          std::vector<std::atomic<int>> hit(static_cast<size_t>(n));
          for (auto& h : hit) h = 0;
          const bool throws = r % 97 == 0;
          bool threw = false;
          try {
            ck::parallel_for(n, 1, [&](int64_t b, int64_t e) {
              for (int64_t i = b; i < e; ++i) hit[i]++;
              if (throws && b == 0) throw std::runtime_error("boom");
            });
          } catch (const std::runtime_error&) {
            threw = true;
          }
          if (threw != throws) bad++;
          if (!throws)
            for (auto& h : hit) bad += h.load() != 1;
        }
      });
    }
    for (auto& t : ts) t.join();
    ok &= bad.load() == 0;
  }
  // Several outside threads (as libuv workers would) using the pool at once, while the thread count
  // changes: whoever finds the pool busy runs inline, and every result must still be exact.
  {
    const int64_t n = 192;
    auto A = random_vec(n * n), B = random_vec(n * n);
    std::vector<float> ref(n * n);
    ck::set_num_threads(1);
    ck::sgemm_cpu(1, n, n, n, 1.0f, A.data(), 0, n, 1, B.data(), 0, n, 1, 0.0f, ref.data(), 0, n);
    ck::set_num_threads(2);
    std::atomic<bool> same{true};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, t] {
        std::vector<float> c(n * n);
        for (int r = 0; r < 50; ++r) {
          if (t == 0 && r % 10 == 0) ck::set_num_threads(1 + r / 10 % 3);
          ck::sgemm_cpu(1, n, n, n, 1.0f, A.data(), 0, n, 1, B.data(), 0, n, 1, 0.0f, c.data(), 0, n);
          if (std::memcmp(c.data(), ref.data(), c.size() * sizeof(float)) != 0) same = false;
        }
      });
    }
    for (auto& t : ts) t.join();
    ok &= same.load();
  }
  std::printf("parallel_for: %s\n", ok ? "OK" : "FAILED");
  return ok;
}

struct Shape {
  int64_t M, N, K;
};

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// Best GFLOP/s of C (M,N) = A (M,K) @ B, B stored (K,N) or, when transB, (N,K). On a shared machine a
// rep only counts when the process got (nearly) all its threads' CPU time, i.e. nothing else ran; if
// no rep is clean within the time budget, the best unclean one is returned and `clean` is false.
double bench(Shape s, bool transB, int nthreads, bool* clean) {
  auto A = random_vec(static_cast<size_t>(s.M * s.K)), B = random_vec(static_cast<size_t>(s.K * s.N));
  std::vector<float> C(static_cast<size_t>(s.M * s.N));
  const int64_t rsB = transB ? 1 : s.N, csB = transB ? s.K : 1;
  const double flops = 2.0 * s.M * s.N * s.K;
  const int want = static_cast<int>(std::min(100.0, std::max(5.0, 1e9 / flops)));
  const bool threaded = nthreads > 1 && s.M * s.N * s.K >= (int64_t(1) << 20);
  double best_clean = 1e30, best_any = 1e30;
  int nclean = 0;
  auto start = std::chrono::steady_clock::now();
  for (int r = 0;; ++r) {
    double c0 = process_cpu_seconds();
    auto t0 = std::chrono::steady_clock::now();
    ck::sgemm_cpu(1, s.M, s.N, s.K, 1.0f, A.data(), 0, s.K, 1, B.data(), 0, rsB, csB, 0.0f, C.data(), 0, s.N);
    auto t1 = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(t1 - t0).count();
    double util = (process_cpu_seconds() - c0) / (dt * (threaded ? nthreads : 1));
    if (r == 0) continue;  // warms buffers and threads
    best_any = std::min(best_any, dt);
    if (util > 0.9) { best_clean = std::min(best_clean, dt); ++nclean; }
    double elapsed = std::chrono::duration<double>(t1 - start).count();
    if (nclean >= want || (elapsed > 4.0 && r >= want)) break;
  }
  *clean = nclean > 0;
  return flops / (nclean ? best_clean : best_any) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  bool do_check = true, do_bench = true;
  int threads = 0;
  std::vector<Shape> sizes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--no-check")) do_check = false;
    else if (!std::strcmp(argv[i], "--no-bench")) do_bench = false;
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else {
      // "n" for a square product or "MxNxK"
      long m = 0, n = 0, k = 0;
      if (std::sscanf(argv[i], "%ldx%ldx%ld", &m, &n, &k) == 3) sizes.push_back({m, n, k});
      else { m = std::atol(argv[i]); sizes.push_back({m, m, m}); }
    }
  }
  if (sizes.empty()) sizes = {{256, 256, 256}, {1024, 1024, 1024}, {2048, 2048, 2048}};
  bool ok = true;
  if (do_check) {
    ok &= check_pool();
    ok &= check_gemm();
  }
  if (do_bench) {
    if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
    ck::set_num_threads(threads);
    std::printf("threads=%d\n", ck::get_num_threads());
    for (Shape s : sizes) {
      bool c1 = true, c2 = true;
      double g = bench(s, false, threads, &c1);
      double gt = bench(s, true, threads, &c2);
      std::printf("M=%5ld N=%5ld K=%5ld  %7.1f GFLOP/s%s  (B transposed: %7.1f GFLOP/s%s)\n", long(s.M),
                  long(s.N), long(s.K), g, c1 ? "" : "*", gt, c2 ? "" : "*");
    }
  }
  return ok ? 0 : 1;
}
