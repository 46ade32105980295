// CPU convolution (NCHW, float32) as im2col/col2im around ck::sgemm_cpu. Weight (O, C/g, KH, KW); per group
// g: Cg = C/g input and Og = O/g output channels, K = Cg*KH*KW, P = OH*OW output pixels.
//
//   forward          y[n,g] (Og, P) = W[g] (Og, K) @ col[n,g] (K, P) (+ b)
//   backward_data    col = W[g]^T (K, Og) @ dy[n,g] (Og, P); dx[n,g] = col2im(col) (scatter-add)
//                    -- only for strides > 1: a stride-1 backward-data is the forward convolution of dy with the
//                    flipped, transposed weights (backward_data_forward), a deeper GEMM and no scatter.
//   backward_weight  dW[g] (Og, K) = sum_n dy[n,g] (Og, P) @ col[n,g]^T (P, K);  db = sum of dy over N, P
//                    -- on one thread dy and each block's unrolled input are packed once for all KH taps
//                    (sgemm_prepacked); a depth narrower than one GEMM sliver (the 1- or 3-channel first
//                    layer) runs as dot products along the pixels (sgemm_nt_rows).
//
// Tricks:
//  - Bands: the unrolled input of one (image, group) is built a band of output rows at a time, sized to stay
//    in L2 (kUnrollBudget floats), and each band is multiplied right away, so it is written and read back
//    from cache, not memory. A band's GEMM writes straight into y (ldc = P): no copy-out.
//  - Row shifts instead of a full im2col when the vertical stride is 1 (3x3 "same" convs, most of a CNN):
//    the band is unrolled along kw only, U (Cg*KW, R*OW) with U[c*KW + kw][r*OW + ow] = the padded input at
//    row oh0 + r, column ow*sw + kw*dw, over R = rows + (KH-1)*dh input rows. Kernel row kh then reads U from
//    column kh*dh*OW on: its (Cg*KW, rows*OW) col matrix is a plain strided view of U. So KH GEMMs of depth
//    Cg*KW (accumulating with beta = 1) replace one of depth K, and the unrolled data shrinks from KH*KW to
//    about KW copies of the input (for 3x3 over bands of 16 rows, ~2.7x less to write and read back). The
//    weights are regrouped per kernel row (wr[kh][o][c*KW + kw]), and so is the weight gradient until the
//    end. A vertical stride > 1, or a shallow Cg*KW (the 3-channel first layer), uses the classic col matrix
//    (one "tap" of depth K).
//  - Small images (P <= kTargetCols/2, e.g. 8x8): one GEMM covers several images (kTargetCols columns), so
//    the weights the GEMM packs are reused over more columns. Their col matrices sit side by side; y and dy
//    go through a (Og, images*P) scratch copy, which costs 1/K of the multiply. The col matrix is built a
//    block of input channels at a time (cblk), each block a slice of the GEMM depth accumulated with beta = 1,
//    so it stays within the L2 budget however deep K is.
//  - 1x1, stride 1, no padding: the input plane itself is the col matrix (forward, backward_weight) and the
//    GEMM of backward_data writes dx directly: nothing is unrolled.
//  - Unrolling goes through a zero-bordered copy of the band's input rows, so the inner loops have no bounds
//    checks; with horizontal stride 1 a run of OW floats moves as whole 8-float vectors.
//  - Parallelism without nesting: ck::sgemm_cpu runs single-threaded inside a pool task, so the work is cut
//    into independent items that each unroll and multiply on one thread ("item mode"): (images, group, band)
//    for forward, a chunk of images for backward_data (the scatters of neighbouring bands overlap), and a
//    contiguous slice of the batch per thread for backward_weight (each slice accumulates its own partial dW
//    with beta = 1; the partials are added in slice order, so the result is deterministic for a given thread
//    count). When there are too few items to keep the pool busy (batch 1, say, or a batch of 1x1 feature
//    maps that fits one item) "wide mode" runs the items one after another (one image each, or as many
//    small images as item mode would gather, so a 1x1 map is one GEMM for the batch instead of a GEMV per
//    image) with the GEMMs on all threads and the unrolling and scattering split over channels.
//  - Scratch is thread_local and only grows, so steady-state training allocates nothing.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernels.h"
#include "core/nn_kernels.h"
#include "cpu/conv_direct.h"
#include "cpu/conv_small.h"
#include "cpu/conv_kernels.h"
#include "cpu/gemm_bf16.h"
#include "cpu/gemm_kernels.h"
#include "cpu/isa.h"
#include "cpu/threadpool.h"
#include "cpu/winograd.h"

namespace ck {
namespace {

// Floats of unrolled input per band: ~256 KiB, half of a 512 KiB L2, leaving room for the GEMM's packing.
#ifndef CK_CONV_UNROLL_BUDGET
#define CK_CONV_UNROLL_BUDGET (64 * 1024)
#endif
constexpr int64_t kUnrollBudget = CK_CONV_UNROLL_BUDGET;
// A band has at least this many columns (unless the image has fewer), so the GEMM's N stays efficient.
#ifndef CK_CONV_MIN_BAND_COLS
#define CK_CONV_MIN_BAND_COLS 192
#endif
constexpr int64_t kMinBandCols = CK_CONV_MIN_BAND_COLS;
// Images smaller than half this many output pixels are multiplied several at a time, this many columns.
#ifndef CK_CONV_TARGET_COLS
#define CK_CONV_TARGET_COLS 256
#endif
constexpr int64_t kTargetCols = CK_CONV_TARGET_COLS;
// Row shifts need a GEMM depth of Cg*KW at least this deep to pay (a 3-channel input does not).
constexpr int64_t kMinShiftDepth = 32;
// One input channel per group and at most this many outputs per group: direct loops instead of GEMMs.
#ifndef CK_CONV_MAX_DEPTHWISE_OG
#define CK_CONV_MAX_DEPTHWISE_OG 16
#endif
constexpr int64_t kMaxDepthwiseOg = CK_CONV_MAX_DEPTHWISE_OG;

struct Geo {
  int64_t Cg, Og, K, P, HW;
  explicit Geo(const Conv2dParams& p)
      : Cg(p.C / p.groups), Og(p.O / p.groups), K(p.C / p.groups * p.KH * p.KW), P(p.OH * p.OW), HW(p.H * p.W) {}
};

// Thread-local scratch that only grows. Slots: 0 unrolled band, 1 padded rows, 2 weight-gradient partials,
// 3 regrouped weights (the calling thread's, read by the pool tasks), 4 gathered dy / y of several images,
// 5 and 6 the weight gradient's packed dy and unrolled input.
float* scratch(int slot, int64_t n) {
  thread_local std::vector<float> buf[7];
  std::vector<float>& v = buf[slot];
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

constexpr int64_t kSlack = 8;  // spare floats past the end of buffers that 8-float vector runs may touch

// scratch(slot, n), 64-byte aligned (packed GEMM operands). Slots 5 and 6.
float* scratch_aligned(int slot, int64_t n) {
  const auto q = reinterpret_cast<uintptr_t>(scratch(slot, n + 16));
  return reinterpret_cast<float*>((q + 63) & ~uintptr_t{63});
}

// The baseline (SSE2) pieces of conv_kernels.h: plain loops the compiler vectorises.
void base_copy_runs(float* d, int64_t dstep, const float* s, int64_t sstep, int64_t n, int64_t runs, bool) {
  for (int64_t r = 0; r < runs; ++r, d += dstep, s += sstep)
    for (int64_t j = 0; j < n; ++j) d[j] = s[j];
}

void base_add_runs(float* d, int64_t dstep, const float* s, int64_t sstep, int64_t n, int64_t runs) {
  for (int64_t r = 0; r < runs; ++r, d += dstep, s += sstep)
    for (int64_t j = 0; j < n; ++j) d[j] += s[j];
}

// d[ow] += v * s[ow * sw], ow < n.
inline void axpy_strided(float* d, float v, const float* s, int64_t sw, int64_t n) {
  if (sw == 1) {
    for (int64_t j = 0; j < n; ++j) d[j] += v * s[j];
  } else {
    for (int64_t j = 0; j < n; ++j) d[j] += v * s[j * sw];
  }
}

// corr_row of conv_kernels.h with a column stride sw (the contract's is 1).
void corr_row_strided(float* out, const float* src, const float* w, float bias, int64_t nplanes, int64_t plane,
                      int64_t KH, int64_t KW, int64_t rstep, int64_t cstep, int64_t sw, int64_t n) {
  std::fill(out, out + n, bias);
  for (int64_t q = 0; q < nplanes; ++q)
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw)
        axpy_strided(out, w[(q * KH + kh) * KW + kw], src + q * plane + kh * rstep + kw * cstep, sw, n);
}

void base_corr_row(float* out, const float* src, const float* w, float bias, int64_t nplanes, int64_t plane,
                   int64_t KH, int64_t KW, int64_t rstep, int64_t cstep, int64_t n) {
  corr_row_strided(out, src, w, bias, nplanes, plane, KH, KW, rstep, cstep, 1, n);
}

// taps of conv_kernels.h with a column stride sw.
void taps_strided(const float* pad, int64_t prow, const float* dy, int64_t OH, int64_t OW, const int64_t* off,
                  int64_t nt, int64_t sw, double* sums) {
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* src = pad + oh * prow;
    const float* dr = dy + oh * OW;
    for (int64_t t = 0; t < nt; ++t) {
      float s = 0.0f;
      for (int64_t j = 0; j < OW; ++j) s += dr[j] * src[off[t] + j * sw];
      sums[t] += s;
    }
  }
}

void base_taps(const float* pad, int64_t prow, const float* dy, int64_t OH, int64_t OW, const int64_t* off,
               int64_t nt, double* sums) {
  taps_strided(pad, prow, dy, OH, OW, off, nt, 1, sums);
}

const ConvKernels kBaseConvKernels = {base_copy_runs, base_add_runs, base_corr_row, false, base_taps};

// ---- plan: how a call cuts and unrolls its work --------------------------------------------------------

enum class Mode { Direct, Shift, Col };

// An item multiplies `nimg` images (more than one only when a band is the whole image) over output rows
// [oh0, oh1) of one group; its unrolled input is built and multiplied `cblk` channels at a time.
struct Plan {
  Mode mode;
  int64_t taps;          // GEMMs per channel block: KH (Shift) or 1
  int64_t kper;          // unrolled rows per input channel: KW (Shift), KH*KW (Col), 1 (Direct)
  int64_t kstride;       // row stride of the (regrouped) weights and weight gradient: Cg*KW (Shift) or K
  int64_t halo;          // extra input rows of a Shift band: (KH-1)*dh
  int64_t tap_off;       // column offset between taps: dh*OW (Shift)
  int64_t rows, nbands;  // output rows per band
  int64_t nimg, nchunks; // images per item
  int64_t cblk, nblk;    // input channels per block
  int64_t OW, OH;

