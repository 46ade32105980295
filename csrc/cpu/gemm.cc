// Single-precision GEMM in the GotoBLAS/BLIS style: B is packed into a K-block x N-block panel (lives in
// L3), A into M-block x K-block pieces (live in L2), and a register-blocked micro-kernel multiplies
// MR x KC A slivers by KC x NR B slivers (the B sliver stays in L1). Packing absorbs the arbitrary
// strides, so transposed views cost nothing extra. Threads work on disjoint tiles of C.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>

#include "core/error.h"
#include "core/kernels.h"
#include "cpu/gemm_bf16.h"
#include "cpu/grow_buffer.h"
#include "cpu/gemm_kernels.h"
#include "cpu/isa.h"
#include "cpu/threadpool.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ck {
namespace {

// Skinny-shape threshold for N (see gemm_small_n; M's is the path's MC): the whole small operand's K
// block must stay in L2 next to the slivers streaming through.
constexpr int64_t kSmallN = 128;

// Below this many multiply-adds a fork/join costs more than it saves.
constexpr int64_t kParallelMinWork = int64_t(1) << 20;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

thread_local GrowBuffer<float> tl_pack_a("sgemm"), tl_pack_b("sgemm");

// ---- the baseline path: SSE2 (part of x86-64; plain C++ elsewhere), a 6x8 tile ----------------------
// 12 accumulators of 4 floats fill 12 of the 16 xmm registers, leaving two for B and one for the broadcast
// (a 6x16 tile would need 24 and spill on every step).
#include "cpu/gemm_pack.inc"

constexpr int64_t kBaseMR = 6, kBaseNR = 8;

#if defined(__SSE2__)
void base_micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                       float alpha, float beta) {
  __m128 acc[kBaseMR][2];
  for (int r = 0; r < kBaseMR; ++r) acc[r][0] = acc[r][1] = _mm_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m128 b0 = _mm_load_ps(b), b1 = _mm_load_ps(b + 4);
#pragma GCC unroll 6
    for (int r = 0; r < kBaseMR; ++r) {
      const __m128 av = _mm_set1_ps(a[r]);
      acc[r][0] = _mm_add_ps(acc[r][0], _mm_mul_ps(av, b0));
      acc[r][1] = _mm_add_ps(acc[r][1], _mm_mul_ps(av, b1));
    }
    a += kBaseMR;
    b += kBaseNR;
  }
  const __m128 va = _mm_set1_ps(alpha), vb = _mm_set1_ps(beta);
  for (int r = 0; r < kBaseMR; ++r) {
    float* cr = c + r * ldc;
    __m128 lo = _mm_mul_ps(acc[r][0], va), hi = _mm_mul_ps(acc[r][1], va);
    if (beta != 0.0f) {
      lo = _mm_add_ps(lo, _mm_mul_ps(vb, _mm_loadu_ps(cr)));
      hi = _mm_add_ps(hi, _mm_mul_ps(vb, _mm_loadu_ps(cr + 4)));
    }
    _mm_storeu_ps(cr, lo);
    _mm_storeu_ps(cr + 4, hi);
  }
}
#else
void base_micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                       float alpha, float beta) {
  float acc[kBaseMR][kBaseNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < kBaseMR; ++r)
      for (int j = 0; j < kBaseNR; ++j) acc[r][j] += a[r] * b[j];
    a += kBaseMR;
    b += kBaseNR;
  }
  for (int r = 0; r < kBaseMR; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < kBaseNR; ++j) cr[j] = alpha * acc[r][j] + (beta == 0.0f ? 0.0f : beta * cr[j]);
  }
}
#endif

void base_pack_a(int64_t mc, int64_t kc, const float* a, int64_t rs, int64_t cs, float* dst) {
  pack_a_tile<kBaseMR>(mc, kc, a, rs, cs, dst, NoFastPack());
}

void base_pack_b(int64_t kc, int64_t nc, const float* b, int64_t rs, int64_t cs, float* dst) {
  pack_b_tile<kBaseNR>(
      kc, nc, b, rs, cs, dst, [](const float* p, float* d) { std::memcpy(d, p, kBaseNR * sizeof(float)); },
      NoFastPack());
}

float base_dot(int64_t K, const float* x, const float* y) {
  float acc = 0.0f;
  for (int64_t k = 0; k < K; ++k) acc += x[k] * y[k];
  return acc;
}

