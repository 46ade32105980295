#include "cpu/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
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

// Kernels call parallel_for back to back, so an idle worker spins briefly before sleeping: waking a
// sleeping thread costs tens to hundreds of microseconds, most of all on a virtual machine whose idle
// vCPU has been halted.
constexpr auto kSpin = std::chrono::microseconds(100);
constexpr int kMaxThreads = 256;  // chunk counts must fit the 16-bit fields of Pool::state_

thread_local bool tl_in_region = false;

int default_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(std::min<unsigned>(hc, kMaxThreads));
}

std::atomic<int> g_requested_threads{0};  // 0: not set yet, use default_threads()

// Spins on `ready` for up to kSpin; false if it never became true.
template <class Pred>
bool spin_until(Pred ready) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (ready()) return true;
    CK_CPU_RELAX();
    if ((i & 63) == 0 && std::chrono::steady_clock::now() - t0 > kSpin) return ready();
  }
}

// One job at a time. Its chunks are claimed through one atomic word, `state_` = job id (32 bits) |
// chunk count (16) | next chunk (16), so a worker that wakes late claims nothing from a finished job
// and never mistakes a newer job's data for its own; the caller waits for the chunks to finish, never
// for idle workers to wake up. A caller whose workers are all asleep just runs every chunk itself.
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

    fn_.store(&fn, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    const uint64_t job = ((state_.load(std::memory_order_relaxed) >> 32) + 1) & 0xffffffffu;
    {
      std::lock_guard<std::mutex> lk(mu_);
      state_.store(job << 32 | static_cast<uint64_t>(nchunks) << 16, std::memory_order_release);
    }
    cv_work_.notify_all();

    tl_in_region = true;
    work_on(job);
    tl_in_region = false;

    auto finished = [&] { return done_.load(std::memory_order_acquire) == nchunks; };
    if (!spin_until(finished)) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_done_.wait(lk, finished);
    }
    if (failed_.load(std::memory_order_acquire)) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
    return true;
  }

 private:
  // Claims and runs chunks of `job` until none are left. Returns at once if `job` is not current.
  void work_on(uint64_t job) {
    uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((s >> 32) != job) return;
      const int64_t nchunks = static_cast<int64_t>((s >> 16) & 0xffffu);
      const int64_t chunk = static_cast<int64_t>(s & 0xffffu);
      if (chunk >= nchunks) return;
      const int64_t n = n_.load(std::memory_order_relaxed);
      const auto* fn = fn_.load(std::memory_order_relaxed);
      // If the claim succeeds, `job` still had an unclaimed chunk while n and fn were read, and the
      // caller rewrites them only after every chunk of `job` has been claimed and finished.
      if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        continue;
      }
      if (!failed_.load(std::memory_order_relaxed)) {
        try {
          (*fn)(n * chunk / nchunks, n * (chunk + 1) / nchunks);
        } catch (...) {
          std::lock_guard<std::mutex> lk(err_mu_);
          if (!failed_.load(std::memory_order_relaxed)) {
            error_ = std::current_exception();
            failed_.store(true, std::memory_order_release);
          }
        }
      }
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == nchunks) {
        std::lock_guard<std::mutex> lk(mu_);  // the caller may be about to sleep on cv_done_
        cv_done_.notify_all();
      }
      s = state_.load(std::memory_order_acquire);
    }
  }

  void worker_loop(uint64_t seen) {
    tl_in_region = true;
    auto posted = [&] {
      return stop_.load(std::memory_order_acquire) || (state_.load(std::memory_order_acquire) >> 32) != seen;
    };
    for (;;) {
      if (!spin_until(posted)) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_work_.wait(lk, posted);
      }
      if (stop_.load(std::memory_order_acquire)) return;
      seen = state_.load(std::memory_order_acquire) >> 32;
      work_on(seen);
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
    const uint64_t seen = state_.load(std::memory_order_acquire) >> 32;
    workers_.reserve(nworkers);
    for (int i = 0; i < nworkers; ++i) {
      try {
        workers_.emplace_back([this, seen] { worker_loop(seen); });
      } catch (...) {
        break;  // thread creation failed: the caller runs whatever the workers do not
      }
    }
  }

  std::mutex dispatch_mu_;  // one job at a time; held across a whole run()
  std::mutex mu_;           // guards sleeping and waking only
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> state_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<const std::function<void(int64_t, int64_t)>*> fn_{nullptr};
  std::atomic<int64_t> n_{0};
  std::atomic<bool> failed_{false};
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