  // wide: items one after another, each whole images with every channel at once (the GEMMs then run on
  // all threads): one image per item, or for small images as many as the non-wide plan takes.
  Plan(const Conv2dParams& p, const Geo& g, bool wide) : OW(p.OW), OH(p.OH) {
    const bool direct = p.KH == 1 && p.KW == 1 && p.sh == 1 && p.sw == 1 && p.ph == 0 && p.pw == 0;
    const bool small = p.N > 1 && 2 * g.P <= kTargetCols;  // several images per item
    mode = direct ? Mode::Direct
                  : (p.sh == 1 && !small && g.Cg * p.KW >= kMinShiftDepth) ? Mode::Shift : Mode::Col;
    if (mode == Mode::Direct && small) mode = Mode::Col;  // gathering 1x1 inputs of several images is a copy
    taps = mode == Mode::Shift ? p.KH : 1;
    kper = mode == Mode::Shift ? p.KW : mode == Mode::Col ? p.KH * p.KW : 1;
    kstride = mode == Mode::Shift ? g.Cg * p.KW : g.K;
    halo = mode == Mode::Shift ? (p.KH - 1) * p.dh : 0;
    tap_off = mode == Mode::Shift ? p.dh * p.OW : 0;
    nimg = small ? std::min(p.N, (kTargetCols + g.P - 1) / g.P) : 1;
    int64_t r = p.OH;
    if (!wide && !small && mode != Mode::Direct) {
      r = kUnrollBudget / std::max<int64_t>(1, g.Cg * kper * p.OW) - halo;
      r = std::max(r, (kMinBandCols + p.OW - 1) / p.OW);
    }
    r = std::min(std::max<int64_t>(r, 1), p.OH);
    set_rows((p.OH + (p.OH + r - 1) / r - 1) / ((p.OH + r - 1) / r));  // bands of even height
    // Bands whose column count is a multiple of the micro-kernel's 16 columns leave no edge tiles: take
    // the nearest such height up to twice the even one, when it exists.
    if (!wide && !small && mode != Mode::Direct && (rows * p.OW) % 16 != 0) {
      for (int64_t h = rows + 1; h <= std::min(p.OH, 2 * rows); ++h)
        if ((h * p.OW) % 16 == 0) {
          set_rows(h);
          break;
        }
    }
    cblk = g.Cg;
    if (mode == Mode::Col && !wide) {
      cblk = std::min(g.Cg, std::max<int64_t>(1, kUnrollBudget / (kper * nimg * rows * p.OW)));
    }
    nblk = (g.Cg + cblk - 1) / cblk;
    cblk = (g.Cg + nblk - 1) / nblk;
    nchunks = (p.N + nimg - 1) / nimg;
  }
  void set_rows(int64_t r) {
    rows = r;
    nbands = (OH + rows - 1) / rows;
  }
  // Few independent items: cut the bands so that they split evenly over the threads.
  void split_for(int64_t others, int nthreads) {
    if (nimg == 1 && nthreads > 1 && others < 4 * nthreads && nbands % nthreads != 0 && OH >= nthreads) {
      const int64_t nb = std::min(OH, (nbands + nthreads - 1) / nthreads * nthreads);
      set_rows((OH + nb - 1) / nb);
    }
  }
  bool direct() const { return mode == Mode::Direct; }
  // Row stride of the unrolled input of `ni` images over output rows [oh0, oh1).
  int64_t ld(int64_t ni, int64_t oh0, int64_t oh1) const { return ni * (oh1 - oh0 + halo) * OW; }
  int64_t unroll_size() const { return direct() ? 0 : cblk * kper * ld(nimg, 0, rows) + kSlack; }
};

// The zero-bordered copy of the input rows a band of output rows [oh0, oh1) reads: padded rows [r0, r0 + nr)
// (padded row r = ih + ph, column q = iw + pw), row stride wq with kSlack spare columns.
struct PadRows {
  int64_t r0, nr, wq;
  PadRows(const Conv2dParams& p, int64_t oh0, int64_t oh1)
      : r0(oh0 * p.sh), nr((oh1 - 1) * p.sh + (p.KH - 1) * p.dh + 1 - oh0 * p.sh), wq(p.W + 2 * p.pw + kSlack) {}
  int64_t size() const { return nr * wq; }
};

// pad_rows when the buffer already holds a previous channel's pad_rows for the same rows (or zeros): only the
// input's pixels are rewritten, one vector copy of all rows, since the borders and the rows outside the
// image are zero already (a memcpy and two memsets per row cost as much as the copy for 28-pixel rows).
void pad_rows_again(const Conv2dParams& p, const float* xc, const PadRows& pr, float* pad) {
  const int64_t ra = std::max<int64_t>(0, p.ph - pr.r0), rb = std::min(pr.nr, p.H + p.ph - pr.r0);
  if (rb > ra) conv_kernels().copy_runs(pad + ra * pr.wq + p.pw, pr.wq, xc + (pr.r0 + ra - p.ph) * p.W, p.W, p.W, rb - ra, false);
}

void pad_rows(const Conv2dParams& p, const float* xc, const PadRows& pr, float* pad) {
  for (int64_t r = 0; r < pr.nr; ++r) {
    float* d = pad + r * pr.wq;
    const int64_t ih = pr.r0 + r - p.ph;
    if (ih < 0 || ih >= p.H) {
      std::memset(d, 0, sizeof(float) * pr.wq);
      continue;
    }
    std::memset(d, 0, sizeof(float) * p.pw);
    std::memcpy(d + p.pw, xc + ih * p.W, sizeof(float) * p.W);
    std::memset(d + p.pw + p.W, 0, sizeof(float) * (pr.wq - p.pw - p.W));
  }
}

// Unrolls channels [c0, c1) of image xi (C, H, W) for output rows [oh0, oh1) into u (row stride ld);
// channel c's rows start at row (c - cbase) * (KW for Shift, KH*KW for Col). Writes only those rows.
//  Col:   u[(c*KH + kh)*KW + kw][(oh - oh0)*OW + ow] = xpad[c][oh*sh + kh*dh][ow*sw + kw*dw]
//  Shift: u[c*KW + kw][r*OW + ow] = xpad[c][oh0 + r][ow*sw + kw*dw],  r < rows + halo
// (Shift is Col's "kh = 0" with the runs of all R input rows, so one loop serves both.)
void unroll(const Conv2dParams& p, const Plan& plan, const float* xi, int64_t c0, int64_t c1, int64_t cbase,
            int64_t oh0, int64_t oh1, float* u, int64_t ld) {
  const PadRows pr(p, oh0, oh1);
  float* pad = scratch(1, pr.size() + kSlack);
  const bool shift = plan.mode == Mode::Shift;
  const int64_t OW = p.OW, nkh = shift ? 1 : p.KH;
  const int64_t runs = shift ? pr.nr : oh1 - oh0;  // runs of OW per unrolled row, `step` padded floats apart
  const int64_t step = shift ? pr.wq : p.sh * pr.wq;
  // A run's 8-float overhang is overwritten by the next run only if it ends within it.
  const bool over_ok = (OW + 7) / 8 * 8 <= 2 * OW;
  const ConvKernels& k = conv_kernels();
  for (int64_t c = c0; c < c1; ++c) {
    if (c == c0) {
      pad_rows(p, xi + c * p.H * p.W, pr, pad);
    } else {
      pad_rows_again(p, xi + c * p.H * p.W, pr, pad);
    }
    for (int64_t kh = 0; kh < nkh; ++kh) {
      for (int64_t kw = 0; kw < p.KW; ++kw) {
        float* dst = u + (((c - cbase) * nkh + kh) * p.KW + kw) * ld;
        const float* src = pad + kh * p.dh * pr.wq + kw * p.dw;
        if (p.sw == 1) {
          k.copy_runs(dst, OW, src, step, OW, runs, over_ok);
          continue;
        }
        for (int64_t r = 0; r < runs; ++r, dst += OW, src += step)
          for (int64_t ow = 0; ow < OW; ++ow) dst[ow] = src[ow * p.sw];
      }
    }
  }
}

// The adjoint of unroll: dxi (C, H, W) channels [c0, c1) += the scatter of u's rows for output rows
// [oh0, oh1) (layout as unroll's), through a zero-bordered accumulator of the band's input rows.
void scatter(const Conv2dParams& p, const Plan& plan, const float* u, int64_t ld, int64_t c0, int64_t c1,
             int64_t cbase, int64_t oh0, int64_t oh1, float* dxi) {
  const PadRows pr(p, oh0, oh1);
  float* pad = scratch(1, pr.size() + kSlack);
  const bool shift = plan.mode == Mode::Shift;
  const int64_t OW = p.OW, nkh = shift ? 1 : p.KH;
  const int64_t runs = shift ? pr.nr : oh1 - oh0;
  const int64_t step = shift ? pr.wq : p.sh * pr.wq;
  const ConvKernels& k = conv_kernels();
  for (int64_t c = c0; c < c1; ++c) {
    std::memset(pad, 0, sizeof(float) * pr.size());
    for (int64_t kh = 0; kh < nkh; ++kh) {
      for (int64_t kw = 0; kw < p.KW; ++kw) {
        const float* src = u + (((c - cbase) * nkh + kh) * p.KW + kw) * ld;
        float* dst = pad + kh * p.dh * pr.wq + kw * p.dw;
        if (p.sw == 1) {
          k.add_runs(dst, step, src, OW, OW, runs);
          continue;
        }
        for (int64_t r = 0; r < runs; ++r, src += OW, dst += step)
          for (int64_t ow = 0; ow < OW; ++ow) dst[ow * p.sw] += src[ow];
      }
    }
    // Padded rows r with 0 <= ih = r0 + r - ph < H, added to dx's rows ih.
    const int64_t ra = std::max<int64_t>(0, p.ph - pr.r0), rb = std::min(pr.nr, p.H + p.ph - pr.r0);
    if (rb > ra) k.add_runs(dxi + c * p.H * p.W + (pr.r0 + ra - p.ph) * p.W, p.W, pad + ra * pr.wq + p.pw, pr.wq, p.W, rb - ra);
  }
}

// The GEMMs' view of the weights: the (Og, depth) block of tap t, group gi, channels from cb0 at
// a(t, gi, cb0), row stride kstride. Shift regroups w into wr[kh][o][c*KW + kw] (the calling thread's
// scratch, read by the pool tasks); otherwise it is w itself.
struct Weights {
  const float* base;
  int64_t O, Og, kstride, kper;
  const float* a(int64_t t, int64_t gi, int64_t cb0) const { return base + (t * O + gi * Og) * kstride + cb0 * kper; }
};

Weights weights_for(const Conv2dParams& p, const Geo& g, const Plan& plan, const float* w) {
  if (plan.mode != Mode::Shift) return Weights{w, p.O, g.Og, plan.kstride, plan.kper};
  float* wr = scratch(3, p.O * g.K);
  const int64_t KH = p.KH, KW = p.KW, Cg = g.Cg, ks = plan.kstride, O = p.O;
  parallel_for(O, std::max<int64_t>(1, 16384 / g.K), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) wr[(kh * O + o) * ks + c * KW + kw] = w[((o * Cg + c) * KH + kh) * KW + kw];
  });
  return Weights{wr, p.O, g.Og, plan.kstride, plan.kper};
}

