// Winograd convolution F(m x m, 3 x 3), m = 2 or 4 (Lavin & Gray 2016), NCHW float32, stride 1, dilation 1,
// groups 1, any padding (negative too: backward-data runs the forward with padding 2 - p).
//
// Algorithm. The output is cut into m x m tiles; tile t reads an a x a input patch d (a = m + 2, zero outside
// the image). Per tile, channel pair and transform position xi (a*a of them):
//   V[xi][c][t] = (B^T d_c B)[xi]            input transform (per input channel)
//   U[xi][o][c] = (G g_oc G^T)[xi]           weight transform (once per call, in double, then rounded)
//   M[xi][o][t] = sum_c U[xi][o][c] V[xi][c][t]   a*a independent GEMMs (O, C) @ (C, tiles)
//   y_o tile    = A^T M[.][o][t] A           output transform, then bias and the epilogue
// so the a*a element-wise products over channels become a*a GEMMs run by the tuned GEMM's micro-kernel
// (ck::sgemm_prepacked, ISA-dispatched) on operands already in its packed layouts. Multiplies per output:
// F(2x2) 16/4 = 4, F(4x4) 36/16 = 2.25, against 9 for direct.
//
// Pipeline (docs/winograd.md), the tile split: (1) U transformed once per call, in double, by a per-ISA kernel
// that writes the GEMM's packed A layout directly (streamed past the caches when large); (2) per item of Tb tiles
// and per group of 16 tiles and input channel: the 16 a x a patches gathered with masked hardware gathers (zeros
// outside the image without reading), transformed (B^T d B) and written straight into the GEMM's packed B
// layout (no packing pass on AVX2 / AVX-512); (3) the a*a GEMMs of the item, while V is in L2; (4) per output
// channel and 16 tiles: A^T M A, + bias, stored into y (F(4x4) on AVX-512: rows transposed in registers, one
// masked 4-float store per tile row; else masked scatters or scalar stores; the epilogue scalar). Per-ISA
// pieces live in winograd_kernels.inc (baseline SSE2 here, winograd_avx2.cc, winograd_avx512.cc; cpu/isa.h).
//
// Work split: items of Tb tiles (over the whole batch, tile index = (n*TH + th)*TW + tw), each transformed,
// multiplied and written back by one pool thread with its own scratch (V and M of the item), so the GEMM runs
// single-threaded inside the task and no two items write the same output. With fewer tiles than output channels
// (channel_split(): every item would stream all of U again) the channel split instead: V of all tiles once, then
// tasks of 64 output channels that each transform their own rows of U just before multiplying them against all
// of V (run_channels). Which split runs depends on the shape only. Results are independent of the thread count
// (each output is one item's or task's, the sums over channels are in the GEMM's fixed order).
//
// Numerics: the transforms add rounding (F(4x4)'s points 0, -1, 1, 1/2, -2 and infinity; its 1/3- and
// 1/15-scaled weights). Measured against the FP64 reference in test/unit/conv_winograd.test.ts and
// docs/winograd.md.
#include "cpu/winograd.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/kernels.h"
#include "cpu/isa.h"
#include "cpu/gemm_kernels.h"
#include "cpu/grow_buffer.h"
#include "cpu/threadpool.h"
#include "cpu/winograd_kernels.h"

