#include "cpu/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/kernels.h"

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#define CK_CPU_RELAX() _mm_pause()
#else
#define CK_CPU_RELAX() std::this_thread::yield()
#endif

namespace ck {
namespace {

// Kernels call parallel_for back to back (a GEMM issues two per K block), so a worker spins briefly
// before sleeping: a condition-variable wake-up costs tens of microseconds under a hypervisor.
constexpr auto kSpin = std::chrono::microseconds(100);
constexpr int kMaxThreads = 256;

thread_local bool tl_in_region = false;

int default_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(std::min<unsigned>(hc, kMaxThreads));
}

std::atomic<int> g_requested_threads{0};  // 0: not set yet, use default_threads()

class Pool {
 public:
  ~Pool() {
    std::lock_guard<std::mutex> d(dispatch_mu_);
    stop_workers();
  }

  // Returns false without running anything when another thread owns the pool.
  bool run(int nthreads, int64_t n, int64_t nchunks, const std::function<void(int64_t, int64_t)>& fn) {
    std::unique_lock<std::mutex> d(dispatch_mu_, std::try_to_lock);
    if (!d.owns_lock()) return false;
    if (static_cast<int>(workers_.size()) != nthreads - 1) resize(nthreads - 1);

    fn_ = &fn;
    n_ = n;
    nchunks_ = nchunks;
    next_chunk_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    busy_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_work_.notify_all();

    tl_in_region = true;
    run_chunks();
    tl_in_region = false;

    // Workers must all have finished touching this job before the caller may post the next one.
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; busy_.load(std::memory_order_acquire) != 0; ++i) {
      CK_CPU_RELAX();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() - t0 > kSpin) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_done_.wait(lk, [&] { return busy_.load(std::memory_order_acquire) == 0; });
        break;
      }
    }
    fn_ = nullptr;
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
    return true;
  }

 private:
  void run_chunks() {
    for (;;) {
      int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
      if (c >= nchunks_) return;
      int64_t begin = n_ * c / nchunks_, end = n_ * (c + 1) / nchunks_;
      try {
        (*fn_)(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lk(err_mu_);
        if (!error_) error_ = std::current_exception();
        next_chunk_.store(nchunks_, std::memory_order_relaxed);
      }
    }
  }

  void worker_loop(uint64_t seen) {
    tl_in_region = true;
    for (;;) {
      auto t0 = std::chrono::steady_clock::now();
      bool got = false;
      for (int i = 0;; ++i) {
        if (gen_.load(std::memory_order_acquire) != seen) { got = true; break; }
        if (stop_.load(std::memory_order_acquire)) return;
        CK_CPU_RELAX();
        if ((i & 63) == 63 && std::chrono::steady_clock::now() - t0 > kSpin) break;
      }
      if (!got) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_work_.wait(lk, [&] {
          return stop_.load(std::memory_order_acquire) || gen_.load(std::memory_order_acquire) != seen;
        });
        if (gen_.load(std::memory_order_acquire) == seen) return;  // woken by stop only
      }
      seen = gen_.load(std::memory_order_acquire);
      run_chunks();
      if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(mu_);
        cv_done_.notify_one();
      }
    }
  }

  // Caller holds dispatch_mu_, so no job is in flight.
  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true, std::memory_order_release);
    }
    cv_work_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_.store(false, std::memory_order_release);
  }

  void resize(int nworkers) {
    stop_workers();
    uint64_t seen = gen_.load(std::memory_order_acquire);
    workers_.reserve(nworkers);
    for (int i = 0; i < nworkers; ++i) {
      try {
        workers_.emplace_back([this, seen] { worker_loop(seen); });
      } catch (...) {
        break;  // thread creation failed: run with the workers we have
      }
    }
  }

  std::mutex dispatch_mu_;  // one job at a time; held across a whole run()
  std::mutex mu_;           // guards sleeping/waking only
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> busy_{0};
  std::atomic<int64_t> next_chunk_{0};
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, nchunks_ = 0;
  std::mutex err_mu_;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

void set_num_threads(int n) {
  CK_CHECK_ARG(n >= 1, "set_num_threads: n must be >= 1, got " + std::to_string(n));
  g_requested_threads.store(std::min(n, kMaxThreads), std::memory_order_relaxed);
}

int get_num_threads() {
  int n = g_requested_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

bool in_parallel_region() { return tl_in_region; }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int nthreads = get_num_threads();
  int64_t nchunks = std::min<int64_t>(nthreads, (n + grain - 1) / grain);
  if (nchunks <= 1 || tl_in_region || !pool().run(nthreads, n, nchunks, fn)) fn(0, n);
}

}  // namespace ck