const GemmKernels kBaseKernels = {kBaseMR,     kBaseNR,     256,      144, 4080, base_micro_kernel,
                                  base_pack_a, base_pack_b, base_dot, nullptr, nullptr, 0, 0, nullptr};

// Partial tiles at the right/bottom edges: compute a full tile into scratch, then write the valid part.
void edge_kernel(const GemmKernels& g, int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                 int64_t mr, int64_t nr, float alpha, float beta) {
  alignas(64) float tmp[kGemmMaxMR * kGemmMaxNR];
  g.micro(kc, a, b, tmp, g.nr, 1.0f, 0.0f);
  for (int64_t i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    const float* ti = tmp + i * g.nr;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < nr; ++j) ci[j] = alpha * ti[j];
    } else {
      for (int64_t j = 0; j < nr; ++j) ci[j] = alpha * ti[j] + beta * ci[j];
    }
  }
}

// C block (mc x nc) from packed A (mc x kc) and packed B slivers covering nc columns.
void macro_kernel(const GemmKernels& g, int64_t mc, int64_t nc, int64_t kc, const float* pa, const float* pb,
                  float* c, int64_t ldc, float alpha, float beta) {
  const int64_t MR = g.mr, NR = g.nr;
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int64_t nr = std::min(NR, nc - j0);
    const float* b = pb + j0 * kc;
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
      const int64_t mr = std::min(MR, mc - i0);
      const float* a = pa + i0 * kc;
      float* cij = c + i0 * ldc + j0;
      if (mr == MR && nr == NR) {
        g.micro(kc, a, b, cij, ldc, alpha, beta);
      } else {
        edge_kernel(g, kc, a, b, cij, ldc, mr, nr, alpha, beta);
      }
    }
  }
}

// ---- drivers ----------------------------------------------------------------------------------------
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) {
      std::fill(c, c + N, 0.0f);
    } else if (beta != 1.0f) {
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
  }
}

// y[j] (stride incy, j < n) = alpha * sum_k x[k*incx] * m[k*rs + j*cs] + beta * y[j]. Used for M == 1 or
// N == 1, where packing would touch every matrix element once for only one multiply-add each.
void gemv(int64_t n, int64_t K, float alpha, const float* x, int64_t incx, const float* m, int64_t rs,
          int64_t cs, float beta, float* y, int64_t incy) {
  const auto dot = gemm_kernels().dot;
  auto finish = [&](int64_t j, float acc) {
    float* yj = y + j * incy;
    *yj = beta == 0.0f ? alpha * acc : alpha * acc + beta * *yj;
  };
  auto body = [&](int64_t j_begin, int64_t j_end) {
    if (cs == 1) {
      // Rows of m are contiguous: accumulate alpha-free partial sums row by row (axpy form).
      constexpr int64_t kBlock = 512;
      float acc[kBlock];
      for (int64_t jb = j_begin; jb < j_end; jb += kBlock) {
        const int64_t w = std::min(kBlock, j_end - jb);
        std::fill(acc, acc + w, 0.0f);
        for (int64_t k = 0; k < K; ++k) {
          const float xk = x[k * incx];
          const float* row = m + k * rs + jb;
          for (int64_t j = 0; j < w; ++j) acc[j] += xk * row[j];
        }
        for (int64_t j = 0; j < w; ++j) finish(jb + j, acc[j]);
      }
    } else if (rs == 1 && incx == 1) {
      // Columns of m are contiguous: one dot product per output.
      for (int64_t j = j_begin; j < j_end; ++j) {
        finish(j, dot(K, x, m + j * cs));
      }
    } else {
      for (int64_t j = j_begin; j < j_end; ++j) {
        float acc = 0.0f;
        for (int64_t k = 0; k < K; ++k) acc += x[k * incx] * m[k * rs + j * cs];
        finish(j, acc);
      }
    }
  };
  if (n * K >= kParallelMinWork) {
    parallel_for(n, 64, body);
  } else {
    body(0, n);
  }
}

// Skinny shapes. With one small dimension each packed element of the other operand is reused only that
// many times, so writing that operand out as a whole panel and reading it back from L3 shows in the
// time. Instead each thread owns a range of the big dimension, packs the small operand whole (cheap)
// and packs each sliver of the big operand just before multiplying it, while it is still in L1.

// Even K blocks: a K of 260 becomes two blocks of 130, not 256 + 4.
int64_t k_block(const GemmKernels& g, int64_t K) { return ceil_div(K, ceil_div(K, g.kc)); }