namespace ck {
namespace {

#include "cpu/winograd_kernels.inc"

// Tiles per item. An item's V and M (a*a*(C + O) floats per tile) stay in L2 with few tiles, but each item's
// GEMMs stream all of U (a*a*C*O floats, packed once per call) from L3 or memory once more: 32 tiles while U is
// at most ~2.4 MB (C*O <= 128*128), 64 up to 256*256, else 128 (measured F(4x4), one thread, 32/64/128/256
// interleaved: docs/winograd.md).
int64_t tiles_per_item(int64_t C, int64_t O) {
  const int64_t co = C * O;
  return co <= 128 * 128 ? 32 : co <= 256 * 256 ? 64 : 128;
}

// The channel split (run_channels) when the batch has fewer tiles than output channels (a*a*C*T floats of V for
// all tiles, against a*a*C*O of U: ResNet-18's 7x7 512-channel layer below batch 128, its 14x14 256-channel
// layer below batch 16): the rows of U per task, else 0 for the tile split. 64 rows (a task's U: a*a*64*C floats,
// 4.7 MB at C = 512, written and re-read within the task; V read O/64 times): measured F(4x4) at 32x512x7->512,
// one thread, 16/32/64/128/256 interleaved (docs/winograd.md).
int64_t channel_split(int64_t T, int64_t O) { return T < O ? 64 : 0; }

// Thread-local scratch that only grows, 64-byte aligned (the GEMM reads packed V with aligned loads). Slots:
// 0 V (the channel split: the caller's, of all tiles, read by the tasks), 1 M, 2 gathered patches, 3 packed U
// (the tile split: the caller's, read by the tasks; the channel split: a task's own rows).
float* scratch(int slot, int64_t n) {
  thread_local GrowBuffer<float> buf[4] = {GrowBuffer<float>("winograd"), GrowBuffer<float>("winograd"),
                                           GrowBuffer<float>("winograd"), GrowBuffer<float>("winograd")};
  return buf[slot].get(n);
}

// The geometry of one Winograd convolution: input (N, Ci, H, W) -> output (N, Co, OH, OW), padding ph, pw.
struct WGeo {
  int64_t N, Ci, H, W, Co, OH, OW, ph, pw, TH, TW, T;
};

// The a*a transformed weight planes U[xi] (O x C, U[xi][o][c] of kernel g(o, c)), each packed once per call
// as the GEMM's A operand (gemm_pack_a's layout: row block r of mr rows at r*mr*C, then c-major, mr floats per
// c; rows past O zero). Kernel g(o, c)'s taps at g + o*ostride + c*cstride (+ 8 - t when flip). Returns the
// stride between the planes.
struct PackedU {
  const float* data;
  int64_t plane;
};
template <int M>
PackedU transform_weights(int64_t Co, int64_t Ci, const float* g, int64_t ostride, int64_t cstride, bool flip) {
  constexpr int A = Mats<M>::A;
  const int64_t mr = gemm_kernels().mr, rows = (Co + mr - 1) / mr * mr;
  const int64_t plane = (rows * Ci + 16 + 15) / 16 * 16;  // + the packing buffer's slack, 64-byte multiples
  float* U = scratch(3, A * A * plane);
  const auto wt = M == 2 ? winograd_kernels().weightsg2 : winograd_kernels().weightsg4;
  const int stream = A * A * plane * static_cast<int64_t>(sizeof(float)) > (int64_t{16} << 20) ? 1 : 0;  // > 16 MiB
  parallel_for(rows / mr, std::max<int64_t>(1, 256 / std::max<int64_t>(1, Ci)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      wt(g + r * mr * ostride, ostride, cstride, flip ? 1 : 0, std::min(mr, Co - r * mr), mr, Ci, U + r * mr * Ci,
         plane, stream);
  });
  return PackedU{U, plane};
}

// The input transform of tiles [t0, t0 + nt) of the batch (column j of V is tile t0 + j), lane groups [g0, g1) of
// kLanes columns (up to ncols, the columns the GEMM multiplies). V (the GEMM's B operand, C x columns per
// transform position, planes vplane apart) is written by the input transform straight in gemm_pack_b's layout
// (slivers of nr columns: sliver s at s*nr*C, then c-major, nr floats per c) when the path's nr is a multiple of
// the 16 lanes (AVX2, AVX-512); on the baseline path (nr = 8) it is written row-major into Vrow (row stride ld)
// and packed per plane by the caller. Lanes past nt up to a whole sliver repeat the last tile, so every GEMM
// column is finite.
// Lane group l0 of the tiles [t0, t0 + nt): per lane the offset of its S x S window's top-left corner (tile
// (th, tw) at row th*M - ph, column tw*M - pw of an H x W plane) from the plane of image nA (the group's first
// image; images `chw` floats apart), and which lanes' window rows / columns lie inside the plane. Lanes past nt
// repeat the last tile when `repeat`, else read nothing (their masks are zero). Returns whether the offsets fit
// int32 (the hardware gathers' index); loff has them in full.
template <int S>
bool lane_windows(int64_t t0, int64_t nt, int64_t l0, int M, int64_t TH, int64_t TW, int64_t ph, int64_t pw,
                  int64_t H, int64_t W, int64_t chw, bool repeat, int64_t& nA, int32_t* off, int64_t* loff,
                  uint32_t* rowmask, uint32_t* colmask) {
  const int64_t TT = TH * TW, last = std::min(l0 + kLanes, nt) - 1;
  nA = (t0 + std::min(l0, nt - 1)) / TT;
  const bool fits = ((t0 + (repeat ? std::min(l0 + kLanes - 1, nt - 1) : last)) / TT - nA + 1) * chw + 2 * W + 2 * S <
                    (int64_t{1} << 31);
  std::fill(rowmask, rowmask + S, 0u);
  std::fill(colmask, colmask + S, 0u);
  for (int l = 0; l < kLanes; ++l) {
    if (!repeat && l0 + l >= nt) {
      loff[l] = 0;
      off[l] = 0;
      continue;
    }
    const int64_t t = t0 + std::min(l0 + l, nt - 1);
    const int64_t r = t % TT, ih = (r / TW) * M - ph, iw = (r % TW) * M - pw;
    loff[l] = (t / TT - nA) * chw + ih * W + iw;
    off[l] = fits ? static_cast<int32_t>(loff[l]) : 0;
    for (int i = 0; i < S; ++i) {
      if (ih + i >= 0 && ih + i < H) rowmask[i] |= 1u << l;
      if (iw + i >= 0 && iw + i < W) colmask[i] |= 1u << l;
    }
  }
  return fits;
}

// The gather's contract by scalar loads, for groups whose offsets do not fit int32.
template <int S>
void gather_scalar(const float* p, const int64_t* loff, const uint32_t* rowmask, const uint32_t* colmask, int64_t w,
                   float* d) {
  for (int i = 0; i < S; ++i)
    for (int j = 0; j < S; ++j)
      for (int l = 0; l < kLanes; ++l)
        d[(i * S + j) * kLanes + l] = (rowmask[i] & colmask[j]) >> l & 1 ? p[loff[l] + i * w + j] : 0.0f;
}

// For each of n planes (plane i at base + i*plane): the lanes' S x S windows gathered into d (the hardware gather
// when the offsets fit int32, else scalar loads), then transformed into out + i*ostride (planes pstride apart).
template <int S>
void gather_transform(const float* base, int64_t n, int64_t plane, bool fits,
                      void (*gather)(const float*, const int32_t*, const uint32_t*, const uint32_t*, int64_t, float*),
                      void (*transform)(const float*, float*, float*, int64_t), const int32_t* off, const int64_t* loff,
                      const uint32_t* rowmask, const uint32_t* colmask, int64_t w, float* d, float* tmp, float* out,
                      int64_t ostride, int64_t pstride) {
  for (int64_t i = 0; i < n; ++i) {
    const float* p = base + i * plane;
    if (fits)
      gather(p, off, rowmask, colmask, w, d);
    else
      gather_scalar<S>(p, loff, rowmask, colmask, w, d);
    transform(d, tmp, out + i * ostride, pstride);
  }
}

template <int M>
void input_stage(const WGeo& q, const float* x, int64_t t0, int64_t nt, int64_t ncols, int64_t g0, int64_t g1,
                 float* V, float* Vrow, int64_t vplane, int64_t ld) {
  constexpr int A = Mats<M>::A, AA = A * A;
  const int64_t NR = gemm_kernels().nr;
  const bool packed = NR % kLanes == 0;
  float* d = scratch(2, 2 * AA * kLanes);
  float* tmp = d + AA * kLanes;
  const int64_t HW = q.H * q.W;
  const WinogradKernels& k = winograd_kernels();
  const auto input = M == 2 ? k.input2 : k.input4;

  // Per group of kLanes tiles (lane_windows): lane l's patch's offset from the group's first image's plane of
  // channel c and which lanes' patch rows / columns lie inside the image (outside it the gather writes zeros
  // without reading); lanes past nt repeat the last tile. Then per channel V[xi](c, l0 + l) = (B^T d B)[xi].
  const auto gather = M == 2 ? k.gather2 : k.gather4;
  int32_t off[kLanes];
  uint32_t rowmask[A], colmask[A];
  int64_t loff[kLanes], nA;
  for (int64_t l0 = g0 * kLanes; l0 < std::min(ncols, g1 * kLanes); l0 += kLanes) {
    const bool fits = lane_windows<A>(t0, nt, l0, M, q.TH, q.TW, q.ph, q.pw, q.H, q.W, q.Ci * HW, true, nA, off, loff,
                                      rowmask, colmask);
    float* out = packed ? V + (l0 / NR) * NR * q.Ci + l0 % NR : Vrow + l0;
    gather_transform<A>(x + nA * q.Ci * HW, q.Ci, HW, fits, gather, input, off, loff, rowmask, colmask, q.W, d, tmp,
                        out, packed ? NR : ld, vplane);
  }
}

// The output transform of output channels [o0, o1) for tiles [t0, t0 + nt): M[xi](o, j) (the GEMMs' result for
// tile t0 + j) at Mb + xi*mplane + (o - o0)*ld + j. A^T M A, + bias, the epilogue, stored into y.
template <int M>
void output_stage(const WGeo& q, const float* Mb, int64_t mplane, int64_t ld, int64_t o0, int64_t o1, int64_t t0,
                  int64_t nt, const float* b, const ConvEpilogue& ep, float* y) {
  const WinogradKernels& k = winograd_kernels();
  const auto output = M == 2 ? k.output2 : k.output4;
  const int64_t OHW = q.OH * q.OW, TT = q.TH * q.TW;
  alignas(64) float tmp[(M + 2) * (M + 2) * kLanes];
  // Per group: lane l's output tile's top-left corner as an int32 offset from the group's first image's plane
  // of channel o, and which lanes' tile rows / columns lie inside the output (lanes past nt: none), for the
  // table's masked scatter; the scalar loop for groups whose offsets would not fit, and with an epilogue.
  const auto scatter = M == 2 ? k.scatter2 : k.scatter4;
  const int64_t CoHW = q.Co * OHW;
  alignas(64) float out[M * M * kLanes];
  int64_t lbase[kLanes];  // per lane: the offset of its tile's top-left output from image nA's plane 0
  int32_t yoff[kLanes];
  uint32_t orow[M], ocol[M];
  int lni[kLanes], lnj[kLanes];
  for (int64_t l0 = 0; l0 < nt; l0 += kLanes) {
    const int nl = static_cast<int>(std::min<int64_t>(kLanes, nt - l0));
    const int64_t nA = (t0 + l0) / TT, nB = (t0 + l0 + nl - 1) / TT;
    const bool fits = !ep.active() && (nB - nA + 1) * CoHW < (int64_t{1} << 31);
    std::fill(orow, orow + M, 0u);
    std::fill(ocol, ocol + M, 0u);
    for (int l = 0; l < kLanes; ++l) {
      if (l >= nl) {
        yoff[l] = 0;
        continue;
      }
      const int64_t t = t0 + l0 + l;
      const int64_t r = t % TT, oh = (r / q.TW) * M, ow = (r % q.TW) * M;
      lbase[l] = (t / TT - nA) * CoHW + oh * q.OW + ow;
      yoff[l] = fits ? static_cast<int32_t>(lbase[l]) : 0;
      lni[l] = static_cast<int>(std::min<int64_t>(M, q.OH - oh));
      lnj[l] = static_cast<int>(std::min<int64_t>(M, q.OW - ow));
      for (int i = 0; i < M; ++i) {
        if (i < lni[l]) orow[i] |= 1u << l;
        if (i < lnj[l]) ocol[i] |= 1u << l;
      }
    }
    float* yA = y + nA * CoHW;
    for (int64_t o = o0; o < o1; ++o) {
      output(Mb + (o - o0) * ld + l0, mplane, tmp, out);  // out = A^T M A
      const float bias = b ? b[o] : 0.0f;
      if (fits) {
        scatter(out, bias, yoff, orow, ocol, q.OW, yA + o * OHW);
        continue;
      }
      if (!ep.active()) {
        for (int l = 0; l < nl; ++l) {
          float* yt = yA + lbase[l] + o * OHW;
          for (int i = 0; i < lni[l]; ++i)
            for (int j = 0; j < lnj[l]; ++j) yt[i * q.OW + j] = out[(i * M + j) * kLanes + l] + bias;
        }
        continue;
      }
      const float sc = ep.scale ? ep.scale[o] : 1.0f, sh = ep.shift ? ep.shift[o] : 0.0f;
      for (int l = 0; l < nl; ++l) {
        const int64_t base = nA * CoHW + lbase[l] + o * OHW;
        for (int i = 0; i < lni[l]; ++i)
          for (int j = 0; j < lnj[l]; ++j) {
            float v = (out[(i * M + j) * kLanes + l] + bias) * sc + sh;
            if (ep.residual) v += ep.residual[base + i * q.OW + j];
            if (ep.relu) v = v > 0.0f ? v : 0.0f;
            y[base + i * q.OW + j] = v;
          }
      }
    }
  }
}

// One item of the tile split: tiles [t0, t0 + nt) of the batch, all channels, with its own V and M (in L2).
template <int M>
void run_item(const WGeo& q, const float* x, const PackedU& U, const float* b, const ConvEpilogue& ep, float* y,
              int64_t t0, int64_t nt, int64_t Tb) {
  constexpr int A = Mats<M>::A, AA = A * A;
  const int64_t NR = gemm_kernels().nr;
  const bool packed = NR % kLanes == 0;
  // Planes of V and M one cache line longer than their data: the transforms touch all a*a planes for one
  // channel, and planes a power of two apart would all fall in the same L1 set.
  const int64_t vplane = Tb * q.Ci + 16, mplane = q.Co * Tb + 16;  // Tb is a multiple of 32, so of nr
  float* V = scratch(0, AA * vplane * (packed ? 1 : 2) + 16);
  float* Vrow = V + AA * vplane;  // the baseline path's row-major V
  float* Mb = scratch(1, AA * mplane);
  const int64_t ncols = packed ? (nt + NR - 1) / NR * NR : (nt + kLanes - 1) / kLanes * kLanes;
  input_stage<M>(q, x, t0, nt, ncols, 0, ncols / kLanes, V, Vrow, vplane, Tb);
  for (int xi = 0; xi < AA; ++xi) {
    if (!packed) gemm_pack_b(q.Ci, ncols, Vrow + xi * vplane, Tb, 1, V + xi * vplane);
    // M[xi] (Co x ncols) = U[xi] (Co x Ci) @ V[xi] (Ci x ncols), both operands already packed.
    sgemm_prepacked(q.Co, ncols, q.Ci, U.data + xi * U.plane, q.Ci, V + xi * vplane, q.Ci, 0, 0.0f,
                    Mb + xi * mplane, Tb);
  }
  output_stage<M>(q, Mb, mplane, Tb, 0, q.Co, t0, nt, b, ep, y);
}

template <int M>
void run(const WGeo& q, const float* x, const PackedU& U, const float* b, const ConvEpilogue& ep, float* y) {
  constexpr int64_t kStep = 32;  // items start on multiples of every path's nr (8, 16, 32)
  const int nthreads = in_parallel_region() ? 1 : get_num_threads();
  int64_t Tb = tiles_per_item(q.Ci, q.Co);
  // Enough items for every thread (twice over, to even out the last ones) when the batch allows.
  const int64_t per = (q.T + 2 * nthreads - 1) / (2 * nthreads);
  Tb = std::min(Tb, std::max<int64_t>(kStep, (per + kStep - 1) / kStep * kStep));
  const int64_t items = (q.T + Tb - 1) / Tb;
  parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t0 = i * Tb;
      run_item<M>(q, x, U, b, ep, y, t0, std::min(Tb, q.T - t0), Tb);
    }
  });
}

