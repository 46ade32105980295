// 2-D convolution: CUDA twins of conv2d_forward_cpu / conv2d_backward_data_cpu / conv2d_backward_weight_cpu
// (csrc/core/nn_kernels.h), each one implicit GEMM over the whole batch.
//
// Layout: x (N, C, H, W), w (O, C/g, KH, KW), y/dy (N, O, OH, OW), all contiguous NCHW float32. Per group g
// (Cg = C/g input and Og = O/g output channels), KK = KH*KW, P = OH*OW.
//
// The three GEMMs (batch folded into a GEMM dimension, so every image shares one launch and one set of tiles):
//   forward          y[n, g*Og+m, p] = sum_k W[g*Og+m, k] * X[k, (n, p)]       M = Og, N = batch*P, K = Cg*KK
//   backward_data    per output phase (rh, rw) in [0, sh) x [0, sw): the input pixels ih = rh + sh*i,
//                    iw = rw + sw*j only receive the taps kh = kh0 + t*skh, kw = kw0 + u*skw for which
//                    (ih + ph - kh*dh) is a multiple of sh (likewise w), so each phase is a dense GEMM
//                    dx[n, g*Cg+m, ih, iw] = sum_(o,t,u) W[g*Og+o, m, kh, kw] * dy[n, g*Og+o, oh, ow]
//                                                                     M = Cg, N = batch*Hq*Wq, K = Og*ntaps
//                    (stride 1: one phase, every tap); no structurally-zero products are issued.
//   backward_weight  dw[g*Og+m, k] = sum_(n, p) dy[n, g*Og+m, p] * X[k, (n, p)]  M = Og, N = Cg*KK, K = batch*P
// where X[(c, kh, kw), (n, oh, ow)] = x[n, g*Cg+c, oh*sh-ph+kh*dh, ow*sw-pw+kw*dw] (0 outside the image) is
// never materialised: the load stage of conv_igemm_kernel gathers it (implicit GEMM, no im2col buffer), and
// the epilogue writes NCHW (or dw) directly, adding the bias in the forward pass. No materialised (im2col)
// path is kept: without a GPU to show one measurably better, every shape takes the implicit one.
//
// conv_igemm_kernel<OP, BM, BN, TF32>: 256 threads compute a BM x BN tile (64 or 128 each way), stepping K in
// slices of kBK = 16 through a kStages = 3 deep shared-memory ring (As[k][m], Bs[k][n], rows padded by 8 floats
// so the mma fragment reads are conflict-free); the slice kStages-1 ahead is loaded while the current one is
// multiplied, with one __syncthreads per slice.
//   TF32 (sm_80+, backends.cudnn.allowTF32): the loads are cp.async (4 bytes, zero-fill outside the
//     operand) committed one group per slice and waited with cp.async.wait_group kStages-2; the 8 warps (2 x 4)
//     each own a (BM/2) x (BN/4) warp tile of mma.sync.m16n8k8 TF32 accumulators (fp32), operands rounded
//     with cvt.rna.tf32.f32 as they leave shared memory (cuda/mma.cuh; emulated exactly in cuda/emu).
//   FP32 (sm_75, or allowTF32 = false): plain loads into the same ring, and a 16 x 16 grid of threads each
//     owning (BM/16) x (BN/16) fp32 FMA accumulators.
// Tile choice (plan()): BM = 64 when M <= 64, else 128; BN = 128 when that still gives one tile per SM
// (sm_count() of the device), else 64. Split-K: when the grid is under two waves of the SMs and the GEMM is
// deep enough, K is cut into `splits` ranges (multiples of kBK); each writes its own partial tile and
// conv_splitk_reduce_kernel adds the partials in split order and applies the epilogue, so the result is
// bit-identical run to run (no atomics). Backward-weight (K = batch*P) is where it matters most.
// db: conv_bias_grad_kernel, a block per (channel, slice of the batch), then conv_bias_grad_finish_kernel
// adds the slices in order.
// Index arithmetic inside the kernels is 32-bit (the host checks the extents), image offsets 64-bit.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "runtime.cuh"
#include "common.cuh"
#include "divider.cuh"
#include "mma.cuh"
#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/nn_kernels.h"
#include "core/nn_kernels_cuda.h"
#include "core/types.h"

#if CK_CUDA_REAL
#define CK_CONV_UNROLL _Pragma("unroll")
#else
#define CK_CONV_UNROLL
#endif

