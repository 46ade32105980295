// Self-test of the host emulation as a sanitizer (cuda/emu/emu.h): schedule fuzzing, poisoned and
// checked shared memory (CK_SHARED), the divergent-__syncthreads check and real atomics. Emulation only
// (the checks are the emulation's; on a GPU, compute-sanitizer plays this part). Not part of the addon.
//
//   g++ -std=c++17 -O2 -mavx2 -mfma -Wall -Wextra -Werror -DCK_CUDA_EMU -Icsrc -Icuda
//       -x c++ test/native/emu_sanitizer_selftest.cu cuda/runtime.cu -x none cuda/emu/emu.cc -o /tmp/emu_sanitizer_selftest
//   /tmp/emu_sanitizer_selftest            (exit status 0 = pass)
//
// selftest-build: cuda/runtime.cu cuda/stats.cu cuda/emu/emu.cc
//
// Three deliberately broken kernels, each next to its correct twin:
//   1. diff_kernel<false>:  a tiled kernel whose __syncthreads between filling the tile and reading a
//      neighbour's element is missing. Under the old emulation (forward order, no checks) thread t
//      always ran after thread t-1, so it passed; the checks report it under every schedule (as a race,
//      or as a read of an element not written yet), and the reverse schedule alone (checks off) already
//      gives a wrong result.
//   2. hist_kernel<false>:  reads (accumulates into) shared memory that nobody initialised. With the
//      checks off, `static thread_local` storage starts zeroed and the first block passes; with them on
//      the array is poisoned and the read of an unwritten element is reported.
//   3. count_kernel<false>: every thread does `count += 1` on one shared int without an atomic. Fibers
//      never interleave inside a read-modify-write, so without checks the count is right; the race
//      check reports two threads writing one element between the same two barriers.
// Each broken kernel is first run with the checks off (set_checks(false)) to show that it passes there,
// then with them on to show that it is caught; each correct twin passes under every schedule.
#include "runtime.cuh"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#if CK_CUDA_REAL
#error "emu_sanitizer_selftest tests the host emulation: build it with -DCK_CUDA_EMU -x c++"
#endif