// Where the kernels g(o, c) of a call are (see transform_weights).
struct WSrc {
  const float* g;
  int64_t ostride, cstride;
  bool flip;
};

// The channel split, for few tiles and large weights (channel_split()): (1) V of ALL the batch's tiles
// transformed once, in parallel over groups of kLanes tiles, and kept (a*a*C*T floats); (2) tasks of `ob`
// output channels, each transforming its own rows of U (in double, rounded once, into thread-local scratch
// just before use: U is never written whole), multiplying them against all of V (a*a GEMMs (ob, C) @ (C, T))
// and output-transforming its channels. U is read once in all, from the cache it was just written to; V once
// per task. Every output is one task's, its sum over channels in the GEMM's fixed order: the results do not
// depend on the thread count (nor on ob).
template <int M>
void run_channels(const WGeo& q, const float* x, const WSrc& w, const float* b, const ConvEpilogue& ep, float* y,
                  int64_t ob) {
  constexpr int A = Mats<M>::A, AA = A * A;
  const GemmKernels& gk = gemm_kernels();
  const int64_t NR = gk.nr, MR = gk.mr;
  const bool packed = NR % kLanes == 0;
  const int64_t Tp = (q.T + 31) / 32 * 32;  // a multiple of every path's nr and of kLanes
  const int64_t ncols = packed ? (q.T + NR - 1) / NR * NR : (q.T + kLanes - 1) / kLanes * kLanes;
  const int64_t vplane = Tp * q.Ci + 16;
  float* V = scratch(0, AA * vplane * (packed ? 1 : 2) + 16);
  float* Vrow = V + AA * vplane;
  parallel_for(ncols / kLanes, 1, [&](int64_t g0, int64_t g1) {
    input_stage<M>(q, x, 0, q.T, ncols, g0, g1, V, Vrow, vplane, Tp);
  });
  if (!packed)
    parallel_for(AA, 1, [&](int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi) gemm_pack_b(q.Ci, ncols, Vrow + xi * vplane, Tp, 1, V + xi * vplane);
    });
  ob = (ob + MR - 1) / MR * MR;  // whole row tiles: 64 on AVX-512 (mr 8), 66 on AVX2 and the baseline (mr 6)
  const auto wt = M == 2 ? winograd_kernels().weightsg2 : winograd_kernels().weightsg4;
  parallel_for((q.Co + ob - 1) / ob, 1, [&](int64_t b0, int64_t b1) {
    const int64_t uplane = (ob * q.Ci + 16 + 15) / 16 * 16, mplane = ob * Tp + 16;
    float* Us = scratch(3, AA * uplane);
    float* Mb = scratch(1, AA * mplane);
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t o0 = blk * ob, no = std::min(ob, q.Co - o0);
      for (int64_t r = 0; r < no; r += MR)
        wt(w.g + (o0 + r) * w.ostride, w.ostride, w.cstride, w.flip ? 1 : 0, std::min(MR, no - r), MR, q.Ci,
           Us + r * q.Ci, uplane, 0);
      for (int xi = 0; xi < AA; ++xi)
        sgemm_prepacked(no, ncols, q.Ci, Us + xi * uplane, q.Ci, V + xi * vplane, q.Ci, 0, 0.0f, Mb + xi * mplane,
                        Tp);
      output_stage<M>(q, Mb, mplane, Tp, o0, o0 + no, 0, q.T, b, ep, y);
    }
  });
}