// fn(pc, kc, beta_eff) over the K blocks: the first block applies beta, the others accumulate.
template <class F>
void for_k_blocks(int64_t K, int64_t kcb, float beta, const F& fn) {
  for (int64_t pc = 0; pc < K; pc += kcb) fn(pc, std::min(kcb, K - pc), pc == 0 ? beta : 1.0f);
}

// body(begin, end) over [0, n) parts, split over the threads when there are several.
template <class F>
void over_parts(int nthreads, int64_t n, const F& body) {
  if (nthreads > 1) {
    parallel_for(n, 1, body);
  } else {
    body(0, n);
  }
}

// Small M: threads split N; B slivers are packed on the fly.
void gemm_small_m(int nthreads, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA,
                  int64_t csA, const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t ldc) {
  const GemmKernels& g = gemm_kernels();
  const int64_t kcb = k_block(g, K), NR = g.nr;
  const bool in_place = g.micro_rows != nullptr && csB == 1;
  over_parts(nthreads, ceil_div(N, NR), [&](int64_t s_begin, int64_t s_end) {
    float* pa = tl_pack_a.get(round_up(M, g.mr) * kcb);
    float* pb = tl_pack_b.get(NR * kcb);
    for_k_blocks(K, kcb, beta, [&](int64_t pc, int64_t kc, float beta_eff) {
      g.pack_a(M, kc, A + pc * csA, rsA, csA, pa);
      for (int64_t s = s_begin; s < s_end; ++s) {
        const int64_t j0 = s * NR;
        const int64_t nr = std::min(NR, N - j0);
        if (in_place) {
          // A sliver of a row-major B: the micro-kernel reads it where it is (the first row tile pulls it into
          // L1 for the others), a right-edge one under a mask; the bottom edge goes through scratch.
          const float* b = B + pc * rsB + j0;
          for (int64_t i0 = 0; i0 < M; i0 += g.mr) {
            const float* a = pa + i0 * kc;
            float* c = C + i0 * ldc + j0;
            if (M - i0 >= g.mr) {
              if (nr == NR) {
                g.micro_rows(kc, a, b, rsB, c, ldc, alpha, beta_eff);
              } else {
                g.micro_rows_edge(kc, a, b, rsB, c, ldc, alpha, beta_eff, nr);
              }
            } else {
              alignas(64) float tmp[kGemmMaxMR * kGemmMaxNR];
              if (nr == NR) {
                g.micro_rows(kc, a, b, rsB, tmp, NR, 1.0f, 0.0f);
              } else {
                g.micro_rows_edge(kc, a, b, rsB, tmp, NR, 1.0f, 0.0f, nr);
              }
              for (int64_t i = 0; i < M - i0; ++i)
                for (int64_t j = 0; j < nr; ++j)
                  c[i * ldc + j] = alpha * tmp[i * NR + j] + (beta_eff == 0.0f ? 0.0f : beta_eff * c[i * ldc + j]);
            }
          }
          continue;
        }
        g.pack_b(kc, nr, B + pc * rsB + j0 * csB, rsB, csB, pb);
        macro_kernel(g, M, nr, kc, pa, pb, C + j0, ldc, alpha, beta_eff);
      }
    });
  });
}

// Small N: threads split M; A slivers are packed on the fly.
void gemm_small_n(int nthreads, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA,
                  int64_t csA, const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t ldc) {
  const GemmKernels& g = gemm_kernels();
  const int64_t kcb = k_block(g, K), MR = g.mr;
  over_parts(nthreads, ceil_div(M, MR), [&](int64_t p_begin, int64_t p_end) {
    float* pb = tl_pack_b.get(ceil_div(N, g.nr) * g.nr * kcb);
    float* pa = tl_pack_a.get(MR * kcb);
    for_k_blocks(K, kcb, beta, [&](int64_t pc, int64_t kc, float beta_eff) {
      g.pack_b(kc, N, B + pc * rsB, rsB, csB, pb);
      for (int64_t p = p_begin; p < p_end; ++p) {
        const int64_t i0 = p * MR;
        const int64_t mr = std::min(MR, M - i0);
        g.pack_a(mr, kc, A + i0 * rsA + pc * csA, rsA, csA, pa);
        macro_kernel(g, mr, N, kc, pa, pb, C + i0 * ldc, ldc, alpha, beta_eff);
      }
    });
  });
}