// Rows [r0, r1) of an (rows, n) matrix with row stride ld get b[r] added.
void add_bias_rows(float* y, int64_t ld, int64_t r0, int64_t r1, int64_t n, const float* b) {
  for (int64_t r = r0; r < r1; ++r) {
    float* yr = y + r * ld;
    const float v = b[r];
    for (int64_t j = 0; j < n; ++j) yr[j] += v;
  }
}

// Sum of n floats: 8 float lanes (vectorisable), combined in double.
double sum_row(const float* x, int64_t n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += x[i + j];
  double s = 0.0;
  for (; i < n; ++i) s += x[i];
  for (int j = 0; j < 8; ++j) s += acc[j];
  return s;
}

// ---- one input channel per group (depthwise, or a 1-channel input): direct loops ---------------------
// With Cg == 1 a GEMM would have depth KH*KW and a handful of rows, all packing and no multiplying, so these
// three run the convolution directly on one zero-bordered input plane at a time, vectorised along ow.

bool use_depthwise(const Geo& g) { return g.Cg == 1 && g.Og <= kMaxDepthwiseOg; }

// The whole zero-bordered plane c of image n (rows r = ih + ph, row stride wq) into the thread's scratch.
const float* padded_plane(const Conv2dParams& p, const float* xc, PadRows& pr) {
  pr = PadRows(p, 0, p.OH);
  float* pad = scratch(1, pr.size() + kSlack);
  pad_rows(p, xc, pr, pad);
  return pad;
}