template <int M>
WGeo geo(int64_t N, int64_t Ci, int64_t H, int64_t W, int64_t Co, int64_t OH, int64_t OW, int64_t ph, int64_t pw) {
  const int64_t TH = (OH + M - 1) / M, TW = (OW + M - 1) / M;
  return WGeo{N, Ci, H, W, Co, OH, OW, ph, pw, TH, TW, N * TH * TW};
}

// The driver for one call: the channel split (run_channels) or the tile split (transform_weights, then run).
template <int M>
void drive(const WGeo& q, const float* x, const WSrc& w, const float* b, const ConvEpilogue& ep, float* y) {
  if (const int64_t ob = channel_split(q.T, q.Co)) return run_channels<M>(q, x, w, b, ep, y, ob);
  const PackedU U = transform_weights<M>(q.Co, q.Ci, w.g, w.ostride, w.cstride, w.flip);
  run<M>(q, x, U, b, ep, y);
}

template <int M>
void forward(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y, const ConvEpilogue& ep) {
  drive<M>(geo<M>(p.N, p.C, p.H, p.W, p.O, p.OH, p.OW, p.ph, p.pw), x, WSrc{w, p.C * 9, 9, false}, b, ep, y);
}

template <int M>
void backward_data(const Conv2dParams& p, const float* dy, const float* w, float* dx) {
  // dx = the correlation of dy (padded by 2 - p) with g'(c, o)[kh][kw] = w[o][c][2 - kh][2 - kw]: kernel (c, o)
  // of the transposed convolution at w + o*C*9 + c*9, its taps reversed.
  drive<M>(geo<M>(p.N, p.O, p.OH, p.OW, p.C, p.H, p.W, 2 - p.ph, 2 - p.pw), dy, WSrc{w, 9, p.C * 9, true}, nullptr,
           ConvEpilogue(), dx);
}

