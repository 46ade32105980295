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
#include "cpu/threadpool.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define CK_GEMM_AVX2 1
#endif

namespace ck {
namespace {

// 6x16 uses 12 of the 16 ymm registers for accumulators and leaves room for two B vectors and an A
// broadcast; 12 independent FMA chains cover Zen 3's 2 FMA pipes x 3-4 cycle latency.
constexpr int64_t MR = 6;
constexpr int64_t NR = 16;
// KC: a 16 x KC B sliver (16 KiB) plus an A sliver fit the 32 KiB L1d. MC: the MC x KC A block (~150
// KiB) sits comfortably in the 512 KiB L2 with room for B slivers streaming through. NC: the KC x NC
// B panel (4 MiB) stays in L3.
constexpr int64_t KC_MAX = 256;
constexpr int64_t MC_MAX = 144;
constexpr int64_t NC_MAX = 4080;

// Skinny-shape thresholds (see gemm_small_m / gemm_small_n): the whole small operand's K block must
// stay in L2 next to the slivers streaming through.
constexpr int64_t kSmallM = MC_MAX;
constexpr int64_t kSmallN = 128;

// Below this many multiply-adds a fork/join costs more than it saves.
constexpr int64_t kParallelMinWork = int64_t(1) << 20;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Grows, never shrinks: re-allocating multi-MiB buffers per call would page-fault on every GEMM.
class PackBuffer {
 public:
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { release(); }
  float* get(int64_t n) {
    if (n > cap_) {
      release();
      void* p = ::operator new(static_cast<size_t>(n + kSlack) * sizeof(float), kAlign, std::nothrow);
      if (!p) CK_THROW("ERR_OOM", "sgemm: cannot allocate a packing buffer");
      p_ = static_cast<float*>(p);
      cap_ = n;
    }
    return p_;
  }

 private:
  static constexpr std::align_val_t kAlign{64};  // the micro-kernel uses aligned loads on packed B
  static constexpr int64_t kSlack = 16;           // pack_a's vector stores may run 2 floats past the end
  void release() {
    if (p_) ::operator delete(p_, kAlign);
    p_ = nullptr;
    cap_ = 0;
  }
  float* p_ = nullptr;
  int64_t cap_ = 0;
};

thread_local PackBuffer tl_pack_a;
thread_local PackBuffer tl_pack_b;

// ---- micro-kernel -----------------------------------------------------------------------------------
// c (MR x NR, row stride ldc) = alpha * a_panel @ b_panel + beta * c; reads c only when beta != 0.
// a: kc groups of MR floats; b: kc groups of NR floats, 32-byte aligned.
#if CK_GEMM_AVX2
inline void store_row(float* c, __m256 lo, __m256 hi, __m256 valpha, __m256 vbeta, bool read_c) {
  lo = _mm256_mul_ps(lo, valpha);
  hi = _mm256_mul_ps(hi, valpha);
  if (read_c) {
    lo = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(c), lo);
    hi = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(c + 8), hi);
  }
  _mm256_storeu_ps(c, lo);
  _mm256_storeu_ps(c + 8, hi);
}

void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                  float alpha, float beta) {
  for (int r = 0; r < MR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NR - 1), _MM_HINT_T0);
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#define CK_GEMM_STEP(off_a, off_b)                                     \
  {                                                                    \
    __m256 b0 = _mm256_load_ps(b + (off_b));                           \
    __m256 b1 = _mm256_load_ps(b + (off_b) + 8);                       \
    __m256 av = _mm256_broadcast_ss(a + (off_a) + 0);                  \
    c00 = _mm256_fmadd_ps(av, b0, c00);                                \
    c01 = _mm256_fmadd_ps(av, b1, c01);                                \
    av = _mm256_broadcast_ss(a + (off_a) + 1);                         \
    c10 = _mm256_fmadd_ps(av, b0, c10);                                \
    c11 = _mm256_fmadd_ps(av, b1, c11);                                \
    av = _mm256_broadcast_ss(a + (off_a) + 2);                         \
    c20 = _mm256_fmadd_ps(av, b0, c20);                                \
    c21 = _mm256_fmadd_ps(av, b1, c21);                                \
    av = _mm256_broadcast_ss(a + (off_a) + 3);                         \
    c30 = _mm256_fmadd_ps(av, b0, c30);                                \
    c31 = _mm256_fmadd_ps(av, b1, c31);                                \
    av = _mm256_broadcast_ss(a + (off_a) + 4);                         \
    c40 = _mm256_fmadd_ps(av, b0, c40);                                \
    c41 = _mm256_fmadd_ps(av, b1, c41);                                \
    av = _mm256_broadcast_ss(a + (off_a) + 5);                         \
    c50 = _mm256_fmadd_ps(av, b0, c50);                                \
    c51 = _mm256_fmadd_ps(av, b1, c51);                                \
  }