namespace ck {
namespace cuda {

namespace {

constexpr int64_t kInt32Max = 2147483647;
constexpr int kBK = 16;      // K slice per pipeline stage
constexpr int kStages = 3;   // shared-memory ring depth
constexpr int kPad = 8;      // floats of padding per shared row: (64 or 128) + 8 is 8 mod 32 banks
// Split-K: only when each split keeps at least this much depth; at most this many splits; partial
// tiles within this many floats (256 MiB).
constexpr int64_t kMinSplitDepth = 128;
constexpr int kMaxSplits = 64;
#ifndef CK_CONV_CUDA_PARTIAL_BUDGET
#define CK_CONV_CUDA_PARTIAL_BUDGET (int64_t(64) << 20)
#endif
constexpr int64_t kPartialBudget = CK_CONV_CUDA_PARTIAL_BUDGET;
#ifndef CK_CONV_CUDA_BIAS_GRAD_MIN
#define CK_CONV_CUDA_BIAS_GRAD_MIN 8192
#endif
// conv_bias_grad_kernel: aim for this many blocks, none summing fewer than kBiasGradMin values.
constexpr int64_t kBiasGradBlocks = 264;
constexpr int64_t kBiasGradMin = CK_CONV_CUDA_BIAS_GRAD_MIN;

enum ConvOp { kForward = 0, kBackwardData = 1, kBackwardWeight = 2 };

using Div = Divider<uint32_t>;
__device__ __forceinline__ int divi(const Div& d, int n) { return static_cast<int>(d.div(static_cast<uint32_t>(n))); }

// The convolution and this launch's share of it, in 32-bit (checked on the host).
struct ConvGeom {
  int N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw;
  int Cg, Og;
  int grp0, ngrp;     // the groups of this launch: [grp0, grp0 + ngrp)
  int nphase;         // backward_data: sh*sw output phases; 1 otherwise
  int splits, kchunk; // split s covers k in [s*kchunk, min(K, (s+1)*kchunk))
  Div dKK, dKW, dP, dOW;  // division by KH*KW, KW, OH*OW, OW: a multiply-high and a shift
};

// One GEMM of a launch (a group; for backward_data, one output phase of a group).
struct Gemm {
  int M, N, K;
  int rh, rw, Hq, Wq;         // backward_data: the phase and its input rows/cols
  int kh0, skh, nkh, kw0, skw, nkw;  // backward_data: its taps kh0 + t*skh (t < nkh), likewise w
  Div dTaps, dNkw, dQ, dWq;          // backward_data: division by nkh*nkw, nkw, Hq*Wq, Wq
};

__host__ __device__ inline int gcd_int(int a, int b) {
  while (b) {
    const int t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// The taps k in [0, KS) with (r + pad - k*dil) divisible by s: an arithmetic progression of step
// s / gcd(s, dil), whose first term lies within one step.
__host__ __device__ inline void phase_taps(int r, int s, int pad, int dil, int KS, int* k0, int* step, int* n) {
  *step = s / gcd_int(s, dil);
  *k0 = 0;
  *n = 0;
  for (int k = 0; k < KS && k < *step; ++k) {
    if (((r + pad - k * dil) % s + s) % s == 0) {
      *k0 = k;
      *n = (KS - 1 - k) / *step + 1;
      return;
    }
  }
}

template <int OP>
__host__ __device__ inline Gemm gemm_of(const ConvGeom& g, int phase) {
  Gemm m{};
  if (OP == kForward) {
    m.M = g.Og;
    m.N = g.N * g.OH * g.OW;
    m.K = g.Cg * g.KH * g.KW;
  } else if (OP == kBackwardWeight) {
    m.M = g.Og;
    m.N = g.Cg * g.KH * g.KW;
    m.K = g.N * g.OH * g.OW;
  } else {
    m.rh = phase / g.sw;
    m.rw = phase % g.sw;
    m.Hq = g.H > m.rh ? (g.H - m.rh + g.sh - 1) / g.sh : 0;
    m.Wq = g.W > m.rw ? (g.W - m.rw + g.sw - 1) / g.sw : 0;
    phase_taps(m.rh, g.sh, g.ph, g.dh, g.KH, &m.kh0, &m.skh, &m.nkh);
    phase_taps(m.rw, g.sw, g.pw, g.dw, g.KW, &m.kw0, &m.skw, &m.nkw);
    m.M = g.Cg;
    m.N = g.N * m.Hq * m.Wq;
    m.K = g.Og * m.nkh * m.nkw;
    auto one = [](int v) { return v > 0 ? v : 1; };
    m.dTaps = Div(one(m.nkh * m.nkw));
    m.dNkw = Div(one(m.nkw));
    m.dQ = Div(one(m.Hq * m.Wq));
    m.dWq = Div(one(m.Wq));
  }
  return m;
}

// ---- operand gathers: the address of A[m][k] / B[k][n] of group grp, or null for a zero ----------------

// backward_data: k = (o, t, u) -> output channel o of the group and the tap (kh, kw).
struct Tap {
  int o, kh, kw;
};
__device__ __forceinline__ Tap tap_of(const Gemm& mm, int k) {
  const int o = divi(mm.dTaps, k), r = k - o * mm.nkh * mm.nkw;
  const int t = divi(mm.dNkw, r), u = r - t * mm.nkw;
  return Tap{o, mm.kh0 + t * mm.skh, mm.kw0 + u * mm.skw};
}
// backward_data: n = (img, i, j) of the phase -> the input pixel (img, ih, iw) it computes.
struct Pix {
  int img, ih, iw;
};
__device__ __forceinline__ Pix pix_of(const ConvGeom& g, const Gemm& mm, int n) {
  const int img = divi(mm.dQ, n), s = n - img * mm.Hq * mm.Wq;
  const int i = divi(mm.dWq, s), j = s - i * mm.Wq;
  return Pix{img, mm.rh + i * g.sh, mm.rw + j * g.sw};
}

template <int OP>
__device__ __forceinline__ const float* a_elem(const ConvGeom& g, const Gemm& mm, int grp, const float* a, int m, int k) {
  if (OP == kForward) {  // W (Og, Cg*KK) of the group: row-major
    return a + (int64_t(grp) * g.Og + m) * (g.Cg * g.KH * g.KW) + k;
  } else if (OP == kBackwardData) {  // W[g*Og + o][m][kh][kw], k = (o, t, u)
    const Tap tp = tap_of(mm, k);
    return a + ((int64_t(grp) * g.Og + tp.o) * g.Cg + m) * (g.KH * g.KW) + tp.kh * g.KW + tp.kw;
  } else {  // dy[n][g*Og + m][p], k = (n, p)
    const int P = g.OH * g.OW;
    const int n = divi(g.dP, k), p = k - n * P;
    return a + (int64_t(n) * g.O + int64_t(grp) * g.Og + m) * P + p;
  }
}

// x[n][grp*Cg + c][oh*sh - ph + kh*dh][ow*sw - pw + kw*dw] for the column (c, kh, kw) and pixel (n, oh, ow).
__device__ __forceinline__ const float* x_elem(const ConvGeom& g, int grp, const float* x, int ck, int npix) {
  const int c = divi(g.dKK, ck), r = ck - c * g.KH * g.KW;
  const int kh = divi(g.dKW, r), kw = r - kh * g.KW;
  const int n = divi(g.dP, npix), p = npix - n * g.OH * g.OW;
  const int oh = divi(g.dOW, p), ow = p - oh * g.OW;
  const int ih = oh * g.sh - g.ph + kh * g.dh, iw = ow * g.sw - g.pw + kw * g.dw;
  if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) return nullptr;
  return x + ((int64_t(n) * g.C + int64_t(grp) * g.Cg + c) * g.H + ih) * g.W + iw;
}

template <int OP>
__device__ __forceinline__ const float* b_elem(const ConvGeom& g, const Gemm& mm, int grp, const float* b, int k, int n) {
  if (OP == kForward) return x_elem(g, grp, b, k, n);
  if (OP == kBackwardWeight) return x_elem(g, grp, b, n, k);
  // backward_data: dy[img][grp*Og + o][oh][ow], k = (o, t, u), n = (img, i, j) of the phase
  const Tap tp = tap_of(mm, k);
  const Pix px = pix_of(g, mm, n);
  const int th = px.ih + g.ph - tp.kh * g.dh, tw = px.iw + g.pw - tp.kw * g.dw;
  if (th < 0 || tw < 0) return nullptr;
  const int oh = th / g.sh, ow = tw / g.sw;  // exact: the phase picked the taps
  if (oh >= g.OH || ow >= g.OW) return nullptr;
  return b + ((int64_t(px.img) * g.O + int64_t(grp) * g.Og + tp.o) * g.OH + oh) * g.OW + ow;
}

// The epilogue's store of C[m][n] of group grp (plus the bias in the forward pass).
template <int OP>
__device__ __forceinline__ void store_out(const ConvGeom& g, const Gemm& mm, int grp, int m, int n, float v, float* out,
                                          const float* bias) {
  if (OP == kForward) {
    const int P = g.OH * g.OW;
    const int img = divi(g.dP, n), p = n - img * P;
    const int o = grp * g.Og + m;
    out[(int64_t(img) * g.O + o) * P + p] = bias ? v + __ldg(bias + o) : v;
  } else if (OP == kBackwardData) {
    const Pix px = pix_of(g, mm, n);
    out[((int64_t(px.img) * g.C + int64_t(grp) * g.Cg + m) * g.H + px.ih) * g.W + px.iw] = v;
  } else {
    out[(int64_t(grp) * g.Og + m) * (g.Cg * g.KH * g.KW) + n] = v;
  }
}

// ---- kernels ----------------------------------------------------------------------------------------

// Element j of a thread's share of one slice of an operand tile (kBK x EXT, EXT = BM or BN): its row r
// along m (or n) and its k. ALONG_K: consecutive threads take consecutive k, else consecutive r.
struct Slot {
  int r, k;
};
template <bool ALONG_K, int EXT>
__device__ __forceinline__ Slot slot(int tid, int j) {
  if (ALONG_K) return Slot{tid / kBK + j * (kThreads / kBK), tid % kBK};
  return Slot{tid % EXT, tid / EXT + j * (kThreads / EXT)};
}

// One BM x BN tile of the GEMM of (split, phase, group) = blockIdx.z; see the file header.
// asrc/bsrc/out: forward w, x -> y (bias); backward_data w, dy -> dx; backward_weight dy, x -> dw.
// With splits > 1 the tile goes to partial (splits, ngrp, M, N) instead, for conv_splitk_reduce_kernel.
template <int OP, int BM, int BN, bool TF32>
__global__ void __launch_bounds__(kThreads)
conv_igemm_kernel(ConvGeom g, const float* __restrict__ asrc, const float* __restrict__ bsrc, float* __restrict__ out,
                  const float* __restrict__ bias, float* __restrict__ partial) {
  constexpr int LDA = BM + kPad, LDB = BN + kPad;
  constexpr int LA = BM * kBK / kThreads, LB = BN * kBK / kThreads;  // elements per thread per slice
  // Load mapping: the run of consecutive threads goes along the operand's contiguous dimension:
  // forward A (weights) and backward_weight A, B (dy, x along the pixels) along k, the others along m / n.
  constexpr bool kAalongK = OP != kBackwardData;
  constexpr bool kBalongK = OP == kBackwardWeight;
  CK_DYNAMIC_SHARED(float, smem);
  float* const As = smem;                         // [kStages][kBK][LDA]
  float* const Bs = smem + kStages * kBK * LDA;   // [kStages][kBK][LDB]

  int z = static_cast<int>(blockIdx.z);
  const int split = z % g.splits;
  z /= g.splits;
  const int phase = z % g.nphase;
  const int gl = z / g.nphase;
  const int grp = g.grp0 + gl;
  const Gemm mm = gemm_of<OP>(g, phase);
  const int m0 = static_cast<int>(blockIdx.y) * BM, n0 = static_cast<int>(blockIdx.x) * BN;
  if (m0 >= mm.M || n0 >= mm.N) return;  // the grid covers the largest phase; uniform over the block
  const int kbeg = split * g.kchunk;
  const int kend = min(mm.K, kbeg + g.kchunk);
  const int nslices = kend > kbeg ? (kend - kbeg + kBK - 1) / kBK : 0;
  const int tid = static_cast<int>(threadIdx.x);

  auto put = [&](float* dst, const float* src) {
    if constexpr (TF32) cp_async4(dst, src ? src : asrc, src != nullptr);
    else *dst = src ? __ldg(src) : 0.0f;
  };
  auto load_slice = [&](int stage, int slice) {
    const int kb = kbeg + slice * kBK;
    float* as = As + stage * kBK * LDA;
    float* bs = Bs + stage * kBK * LDB;
    CK_CONV_UNROLL
    for (int j = 0; j < LA; ++j) {
      const Slot e = slot<kAalongK, BM>(tid, j);
      const int m = m0 + e.r, k = kb + e.k;
      put(as + e.k * LDA + e.r, (m < mm.M && k < kend) ? a_elem<OP>(g, mm, grp, asrc, m, k) : nullptr);
    }
    CK_CONV_UNROLL
    for (int j = 0; j < LB; ++j) {
      const Slot e = slot<kBalongK, BN>(tid, j);
      const int n = n0 + e.r, k = kb + e.k;
      put(bs + e.k * LDB + e.r, (n < mm.N && k < kend) ? b_elem<OP>(g, mm, grp, bsrc, k, n) : nullptr);
    }
  };
  auto emit = [&](int m, int n, float v) {
    if (m >= mm.M || n >= mm.N) return;
    if (g.splits > 1)
      partial[((int64_t(split) * g.ngrp + gl) * mm.M + m) * mm.N + n] = v;
    else
      store_out<OP>(g, mm, grp, m, n, v, out, bias);
  };

  // Prologue: slices 0 .. kStages-2 in flight, one commit group each (empty groups keep the count).
  CK_CONV_UNROLL
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < nslices) load_slice(s, s);
    if constexpr (TF32) cp_async_commit();
  }