// ---- Backward-weight: the adjoint of the forward's algorithm -------------------------------------------------
//   V[xi][c][t]  = (B^T d_c B)[xi]                 the forward's input transform of x
//   dM[xi][o][t] = (A dY_o A^T)[xi]                the output transform's adjoint (dY_o: tile t's m x m of dy)
//   dU[xi][o][c] = sum_t dM[xi][o][t] V[xi][c][t]  a*a GEMMs (O x tiles) @ (tiles x C), as deep as the tiles
//   dW_oc        = G^T dU_oc G                     the weight transform's adjoint, in double
// Multiplies per output pixel and channel pair: 36/16 = 2.25 (F(4x4)) or 16/4 = 4 (F(2x2)), against 9 for the
// direct GEMM, and the GEMMs' depth is the item's tiles, so they run at the micro-kernel's rate.
// Work split: items of Tb tiles over the batch; thread slice s (a contiguous run of items) accumulates its own
// partial dU (a*a x O x C); the partials are summed in slice order in double, so the result depends on the thread
// count but not on scheduling.

// Tiles per backward-weight item: V and dM of an item (a*a*(C + O) floats per tile) within ~1.5 MB (L2), a
// multiple of the 16 lanes, 32 to 512 (the GEMMs' depth).
int64_t bwd_tiles_per_item(int AA, int64_t C, int64_t O) {
  const int64_t t = (int64_t{384} * 1024 / (AA * (C + O))) / kLanes * kLanes;
  return std::max<int64_t>(32, std::min<int64_t>(512, t));
}