void depthwise_forward(const Conv2dParams& p, const Geo& g, const float* x, const float* w, const float* b,
                       float* y) {
  const int64_t KK = p.KH * p.KW;
  const ConvKernels& k = conv_kernels();
  parallel_for(p.N * p.C, std::max<int64_t>(1, 4096 / (g.HW * g.Og * KK)), [&](int64_t i0, int64_t i1) {
    PadRows pr(p, 0, 1);
    for (int64_t i = i0; i < i1; ++i) {  // i = n*C + c
      const float* pad = padded_plane(p, x + i * g.HW, pr);
      const int64_t n = i / p.C, c = i % p.C;
      for (int64_t ol = 0; ol < g.Og; ++ol) {
        const int64_t o = c * g.Og + ol;
        const float* wk = w + o * KK;
        const float bias = b ? b[o] : 0.0f;
        float* yo = y + (n * p.O + o) * g.P;
        for (int64_t oh = 0; oh < p.OH; ++oh) {
          float* yr = yo + oh * p.OW;
          const float* src = pad + oh * p.sh * pr.wq;
          // Stride 1: the table's row (all taps of 32 outputs in registers on AVX2); else plain loops.
          if (p.sw == 1) {
            k.corr_row(yr, src, wk, bias, 1, 0, p.KH, p.KW, p.dh * pr.wq, p.dw, p.OW);
          } else {
            corr_row_strided(yr, src, wk, bias, 1, 0, p.KH, p.KW, p.dh * pr.wq, p.dw, p.sw, p.OW);
          }
        }
      }
    }
  });
}

// Plane src (h, w) with `top` zero rows above and below and `left` zero columns either side into dst
// (row stride wq >= w + 2*left, every column written).
void pad_plane(const float* src, int64_t h, int64_t w, int64_t top, int64_t left, float* dst, int64_t wq) {
  std::memset(dst, 0, sizeof(float) * top * wq);
  for (int64_t r = 0; r < h; ++r) {
    float* d = dst + (top + r) * wq;
    std::memset(d, 0, sizeof(float) * left);
    std::memcpy(d + left, src + r * w, sizeof(float) * w);
    std::memset(d + left + w, 0, sizeof(float) * (wq - left - w));
  }
  std::memset(dst + (top + h) * wq, 0, sizeof(float) * top * wq);
}

void depthwise_backward_data(const Conv2dParams& p, const Geo& g, const float* dy, const float* w, float* dx) {
  const int64_t KK = p.KH * p.KW;
  const ConvKernels& k = conv_kernels();
  const bool gather = k.gather_backward_data && p.sh == 1 && p.sw == 1;
  parallel_for(p.N * p.C, std::max<int64_t>(1, 4096 / (g.HW * g.Og * KK)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t n = i / p.C, c = i % p.C;
      float* dc = dx + i * g.HW;
      if (gather) {
        // Stride 1: dx[ih][iw] = sum over o, kh, kw of w * dy[ih + ph - kh*dh][iw + pw - kw*dw], a correlation
        // over dy planes zero-bordered by (KH-1)*dh rows and (KW-1)*dw columns, accumulated in registers.
        const int64_t th = (p.KH - 1) * p.dh, tw = (p.KW - 1) * p.dw;
        const int64_t rows = p.OH + 2 * th, wq = p.OW + 2 * tw + kSlack, plane = rows * wq;
        float* pads = scratch(1, g.Og * plane + kSlack);
        for (int64_t ol = 0; ol < g.Og; ++ol)
          pad_plane(dy + (n * p.O + c * g.Og + ol) * g.P, p.OH, p.OW, th, tw, pads + ol * plane, wq);
        const float* wc = w + c * g.Og * KK;
        for (int64_t ih = 0; ih < p.H; ++ih)  // tap (kh, kw) of output ol reads its plane's row ih + ph + th - kh*dh
          k.corr_row(dc + ih * p.W, pads + (ih + p.ph + th) * wq + p.pw + tw, wc, 0.0f, g.Og, plane, p.KH, p.KW,
                     -p.dh * wq, -p.dw, p.W);
        continue;
      }
      // Any stride: scatter-add into a zero-bordered accumulator plane, then copy its interior out.
      const PadRows pr(p, 0, p.OH);
      float* pad = scratch(1, pr.size() + kSlack);
      std::memset(pad, 0, sizeof(float) * pr.size());
      for (int64_t ol = 0; ol < g.Og; ++ol) {
        const int64_t o = c * g.Og + ol;
        const float* wk = w + o * KK;
        const float* dyo = dy + (n * p.O + o) * g.P;
        for (int64_t oh = 0; oh < p.OH; ++oh) {
          const float* dr = dyo + oh * p.OW;
          for (int64_t kh = 0; kh < p.KH; ++kh) {
            float* dst = pad + (oh * p.sh + kh * p.dh) * pr.wq;
            for (int64_t kw = 0; kw < p.KW; ++kw) {
              float* d = dst + kw * p.dw;
              const float v = wk[kh * p.KW + kw];
              for (int64_t j = 0; j < p.OW; ++j) d[j * p.sw] += v * dr[j];
            }
          }
        }
      }
      for (int64_t ih = 0; ih < p.H; ++ih) {  // rows past the last window (stride > 1) get nothing
        if (ih + p.ph < pr.nr) {
          std::memcpy(dc + ih * p.W, pad + (ih + p.ph) * pr.wq + p.pw, sizeof(float) * p.W);
        } else {
          std::memset(dc + ih * p.W, 0, sizeof(float) * p.W);
        }
      }
    }
  });
}

// dw[o] over channels: each task owns whole channels, so every sum runs over the batch in order. Per image,
// output and group of up to 8 taps, the taps' products with dy accumulate in 8 independent vector lanes.
void depthwise_backward_weight(const Conv2dParams& p, const Geo& g, const float* x, const float* dy, float* dw) {
  const int64_t KK = p.KH * p.KW;
  const ConvKernels& kt = conv_kernels();
  parallel_for(p.C, 1, [&](int64_t c0, int64_t c1) {
    std::vector<double> acc(static_cast<size_t>(g.Og * KK));
    PadRows pr(p, 0, 1);
    for (int64_t c = c0; c < c1; ++c) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t n = 0; n < p.N; ++n) {
        const float* pad = padded_plane(p, x + (n * p.C + c) * g.HW, pr);
        for (int64_t ol = 0; ol < g.Og; ++ol) {
          const float* dyo = dy + (n * p.O + c * g.Og + ol) * g.P;
          for (int64_t t0 = 0; t0 < KK; t0 += 8) {
            const int64_t nt = std::min<int64_t>(8, KK - t0);
            int64_t off[8];
            for (int64_t t = 0; t < nt; ++t) off[t] = ((t0 + t) / p.KW) * p.dh * pr.wq + ((t0 + t) % p.KW) * p.dw;
            double sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            if (p.sw == 1) {
              kt.taps(pad, p.sh * pr.wq, dyo, p.OH, p.OW, off, nt, sums);
            } else {
              taps_strided(pad, p.sh * pr.wq, dyo, p.OH, p.OW, off, nt, p.sw, sums);
            }
            for (int64_t t = 0; t < nt; ++t) acc[ol * KK + t0 + t] += sums[t];
          }
        }
      }
      for (int64_t k = 0; k < g.Og * KK; ++k) dw[c * g.Og * KK + k] = static_cast<float>(acc[k]);
    }
  });
}

// Item mode pays off when the items split evenly enough over the pool.
bool use_items(int64_t items, int nthreads) {
  return nthreads <= 1 || items >= 2 * nthreads || (items >= nthreads && items % nthreads == 0);
}

// One item's place in the work: images [n0, n0 + ni), group gi, output rows [oh0, oh1).
struct Item {
  int64_t n0, ni, gi, oh0, oh1;
};

// Channel block blk of group gi: input channels [c0, c1) (absolute), GEMM depth (c1 - c0) * kper.
struct Block {
  int64_t c0, c1, cb0, depth;
  Block(const Plan& plan, const Geo& g, int64_t gi, int64_t blk) {
    cb0 = blk * plan.cblk;
    c0 = gi * g.Cg + cb0;
    c1 = gi * g.Cg + std::min(g.Cg, cb0 + plan.cblk);
    depth = (c1 - c0) * plan.kper;
  }
};