  if constexpr (TF32) {
    constexpr int WM = BM / 2, WN = BN / 4, MT = WM / 16, NT = WN / 8;
    const int warp = tid / kWarp, lane = tid % kWarp;
    const int wm = warp / 4, wn = warp % 4, gq = lane / 4, tq = lane % 4;
    float acc[MT][NT][4];
    CK_CONV_UNROLL
    for (int i = 0; i < MT; ++i)
      CK_CONV_UNROLL
      for (int j = 0; j < NT; ++j)
        CK_CONV_UNROLL
        for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
    for (int slice = 0; slice < nslices; ++slice) {
      cp_async_wait<kStages - 2>();  // this thread's copies of `slice` have landed
      __syncthreads();               // everyone's have; and everyone is done with slice-1's stage
      if (slice + kStages - 1 < nslices) load_slice((slice + kStages - 1) % kStages, slice + kStages - 1);
      cp_async_commit();
      const float* as = As + (slice % kStages) * kBK * LDA;
      const float* bs = Bs + (slice % kStages) * kBK * LDB;
      CK_CONV_UNROLL
      for (int kk = 0; kk < kBK; kk += 8) {
        uint32_t af[MT][4], bf[NT][2];
        CK_CONV_UNROLL
        for (int i = 0; i < MT; ++i) {
          const int r = wm * WM + i * 16 + gq;
          af[i][0] = cvt_rna_tf32(as[(kk + tq) * LDA + r]);
          af[i][1] = cvt_rna_tf32(as[(kk + tq) * LDA + r + 8]);
          af[i][2] = cvt_rna_tf32(as[(kk + tq + 4) * LDA + r]);
          af[i][3] = cvt_rna_tf32(as[(kk + tq + 4) * LDA + r + 8]);
        }
        CK_CONV_UNROLL
        for (int j = 0; j < NT; ++j) {
          const int c = wn * WN + j * 8 + gq;
          bf[j][0] = cvt_rna_tf32(bs[(kk + tq) * LDB + c]);
          bf[j][1] = cvt_rna_tf32(bs[(kk + tq + 4) * LDB + c]);
        }
        CK_CONV_UNROLL
        for (int i = 0; i < MT; ++i)
          CK_CONV_UNROLL
          for (int j = 0; j < NT; ++j) mma_m16n8k8_tf32(acc[i][j], af[i], bf[j], acc[i][j]);
      }
    }
    cp_async_wait<0>();  // nothing may be left in flight when the block's shared memory is reused
    CK_CONV_UNROLL
    for (int i = 0; i < MT; ++i)
      CK_CONV_UNROLL
      for (int j = 0; j < NT; ++j)
        CK_CONV_UNROLL
        for (int r = 0; r < 4; ++r)
          emit(m0 + wm * WM + i * 16 + gq + (r / 2) * 8, n0 + wn * WN + j * 8 + 2 * tq + (r % 2), acc[i][j][r]);
  } else {
    constexpr int TM = BM / 16, TN = BN / 16;
    const int tx = tid % 16, ty = tid / 16;
    float acc[TM][TN];
    CK_CONV_UNROLL
    for (int i = 0; i < TM; ++i)
      CK_CONV_UNROLL
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
    for (int slice = 0; slice < nslices; ++slice) {
      __syncthreads();  // slice's stage is written; everyone is done with slice-1's stage
      if (slice + kStages - 1 < nslices) load_slice((slice + kStages - 1) % kStages, slice + kStages - 1);
      const float* as = As + (slice % kStages) * kBK * LDA;
      const float* bs = Bs + (slice % kStages) * kBK * LDB;
      CK_CONV_UNROLL
      for (int k = 0; k < kBK; ++k) {
        float a[TM], b[TN];
        CK_CONV_UNROLL
        for (int i = 0; i < TM; ++i) a[i] = as[k * LDA + ty + 16 * i];
        CK_CONV_UNROLL
        for (int j = 0; j < TN; ++j) b[j] = bs[k * LDB + tx + 16 * j];
        CK_CONV_UNROLL
        for (int i = 0; i < TM; ++i)
          CK_CONV_UNROLL
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
    CK_CONV_UNROLL
    for (int i = 0; i < TM; ++i)
      CK_CONV_UNROLL
      for (int j = 0; j < TN; ++j) emit(m0 + ty + 16 * i, n0 + tx + 16 * j, acc[i][j]);
  }
}

// out = the epilogue of sum over s of partial[s] (s in order: deterministic), over (ngrp, M, N).
template <int OP>
__global__ void conv_splitk_reduce_kernel(ConvGeom g, const float* __restrict__ partial,  // (splits, ngrp, M, N)
                                          float* __restrict__ out, const float* __restrict__ bias) {
  const Gemm mm = gemm_of<OP>(g, 0);
  const int64_t per_split = int64_t(g.ngrp) * mm.M * mm.N;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < per_split; i += stride) {
    float s = 0.0f;
    for (int sp = 0; sp < g.splits; ++sp) s += __ldg(partial + sp * per_split + i);
    const int n = static_cast<int>(i % mm.N);
    const int64_t t = i / mm.N;
    const int m = static_cast<int>(t % mm.M);
    store_out<OP>(g, mm, g.grp0 + static_cast<int>(t / mm.M), m, n, s, out, bias);
  }
}

__global__ void conv_bias_grad_kernel(const float* __restrict__ dy,  // (N, O, P)
                                      float* __restrict__ out,       // (O) or (O, nsplit)
                                      int N, int O, int P, int nsplit) {
  const int o = blockIdx.x, sp = blockIdx.y;
  const int n0 = static_cast<int>(int64_t(sp) * N / nsplit), n1 = static_cast<int>(int64_t(sp + 1) * N / nsplit);
  const int step = blockDim.x, dq = step / P, dr = step % P;
  int n = n0 + static_cast<int>(threadIdx.x) / P, q = static_cast<int>(threadIdx.x) % P;
  float s = 0.0f;
  while (n < n1) {
    s += __ldg(dy + (int64_t(n) * O + o) * P + q);
    n += dq;
    q += dr;
    if (q >= P) {
      q -= P;
      ++n;
    }
  }
  s = block_reduce(s, SumOp{}, 0.0f);
  if (threadIdx.x == 0) out[o * nsplit + sp] = s;
}
__global__ void conv_bias_grad_finish_kernel(const float* __restrict__ part,  // (O, nsplit)
                                             float* __restrict__ db,          // (O)
                                             int O, int nsplit) {
  for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < O; o += gridDim.x * blockDim.x) {
    float s = 0.0f;
    for (int k = 0; k < nsplit; ++k) s += part[o * nsplit + k];
    db[o] = s;
  }
}

// ---- host side ----------------------------------------------------------------------------------------

std::atomic<unsigned> g_math{1u};  // bit 0: conv TF32, bit 1: matmul TF32
std::mutex g_tuning_mu;
ConvTuning g_tuning;

std::string dims(const Conv2dParams& p) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return "x (" + s(p.N) + ", " + s(p.C) + ", " + s(p.H) + ", " + s(p.W) + "), w (" + s(p.O) + ", " +
         s(p.groups > 0 ? p.C / p.groups : p.C) + ", " + s(p.KH) + ", " + s(p.KW) + "), y (" + s(p.N) + ", " +
         s(p.O) + ", " + s(p.OH) + ", " + s(p.OW) + "), stride (" + s(p.sh) + ", " + s(p.sw) + "), padding (" +
         s(p.ph) + ", " + s(p.pw) + "), dilation (" + s(p.dh) + ", " + s(p.dw) + "), groups " + s(p.groups);
}

void check_params(const Conv2dParams& p, const char* fn) {
  const std::string where = std::string(fn) + ": ";
  if (p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1 || p.ph < 0 || p.pw < 0 || p.groups < 1)
    throw Error("ERR_ARG", where + "stride and dilation must be >= 1, padding >= 0, groups >= 1: " + dims(p),
                ErrorKind::Range);
  if (p.N < 0 || p.C < 1 || p.H < 1 || p.W < 1 || p.O < 1 || p.KH < 1 || p.KW < 1)
    throw Error("ERR_SHAPE", where + "extents must be positive (N >= 0): " + dims(p));
  if (p.C % p.groups != 0 || p.O % p.groups != 0)
    throw Error("ERR_SHAPE", where + "in and out channels must be divisible by groups: " + dims(p));
  const int64_t eh = p.H + 2 * p.ph - p.dh * (p.KH - 1) - 1;
  const int64_t ew = p.W + 2 * p.pw - p.dw * (p.KW - 1) - 1;
  if (eh < 0 || ew < 0)
    throw Error("ERR_SHAPE", where + "the dilated kernel is larger than the padded input: " + dims(p));
  if (p.OH != eh / p.sh + 1 || p.OW != ew / p.sw + 1)
    throw Error("ERR_SHAPE", where + "output size must be (" + std::to_string(eh / p.sh + 1) + ", " +
                                 std::to_string(ew / p.sw + 1) + "): " + dims(p));
  const int64_t per_image = std::max({p.C * p.H * p.W, p.O * p.OH * p.OW});
  if (per_image > kInt32Max / 2 || p.N * p.OH * p.OW > kInt32Max || p.N * p.H * p.W > kInt32Max ||
      p.O * p.C * p.KH * p.KW > kInt32Max ||
      p.H + 2 * p.ph + p.dh * p.KH > kInt32Max / 2 || p.W + 2 * p.pw + p.dw * p.KW > kInt32Max / 2)
    throw Error("ERR_ARG", where + "too large for the CUDA kernels' 32-bit indexing: " + dims(p), ErrorKind::Range);
}

ConvGeom geom_of(const Conv2dParams& p) {
  auto i = [](int64_t v) { return static_cast<int>(v); };
  ConvGeom g{};
  g.N = i(p.N), g.C = i(p.C), g.H = i(p.H), g.W = i(p.W), g.O = i(p.O), g.KH = i(p.KH), g.KW = i(p.KW);
  g.OH = i(p.OH), g.OW = i(p.OW), g.sh = i(p.sh), g.sw = i(p.sw), g.ph = i(p.ph), g.pw = i(p.pw);
  g.dh = i(p.dh), g.dw = i(p.dw), g.Cg = i(p.C / p.groups), g.Og = i(p.O / p.groups);
  g.grp0 = 0, g.ngrp = i(p.groups), g.nphase = 1, g.splits = 1, g.kchunk = 0;
  g.dKK = Div(p.KH * p.KW), g.dKW = Div(p.KW), g.dP = Div(p.OH * p.OW), g.dOW = Div(p.OW);
  return g;
}

// What one convolution launches: the dispatcher's decisions, also what the statistics report.
struct Plan {
  int bm = 128, bn = 128, splits = 1, kchunk = 0, nphase = 1;
  bool tf32 = false;
  int64_t M = 0, Nmax = 0, Kmax = 0, tiles_m = 0, tiles_n = 0;
  int64_t groups_per_launch = 1;
  double useful = 0, issued = 0;
  size_t smem = 0;
};

template <int OP>
Plan plan(const Conv2dParams& p, ConvGeom& g) {
  Plan pl;
  const ConvTuning t = conv_tuning();
  const int sms = sm_count();
  const int cc = compute_capability();
  pl.nphase = OP == kBackwardData ? g.sh * g.sw : 1;
  g.nphase = pl.nphase;
  for (int ph = 0; ph < pl.nphase; ++ph) {
    const Gemm mm = gemm_of<OP>(g, ph);
    pl.M = mm.M;
    pl.Nmax = std::max<int64_t>(pl.Nmax, mm.N);
    pl.Kmax = std::max<int64_t>(pl.Kmax, mm.K);
  }
  const int64_t G = p.groups;
  auto tiles = [&](int bm, int bn) { return cdiv(pl.M, bm) * cdiv(pl.Nmax, bn) * G * pl.nphase; };
  pl.bm = t.bm ? t.bm : (pl.M <= 64 ? 64 : 128);
  pl.bn = t.bn ? t.bn : (tiles(pl.bm, 128) >= sms ? 128 : 64);
  if (t.math == 2 && cc < 80)
    throw Error("ERR_ARG", "conv2d: TF32 kernels need compute capability 8.0 or newer, this device has " +
                               std::to_string(cc / 10) + "." + std::to_string(cc % 10), ErrorKind::Range);
  pl.tf32 = t.math == 2 || (t.math == 0 && (g_math.load() & 1u) && cc >= 80);
  // Split-K (one phase only): enough splits for about two waves, each at least kMinSplitDepth deep.
  int splits = 1;
  if (pl.nphase == 1) {
    if (t.splits) {
      splits = t.splits;
    } else {
      const int64_t nt = tiles(pl.bm, pl.bn);
      if (nt < 2 * sms)
        splits = static_cast<int>(std::max<int64_t>(1, std::min({cdiv(2 * sms, nt), pl.Kmax / kMinSplitDepth, int64_t(kMaxSplits)})));
    }
    while (splits > 1 && splits * G * pl.M * pl.Nmax > kPartialBudget) --splits;
  }
  pl.kchunk = static_cast<int>(std::max<int64_t>(kBK, cdiv(cdiv(pl.Kmax, splits), kBK) * kBK));
  pl.splits = static_cast<int>(std::max<int64_t>(1, cdiv(pl.Kmax, pl.kchunk)));
  g.splits = pl.splits;
  g.kchunk = pl.kchunk;
  pl.tiles_m = cdiv(pl.M, pl.bm);
  pl.tiles_n = cdiv(pl.Nmax, pl.bn);
  if (pl.tiles_m > 65535) throw Error("ERR_ARG", "conv2d: too many channels per group for one grid: " + dims(p), ErrorKind::Range);
  pl.groups_per_launch = std::max<int64_t>(1, std::min<int64_t>(G, 65535 / (pl.nphase * pl.splits)));
  pl.smem = sizeof(float) * kStages * kBK * (pl.bm + kPad + pl.bn + kPad);
  // Multiply-adds: the convolution's own, and what the launched tiles issue (blocks past a phase's end
  // return at once and issue none).
  pl.useful = double(p.N) * p.O * (p.C / G) * p.KH * p.KW * p.OH * p.OW;
  for (int ph = 0; ph < pl.nphase; ++ph) {
    const Gemm mm = gemm_of<OP>(g, ph);
    double kissued = 0;
    for (int s = 0; s < pl.splits; ++s) {
      const int64_t len = std::min<int64_t>(mm.K, int64_t(s + 1) * pl.kchunk) - std::min<int64_t>(mm.K, int64_t(s) * pl.kchunk);
      kissued += double(cdiv(len, kBK) * kBK);
    }
    pl.issued += double(G) * cdiv(mm.M, pl.bm) * pl.bm * cdiv(mm.N, pl.bn) * pl.bn * kissued;
  }
  return pl;
}

// "conv2d_forward igemm tf32 128x128" ...: stable strings for the statistics' labels.
const char* igemm_label(int op, int bm, int bn, bool tf32) {
  static const std::string* table = [] {
    auto* t = new std::string[3 * 2 * 2 * 2];
    const char* ops[3] = {"conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight"};
    for (int o = 0; o < 3; ++o)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
          for (int m = 0; m < 2; ++m)
            t[((o * 2 + i) * 2 + j) * 2 + m] = std::string(ops[o]) + " igemm " + (m ? "tf32 " : "fp32 ") +
                                               (i ? "128" : "64") + "x" + (j ? "128" : "64");
    return t;
  }();
  return table[((op * 2 + (bm == 128)) * 2 + (bn == 128)) * 2 + (tf32 ? 1 : 0)].c_str();
}

template <int OP, int BM, int BN>
void launch_tile(const Plan& pl, const ConvGeom& g, dim3 grid, const float* a, const float* b, float* out,
                 const float* bias, float* partial, Stream s) {
  if (pl.tf32)
    launch(conv_igemm_kernel<OP, BM, BN, true>, grid, dim3(kThreads), pl.smem, s, g, a, b, out, bias, partial);
  else
    launch(conv_igemm_kernel<OP, BM, BN, false>, grid, dim3(kThreads), pl.smem, s, g, a, b, out, bias, partial);
}

// The whole convolution in one direction: a (and b) the GEMM's operands, out its NCHW (or dw) result.
template <int OP>
void run_igemm(const Conv2dParams& p, const float* a, const float* b, float* out, const float* bias, Stream s) {
  ConvGeom g = geom_of(p);
  const Plan pl = plan<OP>(p, g);
  Scratch partial(pl.splits > 1 ? sizeof(float) * size_t(pl.splits) * pl.groups_per_launch * pl.M * pl.Nmax : 0, s);
  const int G = static_cast<int>(p.groups);
  for (int grp0 = 0; grp0 < G; grp0 += static_cast<int>(pl.groups_per_launch)) {
    g.grp0 = grp0;
    g.ngrp = std::min(G - grp0, static_cast<int>(pl.groups_per_launch));
    const dim3 grid(static_cast<unsigned>(pl.tiles_n), static_cast<unsigned>(pl.tiles_m),
                    static_cast<unsigned>(g.ngrp * pl.nphase * pl.splits));
    {
      StatsLabel label(igemm_label(OP, pl.bm, pl.bn, pl.tf32));
      if (pl.bm == 64 && pl.bn == 64) launch_tile<OP, 64, 64>(pl, g, grid, a, b, out, bias, partial.f(), s);
      else if (pl.bm == 64) launch_tile<OP, 64, 128>(pl, g, grid, a, b, out, bias, partial.f(), s);
      else if (pl.bn == 64) launch_tile<OP, 128, 64>(pl, g, grid, a, b, out, bias, partial.f(), s);
      else launch_tile<OP, 128, 128>(pl, g, grid, a, b, out, bias, partial.f(), s);
      stats_note_macs(pl.useful * g.ngrp / G, pl.issued * g.ngrp / G);
    }
    if (pl.splits > 1) {
      StatsLabel label("conv_splitk_reduce_kernel");
      launch(conv_splitk_reduce_kernel<OP>, dim3(grid_for(int64_t(g.ngrp) * pl.M * pl.Nmax)), dim3(kThreads), 0, s, g,
             static_cast<const float*>(partial.f()), out, bias);
    }
  }
}

}  // namespace