template <int M>
void bwd_weight_item(const WGeo& q, int64_t O, const float* x, const float* dy, int64_t t0, int64_t nt, int64_t Tb,
                     float* part, bool first) {
  constexpr int A = Mats<M>::A, AA = A * A;
  const int64_t C = q.Ci, HW = q.H * q.W, OHW = q.OH * q.OW;
  const int64_t vplane = C * Tb + 16, mplane = O * Tb + 16;  // + a cache line: planes not a power of two apart
  float* V = scratch(0, AA * vplane);
  float* dM = scratch(1, AA * mplane);
  float* d = scratch(2, 2 * AA * kLanes);
  float* tmp = d + AA * kLanes;
  const int64_t ncols = (nt + kLanes - 1) / kLanes * kLanes;
  const WinogradKernels& k = winograd_kernels();
  int32_t off[kLanes];
  int64_t loff[kLanes];
  uint32_t rowmask[A], colmask[A];
  int64_t nA;
  for (int64_t l0 = 0; l0 < ncols; l0 += kLanes) {
    // V of the group's x patches (lanes past nt repeat the last tile: finite, and their dM below is zero).
    bool fits = lane_windows<A>(t0, nt, l0, M, q.TH, q.TW, q.ph, q.pw, q.H, q.W, C * HW, true, nA, off, loff, rowmask,
                                colmask);
    gather_transform<A>(x + nA * C * HW, C, HW, fits, M == 2 ? k.gather2 : k.gather4, M == 2 ? k.input2 : k.input4,
                        off, loff, rowmask, colmask, q.W, d, tmp, V + l0, Tb, vplane);
    // dM of the group's dy tiles (zero outside dy and in lanes past nt).
    fits = lane_windows<M>(t0, nt, l0, M, q.TH, q.TW, 0, 0, q.OH, q.OW, O * OHW, false, nA, off, loff, rowmask,
                           colmask);
    gather_transform<M>(dy + nA * O * OHW, O, OHW, fits, M == 2 ? k.gather_tile2 : k.gather_tile4,
                        M == 2 ? k.grad_output2 : k.grad_output4, off, loff, rowmask, colmask, q.OW, d, tmp, dM + l0, Tb,
                        mplane);
  }
  // dU[xi] (O x C) (+)= dM[xi] (O x ncols) @ V[xi]^T (ncols x C).
  for (int xi = 0; xi < AA; ++xi)
    sgemm_cpu(1, O, C, ncols, 1.0f, dM + xi * mplane, 0, Tb, 1, V + xi * vplane, 0, 1, Tb, first ? 0.0f : 1.0f,
              part + xi * O * C, 0, C);
}

