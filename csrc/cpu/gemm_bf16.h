// BF16 GEMM with FP32 accumulation (ck.autocast('cpu', { dtype: 'bfloat16' }), lib/autocast.ts), and its
// per-ISA pieces (see cpu/isa.h for the convention). Plain declarations only, so the per-ISA file can include it.
//
// Numerics, the same on every ISA path (bit for bit): A and B are rounded to bf16 while they are packed (round to
// nearest even, NaN stays a quiet NaN, bf16 denormals flushed to signed zero, as vdpbf16ps treats them); each
// element of C is a chain of vdpbf16ps steps over k pairs (k = 2p+1 first, then 2p: each an FP32 fused
// multiply-add rounded to nearest even, denormal results flushed to zero) within a K block of kBf16KC values,
// starting from +0; the blocks are added to C in order with one FP32 add each (the first block: C = acc, or
// C + acc with beta = 1). The AVX512_BF16 micro-kernel runs _mm512_dpbf16_ps; the AVX-512 one emulates it with
// two FP32 FMAs per step under MXCSR.FTZ; the portable one emulates it in double (a product of two bf16 values is
// exact there, and so is its sum with an FP32 accumulator unless the two are so far apart that the rounding cannot
// depend on the bits lost).
#pragma once
#include <cstdint>

namespace ck {

// The precision the CPU sgemm_cpu runs in: read at its entry (csrc/cpu/gemm.cc) and by the convolution's
// algorithm choice (csrc/cpu/conv.cc: the GEMM path only, no Winograd, while bf16 is on). Process-wide, set
// by lib/autocast.ts around each convolution / linear call that runs in bf16.
bool gemm_bf16_enabled();
void set_gemm_bf16(bool on);

// C = alpha * bf16(A) @ bf16(B) + beta * C with sgemm_cpu's arguments (alpha == 1 and beta in {0, 1}, what
// every caller passes, stay in the kernel; other values go through an FP32 scratch product).
void sgemm_bf16_cpu(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t sAb,
                    int64_t rsA, int64_t csA, const float* B, int64_t sBb, int64_t rsB, int64_t csB, float beta,
                    float* C, int64_t sCb, int64_t ldc);

// y[i] = x[i] rounded to bf16 (kept in FP32 storage); x == y allowed.
void round_bf16_cpu(int64_t n, const float* x, float* y);

// The micro-kernel in use: "avx512bf16" (vdpbf16ps), "avx512fma" (its emulation with AVX-512 FMAs) or "portable".
const char* gemm_bf16_kernel_name();

struct GemmBf16Kernels {
  int64_t mr, nr;  // register tile
  // c (mr x nr, row stride ldc) = acc, or c + acc when `accumulate`; acc[i][j] = the vdpbf16ps chain over kp
  // pairs of a (kp groups of mr words) and b (kp groups of nr words, 64-byte aligned), from +0. A word holds
  // the bf16 of k = 2p in its low half and of k = 2p + 1 in its high half.
  void (*micro)(int64_t kp, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, bool accumulate);
  // A block (mc x kc, element (i,k) at a[i*rs + k*cs]) -> ceil(mc/mr) slivers of ceil(kc/2) groups of mr words,
  // rows past mc and the odd k past kc zero.
  void (*pack_a)(int64_t mc, int64_t kc, const float* a, int64_t rs, int64_t cs, uint32_t* dst);
  // B panel (kc x nc, element (k,j) at b[k*rs + j*cs]) -> ceil(nc/nr) slivers of ceil(kc/2) groups of nr words,
  // columns past nc and the odd k past kc zero.
  void (*pack_b)(int64_t kc, int64_t nc, const float* b, int64_t rs, int64_t cs, uint32_t* dst);
};

// The portable packing (any strides), for the per-ISA pack_b's cases without a vector path: slivers of t
// rows of ceil(kc/2) groups of t words; element (i, k) at src[i*is + k*ks], n rows.
void gemm_bf16_pack_pairs(int64_t t, int64_t n, int64_t kc, const float* src, int64_t is, int64_t ks, uint32_t* dst);

constexpr int64_t kGemmBf16MaxMR = 8, kGemmBf16MaxNR = 32;  // the largest tile of any path (edge scratch)

namespace avx512bf16 {
extern const GemmBf16Kernels kGemmBf16Kernels;  // vdpbf16ps (gemm_bf16_avx512bf16.cc)
}
namespace avx512 {
extern const GemmBf16Kernels kGemmBf16FmaKernels;  // vdpbf16ps emulated with FP32 FMAs (gemm_bf16_avx512.cc)
// The tile of both AVX-512 kernels, their packing (8-row A slivers, 32-column B slivers) and their epilogue:
// c (8 x 32, row stride ldc) = acc or c + acc (one FP32 add), acc 64-byte aligned, row stride 32.
constexpr int64_t kBf16MR = 8, kBf16NR = 32;
static_assert(kBf16MR <= kGemmBf16MaxMR && kBf16NR <= kGemmBf16MaxNR, "edge scratch too small");
void gemm_bf16_store(const float* acc, float* c, int64_t ldc, bool accumulate);
void gemm_bf16_pack_a(int64_t mc, int64_t kc, const float* a, int64_t rs, int64_t cs, uint32_t* dst);
void gemm_bf16_pack_b(int64_t kc, int64_t nc, const float* b, int64_t rs, int64_t cs, uint32_t* dst);
}

}  // namespace ck