// Splits the flat (image, channel) range [a, b), nch channels per image, into runs of one image each:
// fn(image j, channel c0, channel c1).
template <class Fn>
void for_each_image_run(int64_t a, int64_t b, int64_t nch, Fn&& fn) {
  while (a < b) {
    const int64_t j = a / nch, c0 = a % nch, c1 = std::min(nch, c0 + (b - a));
    fn(j, c0, c1);
    a += c1 - c0;
  }
}

// Unrolls block bl of images [n0, n0 + ni) over output rows [oh0, oh1) into u (row stride ld), image j's
// columns from j * (oh1 - oh0) * OW on. `par`: split the channels over the pool (wide mode).
void unroll_block(const Conv2dParams& p, const Geo& g, const Plan& plan, const float* x, int64_t n0, int64_t ni,
                  const Block& bl, int64_t oh0, int64_t oh1, float* u, int64_t ld, bool par) {
  const int64_t nc = (oh1 - oh0) * p.OW;
  if (par) {
    // One pool job over every (image, channel) pair: small images would otherwise make a job each.
    const int64_t nch = bl.c1 - bl.c0;
    parallel_for(ni * nch, 1, [&](int64_t a, int64_t b) {
      for_each_image_run(a, b, nch, [&](int64_t j, int64_t c0, int64_t c1) {
        unroll(p, plan, x + (n0 + j) * p.C * g.HW, bl.c0 + c0, bl.c0 + c1, bl.c0, oh0, oh1, u + j * nc, ld);
      });
    });
    return;
  }
  for (int64_t j = 0; j < ni; ++j) unroll(p, plan, x + (n0 + j) * p.C * g.HW, bl.c0, bl.c1, bl.c0, oh0, oh1, u + j * nc, ld);
}

// The item's input for block bl as a GEMM operand (depth rows, pixel columns): x itself for a 1x1 "direct"
// plan, else its band unrolled into u. Sets the row stride.
const float* block_input(const Conv2dParams& p, const Geo& g, const Plan& plan, const float* x, const Item& it,
                         const Block& bl, float* u, bool par, int64_t& ld) {
  if (plan.direct()) {
    ld = g.HW;
    return x + (it.n0 * p.C + bl.c0) * g.HW + it.oh0 * p.OW;
  }
  ld = plan.ld(it.ni, it.oh0, it.oh1);
  unroll_block(p, g, plan, x, it.n0, it.ni, bl, it.oh0, it.oh1, u, ld, par);
  return u;
}

// dy of images [n0, n0 + ni), group gi, columns [p0, p0 + nc) as one (Og, ni*nc) matrix: in place when
// ni == 1, else gathered into d. Returns the matrix and sets its row stride.
const float* dy_view(const Conv2dParams& p, const Geo& g, const float* dy, int64_t n0, int64_t ni, int64_t gi,
                     int64_t p0, int64_t nc, float* d, int64_t& ld) {
  if (ni == 1) {
    ld = g.P;
    return dy + (n0 * p.O + gi * g.Og) * g.P + p0;
  }
  ld = ni * nc;
  for (int64_t o = 0; o < g.Og; ++o)
    for (int64_t j = 0; j < ni; ++j)
      std::memcpy(d + o * ld + j * nc, dy + ((n0 + j) * p.O + gi * g.Og + o) * g.P + p0, sizeof(float) * nc);
  return d;
}

// ---- algorithm selection: im2col GEMM ("direct"), Winograd, or the direct 3x3 kernel ---------------------
// The rule (ConvAlgo::Auto) and the measurements it rests on: docs/winograd.md, docs/conv_algos.md. The direct
// 3x3 kernel serves forward, backward-data and backward-weight; Winograd forward and backward-data (its
// backward-weight is the GEMM's).
enum class Algo { Direct, Wino2, Wino4, Direct3 };

// The direct 3x3 kernel's own rule (cpu/conv_direct.cc; docs/conv_algos.md): on the AVX-512 path for 32-127
// channels on maps of up to 56x56 pixels it measured as fast as or faster than the GEMM (forward, backward-data,
// backward-weight). On larger maps its per-image buffers leave L2 (at 112x112 backward-weight took 1.7x the
// GEMM's time); on AVX2 and the baseline path it measured no faster than the GEMM.
bool direct3_rule(const Conv2dParams& p) {
  const int64_t ch = std::min(p.C, p.O);
  return cpu_isa() == CpuIsa::kAvx512 && direct3x3_applies(p) && ch >= 32 && ch < 128 && p.OH * p.OW <= 56 * 56;
}

// Forward and backward-data. F(4x4,3x3) from 16 channels on maps of at least 4x4 with at least 64 tiles of
// 4x4 in the batch (docs/winograd.md): with the weights transformed once per call into the GEMM's packed
// layout and patches gathered/stored by vector instructions it measured 1.5-3.3x faster than the im2col GEMM
// and 1.3-1.9x faster than the direct 3x3 kernel on every measured layer from 32x32 to 7x7 and 32 to 512
// channels, so F(2x2) wins no measured row. Its rounding error (1.4-4.7e-6 of the largest output, 4-17x
// direct's; stated per layer in docs/winograd.md) trains the CIFAR-10 CNN and ResNet-18 to the same accuracy.
// Below that: the direct 3x3 kernel where its rule holds, else the GEMM.
// F(4x4) tiles of an H x W map over the batch (the rules' floor on the work Winograd has to spread).
int64_t f4_tiles(const Conv2dParams& p, int64_t H, int64_t W) { return p.N * ((H + 3) / 4) * ((W + 3) / 4); }

Algo rule(const Conv2dParams& p) {
  const int64_t ch = std::min(p.C, p.O);
  if (ch >= 16 && p.OH >= 4 && p.OW >= 4 && f4_tiles(p, p.OH, p.OW) >= 64) return Algo::Wino4;
  return direct3_rule(p) ? Algo::Direct3 : Algo::Direct;
}

std::atomic<int>& algo_setting() {
  static std::atomic<int> v{[] {
    ConvAlgo a = ConvAlgo::Auto;
    if (const char* e = std::getenv("CONVKIT_CONV_ALGO")) parse_conv_algo(e, &a);  // unknown: auto
    return static_cast<int>(a);
  }()};
  return v;
}

Algo choose_algo(const Conv2dParams& p) {
  if (!winograd_applies(p) || gemm_bf16_enabled()) return Algo::Direct;  // bf16 autocast: the GEMM path only
  switch (get_conv_algo()) {
    case ConvAlgo::Direct: return Algo::Direct;
    case ConvAlgo::Winograd2: return Algo::Wino2;
    case ConvAlgo::Winograd4: return Algo::Wino4;
    case ConvAlgo::Winograd: return Algo::Wino2;
    case ConvAlgo::Direct3x3: return direct3x3_applies(p) ? Algo::Direct3 : Algo::Direct;
    default: return rule(p);
  }
}

// Backward-data's algorithm: the forward's, except that under 'auto' a layer with few input channels (the stem's
// 1-3, whose dx is the forward of dy's 16+ channels into 1-3) takes F(4x4) where the forward's channel floor
// alone kept it on the GEMM: there the GEMM's M is the 1-3 output channels, and F(4x4) measured 1.5-1.6x faster
// (128x3x32->32: 5.4 against 8.1 ms, 64x1x28->32: 2.1 against 3.4 ms, one thread; docs/winograd.md).
Algo backward_data_algo(const Conv2dParams& p) {
  const Algo a = choose_algo(p);
  if (a != Algo::Direct || get_conv_algo() != ConvAlgo::Auto || !winograd_applies(p) || gemm_bf16_enabled()) return a;
  if (p.O >= 16 && p.C < 16 && p.H >= 4 && p.W >= 4 && f4_tiles(p, p.H, p.W) >= 64)
    return Algo::Wino4;
  return a;
}