template <int M>
void backward_weight(const Conv2dParams& p, const float* x, const float* dy, float* dw) {
  constexpr int A = Mats<M>::A, AA = A * A;
  const WGeo q = geo<M>(p.N, p.C, p.H, p.W, p.O, p.OH, p.OW, p.ph, p.pw);
  const int64_t C = p.C, O = p.O, OC = O * C;
  const int nthreads = in_parallel_region() ? 1 : get_num_threads();
  int64_t Tb = bwd_tiles_per_item(AA, C, O);
  const int64_t per = (q.T + nthreads - 1) / nthreads;  // every thread a slice of whole items when the batch allows
  Tb = std::min(Tb, std::max<int64_t>(kLanes, (per + kLanes - 1) / kLanes * kLanes));
  const int64_t items = (q.T + Tb - 1) / Tb;
  const int64_t slices = std::min<int64_t>(nthreads, items);
  thread_local GrowBuffer<float> partials("winograd backward-weight");
  float* part = partials.get(slices * AA * OC);
  parallel_for(slices, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t i0 = s * items / slices, i1 = (s + 1) * items / slices;
      for (int64_t i = i0; i < i1; ++i)
        bwd_weight_item<M>(q, O, x, dy, i * Tb, std::min(Tb, q.T - i * Tb), Tb, part + s * AA * OC, i == i0);
    }
  });
  // dW_oc = G^T (sum over slices of dU_oc) G, in double, 8 input channels at a time (lane arrays the compiler
  // vectorises; each lane's operations and their order are those of one channel, so the result is the same).
  constexpr int64_t kCl = 8;
  parallel_for(O, std::max<int64_t>(1, 2048 / std::max<int64_t>(1, C)), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t c0 = 0; c0 < C; c0 += kCl) {
        const int64_t nl = std::min(kCl, C - c0);
        double u[AA][kCl];
        for (int xi = 0; xi < AA; ++xi) {
          for (int64_t l = 0; l < kCl; ++l) u[xi][l] = 0.0;
          for (int64_t s = 0; s < slices; ++s) {
            const float* src = part + s * AA * OC + xi * OC + o * C + c0;
            for (int64_t l = 0; l < nl; ++l) u[xi][l] += src[l];
          }
        }
        double t[3][A][kCl];  // t = G^T dU
        for (int r = 0; r < 3; ++r)
          for (int j = 0; j < A; ++j) {
            double v[kCl] = {};
            for (int i = 0; i < A; ++i)
              for (int64_t l = 0; l < kCl; ++l) v[l] += Mats<M>::G[i][r] * u[i * A + j][l];
            for (int64_t l = 0; l < kCl; ++l) t[r][j][l] = v[l];
          }
        for (int r = 0; r < 3; ++r)
          for (int s2 = 0; s2 < 3; ++s2) {
            double v[kCl] = {};
            for (int j = 0; j < A; ++j)
              for (int64_t l = 0; l < kCl; ++l) v[l] += t[r][j][l] * Mats<M>::G[j][s2];
            for (int64_t l = 0; l < nl; ++l) dw[(o * C + c0 + l) * 9 + r * 3 + s2] = static_cast<float>(v[l]);
          }
      }
  });
}