#if defined(__GNUC__) && defined(__x86_64__)
  // The 4x-unrolled k loop is written in assembly: compiled from intrinsics, GCC hoists broadcasts
  // across steps and spills two accumulators, which costs ~5% of peak. The accumulators stay
  // compiler-allocated operands; ymm0-3 hold the B row and the A broadcasts.
  if (kc >= 4) {
    int64_t n4 = kc / 4;
#define CK_ASM_STEP(ao, bo)                     \
  "vmovaps " #bo "(%[b]), %%ymm0\n\t"           \
  "vmovaps " #bo "+32(%[b]), %%ymm1\n\t"        \
  "vbroadcastss " #ao "(%[a]), %%ymm2\n\t"      \
  "vbroadcastss " #ao "+4(%[a]), %%ymm3\n\t"    \
  "vfmadd231ps %%ymm0, %%ymm2, %[c00]\n\t"      \
  "vfmadd231ps %%ymm1, %%ymm2, %[c01]\n\t"      \
  "vfmadd231ps %%ymm0, %%ymm3, %[c10]\n\t"      \
  "vfmadd231ps %%ymm1, %%ymm3, %[c11]\n\t"      \
  "vbroadcastss " #ao "+8(%[a]), %%ymm2\n\t"    \
  "vbroadcastss " #ao "+12(%[a]), %%ymm3\n\t"   \
  "vfmadd231ps %%ymm0, %%ymm2, %[c20]\n\t"      \
  "vfmadd231ps %%ymm1, %%ymm2, %[c21]\n\t"      \
  "vfmadd231ps %%ymm0, %%ymm3, %[c30]\n\t"      \
  "vfmadd231ps %%ymm1, %%ymm3, %[c31]\n\t"      \
  "vbroadcastss " #ao "+16(%[a]), %%ymm2\n\t"   \
  "vbroadcastss " #ao "+20(%[a]), %%ymm3\n\t"   \
  "vfmadd231ps %%ymm0, %%ymm2, %[c40]\n\t"      \
  "vfmadd231ps %%ymm1, %%ymm2, %[c41]\n\t"      \
  "vfmadd231ps %%ymm0, %%ymm3, %[c50]\n\t"      \
  "vfmadd231ps %%ymm1, %%ymm3, %[c51]\n\t"
    __asm__ volatile(
        "1:\n\t"
        "prefetcht0 256(%[a])\n\t"
        CK_ASM_STEP(0, 0)
        CK_ASM_STEP(24, 64)
        CK_ASM_STEP(48, 128)
        CK_ASM_STEP(72, 192)
        "add $96, %[a]\n\t"
        "add $256, %[b]\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        : [a] "+r"(a), [b] "+r"(b), [n] "+r"(n4), [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10),
          [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21), [c30] "+x"(c30), [c31] "+x"(c31),
          [c40] "+x"(c40), [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "memory", "cc");
#undef CK_ASM_STEP
  }
  int64_t k = kc / 4 * 4;
#else
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(a + 64), _MM_HINT_T0);
    CK_GEMM_STEP(0, 0)
    CK_GEMM_STEP(MR, NR)
    CK_GEMM_STEP(2 * MR, 2 * NR)
    CK_GEMM_STEP(3 * MR, 3 * NR)
    a += 4 * MR;
    b += 4 * NR;
  }
#endif
  for (; k < kc; ++k) {
    CK_GEMM_STEP(0, 0)
    a += MR;
    b += NR;
  }
#undef CK_GEMM_STEP
  const __m256 valpha = _mm256_set1_ps(alpha), vbeta = _mm256_set1_ps(beta);
  const bool read_c = beta != 0.0f;
  store_row(c + 0 * ldc, c00, c01, valpha, vbeta, read_c);
  store_row(c + 1 * ldc, c10, c11, valpha, vbeta, read_c);
  store_row(c + 2 * ldc, c20, c21, valpha, vbeta, read_c);
  store_row(c + 3 * ldc, c30, c31, valpha, vbeta, read_c);
  store_row(c + 4 * ldc, c40, c41, valpha, vbeta, read_c);
  store_row(c + 5 * ldc, c50, c51, valpha, vbeta, read_c);
}
#else
void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                  float alpha, float beta) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < MR; ++r) {
      const float av = a[r];
      for (int j = 0; j < NR; ++j) acc[r][j] += av * b[j];
    }
    a += MR;
    b += NR;
  }
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < NR; ++j) cr[j] = alpha * acc[r][j];
    } else {
      for (int j = 0; j < NR; ++j) cr[j] = alpha * acc[r][j] + beta * cr[j];
    }
  }
}
#endif