namespace {

int g_failures = 0;
int g_checks = 0;
#define EXPECT(cond, ...)                              \
  do {                                                 \
    ++g_checks;                                              \
    if (!(cond)) {                                     \
      ++g_failures;                                    \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                        \
      std::printf("\n");                               \
    }                                                  \
  } while (0)

const char* const kSchedules[] = {"forward", "reverse", "random:1", "random:99", "warps"};

void use_schedule(const char* spec) { ck::emu::set_schedule(ck::emu::parse_schedule(spec)); }

// Runs f; returns "" if it did not throw, else "<code>: <message>" of the ck::Error it threw.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const ck::Error& e) {
    return e.code + ": " + e.what();
  }
  return "";
}
bool has(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

// ---------------------------------------------------------------------------------------------------
// 1. tiled backward difference: y[g] = x[g] - x[g-1] (x[-1] = 0), one tile of kT elements per block
// ---------------------------------------------------------------------------------------------------
constexpr int kT = 64;

template <bool kSync>
__global__ void diff_kernel(const float* __restrict__ x, float* __restrict__ y, int n) {
  CK_SHARED(float, tile, [kT]);
  const int t = static_cast<int>(threadIdx.x);
  const int g = static_cast<int>(blockIdx.x) * kT + t;
  tile[t] = g < n ? x[g] : 0.0f;
  if (kSync) __syncthreads();  // the broken twin lacks it: tile[t - 1] may not be written yet
  if (g < n) y[g] = tile[t] - (t > 0 ? static_cast<float>(tile[t - 1]) : (g > 0 ? x[g - 1] : 0.0f));
}

std::vector<float> run_diff(bool sync, const std::vector<float>& x) {
  const int n = static_cast<int>(x.size());
  std::vector<float> y(x.size(), -7.0f);
  const unsigned blocks = static_cast<unsigned>((n + kT - 1) / kT);
  if (sync) ck::cuda::launch(diff_kernel<true>, dim3(blocks), dim3(kT), 0, nullptr, x.data(), y.data(), n);
  else ck::cuda::launch(diff_kernel<false>, dim3(blocks), dim3(kT), 0, nullptr, x.data(), y.data(), n);
  return y;
}

void test_missing_barrier() {
  std::vector<float> x(300), want(300);
  for (int i = 0; i < 300; ++i) x[i] = static_cast<float>((i * 37) % 101) * 0.25f;
  for (int i = 0; i < 300; ++i) want[i] = x[i] - (i ? x[i - 1] : 0.0f);

  ck::emu::set_checks(false);
  use_schedule("forward");
  EXPECT(run_diff(false, x) == want, "missing barrier: expected to pass unnoticed without checks, forward order");
  use_schedule("reverse");
  EXPECT(run_diff(false, x) != want, "missing barrier: the reverse schedule should change the result");

  ck::emu::set_checks(true);
  for (const char* sc : kSchedules) {
    use_schedule(sc);
    const std::string e = error_of([&] { run_diff(false, x); });
    // Reported as a race where the neighbour already wrote its element (forward), else as a read of an
    // element no thread has written yet: either way at the first read that lacks the barrier.
    EXPECT(has(e, "ERR_CUDA") && (has(e, "shared-memory race") || has(e, "missing between the write and this read")) &&
               has(e, "`tile`") && has(e, "diff_kernel"),
           "missing barrier not caught under %s: '%s'", sc, e.c_str());
    std::vector<float> y;
    const std::string ok = error_of([&] { y = run_diff(true, x); });
    EXPECT(ok.empty() && y == want, "correct diff_kernel under %s: '%s'", sc, ok.c_str());
  }
}

// ---------------------------------------------------------------------------------------------------
// 2. per-block histogram of 8 bins in shared memory (the broken twin never zeroes it)
// ---------------------------------------------------------------------------------------------------
template <bool kInit>
__global__ void hist_kernel(const int* __restrict__ bin, int n, unsigned* __restrict__ out) {
  CK_SHARED(unsigned, h, [8]);
  if (kInit) {
    if (threadIdx.x < 8) h[threadIdx.x] = 0u;
    __syncthreads();
  }
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += static_cast<int>(gridDim.x * blockDim.x))
    atomicAdd(&h[bin[i]], 1u);
  __syncthreads();
  if (threadIdx.x < 8) out[blockIdx.x * 8 + threadIdx.x] = h[threadIdx.x];
}

void test_uninitialised_shared() {
  const int n = 500;
  std::vector<int> bin(n);
  std::vector<unsigned> want(8, 0u);
  for (int i = 0; i < n; ++i) ++want[bin[i] = (i * 5 + i / 7) % 8];
  auto run = [&](bool init) {
    std::vector<unsigned> out(8, 12345u);
    if (init) ck::cuda::launch(hist_kernel<true>, dim3(1), dim3(128), 0, nullptr, bin.data(), n, out.data());
    else ck::cuda::launch(hist_kernel<false>, dim3(1), dim3(128), 0, nullptr, bin.data(), n, out.data());
    return out;
  };
  // First use of hist_kernel<false>'s array in this process: zero-initialised thread_local storage.
  ck::emu::set_checks(false);
  use_schedule("forward");
  EXPECT(run(false) == want, "uninitialised shared memory: expected to pass unnoticed without checks");

  ck::emu::set_checks(true);
  for (const char* sc : kSchedules) {
    use_schedule(sc);
    const std::string e = error_of([&] { run(false); });
    EXPECT(has(e, "ERR_CUDA") && has(e, "uninitialised shared memory") && has(e, "`h`") && has(e, "hist_kernel"),
           "uninitialised read not caught under %s: '%s'", sc, e.c_str());
    std::vector<unsigned> got;
    const std::string ok = error_of([&] { got = run(true); });
    EXPECT(ok.empty() && got == want, "correct hist_kernel under %s: '%s'", sc, ok.c_str());
  }
}

// Poison itself: with checks on, a CK_SHARED array reads as 0xFF bytes before the block writes it
// (reached here through a pointer, which the uninitialised-read check does not track).
__global__ void peek_kernel(unsigned* out) {
  CK_SHARED(float, p, [4]);
  const unsigned* raw = reinterpret_cast<const unsigned*>(&p[0]);
  out[threadIdx.x] = raw[threadIdx.x];
  __syncthreads();
  p[threadIdx.x] = 1.0f;  // leaves 1.0f behind for the next block
}