const WinogradKernels kBaseWinogradKernels = CK_WINOGRAD_KERNELS;

}  // namespace

const WinogradKernels& winograd_kernels() {
  static const WinogradKernels& k = CK_ISA_TABLE(kBaseWinogradKernels, avx2::kWinogradKernels, avx512::kWinogradKernels);
  return k;
}

bool winograd_applies(const Conv2dParams& p) {
  return p.KH == 3 && p.KW == 3 && p.sh == 1 && p.sw == 1 && p.dh == 1 && p.dw == 1 && p.groups == 1;
}

void winograd_forward_cpu(const Conv2dParams& p, WinogradTile tile, const float* x, const float* w, const float* b,
                          float* y, const ConvEpilogue& ep) {
  if (!winograd_applies(p)) CK_THROW("ERR_ARG", "winograd: only 3x3 stride-1 dilation-1 ungrouped convolutions");
  if (p.N == 0) return;
  if (tile == WinogradTile::F2) return forward<2>(p, x, w, b, y, ep);
  forward<4>(p, x, w, b, y, ep);
}

void winograd_backward_data_cpu(const Conv2dParams& p, WinogradTile tile, const float* dy, const float* w, float* dx) {
  if (!winograd_applies(p)) CK_THROW("ERR_ARG", "winograd: only 3x3 stride-1 dilation-1 ungrouped convolutions");
  if (p.N == 0) return;
  if (tile == WinogradTile::F2) return backward_data<2>(p, dy, w, dx);
  backward_data<4>(p, dy, w, dx);
}

void winograd_backward_weight_cpu(const Conv2dParams& p, WinogradTile tile, const float* x, const float* dy, float* dw) {
  if (!winograd_applies(p)) CK_THROW("ERR_ARG", "winograd: only 3x3 stride-1 dilation-1 ungrouped convolutions");
  if (p.N == 0) {
    std::fill(dw, dw + p.O * p.C * 9, 0.0f);
    return;
  }
  if (tile == WinogradTile::F2) return backward_weight<2>(p, x, dy, dw);
  backward_weight<4>(p, x, dy, dw);
}

}  // namespace ck