// Backward-weight's algorithm: Winograd's adjoint (cpu/winograd.cc), the direct 3x3 kernel, or the GEMM.
// 'winograd2' / 'winograd4' force that tile here too; 'auto' is backward_weight_rule (docs/winograd.md).
// Measured (docs/winograd.md; DIRS=bwd_weight benchmarks/winograd_rule.js): F(4x4) beats the direct kernel and the
// GEMM on every CIFAR-10 / Fashion-MNIST / ResNet-18 layer up to 256 channels (0.5-0.9x their time), F(2x2) at
// 512; below 256 tiles (4-8 images of 8x8-16x16) it ties or loses to the direct kernel (transforms and packing
// per tile outweigh the saved multiplies); at 256 it ties at 32 channels and wins from 64 (Fashion-MNIST's
// 64x64x7->128: 0.74x), so it starts at 256 tiles.
Algo backward_weight_rule(const Conv2dParams& p) {
  if (std::min(p.C, p.O) >= 16 && p.OH >= 4 && p.OW >= 4 && f4_tiles(p, p.OH, p.OW) >= 256)
    return p.C * p.O <= 256 * 256 ? Algo::Wino4 : Algo::Wino2;
  return direct3_rule(p) ? Algo::Direct3 : Algo::Direct;
}

Algo backward_weight_algo(const Conv2dParams& p) {
  if (!winograd_applies(p) || gemm_bf16_enabled()) return Algo::Direct;
  switch (get_conv_algo()) {
    case ConvAlgo::Direct3x3: return direct3x3_applies(p) ? Algo::Direct3 : Algo::Direct;
    case ConvAlgo::Auto: return backward_weight_rule(p);
    case ConvAlgo::Winograd:
    case ConvAlgo::Winograd2: return Algo::Wino2;
    case ConvAlgo::Winograd4: return Algo::Wino4;
    default: return Algo::Direct;
  }
}

WinogradTile tile_of(Algo a) { return a == Algo::Wino2 ? WinogradTile::F2 : WinogradTile::F4; }

}  // namespace

const ConvKernels& conv_kernels() {
#if defined(CK_ISA_DISPATCH)
  // The AVX-512 path uses the AVX2 kernels (cpu/conv_avx2.cc says why).
  static const ConvKernels& k = cpu_isa() == CpuIsa::kBaseline ? kBaseConvKernels : avx2::kConvKernels;
  return k;
#else
  return kBaseConvKernels;
#endif
}

void set_conv_algo(ConvAlgo a) { algo_setting().store(static_cast<int>(a)); }
ConvAlgo get_conv_algo() { return static_cast<ConvAlgo>(algo_setting().load()); }

namespace {
constexpr const char* kAlgoNames[] = {"auto", "direct", "winograd", "winograd2", "winograd4", "direct3x3"};
}

bool parse_conv_algo(const char* name, ConvAlgo* out) {
  for (int i = 0; i < 6; ++i)
    if (std::strcmp(name, kAlgoNames[i]) == 0) {
      *out = static_cast<ConvAlgo>(i);
      return true;
    }
  return false;
}

const char* conv_algo_name(ConvAlgo a) { return kAlgoNames[static_cast<int>(a)]; }

void conv2d_forward_cpu(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y) {
  conv2d_forward_epilogue_cpu(p, x, w, b, ConvEpilogue(), y);
}

namespace {
void forward_gemm(const Conv2dParams& p, const float* x, const float* w, const float* b, const ConvEpilogue& ep,
                  float* y);

// Backward-data of a stride-1 convolution is the forward convolution of dy (padded by dh*(KH-1) - ph rows and
// dw*(KW-1) - pw columns) with the weights transposed per group (O <-> C) and flipped in both kernel axes:
//   dx[n, c, ih, iw] = sum_{o, kh, kw} W[o, c, kh, kw] dy[n, o, ih + ph - kh*dh, iw + pw - kw*dw].
// As a forward pass it is a GEMM of depth Og*KW per kernel row (Shift) writing dx once, instead of a GEMM of
// depth Og whose (Cg*KW, pixels) result is scatter-added into a zeroed dx (col2im): on AVX-512 the shallow
// GEMM spent most of its time loading and storing C tiles, and the scatter and zeroing cost another ~15%.
bool backward_data_as_forward(const Conv2dParams& p) {
  return p.sh == 1 && p.sw == 1 && p.KH * p.KW > 1 && p.dh * (p.KH - 1) >= p.ph && p.dw * (p.KW - 1) >= p.pw;
}

void backward_data_forward(const Conv2dParams& p, const Geo& g, const float* dy, const float* w, float* dx) {
  Conv2dParams q = p;
  q.C = p.O;
  q.O = p.C;
  q.H = p.OH;
  q.W = p.OW;
  q.OH = p.H;
  q.OW = p.W;
  q.ph = p.dh * (p.KH - 1) - p.ph;
  q.pw = p.dw * (p.KW - 1) - p.pw;
  // wt[gi*Cg + c][o][kh][kw] = w[gi*Og + o][c][KH-1-kh][KW-1-kw]: (C, Og, KH, KW). Its own buffer: the
  // forward pass uses every scratch slot.
  thread_local std::vector<float> buf;
  const int64_t KK = p.KH * p.KW;
  if (static_cast<int64_t>(buf.size()) < p.C * g.Og * KK) buf.resize(static_cast<size_t>(p.C * g.Og * KK));
  float* wt = buf.data();
  for (int64_t gi = 0; gi < p.groups; ++gi)
    for (int64_t o = 0; o < g.Og; ++o)
      for (int64_t c = 0; c < g.Cg; ++c) {
        const float* src = w + ((gi * g.Og + o) * g.Cg + c) * KK;
        float* dst = wt + ((gi * g.Cg + c) * g.Og + o) * KK;
        for (int64_t k = 0; k < KK; ++k) dst[k] = src[KK - 1 - k];
      }
  forward_gemm(q, dy, wt, nullptr, ConvEpilogue(), dx);
}
}  // namespace

void conv2d_forward_epilogue_cpu(const Conv2dParams& p, const float* x, const float* w, const float* b,
                                 const ConvEpilogue& ep, float* y) {
  check_conv2d(p, "conv2d_forward");
  if (p.N == 0) return;
  // Shallow inputs (1-4 channels: a CNN's stem): their own direct kernel under 'auto' (cpu/conv_small.cc).
  if (get_conv_algo() == ConvAlgo::Auto && !gemm_bf16_enabled() && conv_small_rule(p))
    return conv_small_forward_cpu(p, x, w, b, ep, y);
  const Algo a = choose_algo(p);
  if (a == Algo::Direct3) return direct3x3_forward_cpu(p, x, w, b, ep, y);
  if (a != Algo::Direct) return winograd_forward_cpu(p, tile_of(a), x, w, b, y, ep);
  forward_gemm(p, x, w, b, ep, y);
}

