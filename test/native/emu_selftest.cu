// Self-test of cuda/runtime.cuh and the host emulation (cuda/emu/). Not part of the addon.
// Every kernel is ordinary CUDA that nvcc also compiles; each result is checked against a plain loop.
//
//   emulation: g++ -std=c++17 -O1 -Wall -Wextra -Werror -DCK_CUDA_EMU -Icsrc -Icuda
//                  -x c++ test/native/emu_selftest.cu cuda/runtime.cu -x none cuda/emu/*.cc -o /tmp/emu_selftest
//              /tmp/emu_selftest            (exit status 0 = pass; prints the cost of a fiber switch)
//   real GPU : nvcc -std=c++17 -arch=sm_90 -Icsrc -Icuda test/native/emu_selftest.cu cuda/runtime.cu
//
// selftest-build: cuda/runtime.cu cuda/stats.cu cuda/emu/emu.cc
// (mma.sync / cp.async need sm_80: -arch=sm_90 on a GPU)
//
// Checks marked "emulation only" test behaviour the GPU leaves undefined (poisoned reads, deadlock
// reports, a lane missing from its own mask); on a GPU they are skipped.
#include "runtime.cuh"
#include "mma.cuh"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<int> g_failures{0};  // tests also run on two host threads at once
std::atomic<int> g_checks{0};
#define EXPECT(cond, ...)                                      \
  do {                                                         \
    ++g_checks;                                              \
    if (!(cond)) {                                             \
      ++g_failures;                                            \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__);         \
      std::printf(__VA_ARGS__);                                \
      std::printf("\n");                                       \
    }                                                          \
  } while (0)

ck::cuda::Stream stream() { return ck::cuda::default_stream(); }

template <class T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  explicit DevBuf(size_t count) : n(count) { p = static_cast<T*>(ck::cuda::malloc(n * sizeof(T), stream())); }
  explicit DevBuf(const std::vector<T>& h) : DevBuf(h.size()) { upload(h); }
  ~DevBuf() { ck::cuda::free(p, stream()); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  void upload(const std::vector<T>& h) { ck::cuda::memcpy_h2d(p, h.data(), n * sizeof(T), stream()); }
  std::vector<T> download() const {
    std::vector<T> h(n);
    ck::cuda::memcpy_d2h(h.data(), p, n * sizeof(T), stream());
    return h;
  }
};

bool close(double a, double b, double tol) { return std::fabs(a - b) <= tol * (1.0 + std::fabs(b)); }