// The GotoBLAS loop nest on one thread.
void gemm_serial(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA, int64_t csA,
                 const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t ldc) {
  const GemmKernels& g = gemm_kernels();
  // Even block sizes, as k_block.
  const int64_t kcb = k_block(g, K);
  const int64_t ncb = round_up(ceil_div(N, ceil_div(N, g.nc)), g.nr);
  const int64_t mcb = round_up(ceil_div(M, ceil_div(M, g.mc)), g.mr);
  float* pb = tl_pack_b.get(kcb * ncb);
  float* pa = tl_pack_a.get(mcb * kcb);
  for (int64_t jc = 0; jc < N; jc += ncb) {
    const int64_t nc = std::min(ncb, N - jc);
    for_k_blocks(K, kcb, beta, [&](int64_t pc, int64_t kc, float beta_eff) {
      g.pack_b(kc, nc, B + pc * rsB + jc * csB, rsB, csB, pb);
      for (int64_t ic = 0; ic < M; ic += mcb) {
        const int64_t mc = std::min(mcb, M - ic);
        g.pack_a(mc, kc, A + ic * rsA + pc * csA, rsA, csA, pa);
        macro_kernel(g, mc, nc, kc, pa, pb, C + ic * ldc + jc, ldc, alpha, beta_eff);
      }
    });
  }
}

void gemm_packed(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA, int64_t csA,
                 const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t ldc) {
  const int nthreads = (M * N * K >= kParallelMinWork && !in_parallel_region()) ? get_num_threads() : 1;
  const GemmKernels& g = gemm_kernels();
  const int64_t MR = g.mr, NR = g.nr;
  if (M <= g.mc && M <= N) {
    gemm_small_m(nthreads, M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, ldc);
    return;
  }
  if (N <= kSmallN) {
    gemm_small_n(nthreads, M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, ldc);
    return;
  }
  if (nthreads == 1) {
    gemm_serial(M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, ldc);
    return;
  }
  // Each thread runs the serial loop nest on its own tile of a tm x tn grid over C. Sharing one packed
  // B panel would need two barriers per K block; private tiles need none and only re-pack the operand
  // along the split dimension, so pick the grid that re-packs least (per-thread M/tm + N/tn).
  const int64_t mpanels = ceil_div(M, MR), nslivers = ceil_div(N, NR);
  int64_t tm = 1, tn = nthreads;
  double best = 1e300;
  for (int64_t d = 1; d <= nthreads; ++d) {
    if (nthreads % d != 0 || d > mpanels || nthreads / d > nslivers) continue;
    const double cost = double(M) / d + double(N) / (nthreads / d);
    if (cost < best) { best = cost; tm = d; tn = nthreads / d; }
  }
  parallel_for(tm * tn, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ti = t / tn, tj = t % tn;
      const int64_t i0 = mpanels * ti / tm * MR, i1 = std::min(M, mpanels * (ti + 1) / tm * MR);
      const int64_t j0 = nslivers * tj / tn * NR, j1 = std::min(N, nslivers * (tj + 1) / tn * NR);
      if (i1 <= i0 || j1 <= j0) continue;
      gemm_serial(i1 - i0, j1 - j0, K, alpha, A + i0 * rsA, rsA, csA, B + j0 * csB, rsB, csB, beta,
                  C + i0 * ldc + j0, ldc);
    }
  });
}

void gemm_one(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA, int64_t csA,
              const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  // BLAS convention: with alpha == 0 A and B are not read (they may hold NaN), only C is scaled.
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  if (M == 1) {
    gemv(N, K, alpha, A, csA, B, rsB, csB, beta, C, 1);
  } else if (N == 1) {
    gemv(M, K, alpha, B, rsB, A, csA, rsA, beta, C, ldc);
  } else {
    gemm_packed(M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, ldc);
  }
}

}  // namespace

const GemmKernels& gemm_kernels() {
  static const GemmKernels& k = CK_ISA_TABLE(kBaseKernels, avx2::kGemmKernels, avx512::kGemmKernels);
  return k;
}

