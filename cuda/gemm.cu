// SGEMM: C[b] = alpha * A[b] @ B[b] + beta * C[b], batched. CUDA twin of sgemm_cpu (csrc/core/kernels.h).
//
// Layout: A[b] (M, K) element (i, k) at A + b*sAb + i*rsA + k*csA; B[b] (K, N) likewise with rsB/csB; any
// strides (row-major, transposed, broadcast 0). C[b] (M, N) at C + b*sCb, row stride ldc, unit column stride.
// beta == 0 never reads C (so NaN/garbage in C does not leak into the result), as BLAS and PyTorch do.
//
// Algorithm: the classic shared-memory tiled, register-blocked kernel. A thread block computes a BM x BN tile
// of C, stepping through K in slices of BK = 8:
//   * each thread loads LA = BM*BK/256 elements of the A slice and LB of the B slice from global memory,
//     mapped along whichever dimension of the operand is unit-stride (template flags A_MC / B_NC), so a warp
//     reads consecutive addresses whatever the transposition; 16- or 8-byte vector loads when the host has
//     proven alignment (vecA / vecB);
//   * A is stored transposed in shared memory (As[k][m]) and B as is (Bs[k][n]), each row padded by 4 floats
//     so the transposing scalar stores are bank-conflict free while 16-byte reads stay aligned;
//   * each thread owns a TM x TN block of C in registers (8x8 for 128x128 tiles, 4x4 for 64x64), split as two
//     TM/2 x TN/2 quadrants 64 (32) rows/cols apart, so its shared reads are two float4 (float2) per operand
//     per k, conflict-free broadcasts across the warp; 64 (16) FMAs per 4 shared loads;
//   * double buffering: the next slice is fetched from global into registers while the current one is
//     multiplied out of shared memory, then stored to the other buffer: one __syncthreads per slice.
// Edge tiles load zeros outside (M, K) x (K, N), so any M, N, K (including 1 and odd sizes) work; stores are
// bounds-checked, 16-byte vectorized where a whole aligned quad of columns is in range.
// Tile choice: 128x128 (8x8 per thread) when it yields at least one tile per SM (sm_count()), else 64x64
// (4x4 per thread) so small problems still spread over the GPU. Batch runs over gridDim.z.
#include <cmath>
#include <cstdint>
#include <string>

#include "runtime.cuh"
#include "common.cuh"
#include "core/error.h"
#include "core/kernels_cuda.h"