// Runs f, which must throw ck::Error with `code` and a message containing `needle`.
template <class F>
void expect_error(const char* what, const char* code, const char* needle, F f) {
  try {
    f();
    ++g_failures;
    std::printf("FAIL %s: no exception\n", what);
  } catch (const ck::Error& e) {
    EXPECT(e.code == code && std::string(e.what()).find(needle) != std::string::npos,
           "%s: got %s: %s", what, e.code.c_str(), e.what());
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------------

// ---- tensor cores and asynchronous copies (cuda/mma.cuh; emulated in cuda/emu) ----------------------------

// One warp: D (16x8) = A (16x8) B (8x8) + C, all row-major fp32 in global memory, through the PTX ISA's
// m16n8k8 .tf32 fragment layouts (g = lane / 4, t = lane % 4).
__global__ void mma_tf32_kernel(const float* A, const float* B, const float* C, float* D) {
  const int lane = static_cast<int>(threadIdx.x), g = lane / 4, t = lane % 4;
  const uint32_t a[4] = {ck::cuda::cvt_rna_tf32(A[g * 8 + t]), ck::cuda::cvt_rna_tf32(A[(g + 8) * 8 + t]),
                         ck::cuda::cvt_rna_tf32(A[g * 8 + t + 4]), ck::cuda::cvt_rna_tf32(A[(g + 8) * 8 + t + 4])};
  const uint32_t b[2] = {ck::cuda::cvt_rna_tf32(B[t * 8 + g]), ck::cuda::cvt_rna_tf32(B[(t + 4) * 8 + g])};
  const float c[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
  float d[4];
  ck::cuda::mma_m16n8k8_tf32(d, a, b, c);
  D[g * 8 + 2 * t] = d[0];
  D[g * 8 + 2 * t + 1] = d[1];
  D[(g + 8) * 8 + 2 * t] = d[2];
  D[(g + 8) * 8 + 2 * t + 1] = d[3];
}

__global__ void cvt_tf32_kernel(const float* x, unsigned* y, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) y[i] = ck::cuda::cvt_rna_tf32(x[i]);
}

// cp.async into two commit groups; wait_group 1 completes the first only, wait_group 0 the rest.
// out[0..n): first group after wait 1; out[n..2n): second group after wait 0; out[2n..3n): a zero-filled
// copy; out[3n..4n): the second group's destination read before any wait (emulation: still the poison).
__global__ void cp_async_kernel(const float* src, float* out, int n) {
  CK_DYNAMIC_SHARED(float, buf);  // 3n floats
  const int i = static_cast<int>(threadIdx.x);
  ck::cuda::cp_async4(buf + i, src + i, true);
  ck::cuda::cp_async_commit();
  ck::cuda::cp_async4(buf + n + i, src + n + i, true);
  ck::cuda::cp_async4(buf + 2 * n + i, src, false);
  ck::cuda::cp_async_commit();
  out[3 * n + i] = buf[n + i];
  ck::cuda::cp_async_wait<1>();
  out[i] = buf[i];
  ck::cuda::cp_async_wait<0>();
  out[n + i] = buf[n + i];
  out[2 * n + i] = buf[2 * n + i];
}

constexpr int kTile = 16;

// C(M,N) = A(M,K) * B(K,N), row-major; one 16x16 tile of C per block of 16x16 threads.
__global__ void sgemm_tiled(int M, int N, int K, const float* __restrict__ A, const float* __restrict__ B,
                            float* __restrict__ C) {
  CK_SHARED(float, As, [kTile][kTile + 1]);  // checked in emulation: bounds, races, unwritten reads
  CK_SHARED(float, Bs, [kTile][kTile + 1]);
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * kTile + ty, col = blockIdx.x * kTile + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += kTile) {
    As[ty][tx] = (row < M && k0 + tx < K) ? A[row * K + k0 + tx] : 0.0f;
    Bs[ty][tx] = (k0 + ty < K && col < N) ? B[(k0 + ty) * N + col] : 0.0f;
    __syncthreads();
    for (int k = 0; k < kTile; ++k) acc += As[ty][k] * Bs[k][tx];
    __syncthreads();
  }
  if (row < M && col < N) C[row * N + col] = acc;
}

// Sum over the first `lanes` lanes of the calling warp (lanes beyond do not exist: partial warp).
__device__ __forceinline__ float warp_sum(float v, unsigned lanes) {
  const unsigned mask = lanes >= 32 ? 0xffffffffu : (1u << lanes) - 1u;
  const unsigned lane = threadIdx.x % 32;
  for (int off = 16; off > 0; off >>= 1) {
    const float other = __shfl_down_sync(mask, v, off);
    if (lane + off < lanes) v += other;
  }
  return v;
}

// Grid-stride block sums of x(n): block_out(gridDim.x) and their total via atomicAdd.
__global__ void block_sum(const float* x, int n, float* block_out, float* total) {
  CK_SHARED(float, warp_sums, [32]);
  const unsigned tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const unsigned nwarps = (blockDim.x + 31) / 32;
  float v = 0.0f;
  for (int i = blockIdx.x * blockDim.x + tid; i < n; i += gridDim.x * blockDim.x) v += x[i];
  v = warp_sum(v, min(32u, blockDim.x - warp * 32));
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float s = lane < nwarps ? warp_sums[lane] : 0.0f;
    s = warp_sum(s, min(32u, blockDim.x));
    if (lane == 0) {
      block_out[blockIdx.x] = s;
      atomicAdd(total, s);
    }
  }
}

// Partial warp of 20 lanes: lanes whose __shfl_down_sync source is past the warp's end.
__global__ void shfl_past_end(const float* x, float* out) {
  out[threadIdx.x] = __shfl_down_sync(0xfffffu, x[threadIdx.x], 16);
}

// Only warp 0 shuffles while the other warps wait at __syncthreads; threads >= exit_from return
// before the barrier and must not hold it back.
__global__ void warp0_then_all(int* out, int exit_from) {
  CK_SHARED(int, total, );
  const unsigned tid = threadIdx.x;
  if (static_cast<int>(tid) >= exit_from) return;
  if (tid < 32) {
    int v = static_cast<int>(tid);
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (tid == 0) total = v;
  }
  __syncthreads();
  out[tid] = total;
}

__global__ void atomics_kernel(int* count, float* fsum, unsigned long long* usum, int* imax, double* dsum,
                               unsigned* cas_sum, unsigned* bits) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(count, 1);
  atomicAdd(fsum, static_cast<float>(i % 7));
  atomicAdd(usum, static_cast<unsigned long long>(i));
  atomicMax(imax, i);
  atomicAdd(dsum, 0.5 * i);
  unsigned old = *cas_sum, assumed;
  do {
    assumed = old;
    old = atomicCAS(cas_sum, assumed, assumed + 2u);
  } while (old != assumed);
  atomicOr(bits, 1u << (i % 32));
}