namespace {
// The forward pass without Winograd: depthwise loops, or unrolled GEMMs.
void forward_gemm(const Conv2dParams& p, const float* x, const float* w, const float* b, const ConvEpilogue& ep,
                  float* y) {
  const Geo g(p);
  if (use_depthwise(g)) {
    depthwise_forward(p, g, x, w, b, y);
    if (ep.active())
      parallel_for(p.N * p.O, std::max<int64_t>(1, 16384 / g.P), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) ep.apply(y, r, p.O, g.P, 0, g.P);
      });
    return;
  }
  const int nthreads = in_parallel_region() ? 1 : get_num_threads();
  const int64_t G = p.groups;
  Plan plan(p, g, false);
  plan.split_for(plan.nchunks * G, nthreads);
  const bool wide = !use_items(plan.nchunks * G * plan.nbands, nthreads);
  if (wide) plan = Plan(p, g, true);
  const Weights wt = weights_for(p, g, plan, w);

  // y of one item (+)= sum over blocks and taps of A @ B.
  auto run = [&](const Item& it, float* u, float* t, bool par) {
    const int64_t p0 = it.oh0 * p.OW, nc = (it.oh1 - it.oh0) * p.OW, ncol = it.ni * nc;
    float* yb = y + (it.n0 * p.O + it.gi * g.Og) * g.P + p0;
    float* c = it.ni == 1 ? yb : t;
    const int64_t ldc = it.ni == 1 ? g.P : ncol;
    for (int64_t blk = 0; blk < plan.nblk; ++blk) {
      const Block bl(plan, g, it.gi, blk);
      int64_t ldb;
      const float* bm = block_input(p, g, plan, x, it, bl, u, par, ldb);
      for (int64_t tp = 0; tp < plan.taps; ++tp)
        sgemm_cpu(1, g.Og, ncol, bl.depth, 1.0f, wt.a(tp, it.gi, bl.cb0), 0, plan.kstride, 1, bm + tp * plan.tap_off,
                  0, ldb, 1, blk == 0 && tp == 0 ? 0.0f : 1.0f, c, 0, ldc);
    }
    const float* bg = b ? b + it.gi * g.Og : nullptr;
    // Bias and the epilogue on the item's rows while they are still in cache.
    auto finish = [&](int64_t o0, int64_t o1) {
      if (it.ni == 1) {
        if (bg) add_bias_rows(yb, g.P, o0, o1, nc, bg);
        if (ep.active())
          for (int64_t o = o0; o < o1; ++o) ep.apply(y, it.n0 * p.O + it.gi * g.Og + o, p.O, g.P, p0, nc);
        return;
      }
      for (int64_t j = 0; j < it.ni; ++j)
        for (int64_t o = o0; o < o1; ++o) {
          const int64_t row = (it.n0 + j) * p.O + it.gi * g.Og + o;
          float* yr = y + row * g.P + p0;
          const float* tr = t + o * ldc + j * nc;
          const float bo = bg ? bg[o] : 0.0f;
          for (int64_t q = 0; q < nc; ++q) yr[q] = tr[q] + bo;
          if (ep.active()) ep.apply(y, row, p.O, g.P, p0, nc);
        }
    };
    if (it.ni == 1 && !bg && !ep.active()) return;  // the GEMM wrote y in place: nothing to finish
    if (par) {
      parallel_for(g.Og, std::max<int64_t>(1, 16384 / ncol), finish);
    } else {
      finish(0, g.Og);
    }
  };

  if (!wide) {
    const int64_t items = plan.nchunks * G * plan.nbands;
    parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
      float* u = scratch(0, plan.unroll_size());
      float* t = plan.nimg > 1 ? scratch(4, g.Og * plan.nimg * g.P) : nullptr;
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t band = i % plan.nbands, cg = i / plan.nbands, chunk = cg / G;
        const int64_t n0 = chunk * plan.nimg, oh0 = band * plan.rows;
        run(Item{n0, std::min(plan.nimg, p.N - n0), cg % G, oh0, std::min(p.OH, oh0 + plan.rows)}, u, t, false);
      }
    });
    return;
  }
  float* u = scratch(0, plan.unroll_size());
  float* t = plan.nimg > 1 ? scratch(4, g.Og * plan.nimg * g.P) : nullptr;
  for (int64_t n0 = 0; n0 < p.N; n0 += plan.nimg)
    for (int64_t gi = 0; gi < G; ++gi) run(Item{n0, std::min(plan.nimg, p.N - n0), gi, 0, p.OH}, u, t, true);
}
}  // namespace

void conv2d_backward_data_cpu(const Conv2dParams& p, const float* dy, const float* w, float* dx) {
  check_conv2d(p, "conv2d_backward_data");
  if (p.N == 0) return;
  const Algo a = backward_data_algo(p);
  if (a == Algo::Direct3) return direct3x3_backward_data_cpu(p, dy, w, dx);
  if (a != Algo::Direct) return winograd_backward_data_cpu(p, tile_of(a), dy, w, dx);
  const Geo g(p);
  if (use_depthwise(g)) return depthwise_backward_data(p, g, dy, w, dx);
  if (backward_data_as_forward(p)) return backward_data_forward(p, g, dy, w, dx);
  const int nthreads = in_parallel_region() ? 1 : get_num_threads();
  const int64_t G = p.groups;
  Plan plan(p, g, false);
  const bool wide = !use_items(plan.nchunks, nthreads);
  if (wide) plan = Plan(p, g, true);
  const Weights wt = weights_for(p, g, plan, w);

  // dx of images [n0, n0 + ni) for group gi (zeroed beforehand unless direct), band [oh0, oh1).
  auto run = [&](const Item& it, float* u, float* d, bool par) {
    const int64_t p0 = it.oh0 * p.OW, nc = (it.oh1 - it.oh0) * p.OW, ncol = it.ni * nc;
    int64_t ldb;
    const float* bm = dy_view(p, g, dy, it.n0, it.ni, it.gi, p0, nc, d, ldb);
    for (int64_t blk = 0; blk < plan.nblk; ++blk) {
      const Block bl(plan, g, it.gi, blk);
      if (plan.direct()) {
        sgemm_cpu(1, bl.depth, nc, g.Og, 1.0f, wt.a(0, it.gi, bl.cb0), 0, 1, plan.kstride, bm, 0, ldb, 1, 0.0f,
                  dx + (it.n0 * p.C + bl.c0) * g.HW + p0, 0, g.HW);
        continue;
      }
      const int64_t ld = plan.ld(it.ni, it.oh0, it.oh1);
      if (plan.taps > 1)  // the taps' column ranges overlap: the halo past the first tap's starts at zero
        for (int64_t k = 0; k < bl.depth; ++k) std::memset(u + k * ld + ncol, 0, sizeof(float) * (ld - ncol));
      for (int64_t tp = 0; tp < plan.taps; ++tp)
        sgemm_cpu(1, bl.depth, ncol, g.Og, 1.0f, wt.a(tp, it.gi, bl.cb0), 0, 1, plan.kstride, bm, 0, ldb, 1,
                  tp == 0 ? 0.0f : 1.0f, u + tp * plan.tap_off, 0, ld);
      if (par) {
        const int64_t nch = bl.c1 - bl.c0;
        parallel_for(it.ni * nch, 1, [&](int64_t a, int64_t b) {
          for_each_image_run(a, b, nch, [&](int64_t j, int64_t c0, int64_t c1) {
            scatter(p, plan, u + j * nc + c0 * plan.kper * ld, ld, bl.c0 + c0, bl.c0 + c1, bl.c0 + c0, it.oh0, it.oh1,
                    dx + (it.n0 + j) * p.C * g.HW);
          });
        });
      } else {
        for (int64_t j = 0; j < it.ni; ++j)
          scatter(p, plan, u + j * nc, ld, bl.c0, bl.c1, bl.c0, it.oh0, it.oh1, dx + (it.n0 + j) * p.C * g.HW);
      }
    }
  };

  if (!wide) {
    // An item is a chunk of images, all groups and bands: the scatters of neighbouring bands overlap.
    parallel_for(plan.nchunks, 1, [&](int64_t c0, int64_t c1) {
      float* u = scratch(0, plan.unroll_size());
      float* d = plan.nimg > 1 ? scratch(4, g.Og * plan.nimg * g.P) : nullptr;
      for (int64_t chunk = c0; chunk < c1; ++chunk) {
        const int64_t n0 = chunk * plan.nimg, ni = std::min(plan.nimg, p.N - n0);
        if (!plan.direct()) std::memset(dx + n0 * p.C * g.HW, 0, sizeof(float) * ni * p.C * g.HW);
        for (int64_t gi = 0; gi < G; ++gi)
          for (int64_t band = 0; band < plan.nbands; ++band) {
            const int64_t oh0 = band * plan.rows;
            run(Item{n0, ni, gi, oh0, std::min(p.OH, oh0 + plan.rows)}, u, d, false);
          }
      }
    });
    return;
  }
  float* u = scratch(0, plan.unroll_size());
  if (!plan.direct()) {
    parallel_for(p.N * p.C, std::max<int64_t>(1, 16384 / g.HW),
                 [&](int64_t a, int64_t b) { std::memset(dx + a * g.HW, 0, sizeof(float) * (b - a) * g.HW); });
  }
  float* d = plan.nimg > 1 ? scratch(4, g.Og * plan.nimg * g.P) : nullptr;
  for (int64_t n0 = 0; n0 < p.N; n0 += plan.nimg)
    for (int64_t gi = 0; gi < G; ++gi) run(Item{n0, std::min(plan.nimg, p.N - n0), gi, 0, p.OH}, u, d, true);
}

