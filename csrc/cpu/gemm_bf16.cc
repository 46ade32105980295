// The BF16 GEMM's driver (numerics: cpu/gemm_bf16.h): the GotoBLAS loop nest of gemm.cc with bf16 packing. A and
// B are converted to bf16 pairs (two consecutive k of one row / column in a 32-bit word, the layout vdpbf16ps
// reads) while they are packed, so the rounding costs one pass over what the FP32 GEMM packs anyway. The K
// blocking is fixed here (kKC, even) and never depends on the ISA path, and every output element is computed by
// one micro-kernel call per K block, so the result does not depend on the path, the tile sizes or the threads.
#include "cpu/gemm_bf16.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"
#include "core/kernels.h"
#include "cpu/grow_buffer.h"
#include "cpu/isa.h"
#include "cpu/threadpool.h"

namespace ck {
namespace {

std::atomic<bool> g_bf16{false};

constexpr int64_t kKC = 256;   // K block (k values; even): 128 pairs
constexpr int64_t kMC = 128;   // rows of A per packed block
constexpr int64_t kNC = 2048;  // columns of B per packed panel
constexpr int64_t kParallelMinWork = int64_t(1) << 20;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// FP32 bits -> bf16 bits, round to nearest even; NaN -> a quiet NaN of the same sign (PyTorch's c10::BFloat16
// rounding for everything but NaN's payload).
inline uint32_t bf16_round_bits(uint32_t x) {
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (x >> 16) | 0x40u;
  return (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;
}
// The same, with a bf16 denormal flushed to signed zero (what vdpbf16ps does with it): the packed form.
inline uint32_t bf16_pack_bits(float f) {
  const uint32_t r = bf16_round_bits(bits_of(f));
  return (r & 0x7F80u) ? r : (r & 0x8000u);
}
inline uint32_t pair_word(float lo, float hi) { return bf16_pack_bits(lo) | (bf16_pack_bits(hi) << 16); }

thread_local GrowBuffer<uint32_t> tl_pack_a("sgemm (bf16)"), tl_pack_b("sgemm (bf16)");

// ---- the portable path: vdpbf16ps emulated exactly ---------------------------------------------------
constexpr int64_t kPortMR = 4, kPortNR = 16;

inline float lo_of(uint32_t w) { return float_of(w << 16); }
inline float hi_of(uint32_t w) { return float_of(w & 0xFFFF0000u); }

// One FP32 fused multiply-add of two (non-denormal) bf16 values, round to nearest even, denormal result
// flushed to signed zero. The product is exact in double, so is the sum unless the terms are more than ~30
// binades apart, where the bits lost lie below the FP32 rounding point with zeros between: no double rounding.
inline float dp_step(float acc, float a, float b) {
  const float r = static_cast<float>(static_cast<double>(acc) + static_cast<double>(a) * static_cast<double>(b));
  const uint32_t u = bits_of(r);
  return (u & 0x7F800000u) ? r : float_of(u & 0x80000000u);
}

void portable_micro(int64_t kp, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, bool accumulate) {
  float acc[kPortMR][kPortNR];
  for (int r = 0; r < kPortMR; ++r)
    for (int j = 0; j < kPortNR; ++j) acc[r][j] = 0.0f;
  for (int64_t p = 0; p < kp; ++p, a += kPortMR, b += kPortNR) {
    float bh[kPortNR], bl[kPortNR];
    for (int j = 0; j < kPortNR; ++j) {
      bh[j] = hi_of(b[j]);
      bl[j] = lo_of(b[j]);
    }
    for (int r = 0; r < kPortMR; ++r) {
      const float ah = hi_of(a[r]), al = lo_of(a[r]);
      for (int j = 0; j < kPortNR; ++j) acc[r][j] = dp_step(dp_step(acc[r][j], ah, bh[j]), al, bl[j]);
    }
  }
  for (int r = 0; r < kPortMR; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < kPortNR; ++j) cr[j] = accumulate ? cr[j] + acc[r][j] : acc[r][j];
  }
}

}  // namespace

// A block or B panel -> slivers of `t` rows (A: rows i; B: columns j) of ceil(kc/2) groups of t words.
void gemm_bf16_pack_pairs(int64_t t, int64_t n, int64_t kc, const float* src, int64_t is, int64_t ks, uint32_t* dst) {
  const int64_t kp = ceil_div(kc, 2);
  for (int64_t i0 = 0; i0 < n; i0 += t) {
    const int64_t m = std::min(t, n - i0);
    for (int64_t p = 0; p < kp; ++p, dst += t) {
      const int64_t k = 2 * p;
      int64_t r = 0;
      for (; r < m; ++r) {
        const float* s = src + (i0 + r) * is + k * ks;
        dst[r] = pair_word(s[0], k + 1 < kc ? s[ks] : 0.0f);
      }
      for (; r < t; ++r) dst[r] = 0;
    }
  }
}

namespace {

void portable_pack_b(int64_t kc, int64_t nc, const float* b, int64_t rs, int64_t cs, uint32_t* dst) {
  gemm_bf16_pack_pairs(kPortNR, nc, kc, b, cs, rs, dst);
}

void portable_pack_a(int64_t mc, int64_t kc, const float* a, int64_t rs, int64_t cs, uint32_t* dst) {
  gemm_bf16_pack_pairs(kPortMR, mc, kc, a, rs, cs, dst);
}

const GemmBf16Kernels kPortableKernels = {kPortMR, kPortNR, portable_micro, portable_pack_a, portable_pack_b};

// The avx512 path: vdpbf16ps where the CPU has AVX512_BF16, else its FMA emulation; CONVKIT_BF16_GEMM=fma picks
// the emulation there too (the two compute the same bits; on CPUs where vdpbf16ps issues at half the FMA rate it
// is the faster one). The baseline and avx2 paths run the portable kernel.
const GemmBf16Kernels& kernels() {
#if defined(CK_ISA_DISPATCH)
  static const GemmBf16Kernels& k = [] () -> const GemmBf16Kernels& {
    if (cpu_isa() != CpuIsa::kAvx512) return kPortableKernels;
    const char* e = std::getenv("CONVKIT_BF16_GEMM");
    const bool fma = !cpu_features().avx512_bf16 || (e && std::strcmp(e, "fma") == 0);
    return fma ? avx512::kGemmBf16FmaKernels : avx512bf16::kGemmBf16Kernels;
  }();
  return k;
#else
  return kPortableKernels;
#endif
}

// K blocks of even length, the same for every path: a K of 300 is two blocks of 150.
int64_t k_block(int64_t K) {
  const int64_t kc = ceil_div(K, ceil_div(K, kKC));
  return kc + (kc & 1);
}

// C (M x N) = [C +] bf16(A) @ bf16(B) on this thread: `accumulate` adds the first K block to C.
void gemm_serial(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsA, int64_t csA, const float* B,
                 int64_t rsB, int64_t csB, float* C, int64_t ldc, bool accumulate) {
  const GemmBf16Kernels& g = kernels();
  const int64_t MR = g.mr, NR = g.nr;
  const int64_t kcb = k_block(K), kpb = kcb / 2;
  const int64_t ncb = round_up(std::min(N, kNC), NR), mcb = round_up(std::min(M, kMC), MR);
  uint32_t* pb = tl_pack_b.get(kpb * ncb);
  uint32_t* pa = tl_pack_a.get(kpb * mcb);
  alignas(64) float tmp[kGemmBf16MaxMR * kGemmBf16MaxNR];
  for (int64_t jc = 0; jc < N; jc += ncb) {
    const int64_t nc = std::min(ncb, N - jc);
    for (int64_t pc = 0; pc < K; pc += kcb) {
      const int64_t kc = std::min(kcb, K - pc), kp = ceil_div(kc, 2);
      const bool acc = accumulate || pc > 0;
      g.pack_b(kc, nc, B + pc * rsB + jc * csB, rsB, csB, pb);
      for (int64_t ic = 0; ic < M; ic += mcb) {
        const int64_t mc = std::min(mcb, M - ic);
        g.pack_a(mc, kc, A + ic * rsA + pc * csA, rsA, csA, pa);
        for (int64_t j0 = 0; j0 < nc; j0 += NR) {
          const int64_t nr = std::min(NR, nc - j0);
          for (int64_t i0 = 0; i0 < mc; i0 += MR) {
            const int64_t mr = std::min(MR, mc - i0);
            float* c = C + (ic + i0) * ldc + jc + j0;
            if (mr == MR && nr == NR) {
              g.micro(kp, pa + i0 * kp, pb + j0 * kp, c, ldc, acc);
              continue;
            }
            g.micro(kp, pa + i0 * kp, pb + j0 * kp, tmp, NR, false);
            for (int64_t i = 0; i < mr; ++i)
              for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] = acc ? c[i * ldc + j] + tmp[i * NR + j] : tmp[i * NR + j];
          }
        }
      }
    }
  }
}

// One product, on a grid of threads over C when it is big enough (each thread runs gemm_serial on its tile).
void gemm_one(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsA, int64_t csA, const float* B,
              int64_t rsB, int64_t csB, float* C, int64_t ldc, bool accumulate) {
  const int nthreads = (M * N * K >= kParallelMinWork && !in_parallel_region()) ? get_num_threads() : 1;
  if (nthreads == 1) return gemm_serial(M, N, K, A, rsA, csA, B, rsB, csB, C, ldc, accumulate);
  const GemmBf16Kernels& g = kernels();
  const int64_t mpanels = ceil_div(M, g.mr), nslivers = ceil_div(N, g.nr);
  int64_t tm = 1, tn = nthreads;
  double best = 1e300;
  for (int64_t d = 1; d <= nthreads; ++d) {
    if (nthreads % d != 0 || d > mpanels || nthreads / d > nslivers) continue;
    const double cost = double(M) / d + double(N) / (nthreads / d);
    if (cost < best) {
      best = cost;
      tm = d;
      tn = nthreads / d;
    }
  }
  parallel_for(tm * tn, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ti = t / tn, tj = t % tn;
      const int64_t i0 = mpanels * ti / tm * g.mr, i1 = std::min(M, mpanels * (ti + 1) / tm * g.mr);
      const int64_t j0 = nslivers * tj / tn * g.nr, j1 = std::min(N, nslivers * (tj + 1) / tn * g.nr);
      if (i1 > i0 && j1 > j0)
        gemm_serial(i1 - i0, j1 - j0, K, A + i0 * rsA, rsA, csA, B + j0 * csB, rsB, csB, C + i0 * ldc + j0, ldc,
                    accumulate);
    }
  });
}

}  // namespace