void test_poison() {
  ck::emu::set_checks(true);
  use_schedule("forward");
  std::vector<unsigned> out(8, 0u);
  ck::cuda::launch(peek_kernel, dim3(2), dim3(4), 0, nullptr, out.data());  // block 1 overwrites block 0's row
  EXPECT(out[0] == 0xFFFFFFFFu && out[3] == 0xFFFFFFFFu, "CK_SHARED not poisoned at block start: %08x", out[0]);
  ck::emu::set_checks(false);
  ck::cuda::launch(peek_kernel, dim3(1), dim3(4), 0, nullptr, out.data());
  EXPECT(out[0] == 0x3f800000u, "with checks off CK_SHARED keeps the previous block's values: %08x", out[0]);
  ck::emu::set_checks(true);

  // Fresh emulated device memory is 0xFF too.
  void* d = ck::cuda::malloc(64, nullptr);
  unsigned char h[64];
  std::memcpy(h, d, 64);
  ck::cuda::free(d, nullptr);
  bool all = true;
  for (unsigned char c : h) all = all && c == 0xFF;
  EXPECT(all, "fresh emulated device allocation not filled with 0xFF");
}

// ---------------------------------------------------------------------------------------------------
// 3. count the positive elements of each block's slice with one shared counter
// ---------------------------------------------------------------------------------------------------
template <bool kAtomic>
__global__ void count_kernel(const float* __restrict__ x, int n, int* __restrict__ out) {
  CK_SHARED(int, count, );
  if (threadIdx.x == 0) count = 0;
  __syncthreads();
  const int g = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (g < n && x[g] > 0.0f) {
    if (kAtomic) atomicAdd(&count, 1);
    else count += 1;  // the broken twin: a plain read-modify-write from many threads
  }
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = count;
}

void test_non_atomic_accumulation() {
  const int n = 1000, threads = 128, blocks = (n + threads - 1) / threads;
  std::vector<float> x(n);
  std::vector<int> want(blocks, 0);
  for (int i = 0; i < n; ++i) {
    x[i] = (i * 7919) % 13 < 6 ? 1.0f : -1.0f;
    if (x[i] > 0.0f) ++want[i / threads];
  }
  auto run = [&](bool atomic) {
    std::vector<int> out(blocks, -1);
    if (atomic) ck::cuda::launch(count_kernel<true>, dim3(blocks), dim3(threads), 0, nullptr, x.data(), n, out.data());
    else ck::cuda::launch(count_kernel<false>, dim3(blocks), dim3(threads), 0, nullptr, x.data(), n, out.data());
    return out;
  };
  ck::emu::set_checks(false);
  for (const char* sc : kSchedules) {
    use_schedule(sc);
    EXPECT(run(false) == want, "non-atomic accumulation: expected to pass unnoticed without checks (%s)", sc);
  }
  ck::emu::set_checks(true);
  for (const char* sc : kSchedules) {
    use_schedule(sc);
    const std::string e = error_of([&] { run(false); });
    EXPECT(has(e, "ERR_CUDA") && has(e, "shared-memory race") && has(e, "`count`") && has(e, "count_kernel"),
           "non-atomic accumulation not caught under %s: '%s'", sc, e.c_str());
    std::vector<int> got;
    const std::string ok = error_of([&] { got = run(true); });
    EXPECT(ok.empty() && got == want, "correct count_kernel under %s: '%s'", sc, ok.c_str());
  }
}

// ---------------------------------------------------------------------------------------------------
// Barrier and bounds checks
// ---------------------------------------------------------------------------------------------------
__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void out_of_bounds_kernel(float* out) {
  CK_SHARED(float, buf, [32][2]);
  buf[threadIdx.x][0] = 1.0f;
  buf[threadIdx.x][1] = 2.0f;
  __syncthreads();
  out[threadIdx.x] = buf[threadIdx.x][threadIdx.x % 3];  // index 2 of a dimension of 2
}