void conv2d_backward_weight_cpu(const Conv2dParams& p, const float* x, const float* dy, float* dw, float* db) {
  check_conv2d(p, "conv2d_backward_weight");
  const Geo g(p);
  const int nthreads = in_parallel_region() ? 1 : get_num_threads();
  const int64_t G = p.groups;
  const int64_t wsize = p.O * g.K;

  if (db) {
    parallel_for(p.O, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.N * g.P)), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        double s = 0.0;
        for (int64_t n = 0; n < p.N; ++n) s += sum_row(dy + (n * p.O + o) * g.P, g.P);
        db[o] = static_cast<float>(s);
      }
    });
  }
  if (p.N == 0) {
    std::fill(dw, dw + wsize, 0.0f);
    return;
  }
  if (use_depthwise(g)) return depthwise_backward_weight(p, g, x, dy, dw);
  const Algo wa = backward_weight_algo(p);
  if (wa == Algo::Direct3) return direct3x3_backward_weight_cpu(p, x, dy, dw);
  if (wa != Algo::Direct) return winograd_backward_weight_cpu(p, tile_of(wa), x, dy, dw);

  Plan plan(p, g, false);
  // Slice s accumulates chunks [s*n/S, (s+1)*n/S) into its own partial; fewer chunks than threads: wide mode.
  const int64_t slices = std::min<int64_t>(nthreads, plan.nchunks);
  const bool wide = slices < 2 && nthreads > 1;
  if (wide) plan = Plan(p, g, true);
  const bool shift = plan.mode == Mode::Shift;
  const int64_t nparts = wide ? 1 : slices;
  // Partials are laid out (taps, O, kstride); without regrouping, slice 0 accumulates straight into dw.
  float* partial = (shift || nparts > 1) ? scratch(2, (shift ? nparts : nparts - 1) * wsize) : nullptr;
  auto part = [&](int64_t s) -> float* { return shift ? partial + s * wsize : s == 0 ? dw : partial + (s - 1) * wsize; };

  // acc (+)= the item's dy @ B^T for every block and tap; beta 0 when `first`.
  auto run = [&](const Item& it, bool first, float* acc, float* u, float* d, bool par) {
    const int64_t p0 = it.oh0 * p.OW, nc = (it.oh1 - it.oh0) * p.OW, ncol = it.ni * nc;
    int64_t lda;
    const float* am = dy_view(p, g, dy, it.n0, it.ni, it.gi, p0, nc, d, lda);
    // On one thread, blocks at least one B sliver deep: dy packed once for every block and tap, and each
    // block's unrolled input packed once (with the Shift halo) for its KH taps, which read it at row offsets.
    const float* pa = nullptr;
    // Under BF16 autocast every product goes through sgemm_cpu (its entry routes to the BF16 GEMM): the
    // FP32-only prepacked and dot-product paths below are skipped.
    const bool fp32 = !gemm_bf16_enabled();
    if (!par && fp32 && (plan.nblk > 1 || g.Cg * plan.kper >= gemm_kernels().nr)) {
      float* buf = scratch_aligned(5, gemm_packed_a_size(g.Og, ncol));
      gemm_pack_a(g.Og, ncol, am, lda, 1, buf);
      pa = buf;
    }
    for (int64_t blk = 0; blk < plan.nblk; ++blk) {
      const Block bl(plan, g, it.gi, blk);
      int64_t ldb;
      const float* bm = block_input(p, g, plan, x, it, bl, u, par, ldb);
      if (pa && bl.depth >= gemm_kernels().nr) {
        const int64_t kb = ncol + (plan.taps - 1) * plan.tap_off;
        float* pb = scratch_aligned(6, gemm_packed_b_size(kb, bl.depth));
        gemm_pack_b(kb, bl.depth, bm, 1, ldb, pb);
        for (int64_t tp = 0; tp < plan.taps; ++tp)
          sgemm_prepacked(g.Og, bl.depth, ncol, pa, ncol, pb, kb, tp * plan.tap_off, first ? 0.0f : 1.0f,
                          acc + (tp * p.O + it.gi * g.Og) * plan.kstride + bl.cb0 * plan.kper, plan.kstride);
        continue;
      }
      for (int64_t tp = 0; tp < plan.taps; ++tp) {
        float* c = acc + (tp * p.O + it.gi * g.Og) * plan.kstride + bl.cb0 * plan.kper;
        // A depth narrower than one B sliver of the packed GEMM (the first layer's 9 or 27) would be mostly
        // zero padding there: dot products along the pixels instead, which need no packing (AVX-512; one
        // thread per item). For deeper blocks the packed GEMM measured faster (the dot tiles' horizontal
        // sums and unaligned tap loads cost more than the packing).
        if (!par && fp32 && bl.depth < gemm_kernels().nr && sgemm_nt_rows(g.Og, bl.depth, ncol, am, lda, bm + tp * plan.tap_off, ldb, first ? 0.0f : 1.0f, c,
                                  plan.kstride))
          continue;
        sgemm_cpu(1, g.Og, bl.depth, ncol, 1.0f, am, 0, lda, 1, bm + tp * plan.tap_off, 0, 1, ldb, first ? 0.0f : 1.0f,
                  c, 0, plan.kstride);
      }
    }
  };

  if (!wide) {
    parallel_for(slices, 1, [&](int64_t s0, int64_t s1) {
      float* u = scratch(0, plan.unroll_size());
      float* d = plan.nimg > 1 ? scratch(4, g.Og * plan.nimg * g.P) : nullptr;
      for (int64_t s = s0; s < s1; ++s) {
        const int64_t k0 = s * plan.nchunks / slices, k1 = (s + 1) * plan.nchunks / slices;
        for (int64_t chunk = k0; chunk < k1; ++chunk) {
          const int64_t n0 = chunk * plan.nimg, ni = std::min(plan.nimg, p.N - n0);
          for (int64_t gi = 0; gi < G; ++gi)
            for (int64_t band = 0; band < plan.nbands; ++band) {
              const int64_t oh0 = band * plan.rows;
              run(Item{n0, ni, gi, oh0, std::min(p.OH, oh0 + plan.rows)}, chunk == k0 && band == 0, part(s), u, d,
                  false);
            }
        }
      }
    });
  } else {
    float* u = scratch(0, plan.unroll_size());
    float* d = plan.nimg > 1 ? scratch(4, g.Og * plan.nimg * g.P) : nullptr;
    for (int64_t n0 = 0; n0 < p.N; n0 += plan.nimg)
      for (int64_t gi = 0; gi < G; ++gi)
        run(Item{n0, std::min(plan.nimg, p.N - n0), gi, 0, p.OH}, n0 == 0, part(0), u, d, true);
  }

  if (!shift && nparts == 1) return;
  // dw = the sum of the partials in slice order; Shift partials are regrouped back from [kh][o][c*KW + kw].
  const int64_t KH = p.KH, KW = p.KW, Cg = g.Cg, ks = plan.kstride, O = p.O;
  parallel_for(O, std::max<int64_t>(1, 4096 / g.K), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      float* dr = dw + o * g.K;
      if (shift) {
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t src = (kh * O + o) * ks + c * KW + kw;
              float v = partial[src];
              for (int64_t s = 1; s < nparts; ++s) v += partial[s * wsize + src];
              dr[(c * KH + kh) * KW + kw] = v;
            }
      } else {
        if (nparts > 1) conv_kernels().add_runs(dr, 0, partial + o * g.K, wsize, g.K, nparts - 1);
      }
    }
  });
}

}  // namespace ck