// Reverses each block's slice through dynamic shared memory: blockDim floats, then one int tag.
__global__ void reverse_dynamic(const float* in, float* out, int* first_tag) {
  CK_DYNAMIC_SHARED(float, buf);
  int* tag = reinterpret_cast<int*>(buf + blockDim.x);
  const unsigned t = threadIdx.x, base = blockIdx.x * blockDim.x;
  if (t == 0) first_tag[blockIdx.x] = tag[0];  // before any write: undefined on a GPU, 0xFF.. emulated
  __syncthreads();
  buf[t] = in[base + t];
  if (t == 0) tag[0] = static_cast<int>(blockIdx.x);
  __syncthreads();
  out[base + t] = buf[blockDim.x - 1 - t] + static_cast<float>(tag[0]);
}

// Votes in a block of 48 threads: warp 1 is a partial warp of 16 lanes.
__global__ void vote_kernel(unsigned* ballots, int* anys, int* alls) {
  const unsigned t = threadIdx.x, warp = t / 32;
  const unsigned lanes = min(32u, blockDim.x - warp * 32);
  const unsigned mask = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u;
  ballots[t] = __ballot_sync(mask, t % 3 == 0);
  anys[t] = __any_sync(mask, t == 40);
  alls[t] = __all_sync(mask, t < 47);
}

// Shuffle variants over 64 threads: inclusive scans (width 32 and 8), broadcast within 16-lane
// segments, butterfly within 8-lane segments, 64-bit and double payloads.
__global__ void shfl_kernel(const int* in, int* scan32, int* scan8, int* bcast16, int* xor8, long long* down64,
                            double* updbl) {
  const unsigned full = 0xffffffffu;
  const unsigned t = threadIdx.x, lane = t % 32;
  const int v = in[t];
  int s = v;
  for (unsigned d = 1; d < 32; d <<= 1) {
    const int o = __shfl_up_sync(full, s, d);
    if (lane >= d) s += o;
  }
  scan32[t] = s;
  int s8 = v;
  for (unsigned d = 1; d < 8; d <<= 1) {
    const int o = __shfl_up_sync(full, s8, d, 8);
    if (lane % 8 >= d) s8 += o;
  }
  scan8[t] = s8;
  bcast16[t] = __shfl_sync(full, v, 3, 16);
  xor8[t] = __shfl_xor_sync(full, v, 5, 8);
  down64[t] = __shfl_down_sync(full, static_cast<long long>(v) << 33, 1);
  updbl[t] = __shfl_up_sync(full, 1.5 * v, 2);
}

__global__ void syncthreads_counts(int* out) {
  const unsigned t = threadIdx.x;
  const int c = __syncthreads_count(t % 5 == 0);
  const int a = __syncthreads_and(t < 1000);
  const int o = __syncthreads_or(t == 7);
  const int z = __syncthreads_or(0);
  if (t == 0) {
    out[0] = c;
    out[1] = a;
    out[2] = o;
    out[3] = z;
  }
}

// Every thread of a 3-D grid of 3-D blocks writes its coordinates.
__global__ void coords_kernel(int* out) {
  const unsigned bx = blockIdx.x, by = blockIdx.y, bz = blockIdx.z;
  const unsigned block = (bz * gridDim.y + by) * gridDim.x + bx;
  const unsigned t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  const unsigned g = block * (blockDim.x * blockDim.y * blockDim.z) + t;
  out[g] = static_cast<int>(threadIdx.x + 10 * threadIdx.y + 100 * threadIdx.z + 1000 * bx + 10000 * by + 100000 * bz);
}