void test_barrier_and_bounds() {
  ck::emu::set_checks(true);
  std::vector<int> o(64, 0);
  for (const char* sc : kSchedules) {
    use_schedule(sc);
    const std::string e = error_of([&] { ck::cuda::launch(divergent_barrier_kernel, dim3(1), dim3(64), 0, nullptr, o.data()); });
    EXPECT(has(e, "ERR_CUDA") && has(e, "divergent __syncthreads") && has(e, "divergent_barrier_kernel"),
           "divergent __syncthreads not caught under %s: '%s'", sc, e.c_str());
  }
  // Even with the checks off: a divergent barrier is always an error, a bad index always is.
  ck::emu::set_checks(false);
  use_schedule("forward");
  std::vector<float> f(32, 0.0f);
  const std::string e = error_of([&] { ck::cuda::launch(out_of_bounds_kernel, dim3(1), dim3(32), 0, nullptr, f.data()); });
  EXPECT(has(e, "ERR_CUDA") && has(e, "index 2 out of bounds [0, 2)") && has(e, "`buf`"), "out of bounds: '%s'", e.c_str());
  ck::emu::set_checks(true);
}

// ---------------------------------------------------------------------------------------------------
// Schedules: the order threads and blocks run in
// ---------------------------------------------------------------------------------------------------
// order[block][thread] = the ticket each thread draws before and after a barrier
__global__ void ticket_kernel(unsigned* counter, unsigned* before, unsigned* after, unsigned* block_order) {
  const unsigned t = threadIdx.x + blockDim.x * blockIdx.x;
  before[t] = atomicAdd(counter, 1u);
  __syncthreads();
  after[t] = atomicAdd(counter, 1u);
  if (threadIdx.x == 0) block_order[blockIdx.x] = atomicAdd(counter + 1, 1u);
}

void test_schedule_orders() {
  ck::emu::set_checks(true);
  const unsigned B = 5, T = 70;  // three warps, the last one partial
  for (const char* sc : kSchedules) {
    use_schedule(sc);
    std::vector<unsigned> counter(2, 0u), before(B * T), after(B * T), blocks(B);
    ck::cuda::launch(ticket_kernel, dim3(B), dim3(T), 0, nullptr, counter.data(), before.data(), after.data(), blocks.data());
    // rank of thread t within its block in each phase
    auto rank = [&](const std::vector<unsigned>& v, unsigned b, unsigned t) {
      unsigned r = 0;
      for (unsigned u = 0; u < T; ++u) r += v[b * T + u] < v[b * T + t];
      return r;
    };
    bool fwd = true, rev = true, warps = true, fwd_blocks = true, rev_blocks = true;
    for (unsigned b = 0; b < B; ++b) {
      fwd_blocks = fwd_blocks && blocks[b] == b;
      rev_blocks = rev_blocks && blocks[b] == B - 1 - b;
      for (unsigned t = 0; t < T; ++t) {
        const unsigned r = rank(before, b, t);
        fwd = fwd && r == t;
        rev = rev && r == T - 1 - t && rank(after, b, t) == T - 1 - t;
        // warps: warp 2 (lanes 64..69) first, then warp 1, then warp 0
        const unsigned w = t / 32, l = t % 32;
        const unsigned start = w == 2 ? 0 : w == 1 ? 6 : 38;
        warps = warps && r == start + l;
      }
    }
    const std::string s = sc;
    if (s == "forward") EXPECT(fwd && fwd_blocks, "forward schedule: threads or blocks out of order");
    if (s == "reverse") EXPECT(rev && rev_blocks, "reverse schedule: threads or blocks not reversed");
    if (s == "warps") EXPECT(warps && fwd_blocks, "warps schedule: warps not last-to-first");
    if (s.compare(0, 6, "random") == 0) EXPECT(!fwd && !rev, "random schedule: threads in a fixed order");
  }
  // The same seed gives the same order (per launch ordinal, so compare two fresh runs of one launch).
  use_schedule("forward");
}

// Warp primitives under every schedule: a shuffle reduction gives the same bits.
__global__ void warp_sum_kernel(const float* x, float* out) {
  float v = x[threadIdx.x];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  out[threadIdx.x] = v;
}