void set_math_options(const MathOptions& m) { g_math.store((m.conv_tf32 ? 1u : 0u) | (m.matmul_tf32 ? 2u : 0u)); }
MathOptions math_options() {
  const unsigned v = g_math.load();
  MathOptions m;
  m.conv_tf32 = (v & 1u) != 0;
  m.matmul_tf32 = (v & 2u) != 0;
  return m;
}
void set_conv_tuning(const ConvTuning& t) {
  if ((t.bm != 0 && t.bm != 64 && t.bm != 128) || (t.bn != 0 && t.bn != 64 && t.bn != 128) || t.splits < 0 ||
      t.math < 0 || t.math > 2)
    throw Error("ERR_ARG", "conv tuning: tiles are 64 or 128 (0: automatic), splits >= 0, math 0..2", ErrorKind::Range);
  std::lock_guard<std::mutex> lock(g_tuning_mu);
  g_tuning = t;
}
ConvTuning conv_tuning() {
  std::lock_guard<std::mutex> lock(g_tuning_mu);
  return g_tuning;
}

void conv2d_forward_cuda(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y, Stream s) {
  check_params(p, "conv2d_forward");
  if (p.N == 0) return;
  run_igemm<kForward>(p, w, x, y, b, s);
}

void conv2d_backward_data_cuda(const Conv2dParams& p, const float* dy, const float* w, float* dx, Stream s) {
  check_params(p, "conv2d_backward_data");
  if (p.N == 0) return;
  run_igemm<kBackwardData>(p, w, dy, dx, nullptr, s);
}