// Partial tiles at the right/bottom edges: compute a full tile into scratch, then write the valid part.
void edge_kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t mr, int64_t nr,
                 float alpha, float beta) {
  alignas(64) float tmp[MR * NR];
  micro_kernel(kc, a, b, tmp, NR, 1.0f, 0.0f);
  for (int64_t i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    const float* ti = tmp + i * NR;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < nr; ++j) ci[j] = alpha * ti[j];
    } else {
      for (int64_t j = 0; j < nr; ++j) ci[j] = alpha * ti[j] + beta * ci[j];
    }
  }
}

// ---- packing ----------------------------------------------------------------------------------------
// A block (mc x kc, element (i,k) at a[i*rs + k*cs]) -> ceil(mc/MR) slivers, each kc groups of MR rows,
// rows past mc zero-filled so the micro-kernel never needs a row count.
void pack_a(int64_t mc, int64_t kc, const float* a, int64_t rs, int64_t cs, float* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int64_t mr = std::min(MR, mc - i0);
    const float* src = a + i0 * rs;
    if (mr == MR && cs == 1) {
      const float *r0 = src, *r1 = src + rs, *r2 = src + 2 * rs, *r3 = src + 3 * rs, *r4 = src + 4 * rs,
                  *r5 = src + 5 * rs;
      int64_t k = 0;
#if CK_GEMM_AVX2
      // 8 k-values of 6 rows at a time: transpose 6x8 -> 8x6 through an 8x8 register transpose.
      for (; k + 8 <= kc; k += 8) {
        __m256 x0 = _mm256_loadu_ps(r0 + k), x1 = _mm256_loadu_ps(r1 + k), x2 = _mm256_loadu_ps(r2 + k),
               x3 = _mm256_loadu_ps(r3 + k), x4 = _mm256_loadu_ps(r4 + k), x5 = _mm256_loadu_ps(r5 + k);
        __m256 z = _mm256_setzero_ps();
        __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
        __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
        __m256 t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5);
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        __m256 u4 = _mm256_shuffle_ps(t4, z, 0x44), u5 = _mm256_shuffle_ps(t4, z, 0xEE);
        __m256 u6 = _mm256_shuffle_ps(t5, z, 0x44), u7 = _mm256_shuffle_ps(t5, z, 0xEE);
        // u0..u3 hold rows 0-3 for k = {0,1,2,3 | 4,5,6,7} by lane; u4..u7 rows 4-5 (+2 zeros). Each
        // 8-float column store spills 2 zeros past its 6 floats; the next store (or, at the end of the
        // buffer, the slack PackBuffer keeps) absorbs them.
        _mm256_storeu_ps(dst + 0 * MR, _mm256_permute2f128_ps(u0, u4, 0x20));
        _mm256_storeu_ps(dst + 1 * MR, _mm256_permute2f128_ps(u1, u5, 0x20));
        _mm256_storeu_ps(dst + 2 * MR, _mm256_permute2f128_ps(u2, u6, 0x20));
        _mm256_storeu_ps(dst + 3 * MR, _mm256_permute2f128_ps(u3, u7, 0x20));
        _mm256_storeu_ps(dst + 4 * MR, _mm256_permute2f128_ps(u0, u4, 0x31));
        _mm256_storeu_ps(dst + 5 * MR, _mm256_permute2f128_ps(u1, u5, 0x31));
        _mm256_storeu_ps(dst + 6 * MR, _mm256_permute2f128_ps(u2, u6, 0x31));
        _mm256_storeu_ps(dst + 7 * MR, _mm256_permute2f128_ps(u3, u7, 0x31));
        dst += 8 * MR;
      }
#endif
      for (; k < kc; ++k) {
        dst[0] = r0[k];
        dst[1] = r1[k];
        dst[2] = r2[k];
        dst[3] = r3[k];
        dst[4] = r4[k];
        dst[5] = r5[k];
        dst += MR;
      }
    } else if (mr == MR && rs == 1) {
      for (int64_t k = 0; k < kc; ++k) {
        std::memcpy(dst, src + k * cs, MR * sizeof(float));
        dst += MR;
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        int64_t r = 0;
        for (; r < mr; ++r) dst[r] = src[r * rs + k * cs];
        for (; r < MR; ++r) dst[r] = 0.0f;
        dst += MR;
      }
    }
  }
}