__global__ void axpy_kernel(int n, float a, const float* x, float* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

__global__ void set_flag(int* flag) { *flag = 1; }

// Lane 1 waits at __syncthreads while the rest of warp 0 waits for it in a shuffle: a deadlock.
__global__ void deadlock_mixed(float* out) {
  float v = static_cast<float>(threadIdx.x);
  if (threadIdx.x == 1) __syncthreads();
  else v = __shfl_down_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}

// Even lanes shuffle, odd lanes vote, all naming the full warp: a deadlock.
__global__ void deadlock_mismatch(unsigned* out) {
  unsigned r;
  if (threadIdx.x % 2) r = __ballot_sync(0xffffffffu, 1);
  else r = __shfl_sync(0xffffffffu, threadIdx.x, 0);
  out[threadIdx.x] = r;
}

// Lane 5 calls a shuffle whose mask leaves it out (undefined on a GPU).
__global__ void lane_not_in_mask(int* out) { out[threadIdx.x] = __shfl_sync(1u, static_cast<int>(threadIdx.x), 0); }

// Timing: many block barriers, many shuffles, and no synchronisation at all.
__global__ void sync_loop(int iters, int* out) {
  int acc = 0;
  for (int i = 0; i < iters; ++i) {
    acc += i;
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = acc;
}
__global__ void shfl_loop(int iters, unsigned* out) {
  unsigned v = threadIdx.x;
  for (int i = 0; i < iters; ++i) v += __shfl_xor_sync(0xffffffffu, v, 1);
  if (threadIdx.x == 0) out[blockIdx.x] = v;
}
__global__ void nosync_kernel(int* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  out[i] = i;
}

#if !CK_CUDA_REAL
// Launching from device code: refused by the emulation (a GPU build would need dynamic parallelism).
__global__ void nested_launch(int* flag) {
  if (threadIdx.x == 0) ck::cuda::launch(set_flag, 1, 1, 0, nullptr, flag);
}
#endif

// ---------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------

namespace {

constexpr bool kEmulated = !CK_CUDA_REAL;

void test_runtime() {
  EXPECT(ck::cuda::is_available(), "is_available");
  EXPECT(ck::cuda::device_count() >= 1, "device_count %d", ck::cuda::device_count());
  EXPECT(ck::cuda::is_emulated() == kEmulated, "is_emulated");
  std::printf("device: %s; %s\n", ck::cuda::device_name(0).c_str(), ck::cuda::runtime_info().c_str());
  if (kEmulated) {
    EXPECT(ck::cuda::device_name(0) == "convkit host emulation", "device_name");
    DevBuf<unsigned> b(37);
    std::vector<unsigned> h = b.download();
    bool poisoned = true;
    for (unsigned v : h) poisoned = poisoned && v == 0xffffffffu;
    EXPECT(poisoned, "fresh emulated memory is filled with 0xFF");
  }
  std::vector<float> h(1000);
  for (size_t i = 0; i < h.size(); ++i) h[i] = 0.25f * static_cast<float>(i);
  DevBuf<float> a(h), b(h.size());
  ck::cuda::memcpy_d2d(b.p, a.p, h.size() * sizeof(float), stream());
  EXPECT(b.download() == h, "h2d/d2d/d2h round trip");
  EXPECT(ck::cuda::malloc(0, stream()) == nullptr, "malloc(0)");
  ck::cuda::free(nullptr, stream());
  expect_error("device 1", "ERR_CUDA", "invalid CUDA device", [] { ck::cuda::set_device(ck::cuda::device_count()); });
}

void run_sgemm(int M, int N, int K, unsigned seed) {
  std::vector<float> A(size_t(M) * K), B(size_t(K) * N), C(size_t(M) * N);
  unsigned s = seed;
  auto rnd = [&s] {
    s = s * 1664525u + 1013904223u;
    return static_cast<float>(s >> 9) / static_cast<float>(1u << 23) - 0.5f;
  };
  for (float& v : A) v = rnd();
  for (float& v : B) v = rnd();
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (int k = 0; k < K; ++k) acc += A[size_t(i) * K + k] * B[size_t(k) * N + j];
      C[size_t(i) * N + j] = acc;
    }
  DevBuf<float> dA(A), dB(B), dC(C.size());
  const dim3 block(kTile, kTile), grid((N + kTile - 1) / kTile, (M + kTile - 1) / kTile);
  ck::cuda::launch(sgemm_tiled, grid, block, 0, stream(), M, N, K, dA.p, dB.p, dC.p);
  std::vector<float> got = dC.download();
  double worst = 0;
  for (size_t i = 0; i < C.size(); ++i) worst = std::fmax(worst, std::fabs(double(got[i]) - C[i]));
  EXPECT(worst <= 1e-5, "sgemm %dx%dx%d: max |diff| %g", M, N, K, worst);
}

void test_sgemm() {
  run_sgemm(37, 29, 45, 1);
  run_sgemm(64, 48, 16, 2);
  run_sgemm(1, 1, 1, 3);
}

void test_block_sum(int n, unsigned block, unsigned grid) {
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>((i * 37) % 101) * 0.125f - 6.0f;
  std::vector<double> want(grid, 0.0);
  double total = 0;
  for (int i = 0; i < n; ++i) {
    want[(i / block) % grid] += x[i];
    total += x[i];
  }
  DevBuf<float> dx(x), dout(grid), dtotal(std::vector<float>{0.0f});
  ck::cuda::launch(block_sum, grid, block, 0, stream(), dx.p, n, dout.p, dtotal.p);
  std::vector<float> got = dout.download();
  for (unsigned b = 0; b < grid; ++b)
    EXPECT(close(got[b], want[b], 1e-5), "block_sum n=%d block=%u: block %u got %g want %g", n, block, b, got[b], want[b]);
  float gt = dtotal.download()[0];
  EXPECT(close(gt, total, 1e-5), "block_sum n=%d block=%u: total got %g want %g", n, block, gt, total);
}

void test_reductions() {
  test_block_sum(1000, 80, 5);   // warps of 32, 32, 16
  test_block_sum(777, 45, 7);    // warps of 32, 13
  test_block_sum(50, 17, 2);     // one partial warp
  test_block_sum(4096, 1024, 3); // 32 full warps
  if (kEmulated) {  // emulation only: a source lane past the end of the warp reads NaN
    std::vector<float> x(20);
    for (int i = 0; i < 20; ++i) x[i] = static_cast<float>(i);
    DevBuf<float> dx(x), dout(20);
    ck::cuda::launch(shfl_past_end, 1, 20, 0, stream(), dx.p, dout.p);
    std::vector<float> got = dout.download();
    EXPECT(got[0] == 16.0f && got[3] == 19.0f, "shfl_down within the warp: %g %g", got[0], got[3]);
    EXPECT(std::isnan(got[4]) && std::isnan(got[15]), "shfl_down from a missing lane is NaN: %g %g", got[4], got[15]);
    EXPECT(got[16] == 16.0f && got[19] == 19.0f, "shfl_down past lane 31 keeps its own value: %g %g", got[16], got[19]);
  }
}

void test_warp0_then_all() {
  DevBuf<int> out(128);
  ck::cuda::launch(warp0_then_all, 1, 128, 0, stream(), out.p, 100);
  std::vector<int> got = out.download();
  int bad = 0;
  for (int i = 0; i < 100; ++i) bad += got[i] != 496;
  EXPECT(bad == 0, "warp0_then_all: %d threads saw the wrong total (thread 0: %d)", bad, got[0]);
  if (kEmulated) EXPECT(got[100] == -1 && got[127] == -1, "exited threads wrote nothing");
}

void test_atomics() {
  const unsigned blocks = 300, threads = 64, n = blocks * threads;
  DevBuf<int> count(std::vector<int>{0}), imax(std::vector<int>{-5});
  DevBuf<float> fsum(std::vector<float>{0.0f});
  DevBuf<unsigned long long> usum(std::vector<unsigned long long>{0});
  DevBuf<double> dsum(std::vector<double>{0.0});
  DevBuf<unsigned> cas(std::vector<unsigned>{0}), bits(std::vector<unsigned>{0});
  ck::cuda::launch(atomics_kernel, blocks, threads, 0, stream(), count.p, fsum.p, usum.p, imax.p, dsum.p, cas.p, bits.p);
  double fs = 0, ds = 0;
  unsigned long long us = 0;
  for (unsigned i = 0; i < n; ++i) {
    fs += i % 7;
    us += i;
    ds += 0.5 * i;
  }
  EXPECT(count.download()[0] == static_cast<int>(n), "atomicAdd int: %d", count.download()[0]);
  EXPECT(fsum.download()[0] == static_cast<float>(fs), "atomicAdd float: %g want %g", fsum.download()[0], fs);
  EXPECT(usum.download()[0] == us, "atomicAdd u64");
  EXPECT(imax.download()[0] == static_cast<int>(n - 1), "atomicMax: %d", imax.download()[0]);
  EXPECT(dsum.download()[0] == ds, "atomicAdd double: %g want %g", dsum.download()[0], ds);
  EXPECT(cas.download()[0] == 2 * n, "atomicCAS loop: %u", cas.download()[0]);
  EXPECT(bits.download()[0] == 0xffffffffu, "atomicOr: %08x", bits.download()[0]);
}

void test_dynamic_shared() {
  const unsigned block = 96, grid = 4, n = block * grid;
  std::vector<float> in(n);
  for (unsigned i = 0; i < n; ++i) in[i] = static_cast<float>(i) * 0.5f;
  DevBuf<float> din(in), dout(n);
  DevBuf<int> tags(grid);
  ck::cuda::launch(reverse_dynamic, grid, block, block * sizeof(float) + sizeof(int), stream(), din.p, dout.p, tags.p);
  std::vector<float> got = dout.download();
  int bad = 0;
  for (unsigned b = 0; b < grid; ++b)
    for (unsigned t = 0; t < block; ++t) bad += got[b * block + t] != in[b * block + block - 1 - t] + static_cast<float>(b);
  EXPECT(bad == 0, "dynamic shared reverse: %d wrong", bad);
  if (kEmulated) {  // emulation only: dynamic shared memory starts every block as 0xFF bytes
    std::vector<int> t = tags.download();
    EXPECT(t[0] == -1 && t[3] == -1, "dynamic shared memory poisoned per block: %d %d", t[0], t[3]);
  }
  // More than the default 48 KiB (the real launcher opts the kernel in).
  const unsigned big = 1024;
  DevBuf<float> bin(std::vector<float>(big, 1.0f)), bout(big);
  DevBuf<int> btag(1);
  ck::cuda::launch(reverse_dynamic, 1, big, 60 * 1024, stream(), bin.p, bout.p, btag.p);
  EXPECT(bout.download()[5] == 1.0f, "60 KiB of dynamic shared memory");
}

void test_votes_and_shuffles() {
  {
    DevBuf<unsigned> ballots(48);
    DevBuf<int> anys(48), alls(48);
    ck::cuda::launch(vote_kernel, 1, 48, 0, stream(), ballots.p, anys.p, alls.p);
    std::vector<unsigned> b = ballots.download();
    std::vector<int> an = anys.download(), al = alls.download();
    for (unsigned w = 0; w < 2; ++w) {
      unsigned want = 0;
      const unsigned lanes = w == 0 ? 32 : 16;
      for (unsigned l = 0; l < lanes; ++l)
        if ((w * 32 + l) % 3 == 0) want |= 1u << l;
      for (unsigned l = 0; l < lanes; ++l) {
        const unsigned t = w * 32 + l;
        EXPECT(b[t] == want, "ballot thread %u: %08x want %08x", t, b[t], want);
        EXPECT(an[t] == (w == 1 ? 1 : 0), "any thread %u: %d", t, an[t]);
        EXPECT(al[t] == (w == 0 ? 1 : 0), "all thread %u: %d", t, al[t]);
      }
    }
  }
  {
    std::vector<int> in(64);
    for (int i = 0; i < 64; ++i) in[i] = (i * 7) % 11 + 1;
    DevBuf<int> din(in), s32(64), s8(64), bc(64), x8(64);
    DevBuf<long long> d64(64);
    DevBuf<double> ud(64);
    ck::cuda::launch(shfl_kernel, 1, 64, 0, stream(), din.p, s32.p, s8.p, bc.p, x8.p, d64.p, ud.p);
    std::vector<int> g32 = s32.download(), g8 = s8.download(), gb = bc.download(), gx = x8.download();
    std::vector<long long> g64 = d64.download();
    std::vector<double> gd = ud.download();
    int bad = 0;
    for (int t = 0; t < 64; ++t) {
      const int lane = t % 32;
      int w32 = 0, w8 = 0;
      for (int l = t - lane; l <= t; ++l) w32 += in[l];
      for (int l = t - lane % 8; l <= t; ++l) w8 += in[l];
      const int src_down = lane + 1 < 32 ? t + 1 : t;
      const int src_up = lane >= 2 ? t - 2 : t;
      bad += g32[t] != w32;
      bad += g8[t] != w8;
      bad += gb[t] != in[(t / 16) * 16 + 3];
      bad += gx[t] != in[t ^ 5];
      bad += g64[t] != (static_cast<long long>(in[src_down]) << 33);
      bad += gd[t] != 1.5 * in[src_up];
    }
    EXPECT(bad == 0, "shuffle variants: %d wrong", bad);
  }
  {
    DevBuf<int> out(4);
    ck::cuda::launch(syncthreads_counts, 1, 100, 0, stream(), out.p);
    std::vector<int> g = out.download();
    EXPECT(g[0] == 20 && g[1] == 1 && g[2] == 1 && g[3] == 0, "__syncthreads_count/and/or: %d %d %d %d", g[0], g[1],
           g[2], g[3]);
  }
}

void test_indices_and_args() {
  const dim3 block(4, 3, 2), grid(2, 3, 2);
  const unsigned n = 4 * 3 * 2 * 2 * 3 * 2;
  DevBuf<int> out(n);
  ck::cuda::launch(coords_kernel, grid, block, 0, stream(), out.p);
  std::vector<int> got = out.download();
  int bad = 0;
  for (unsigned bz = 0; bz < 2; ++bz)
    for (unsigned by = 0; by < 3; ++by)
      for (unsigned bx = 0; bx < 2; ++bx)
        for (unsigned tz = 0; tz < 2; ++tz)
          for (unsigned ty = 0; ty < 3; ++ty)
            for (unsigned tx = 0; tx < 4; ++tx) {
              const unsigned g = ((bz * 3 + by) * 2 + bx) * 24 + (tz * 3 + ty) * 4 + tx;
              bad += got[g] != static_cast<int>(tx + 10 * ty + 100 * tz + 1000 * bx + 10000 * by + 100000 * bz);
            }
  EXPECT(bad == 0, "3-D indices: %d wrong", bad);

  // Arguments convert to the parameter types: int64 -> int, double -> float, float* -> const float*.
  const int64_t n2 = 1000;
  std::vector<float> x(n2, 2.0f), y(n2, 1.0f);
  DevBuf<float> dx(x), dy(y);
  float* xp = dx.p;
  ck::cuda::launch(axpy_kernel, (n2 + 255) / 256, 256, 0, stream(), n2, 3.0, xp, dy.p);
  std::vector<float> gy = dy.download();
  EXPECT(gy[0] == 7.0f && gy[999] == 7.0f, "axpy: %g %g", gy[0], gy[999]);
}

void test_launch_config() {
  DevBuf<int> flag(std::vector<int>{0});
  ck::cuda::launch(set_flag, dim3(0, 1, 1), 32, 0, stream(), flag.p);
  ck::cuda::launch(set_flag, dim3(4, 0, 1), 32, 0, stream(), flag.p);
  EXPECT(flag.download()[0] == 0, "an empty grid runs nothing");
  expect_error("block of 2048", "ERR_CUDA", "invalid kernel launch configuration", [&] {
    ck::cuda::launch(set_flag, 1, 2048, 0, stream(), flag.p);
  });
  expect_error("block (32,32,2)", "ERR_CUDA", "more than 1024 threads", [&] {
    ck::cuda::launch(set_flag, 1, dim3(32, 32, 2), 0, stream(), flag.p);
  });
  expect_error("block (0,1,1)", "ERR_CUDA", "block dimension is 0", [&] {
    ck::cuda::launch(set_flag, 1, dim3(0, 1, 1), 0, stream(), flag.p);
  });
  expect_error("228 KiB smem", "ERR_CUDA", "dynamic shared memory", [&] {
    ck::cuda::launch(set_flag, 1, 1, 228 * 1024, stream(), flag.p);
  });
  ck::cuda::launch(set_flag, 1, 1, 0, stream(), flag.p);
  EXPECT(flag.download()[0] == 1, "a one-thread launch runs");
}

void test_emulation_errors() {
  if (!kEmulated) return;  // emulation only: on a GPU these kernels hang or are undefined
  DevBuf<float> f(64);
  DevBuf<unsigned> u(32);
  DevBuf<int> i(32);
  expect_error("deadlock: lane at __syncthreads, warp at shuffle", "ERR_CUDA", "emulated kernel deadlock",
               [&] { ck::cuda::launch(deadlock_mixed, 1, 64, 0, stream(), f.p); });
  expect_error("deadlock: shuffle vs ballot", "ERR_CUDA", "emulated kernel deadlock",
               [&] { ck::cuda::launch(deadlock_mismatch, 2, 32, 0, stream(), u.p); });
  expect_error("lane not in mask", "ERR_CUDA", "does not name the calling lane",
               [&] { ck::cuda::launch(lane_not_in_mask, 1, 32, 0, stream(), i.p); });
#if !CK_CUDA_REAL
  expect_error("nested launch", "ERR_CUDA", "from device code",
               [&] { ck::cuda::launch(nested_launch, 1, 4, 0, stream(), i.p); });
#endif
  // The fibers abandoned by those failures are rebuilt: everything still works.
  run_sgemm(33, 17, 40, 9);
  test_block_sum(1000, 80, 5);
}

void test_two_host_threads() {
  // Launches from two OS threads at once use separate fiber pools and shared-memory copies.
  const int failures_before = g_failures.load();
  std::thread a([] { for (int r = 0; r < 3; ++r) run_sgemm(40, 40, 40, 100 + r); });
  std::thread b([] { for (int r = 0; r < 3; ++r) test_block_sum(3000, 96, 7); });
  a.join();
  b.join();
  EXPECT(g_failures == failures_before, "concurrent launches from two host threads");
}

double seconds_of(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  ck::cuda::synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void report_costs() {
  const unsigned threads = 256, iters = 200, blocks = 4;
  DevBuf<int> out(blocks * threads * 40);
  DevBuf<unsigned> uout(blocks);
  // Warm the fiber pool first.
  ck::cuda::launch(sync_loop, 1, threads, 0, stream(), 1, out.p);
  const double ts = seconds_of([&] { ck::cuda::launch(sync_loop, blocks, threads, 0, stream(), iters, out.p); });
  const double tw = seconds_of([&] { ck::cuda::launch(shfl_loop, blocks, threads, 0, stream(), iters, uout.p); });
  const double tn = seconds_of([&] { ck::cuda::launch(nosync_kernel, blocks * 40, threads, 0, stream(), out.p); });
  const double per_sync = ts / (double(blocks) * threads * iters);
  const double per_shfl = tw / (double(blocks) * threads * iters);
  const double per_thread = tn / (double(blocks) * 40 * threads);
  std::printf("cost: __syncthreads %.0f ns per thread per barrier (~1 fiber switch); __shfl_xor_sync %.0f ns per "
              "lane; a thread that never syncs %.0f ns\n",
              per_sync * 1e9, per_shfl * 1e9, per_thread * 1e9);
}

}  // namespace

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void test_tensor_core_primitives() {
  // cvt.rna.tf32.f32: nearest, ties away from zero (1 + 2^-11 is a tie between 1 and 1 + 2^-10: RNE would
  // give 1), low 13 bits zero; infinities pass.
  const std::vector<float> xs = {1.0f + 0x1p-11f, -(1.0f + 0x1p-11f), 1.0f + 0x1p-11f - 0x1p-23f, 1.0f + 0x1p-10f,
                                 3.14159265f, -0.0f, 65504.0f, __builtin_huge_valf()};
  const std::vector<uint32_t> want = {bits_of(1.0f + 0x1p-10f), bits_of(-(1.0f + 0x1p-10f)), bits_of(1.0f),
                                      bits_of(1.0f + 0x1p-10f), 0x40490000u, 0x80000000u, bits_of(65504.0f),
                                      0x7F800000u};
  DevBuf<float> x(xs);
  DevBuf<unsigned> y(xs.size());
  ck::cuda::launch(cvt_tf32_kernel, dim3(1), dim3(32), 0, stream(), x.p, y.p, static_cast<int>(xs.size()));
  const std::vector<unsigned> got = y.download();
  for (size_t i = 0; i < xs.size(); ++i)
    EXPECT(got[i] == want[i], "cvt_rna_tf32(%a) = 0x%08x, want 0x%08x", xs[i], got[i], want[i]);

  // mma: small integers (exact in tf32 and in every sum) give D exactly; then random values against a double
  // reference of the tf32-rounded operands.
  for (int round = 0; round < 2; ++round) {
    std::vector<float> A(128), B(64), C(128);
    uint32_t seed = 12345u + round;
    auto rnd = [&] { seed = seed * 1664525u + 1013904223u; return static_cast<int>(seed >> 24) % 17 - 8; };
    for (auto& v : A) v = round ? rnd() * 0.1234567f : float(rnd());
    for (auto& v : B) v = round ? rnd() * 0.7654321f : float(rnd());
    for (auto& v : C) v = round ? rnd() * 0.5f : float(rnd());
    DevBuf<float> a(A), b(B), c(C), d(128);
    ck::cuda::launch(mma_tf32_kernel, dim3(1), dim3(32), 0, stream(), a.p, b.p, c.p, d.p);
    const std::vector<float> D = d.download();
    auto tf = [](float v) {
      uint32_t u = bits_of(v);
      return double(float_of((u + 0x1000u) & 0xFFFFE000u));
    };
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 8; ++j) {
        double r = C[i * 8 + j];
        for (int k = 0; k < 8; ++k) r += tf(A[i * 8 + k]) * tf(B[k * 8 + j]);
        if (round == 0) EXPECT(D[i * 8 + j] == r, "mma integers D[%d][%d] = %g, want %g", i, j, D[i * 8 + j], r);
        else EXPECT(std::fabs(D[i * 8 + j] - r) <= 1e-5 * (1 + std::fabs(r)), "mma D[%d][%d] = %.9g, want %.9g", i, j, D[i * 8 + j], r);
      }
  }

  // cp.async commit/wait groups.
  const int n = 32;
  std::vector<float> src(2 * n);
  for (int i = 0; i < 2 * n; ++i) src[i] = 1.5f + i;
  DevBuf<float> s(src), out(4 * n);
  ck::cuda::launch(cp_async_kernel, dim3(1), dim3(n), 3 * n * sizeof(float), stream(), s.p, out.p, n);
  const std::vector<float> o = out.download();
  for (int i = 0; i < n; ++i) {
    EXPECT(o[i] == src[i], "cp.async group 0 after wait_group 1: %g, want %g", o[i], src[i]);
    EXPECT(o[n + i] == src[n + i], "cp.async group 1 after wait_group 0: %g, want %g", o[n + i], src[n + i]);
    EXPECT(o[2 * n + i] == 0.0f, "cp.async zero-fill: %g", o[2 * n + i]);
    if (ck::cuda::is_emulated())  // emulation only: the copy lands at the wait, so the early read sees poison
      EXPECT(std::isnan(o[3 * n + i]), "cp.async read before the wait: %g, want the poison (NaN)", o[3 * n + i]);
  }
}

int main() {
  try {
    if (!ck::cuda::is_available()) {
      std::printf("SKIP: no CUDA device (%s)\n", ck::cuda::runtime_info().c_str());
      return 0;
    }
    test_runtime();
    test_sgemm();
    test_reductions();
    test_warp0_then_all();
    test_atomics();
    test_dynamic_shared();
    test_votes_and_shuffles();
    test_indices_and_args();
    test_launch_config();
    test_emulation_errors();
    test_two_host_threads();
    test_tensor_core_primitives();
    report_costs();
  } catch (const ck::Error& e) {
    std::printf("FAIL: unexpected ck::Error %s: %s\n", e.code.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::printf("FAIL: unexpected exception: %s\n", e.what());
    return 1;
  }
  if (g_failures) {
    std::printf("%d check(s) failed\n", g_failures.load());
    return 1;
  }
  std::printf("emu_selftest: %d checks, all passed\n", g_checks.load());
  return 0;
}