void conv2d_backward_weight_cuda(const Conv2dParams& p, const float* x, const float* dy, float* dw, float* db,
                                 Stream s) {
  check_params(p, "conv2d_backward_weight");
  const int64_t P = p.OH * p.OW;
  if (db) {
    StatsLabel label("conv_bias_grad_kernel");
    // Enough blocks to fill the GPU when there are few channels, each still summing >= kBiasGradMin values.
    const int64_t nsplit = std::max<int64_t>(
        1, std::min({(kBiasGradBlocks + p.O - 1) / p.O, p.N, p.N * P / kBiasGradMin, kMaxGridBlocks}));
    Scratch part(sizeof(float) * static_cast<size_t>(nsplit > 1 ? p.O * nsplit : 0), s);
    launch(conv_bias_grad_kernel, dim3(static_cast<unsigned>(p.O), static_cast<unsigned>(nsplit)), dim3(kThreads), 0,
           s, dy, nsplit > 1 ? part.f() : db, static_cast<int>(p.N), static_cast<int>(p.O), static_cast<int>(P),
           static_cast<int>(nsplit));
    if (nsplit > 1)
      launch(conv_bias_grad_finish_kernel, dim3(grid_for(p.O)), dim3(kThreads), 0, s, part.f(), db,
             static_cast<int>(p.O), static_cast<int>(nsplit));
  }
  if (p.N == 0) {
    fill_cuda(DType::F32, dw, p.O * (p.C / p.groups) * p.KH * p.KW, 0.0, s);
    return;
  }
  run_igemm<kBackwardWeight>(p, dy, x, dw, nullptr, s);
}

}  // namespace cuda
}  // namespace ck