// B panel (kc x nc, element (k,j) at b[k*rs + j*cs]) -> ceil(nc/NR) slivers, each kc groups of NR
// columns, columns past nc zero-filled.
void pack_b(int64_t kc, int64_t nc, const float* b, int64_t rs, int64_t cs, float* dst) {
  for (int64_t s = 0; s * NR < nc; ++s) {
    const int64_t j0 = s * NR;
    const int64_t nr = std::min(NR, nc - j0);
    const float* src = b + j0 * cs;
    float* d = dst + s * NR * kc;
    if (nr == NR && cs == 1) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* p = src + k * rs;
#if CK_GEMM_AVX2
        _mm256_store_ps(d, _mm256_loadu_ps(p));
        _mm256_store_ps(d + 8, _mm256_loadu_ps(p + 8));
#else
        std::memcpy(d, p, NR * sizeof(float));
#endif
        d += NR;
      }
    } else if (nr == NR && rs == 1) {
      int64_t k = 0;
#if CK_GEMM_AVX2
      // Columns are contiguous in k: transpose 8 k x 8 columns at a time, twice per sliver.
      for (; k + 8 <= kc; k += 8) {
        for (int h = 0; h < 2; ++h) {
          const float* q = src + h * 8 * cs + k;
          __m256 x0 = _mm256_loadu_ps(q), x1 = _mm256_loadu_ps(q + cs), x2 = _mm256_loadu_ps(q + 2 * cs),
                 x3 = _mm256_loadu_ps(q + 3 * cs), x4 = _mm256_loadu_ps(q + 4 * cs),
                 x5 = _mm256_loadu_ps(q + 5 * cs), x6 = _mm256_loadu_ps(q + 6 * cs),
                 x7 = _mm256_loadu_ps(q + 7 * cs);
          __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
          __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
          __m256 t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5);
          __m256 t6 = _mm256_unpacklo_ps(x6, x7), t7 = _mm256_unpackhi_ps(x6, x7);
          __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
          __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
          __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
          __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
          float* o = d + h * 8;
          _mm256_store_ps(o + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
          _mm256_store_ps(o + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
          _mm256_store_ps(o + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
          _mm256_store_ps(o + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
          _mm256_store_ps(o + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
          _mm256_store_ps(o + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
          _mm256_store_ps(o + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
          _mm256_store_ps(o + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        d += 8 * NR;
      }
#endif
      for (; k < kc; ++k) {
        for (int64_t j = 0; j < NR; ++j) d[j] = src[j * cs + k];
        d += NR;
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        int64_t j = 0;
        for (; j < nr; ++j) d[j] = src[k * rs + j * cs];
        for (; j < NR; ++j) d[j] = 0.0f;
        d += NR;
      }
    }
  }
}

// C block (mc x nc) from packed A (mc x kc) and packed B slivers covering nc columns.
void macro_kernel(int64_t mc, int64_t nc, int64_t kc, const float* pa, const float* pb, float* c,
                  int64_t ldc, float alpha, float beta) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int64_t nr = std::min(NR, nc - j0);
    const float* b = pb + j0 * kc;
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
      const int64_t mr = std::min(MR, mc - i0);
      const float* a = pa + i0 * kc;
      float* cij = c + i0 * ldc + j0;
      if (mr == MR && nr == NR) {
        micro_kernel(kc, a, b, cij, ldc, alpha, beta);
      } else {
        edge_kernel(kc, a, b, cij, ldc, mr, nr, alpha, beta);
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
        const float* col = m + j * cs;
        int64_t k = 0;
        float acc = 0.0f;
#if CK_GEMM_AVX2
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
               s3 = _mm256_setzero_ps();
        for (; k + 32 <= K; k += 32) {
          s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(col + k), s0);
          s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(col + k + 8), s1);
          s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), _mm256_loadu_ps(col + k + 16), s2);
          s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), _mm256_loadu_ps(col + k + 24), s3);
        }
        for (; k + 8 <= K; k += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(col + k), s0);
        __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        acc = _mm_cvtss_f32(h);
#endif
        for (; k < K; ++k) acc += x[k] * col[k];
        finish(j, acc);
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

// Small M: threads split N; B slivers are packed on the fly.
void gemm_small_m(int nthreads, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA,
                  int64_t csA, const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t ldc) {
  const int64_t kcb = ceil_div(K, ceil_div(K, KC_MAX));
  const int64_t nsl = ceil_div(N, NR);
  auto body = [&](int64_t s_begin, int64_t s_end) {
    float* pa = tl_pack_a.get(round_up(M, MR) * kcb);
    float* pb = tl_pack_b.get(NR * kcb);
    for (int64_t pc = 0; pc < K; pc += kcb) {
      const int64_t kc = std::min(kcb, K - pc);
      const float beta_eff = pc == 0 ? beta : 1.0f;
      pack_a(M, kc, A + pc * csA, rsA, csA, pa);
      for (int64_t s = s_begin; s < s_end; ++s) {
        const int64_t j0 = s * NR;
        const int64_t nr = std::min(NR, N - j0);
        pack_b(kc, nr, B + pc * rsB + j0 * csB, rsB, csB, pb);
        macro_kernel(M, nr, kc, pa, pb, C + j0, ldc, alpha, beta_eff);
      }
    }
  };
  if (nthreads > 1) {
    parallel_for(nsl, 1, body);
  } else {
    body(0, nsl);
  }
}

// Small N: threads split M; A slivers are packed on the fly.
void gemm_small_n(int nthreads, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA,
                  int64_t csA, const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t ldc) {
  const int64_t kcb = ceil_div(K, ceil_div(K, KC_MAX));
  const int64_t nsl = ceil_div(N, NR);
  const int64_t npanels = ceil_div(M, MR);
  auto body = [&](int64_t p_begin, int64_t p_end) {
    float* pb = tl_pack_b.get(nsl * NR * kcb);
    float* pa = tl_pack_a.get(MR * kcb);
    for (int64_t pc = 0; pc < K; pc += kcb) {
      const int64_t kc = std::min(kcb, K - pc);
      const float beta_eff = pc == 0 ? beta : 1.0f;
      pack_b(kc, N, B + pc * rsB, rsB, csB, pb);
      for (int64_t p = p_begin; p < p_end; ++p) {
        const int64_t i0 = p * MR;
        const int64_t mr = std::min(MR, M - i0);
        pack_a(mr, kc, A + i0 * rsA + pc * csA, rsA, csA, pa);
        macro_kernel(mr, N, kc, pa, pb, C + i0 * ldc, ldc, alpha, beta_eff);
      }
    }
  };
  if (nthreads > 1) {
    parallel_for(npanels, 1, body);
  } else {
    body(0, npanels);
  }
}

// The GotoBLAS loop nest on one thread.
void gemm_serial(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA, int64_t csA,
                 const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t ldc) {
  // Even block sizes: a K of 260 becomes two blocks of 130, not 256 + 4.
  const int64_t kcb = ceil_div(K, ceil_div(K, KC_MAX));
  const int64_t ncb = round_up(ceil_div(N, ceil_div(N, NC_MAX)), NR);
  const int64_t mcb = round_up(ceil_div(M, ceil_div(M, MC_MAX)), MR);
  float* pb = tl_pack_b.get(kcb * ncb);
  float* pa = tl_pack_a.get(mcb * kcb);
  for (int64_t jc = 0; jc < N; jc += ncb) {
    const int64_t nc = std::min(ncb, N - jc);
    for (int64_t pc = 0; pc < K; pc += kcb) {
      const int64_t kc = std::min(kcb, K - pc);
      const float beta_eff = pc == 0 ? beta : 1.0f;
      pack_b(kc, nc, B + pc * rsB + jc * csB, rsB, csB, pb);
      for (int64_t ic = 0; ic < M; ic += mcb) {
        const int64_t mc = std::min(mcb, M - ic);
        pack_a(mc, kc, A + ic * rsA + pc * csA, rsA, csA, pa);
        macro_kernel(mc, nc, kc, pa, pb, C + ic * ldc + jc, ldc, alpha, beta_eff);
      }
    }
  }
}

void gemm_packed(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA, int64_t csA,
                 const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t ldc) {
  const int nthreads = (M * N * K >= kParallelMinWork && !in_parallel_region()) ? get_num_threads() : 1;
  if (M <= kSmallM && M <= N) {
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

void sgemm_cpu(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t sAb, int64_t rsA, int64_t csA,
               const float* B, int64_t sBb, int64_t rsB, int64_t csB,
               float beta, float* C, int64_t sCb, int64_t ldc) {
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
