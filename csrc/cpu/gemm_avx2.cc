// The AVX2 + FMA pieces of the GEMM (compiled with -mavx2 -mfma; see cpu/isa.h for the rules): a 6x16
// micro-kernel (12 of the 16 ymm registers hold accumulators, leaving room for two B vectors and an A
// broadcast; 12 independent FMA chains cover 2 FMA pipes x 4 cycles of latency), the packing fast paths
// and the dot product of gemv.
#include <immintrin.h>

#include <cstdint>

#include "cpu/gemm_kernels.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "gemm_avx2.cc must be compiled with -mavx2 -mfma (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

#include "cpu/gemm_pack.inc"

constexpr int64_t MR = 6;
constexpr int64_t NR = 16;

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
  prefetch_c_tile<MR, NR>(c, ldc);
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

// 8 k-values of 6 rows at a time: transpose 6x8 -> 8x6 through an 8x8 register transpose.
int64_t pack_a_rows6(const float* src, int64_t rs, int64_t kc, float* dst) {
  const float *r0 = src, *r1 = src + rs, *r2 = src + 2 * rs, *r3 = src + 3 * rs, *r4 = src + 4 * rs,
          *r5 = src + 5 * rs;
  int64_t k = 0;
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
    // buffer, the slack GrowBuffer keeps) absorbs them.
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
  return k;
}

float dot(int64_t K, const float* x, const float* col) {
  int64_t k = 0;
  float acc = 0.0f;
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
  for (; k < K; ++k) acc += x[k] * col[k];
  return acc;
}

}  // namespace

// KC: a 16 x KC B sliver (16 KiB) plus an A sliver fit the 32 KiB L1d. MC: the MC x KC A block (~150 KiB)
// sits in a 512 KiB L2 with room for B slivers streaming through. NC: the KC x NC B panel (4 MiB) in L3.
extern const GemmKernels kGemmKernels = {MR,  NR, 256, 144, 4080, micro_kernel, SimdPack<MR, NR, pack_a_rows6>::a,
                                         SimdPack<MR, NR, pack_a_rows6>::b, dot, nullptr, nullptr, 0, 0, nullptr};

}  // namespace avx2
}  // namespace ck
