// The GEMM's per-ISA pieces (see cpu/isa.h for the convention): gemm.cc drives the GotoBLAS loop nest and
// calls these through the table gemm_kernels() picked once from cpu_isa(). Plain declarations only, so the
// per-ISA files can include it.
#pragma once
#include <cstdint>

namespace ck {

struct GemmKernels {
  int64_t mr, nr;          // register tile of the micro-kernel
  int64_t kc, mc, nc;      // cache blocking: K block (B sliver in L1), M block (A in L2), N block (B in L3)
  // c (mr x nr, row stride ldc) = alpha * a_panel @ b_panel + beta * c; reads c only when beta != 0.
  // a: kc groups of mr floats; b: kc groups of nr floats, 64-byte aligned.
  void (*micro)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta);
  // A block (mc x kc, element (i,k) at a[i*rs + k*cs]) -> ceil(mc/mr) slivers of kc groups of mr floats,
  // rows past mc zero-filled. May write up to 16 floats past the end (the packing buffer's slack).
  void (*pack_a)(int64_t mc, int64_t kc, const float* a, int64_t rs, int64_t cs, float* dst);
  // B panel (kc x nc, element (k,j) at b[k*rs + j*cs]) -> ceil(nc/nr) slivers of kc groups of nr floats,
  // columns past nc zero-filled; dst 64-byte aligned.
  void (*pack_b)(int64_t kc, int64_t nc, const float* b, int64_t rs, int64_t cs, float* dst);
  // sum_k x[k] * y[k] (both contiguous).
  float (*dot)(int64_t n, const float* x, const float* y);
  // micro with B read in place, not packed: row k of the kc x nr panel at b + k*ldb (any alignment). Null on
  // paths without it. Used when B's rows are contiguous (conv's unrolled input): packing would only copy them.
  void (*micro_rows)(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
                     float beta);
  // micro_rows for the right edge: only columns j < n < nr of b are read and of c written. Null with micro_rows.
  void (*micro_rows_edge)(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
                          float beta, int64_t n);
  // The dot-product tile of sgemm_nt_rows (null on paths without it): for i < m <= dot_m, j < n <= dot_n,
  //   c[i*ldc + j] = sum_{k < kc} a[i*lda + k] * b[j*ldb + k] + beta * c[i*ldc + j]  (c not read if beta == 0).
  int64_t dot_m, dot_n;
  void (*dot_tile)(int64_t m, int64_t n, int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldb,
                   float* c, int64_t ldc, float beta);
};

constexpr int64_t kGemmMaxMR = 8, kGemmMaxNR = 32;  // the largest tile of any path (edge scratch size)

const GemmKernels& gemm_kernels();

// C (M x N, row stride ldc) = A B^T + beta C for A (M x K) and B (N x K) whose rows are contiguous along K
// (row strides lda, ldb): dot products vectorised along K, nothing packed. For the shapes where both operands
// arrive K-contiguous and K is long (convolution's weight gradient: K = pixels). Single-threaded. Returns
// false, doing nothing, on paths without the kernel (the caller then uses sgemm_cpu).
// Operands packed once and multiplied several times (convolution's weight gradient: one dy block against the
// KH row-shifted views of one unrolled input). gemm_pack_a packs A (M x K, element (i,k) at A[i*rs + k*cs]) whole
// into dst (gemm_packed_a_size floats); gemm_pack_b packs B (K x N) whole (gemm_packed_b_size floats, dst
// 64-byte aligned). sgemm_prepacked: C (M x N, row stride ldc) = A[:, 0:K] B[b_k0 : b_k0 + K, :] + beta C,
// where pa was packed with K = ka and pb with K = kb (b_k0 + K <= kb). Single-threaded, any ISA path.
int64_t gemm_packed_a_size(int64_t M, int64_t K);
int64_t gemm_packed_b_size(int64_t K, int64_t N);
void gemm_pack_a(int64_t M, int64_t K, const float* A, int64_t rs, int64_t cs, float* dst);
void gemm_pack_b(int64_t K, int64_t N, const float* B, int64_t rs, int64_t cs, float* dst);
void sgemm_prepacked(int64_t M, int64_t N, int64_t K, const float* pa, int64_t ka, const float* pb, int64_t kb,
                     int64_t b_k0, float beta, float* C, int64_t ldc);

bool sgemm_nt_rows(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                   float beta, float* C, int64_t ldc);

namespace avx2 {
extern const GemmKernels kGemmKernels;
}
namespace avx512 {
extern const GemmKernels kGemmKernels;
}

}  // namespace ck