bool gemm_bf16_enabled() { return g_bf16.load(std::memory_order_relaxed); }
void set_gemm_bf16(bool on) { g_bf16.store(on, std::memory_order_relaxed); }

const char* gemm_bf16_kernel_name() {
  const GemmBf16Kernels* k = &kernels();
  if (k == &kPortableKernels) return "portable";
#if defined(CK_ISA_DISPATCH)
  if (k == &avx512::kGemmBf16FmaKernels) return "avx512fma";
#endif
  return "avx512bf16";
}

void sgemm_bf16_cpu(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t sAb,
                    int64_t rsA, int64_t csA, const float* B, int64_t sBb, int64_t rsB, int64_t csB, float beta,
                    float* C, int64_t sCb, int64_t ldc) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const bool direct = alpha == 1.0f && (beta == 0.0f || beta == 1.0f);
  auto one = [&](int64_t b) {
    float* c = C + b * sCb;
    if (K <= 0 || alpha == 0.0f || !direct) {  // BLAS: C = beta * C first (A and B unread when alpha or K is 0)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
      if (K <= 0 || alpha == 0.0f) return;
    }
    if (direct) return gemm_one(M, N, K, A + b * sAb, rsA, csA, B + b * sBb, rsB, csB, c, ldc, beta == 1.0f);
    // Other alpha / beta: the product in FP32 scratch, then C += alpha * T (C was scaled above).
    GrowBuffer<float> t("sgemm (bf16)");
    float* tp = t.get(M * N);
    gemm_one(M, N, K, A + b * sAb, rsA, csA, B + b * sBb, rsB, csB, tp, N, false);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) c[i * ldc + j] += alpha * tp[i * N + j];
  };
  const int64_t work = M * N * std::max<int64_t>(K, 1);
  const bool across_batch = batch > 1 && sCb != 0 && !in_parallel_region() && work < 8 * kParallelMinWork &&
                            batch * work >= kParallelMinWork;
  if (across_batch) {
    parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) one(b);
    });
  } else {
    for (int64_t b = 0; b < batch; ++b) one(b);
  }
}

void round_bf16_cpu(int64_t n, const float* x, float* y) {
  auto body = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = float_of(bf16_round_bits(bits_of(x[i])) << 16);
  };
  if (n >= (int64_t(1) << 18) && !in_parallel_region()) {
    parallel_for(n, int64_t(1) << 16, body);
  } else {
    body(0, n);
  }
}

}  // namespace ck