void test_warp_primitives_all_schedules() {
  std::vector<float> x(96), ref;
  for (int i = 0; i < 96; ++i) x[i] = 1.0f / static_cast<float>(i + 3);
  for (const char* sc : kSchedules) {
    use_schedule(sc);
    std::vector<float> out(96);
    ck::cuda::launch(warp_sum_kernel, dim3(1), dim3(96), 0, nullptr, x.data(), out.data());
    if (ref.empty()) ref = out;
    EXPECT(std::memcmp(out.data(), ref.data(), out.size() * sizeof(float)) == 0, "warp sum differs under %s", sc);
  }
  use_schedule("forward");
}

// Many barriers and shuffles under many random seeds: the thread that completes a barrier is queued
// with the others and is sometimes the head of the queue itself (a regression: it used to resume a
// stale context and crash).
__global__ void many_barriers_kernel(float* io) {
  CK_SHARED(float, s, [64]);
  const int t = static_cast<int>(threadIdx.x);
  float v = io[t];
  for (int r = 0; r < 12; ++r) {
    s[t] = v;
    __syncthreads();
    v = 0.5f * (s[t] + s[(t + 1) & 63]);
    v += __shfl_xor_sync(0xffffffffu, v, 1) * 0.25f;
    __syncthreads();
  }
  io[t] = v;
}

void test_many_seeds() {
  ck::emu::set_checks(true);
  std::vector<float> ref;
  for (int seed = 0; seed < 60; ++seed) {
    use_schedule(seed == 0 ? "forward" : ("random:" + std::to_string(seed)).c_str());
    std::vector<float> io(64);
    for (int i = 0; i < 64; ++i) io[i] = static_cast<float>(i % 9) - 4.0f;
    ck::cuda::launch(many_barriers_kernel, dim3(3), dim3(64), 0, nullptr, io.data());
    if (ref.empty()) ref = io;
    EXPECT(std::memcmp(io.data(), ref.data(), ref.size() * sizeof(float)) == 0, "many barriers: random:%d differs", seed);
  }
  use_schedule("warps");
  std::vector<float> io(64);
  for (int i = 0; i < 64; ++i) io[i] = static_cast<float>(i % 9) - 4.0f;
  ck::cuda::launch(many_barriers_kernel, dim3(3), dim3(64), 0, nullptr, io.data());
  EXPECT(std::memcmp(io.data(), ref.data(), ref.size() * sizeof(float)) == 0, "many barriers: warps differs");
  use_schedule("forward");
}

// Atomics are real: two OS threads launching at once into one global counter lose no update.
__global__ void add_kernel(unsigned* c, float* f) {
  atomicAdd(c, 1u);
  atomicAdd(f, 1.0f);
}

void test_real_atomics() {
  unsigned c = 0;
  float f = 0.0f;
  auto work = [&] {
    for (int i = 0; i < 20; ++i) ck::cuda::launch(add_kernel, dim3(8), dim3(256), 0, nullptr, &c, &f);
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT(c == 2u * 20u * 8u * 256u, "atomicAdd(unsigned) from two OS threads lost updates: %u", c);
  EXPECT(f == 2.0f * 20.0f * 8.0f * 256.0f, "atomicAdd(float) from two OS threads lost updates: %g", f);
}

void test_parse() {
  EXPECT(ck::emu::schedule_name(ck::emu::parse_schedule("random:42")) == "random:42", "random:42 round trip");
  EXPECT(ck::emu::schedule_name(ck::emu::parse_schedule("random")) == "random:1", "random defaults to seed 1");
  const std::string e = error_of([] { ck::emu::parse_schedule("sideways"); });
  EXPECT(has(e, "ERR_ARG") && has(e, "sideways"), "bad schedule: '%s'", e.c_str());
}

}  // namespace

int main() {
  try {
    // Order matters: the broken kernels run first with the checks off, while their shared arrays still
    // hold the zeroes of fresh thread_local storage.
    test_uninitialised_shared();
    test_missing_barrier();
    test_non_atomic_accumulation();
    test_poison();
    test_barrier_and_bounds();
    test_schedule_orders();
    test_warp_primitives_all_schedules();
    test_many_seeds();
    test_real_atomics();
    test_parse();
  } catch (const ck::Error& e) {
    std::printf("FAIL: unexpected ck::Error %s: %s\n", e.code.c_str(), e.what());
    return 1;
  }
  if (g_failures) {
    std::printf("%d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("emu_sanitizer_selftest: %d checks, all passed\n", g_checks);
  return 0;
}