namespace ck {
namespace cuda {
namespace {

constexpr int kGemmThreads = 256;
constexpr int kPad = 4;
constexpr int64_t kMaxGridYZ = 65535;

template <int N>
struct alignas(4 * N) VecF {
  float v[N];
};

// L consecutive elements of an (R, C) operand with strides (rs, cs), from (r, c) along the rows (kAlongRows)
// or along the columns, zero outside. vec: the host proved unit stride along the run, an aligned run start and
// an extent that is a multiple of L, so one vector load (or all zeros) serves.
template <int L, bool kAlongRows>
__device__ __forceinline__ void load_run(const float* __restrict__ P, int R, int C, int64_t rs, int64_t cs, int r,
                                         int c, int vec, float (&out)[L]) {
  if (vec) {
    if (r < R && c < C) {
      const VecF<L> v = *reinterpret_cast<const VecF<L>*>(P + r * rs + c * cs);
      CK_UNROLL
      for (int j = 0; j < L; ++j) out[j] = v.v[j];
    } else {
      CK_UNROLL
      for (int j = 0; j < L; ++j) out[j] = 0.0f;
    }
    return;
  }
  CK_UNROLL
  for (int j = 0; j < L; ++j) {
    const int rr = kAlongRows ? r + j : r;
    const int cc = kAlongRows ? c : c + j;
    out[j] = (rr < R && cc < C) ? P[rr * rs + cc * cs] : 0.0f;
  }
}

// Stores one thread's L loaded elements r into the k-major shared tiles[buf] at (k, col): as one vector along
// the tile's row when kAlongRow (the run ran along m or n), else down L rows (the run ran along k).
template <int L, bool kAlongRow, class Tiles>
__device__ __forceinline__ void store_run(Tiles& tiles, int buf, int k, int col, const float* r) {
  if (kAlongRow) {
    VecF<L> v;
    CK_UNROLL
    for (int j = 0; j < L; ++j) v.v[j] = r[j];
    *reinterpret_cast<VecF<L>*>(&tiles[buf][k][col]) = v;
  } else {
    CK_UNROLL
    for (int j = 0; j < L; ++j) tiles[buf][k + j][col] = r[j];
  }
}

template <int BM, int BN, int BK, int TM, int TN, bool A_MC, bool B_NC>
__global__ void __launch_bounds__(kGemmThreads, 2)  // <= 128 registers: two blocks per SM
sgemm_kernel(int M, int N, int K, float alpha,
             const float* __restrict__ A,  // (batch, M, K) via sAb, rsA, csA
             int64_t sAb, int64_t rsA, int64_t csA,
             const float* __restrict__ B,  // (batch, K, N) via sBb, rsB, csB
             int64_t sBb, int64_t rsB, int64_t csB,
             float beta,
             float* __restrict__ C,  // (batch, M, N) via sCb, ldc, unit column stride
             int64_t sCb, int64_t ldc, int m_base, int vecA, int vecB, int vecC) {
  static_assert((BM / TM) * (BN / TN) == kGemmThreads, "tile / thread mismatch");
  constexpr int LA = BM * BK / kGemmThreads;  // A elements per thread per slice
  constexpr int LB = BN * BK / kGemmThreads;
  constexpr int HM = TM / 2, HN = TN / 2;  // quadrant sizes
  static_assert(LA == 2 || LA == 4, "vector width");
  static_assert(LB == 2 || LB == 4, "vector width");

  CK_SHARED(float, As, [2][BK][BM + kPad]);
  CK_SHARED(float, Bs, [2][BK][BN + kPad]);

  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % (BN / TN);
  const int ty = tid / (BN / TN);
  const int m0 = m_base + static_cast<int>(blockIdx.y) * BM;
  const int n0 = static_cast<int>(blockIdx.x) * BN;
  const int64_t bz = blockIdx.z;
  A += bz * sAb;
  B += bz * sBb;
  C += bz * sCb;

  // Load mapping: (am, ak) is this thread's first A element in the slice; the LA elements run along k
  // (A_MC false) or along m (A_MC true). Same for B with (bk, bn) along k (B_NC false) or n (B_NC true).
  const int am = A_MC ? (tid % (BM / LA)) * LA : tid / (BK / LA);
  const int ak = A_MC ? tid / (BM / LA) : (tid % (BK / LA)) * LA;
  const int bn = B_NC ? (tid % (BN / LB)) * LB : tid / (BK / LB);
  const int bk = B_NC ? tid / (BN / LB) : (tid % (BK / LB)) * LB;

  float ra[LA], rb[LB];

  auto load_a = [&](int k0) { load_run<LA, A_MC>(A, M, K, rsA, csA, m0 + am, k0 + ak, vecA, ra); };
  auto load_b = [&](int k0) { load_run<LB, !B_NC>(B, K, N, rsB, csB, k0 + bk, n0 + bn, vecB, rb); };

  auto store_tiles = [&](int buf) {
    store_run<LA, A_MC>(As, buf, ak, am, ra);
    store_run<LB, B_NC>(Bs, buf, bk, bn, rb);
  };

  float acc[TM][TN];
  CK_UNROLL
  for (int i = 0; i < TM; ++i) {
    CK_UNROLL
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
  }

  const int nk = (K + BK - 1) / BK;
  if (nk > 0) {
    load_a(0);
    load_b(0);
    store_tiles(0);
  }
  __syncthreads();
  int cur = 0;
  for (int kt = 0; kt < nk; ++kt) {
    const bool more = kt + 1 < nk;
    if (more) {  // fetch the next slice while this one is multiplied
      load_a((kt + 1) * BK);
      load_b((kt + 1) * BK);
    }
    CK_UNROLL
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
      const VecF<HM> a0 = *reinterpret_cast<const VecF<HM>*>(&As[cur][k][ty * HM]);
      const VecF<HM> a1 = *reinterpret_cast<const VecF<HM>*>(&As[cur][k][BM / 2 + ty * HM]);
      const VecF<HN> b0 = *reinterpret_cast<const VecF<HN>*>(&Bs[cur][k][tx * HN]);
      const VecF<HN> b1 = *reinterpret_cast<const VecF<HN>*>(&Bs[cur][k][BN / 2 + tx * HN]);
      CK_UNROLL
      for (int i = 0; i < HM; ++i) {
        a[i] = a0.v[i];
        a[HM + i] = a1.v[i];
      }
      CK_UNROLL
      for (int j = 0; j < HN; ++j) {
        b[j] = b0.v[j];
        b[HN + j] = b1.v[j];
      }
      CK_UNROLL
      for (int i = 0; i < TM; ++i) {
        CK_UNROLL
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
    if (more) store_tiles(cur ^ 1);  // that buffer was last read before the previous barrier
    __syncthreads();
    cur ^= 1;
  }

  // Epilogue: quadrant (qi, qj) of this thread's block is rows m0 + qi*BM/2 + ty*HM + [0, HM),
  // cols n0 + qj*BN/2 + tx*HN + [0, HN).
  CK_UNROLL
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + (i / HM) * (BM / 2) + ty * HM + (i % HM);
    if (m >= M) continue;
    float* crow = C + m * ldc;
    CK_UNROLL
    for (int qj = 0; qj < 2; ++qj) {
      const int n = n0 + qj * (BN / 2) + tx * HN;
      float* cp = crow + n;
      if (vecC && n + HN <= N) {
        VecF<HN> v;
        if (beta == 0.0f) {
          CK_UNROLL
          for (int j = 0; j < HN; ++j) v.v[j] = alpha * acc[i][qj * HN + j];
        } else {
          const VecF<HN> old = *reinterpret_cast<const VecF<HN>*>(cp);
          CK_UNROLL
          for (int j = 0; j < HN; ++j) v.v[j] = fmaf(beta, old.v[j], alpha * acc[i][qj * HN + j]);
        }
        *reinterpret_cast<VecF<HN>*>(cp) = v;
      } else {
        CK_UNROLL
        for (int j = 0; j < HN; ++j) {
          if (n + j < N) {
            const float r = alpha * acc[i][qj * HN + j];
            cp[j] = beta == 0.0f ? r : fmaf(beta, cp[j], r);
          }
        }
      }
    }
  }
}

// The LA (or LB) elements a thread loads are one vector when the run is unit-stride, every run start is a
// multiple of the width in elements (other stride and extent along the run divisible by it) and the base is
// aligned. Checked for all batches via the batch stride.
bool vec_ok(const float* base, int64_t sb, int64_t batch, int64_t run_stride, int64_t other_stride, int64_t extent,
            int width) {
  if (run_stride != 1 || extent % width != 0 || other_stride % width != 0) return false;
  if (batch > 1 && sb % width != 0) return false;
  return aligned(base, static_cast<unsigned>(4 * width));
}

template <int BM, int BN, int TM, int TN>
void run_sgemm(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t sAb,
               int64_t rsA, int64_t csA, const float* B, int64_t sBb, int64_t rsB, int64_t csB, float beta, float* C,
               int64_t sCb, int64_t ldc, Stream st) {
  constexpr int BK = 8;
  constexpr int LA = BM * BK / kGemmThreads;
  constexpr int LB = BN * BK / kGemmThreads;
  constexpr int HN = TN / 2;
  // Walk each operand along its unit-stride dimension; a size-1 dimension's stride is irrelevant.
  // (When both or neither are unit-stride, walk along k.)
  const bool a_mc = M > 1 && rsA == 1 && !(K > 1 && csA == 1);
  const bool b_nc = N > 1 && csB == 1 && !(K > 1 && rsB == 1);
  const int vecA = a_mc ? vec_ok(A, sAb, batch, rsA, csA, M, LA) : vec_ok(A, sAb, batch, csA, rsA, K, LA);
  const int vecB = b_nc ? vec_ok(B, sBb, batch, csB, rsB, N, LB) : vec_ok(B, sBb, batch, rsB, csB, K, LB);
  const int vecC = (ldc % HN == 0) && (batch <= 1 || sCb % HN == 0) && aligned(C, 4 * HN);
  const int64_t mtiles = (M + BM - 1) / BM;
  const int64_t ntiles = (N + BN - 1) / BN;
  for (int64_t b0 = 0; b0 < batch; b0 += kMaxGridYZ) {
    const int64_t nb = batch - b0 < kMaxGridYZ ? batch - b0 : kMaxGridYZ;
    for (int64_t mt = 0; mt < mtiles; mt += kMaxGridYZ) {
      const int64_t nmt = mtiles - mt < kMaxGridYZ ? mtiles - mt : kMaxGridYZ;
      const dim3 grid(static_cast<unsigned>(ntiles), static_cast<unsigned>(nmt), static_cast<unsigned>(nb));
      const int m_base = static_cast<int>(mt * BM);
      const float* Ab = A + b0 * sAb;
      const float* Bb = B + b0 * sBb;
      float* Cb = C + b0 * sCb;
#define CK_SGEMM_LAUNCH(AMC, BNC)                                                                              \
  launch(sgemm_kernel<BM, BN, BK, TM, TN, AMC, BNC>, grid, dim3(kGemmThreads), 0, st, static_cast<int>(M),     \
         static_cast<int>(N), static_cast<int>(K), alpha, Ab, sAb, rsA, csA, Bb, sBb, rsB, csB, beta, Cb, sCb, ldc, \
         m_base, vecA, vecB, vecC)
      if (a_mc && b_nc) CK_SGEMM_LAUNCH(true, true);
      else if (a_mc) CK_SGEMM_LAUNCH(true, false);
      else if (b_nc) CK_SGEMM_LAUNCH(false, true);
      else CK_SGEMM_LAUNCH(false, false);
#undef CK_SGEMM_LAUNCH
    }
  }
}

}  // namespace

void sgemm_cuda(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t sAb,
                int64_t rsA, int64_t csA, const float* B, int64_t sBb, int64_t rsB, int64_t csB, float beta, float* C,
                int64_t sCb, int64_t ldc, Stream s) {
  if (batch < 0 || M < 0 || N < 0 || K < 0)
    throw Error("ERR_ARG", "sgemm: negative extent", ErrorKind::Range);
  constexpr int64_t kIntMax = 2147483647;
  if (M > kIntMax || N > kIntMax || K > kIntMax)
    throw Error("ERR_ARG", "sgemm: extent does not fit int32", ErrorKind::Range);
  if (batch == 0 || M == 0 || N == 0) return;
  const Stream st = s;
  const int64_t big_tiles = batch * cdiv(M, 128) * cdiv(N, 128);
  const bool big = big_tiles >= sm_count();  // at least one 128x128 tile per SM, else 64x64 tiles
  StatsLabel label(big ? "sgemm 128x128" : "sgemm 64x64");
  if (big)
    run_sgemm<128, 128, 8, 8>(batch, M, N, K, alpha, A, sAb, rsA, csA, B, sBb, rsB, csB, beta, C, sCb, ldc, st);
  else
    run_sgemm<64, 64, 4, 4>(batch, M, N, K, alpha, A, sAb, rsA, csA, B, sBb, rsB, csB, beta, C, sCb, ldc, st);
  if (stats_on()) {
    const int64_t t = big ? 128 : 64;
    stats_note_macs(double(batch) * M * N * K, double(batch) * cdiv(M, t) * t * cdiv(N, t) * t * cdiv(K, 8) * 8);
  }
}

}  // namespace cuda
}  // namespace ck