int64_t gemm_packed_a_size(int64_t M, int64_t K) { return round_up(M, gemm_kernels().mr) * K + 16; }
int64_t gemm_packed_b_size(int64_t K, int64_t N) { return round_up(N, gemm_kernels().nr) * K + 16; }
void gemm_pack_a(int64_t M, int64_t K, const float* A, int64_t rs, int64_t cs, float* dst) {
  gemm_kernels().pack_a(M, K, A, rs, cs, dst);
}
void gemm_pack_b(int64_t K, int64_t N, const float* B, int64_t rs, int64_t cs, float* dst) {
  gemm_kernels().pack_b(K, N, B, rs, cs, dst);
}

void sgemm_prepacked(int64_t M, int64_t N, int64_t K, const float* pa, int64_t ka, const float* pb, int64_t kb,
                     int64_t b_k0, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const GemmKernels& g = gemm_kernels();
  if (K <= 0) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const int64_t kcb = k_block(g, K), MR = g.mr, NR = g.nr;
  // A tile i, k block from k0: pa + i*MR*ka + k0*MR; B sliver s from row k: pb + s*NR*kb + k*NR (aligned: NR
  // floats per row). The B sliver stays in L1 while the A tiles stream past it, as in macro_kernel.
  for_k_blocks(K, kcb, beta, [&](int64_t k0, int64_t kc, float beta_eff) {
    for (int64_t j0 = 0; j0 < N; j0 += NR) {
      const int64_t nr = std::min(NR, N - j0);
      const float* b = pb + j0 * kb + (b_k0 + k0) * NR;
      for (int64_t i0 = 0; i0 < M; i0 += MR) {
        const int64_t mr = std::min(MR, M - i0);
        const float* a = pa + i0 * ka + k0 * MR;
        float* c = C + i0 * ldc + j0;
        if (mr == MR && nr == NR) {
          g.micro(kc, a, b, c, ldc, 1.0f, beta_eff);
        } else {
          edge_kernel(g, kc, a, b, c, ldc, mr, nr, 1.0f, beta_eff);
        }
      }
    }
  });
}

bool sgemm_nt_rows(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                   float beta, float* C, int64_t ldc) {
  const GemmKernels& g = gemm_kernels();
  if (!g.dot_tile) return false;
  if (M <= 0 || N <= 0) return true;
  if (K <= 0) {
    scale_c(M, N, beta, C, ldc);
    return true;
  }
  // K blocks of up to 512 (the tile's 10 rows stay in L1); B's tile rows are the outer loop, so they are read
  // from L1 by every A tile.
  const int64_t kb = ceil_div(K, ceil_div(K, 512));
  for (int64_t k0 = 0; k0 < K; k0 += kb) {
    const int64_t kc = std::min(kb, K - k0);
    const float b_eff = k0 == 0 ? beta : 1.0f;
    for (int64_t j = 0; j < N; j += g.dot_n)
      for (int64_t i = 0; i < M; i += g.dot_m)
        g.dot_tile(std::min(g.dot_m, M - i), std::min(g.dot_n, N - j), kc, A + i * lda + k0, lda, B + j * ldb + k0,
                   ldb, C + i * ldc + j, ldc, b_eff);
  }
  return true;
}

void sgemm_cpu(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t sAb, int64_t rsA, int64_t csA,
               const float* B, int64_t sBb, int64_t rsB, int64_t csB,
               float beta, float* C, int64_t sCb, int64_t ldc) {
  if (gemm_bf16_enabled()) return sgemm_bf16_cpu(batch, M, N, K, alpha, A, sAb, rsA, csA, B, sBb, rsB, csB, beta, C, sCb, ldc);
  if (batch <= 0 || M <= 0 || N <= 0) return;
  auto one = [&](int64_t b) {
    gemm_one(M, N, K, alpha, A + b * sAb, rsA, csA, B + b * sBb, rsB, csB, beta, C + b * sCb, ldc);
  };
  // Many small products: parallelise across the batch (each product then runs single-threaded) when
  // the batch divides evenly over the threads or is large enough that the remainder hardly matters.
  // sCb == 0 means every product accumulates into the same C, which must stay sequential.
  const int64_t work = M * N * std::max<int64_t>(K, 1);
  const int64_t nthreads = get_num_threads();
  const bool across_batch = batch > 1 && sCb != 0 && !in_parallel_region() && work < 8 * kParallelMinWork &&
                            batch * work >= kParallelMinWork &&
                            (batch % nthreads == 0 || batch >= 4 * nthreads || work < kParallelMinWork);
  if (across_batch) {
    parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) one(b);
    });
  } else {
    for (int64_t b = 0; b < batch; ++b) one(b);
  }
}

}  // namespace ck
