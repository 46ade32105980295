// Direct 3x3 convolution (stride 1, dilation 1, groups 1, padding 0..2) for small feature maps, where the im2col
// GEMM's unrolling, packing and edge tiles cost as much as a large share of the multiplies.
//
// Layout. Each input channel of an image is copied into a zero-bordered plane of Hp = H + 2ph rows of
// Wp = W + 2pw floats (xp[c][r*Wp + s], planes S floats apart), so the kernel has no bounds checks: output
// pixel (oh, ow) tap (kh, kw) reads xp[c][(oh + kh)*Wp + ow + kw]. Weights are packed once per call per block
// of output channels as [c][tap][channels of the block] (zero past O).
//
// Kernel (cpu/conv_direct_kernels.inc, per ISA): a tile of RC consecutive pixels of one output row x JV vectors
// of output channels, RC*JV vector accumulators; per input channel and tap, JV weight-vector loads and RC
// broadcasts of input pixels, RC*JV FMAs. It keeps AVX-512's two FMA ports busy (measured 170-178 GF/s of the
// ~183 GF/s single-core peak with data in L1, RC*JV = 14x2, 7x3, 6x4). The tile shape per layer comes from a
// cost model (Tiling). Input channels go in chunks whose weights stay in L1 (channel_chunk), the tiles' partial
// sums waiting in a per-image buffer between chunks; then the sums are written to y in NCHW with the bias,
// and the epilogue (batch norm scale/shift, residual, ReLU) is applied to the block's rows while in cache.
//
// Work: tasks (image, slice of the output-channel blocks), one padded copy of the image per task, run by the
// pool; no task writes another's outputs and each output is one fixed sum, so the result does not depend on
// the thread count.
//
// Backward-data is this forward with dy as the input, the weights flipped and transposed, padding 2 - p.
// Backward-weight: dw[o][c][kh][kw] = sum over images and output pixels of dy[o][pixel] * xpad[c][pixel + tap], as
// a tile of JV vectors of output channels x the 9 taps of one input channel (9*JV accumulators, JV <= 3), over
// the pixels of a chunk of images whose padded input and pixel-major dy (16-pixel gathers) fit in L2: per pixel
// JV loads of dy and 9 broadcasts of x for 9*JV FMAs. Tasks are (channel block, input channel) per chunk, each
// accumulating into its own slice of a (C, 9, O) buffer, so the sums' order does not depend on the threads.
// (A first version on the flattened grid, pixels in the vector lanes and a horizontal sum per (o, c, tap) per
// chunk, measured 1.3-5x slower than the GEMM.)
#include "cpu/conv_direct.h"

#include <algorithm>
#include <cstring>
#include <emmintrin.h>
#include <vector>

#include "core/kernels.h"
#include "cpu/conv_direct_kernels.h"
#include "cpu/isa.h"
#include "cpu/threadpool.h"

namespace ck {
namespace {

constexpr int kDirLanes = 4;
typedef __m128 dvec;
#define CK_DIR_SPLAT(s) _mm_set1_ps(s)
constexpr int kDirRegs = 16;
#include "cpu/conv_direct_kernels.inc"

const DirectKernels kBaseDirectKernels = CK_DIRECT_KERNELS(dir_unpack_loop);

// v grown to hold n floats from a 64-byte boundary on (scratch that only grows); returns that boundary.
float* grow(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n + 16) v.resize(static_cast<size_t>(n + 16));
  const auto a = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<float*>((a + 63) & ~uintptr_t{63});
}

// The padded grid of a (channels, H, W) input with padding (ph, pw) and its tiling by pixel vectors.
struct Grid {
  int64_t Hp, Wp, OH, OW, S;  // S: floats per padded channel plane (a multiple of 16)
  Grid(int64_t H, int64_t W, int64_t ph, int64_t pw)
      : Hp(H + 2 * ph), Wp(W + 2 * pw), OH(Hp - 2), OW(Wp - 2), S((Hp * Wp + 15) / 16 * 16) {}
};

// xp (C planes of g.S floats) = the zero-bordered copy of x (C, H, W).
void pad_image(const float* x, int64_t C, int64_t H, int64_t W, int64_t ph, int64_t pw, const Grid& g, float* xp) {
  for (int64_t c = 0; c < C; ++c) {
    float* d = xp + c * g.S;
    const float* s = x + c * H * W;
    std::memset(d, 0, sizeof(float) * (ph * g.Wp + pw));
    for (int64_t h = 0; h < H; ++h) {
      float* row = d + (ph + h) * g.Wp + pw;
      std::memcpy(row, s + h * W, sizeof(float) * W);
      std::memset(row + W, 0, sizeof(float) * (2 * pw));  // right border, then the next row's left border
    }
    const int64_t end = (ph + H) * g.Wp + pw;
    std::memset(d + end, 0, sizeof(float) * (g.S - end));
  }
}

// How the forward pass tiles the output: blocks of output-channel vectors (block b: vectors [vs(b), vs(b+1)),
// at most JV, split evenly), tiles of one output row x RC columns (a row cut into `pieces`). Picked by a cost
// model of the kernel: per tap and tile, max(RC*jv FMAs, RC + jv loads) + 3 cycles of overhead, over all tiles.
struct Tiling {
  int64_t JV = 1, nb = 1, nvo = 1, pieces = 1, RC = 1;
  Tiling(const DirectKernels& k, int64_t O, int64_t OW) {
    nvo = (O + k.lanes - 1) / k.lanes;
    int64_t best = -1;
    for (int64_t jv = 1; jv <= 4 && jv <= nvo; ++jv) {
      const int64_t rmax = std::min<int64_t>(14, (k.regs - 1 - jv) / jv);
      if (rmax < 1) break;
      const int64_t pc = (OW + rmax - 1) / rmax, rc = (OW + pc - 1) / pc, b = (nvo + jv - 1) / jv;
      int64_t cost = 0;
      for (int64_t i = 0; i < b; ++i) {
        const int64_t v = (i + 1) * nvo / b - i * nvo / b;
        cost += pc * (std::max(rc * v, rc + v) + 3);
      }
      if (best < 0 || cost < best) {
        best = cost;
        JV = jv;
        nb = b;
        pieces = pc;
        RC = rc;
      }
    }
  }
  int64_t vs(int64_t b) const { return b * nvo / nb; }
};

// Input channels per pass over the image's tiles: one block's weights for them within ~32 KiB of L1, so the
// kernel streams them from L1; the tiles' partial sums wait in a per-image buffer between passes.
int64_t channel_chunk(int64_t C, int64_t BW) {
  const int64_t cb = std::max<int64_t>(8, (32 * 1024 / 4) / (9 * BW));
  const int64_t n = (C + cb - 1) / cb;
  return (C + n - 1) / n;
}

// The forward pass of (N, C, H, W) x with weights w (O, C, 3, 3) as given by the callers below.
void forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw, const float* x,
             const float* w, const float* b, const ConvEpilogue& ep, float* y) {
  const DirectKernels& k = direct_kernels();
  const Grid g(H, W, ph, pw);
  const int64_t P = g.OH * g.OW, L = k.lanes;
  const Tiling tl(k, O, g.OW);
  const int64_t cb = channel_chunk(C, tl.JV * L), TS = tl.RC * tl.JV * L;
  // Block ob (BW = its vectors * L channels from o0 = vs*L) at wp + o0*C*9: [c][t][BW], 0 past O.
  thread_local std::vector<float> wbuf;
  float* wp = grow(wbuf, tl.nvo * L * C * 9);
  for (int64_t ob = 0; ob < tl.nb; ++ob) {
    const int64_t o0 = tl.vs(ob) * L, BW = (tl.vs(ob + 1) - tl.vs(ob)) * L;
    for (int64_t c = 0; c < C; ++c)
      for (int t = 0; t < 9; ++t) {
        float* d = wp + o0 * C * 9 + (c * 9 + t) * BW;
        for (int64_t j = 0; j < BW; ++j) d[j] = o0 + j < O ? w[((o0 + j) * C + c) * 9 + t] : 0.0f;
      }
  }
  // Tasks: (image, slice of the channel blocks); slices only when images alone leave threads idle.
  const int nthreads = in_parallel_region() ? 1 : get_num_threads();
  const int64_t nsl = std::min(tl.nb, std::max<int64_t>(1, (2 * nthreads + N - 1) / N));
  const int64_t ntiles = g.OH * tl.pieces;
  parallel_for(N * nsl, 1, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> xbuf, obuf;
    float* xp = grow(xbuf, C * g.S + 16);
    float* out = grow(obuf, ntiles * TS);
    int64_t padded = -1;
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t n = task / nsl, sl = task % nsl;
      if (n != padded) pad_image(x + n * C * H * W, C, H, W, ph, pw, g, xp);
      padded = n;
      for (int64_t ob = sl * tl.nb / nsl; ob < (sl + 1) * tl.nb / nsl; ++ob) {
        const int64_t jv = tl.vs(ob + 1) - tl.vs(ob), BW = jv * L, o0 = tl.vs(ob) * L, nj = std::min(BW, O - o0);
        const int64_t ts = tl.RC * BW;  // floats per tile of this block: with one tile per row, out is (P, BW)
        for (int64_t c0 = 0; c0 < C; c0 += cb) {
          const int64_t nc = std::min(cb, C - c0);
          const float* wb = wp + o0 * C * 9 + c0 * 9 * BW;
          for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t pc = 0; pc < tl.pieces; ++pc) {
              const int64_t ow = pc * tl.RC, rc = std::min(tl.RC, g.OW - ow);
              k.tile(1, static_cast<int>(rc), static_cast<int>(jv), xp + c0 * g.S + oh * g.Wp + ow, g.Wp, g.S, nc, wb,
                     out + (oh * tl.pieces + pc) * ts, c0 > 0);
            }
        }
        // The tiles' (pixel, channel) sums -> y rows, plus the bias; then the epilogue on the block's rows. With
        // one tile per row the buffer is the block's (P, BW) pixel-major matrix.
        float* yb = y + (n * O + o0) * P;
        const float* bb = b ? b + o0 : nullptr;
        if (tl.pieces == 1) {
          k.unpack(out, BW, P, nj, bb, yb, P);
        } else {
          for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t pc = 0; pc < tl.pieces; ++pc) {
              const int64_t ow = pc * tl.RC, rc = std::min(tl.RC, g.OW - ow);
              k.unpack(out + (oh * tl.pieces + pc) * ts, BW, rc, nj, bb, yb + oh * g.OW + ow, P);
            }
        }
        if (ep.active())
          for (int64_t j = 0; j < nj; ++j) ep.apply(y, n * O + o0 + j, O, P, 0, P);
      }
    }
  });
}

}  // namespace

const DirectKernels& direct_kernels() {
  static const DirectKernels& k = CK_ISA_TABLE(kBaseDirectKernels, avx2::kDirectKernels, avx512::kDirectKernels);
  return k;
}

bool direct3x3_applies(const Conv2dParams& p) {
  return p.C > 0 && p.O > 0 && p.KH == 3 && p.KW == 3 && p.sh == 1 && p.sw == 1 && p.dh == 1 && p.dw == 1 && p.groups == 1 && p.ph <= 2 &&
         p.pw <= 2 && p.OH == p.H + 2 * p.ph - 2 && p.OW == p.W + 2 * p.pw - 2 && p.OH > 0 && p.OW > 0;
}

void direct3x3_forward_cpu(const Conv2dParams& p, const float* x, const float* w, const float* b,
                           const ConvEpilogue& ep, float* y) {
  forward(p.N, p.C, p.H, p.W, p.O, p.ph, p.pw, x, w, b, ep, y);
}

void direct3x3_backward_data_cpu(const Conv2dParams& p, const float* dy, const float* w, float* dx) {
  // wt[c][o][t] = w[o][c][8 - t]: (C, O, 3, 3).
  thread_local std::vector<float> buf;
  float* wt = grow(buf, p.C * p.O * 9);
  for (int64_t o = 0; o < p.O; ++o)
    for (int64_t c = 0; c < p.C; ++c)
      for (int t = 0; t < 9; ++t) wt[(c * p.O + o) * 9 + t] = w[(o * p.C + c) * 9 + 8 - t];
  forward(p.N, p.O, p.OH, p.OW, p.C, 2 - p.ph, 2 - p.pw, dy, wt, nullptr, ConvEpilogue(), dx);
}

void direct3x3_backward_weight_cpu(const Conv2dParams& p, const float* x, const float* dy, float* dw) {
  const DirectKernels& k = direct_kernels();
  const Grid g(p.H, p.W, p.ph, p.pw);
  const int64_t C = p.C, O = p.O, P = g.OH * g.OW, L = k.lanes;
  const int64_t nvo = (O + L - 1) / L, Op = nvo * L;
  const int64_t jmax = std::max<int64_t>(1, std::min<int64_t>(3, (k.regs - 1) / 10));
  const int64_t nb = (nvo + jmax - 1) / jmax;
  auto vs = [&](int64_t b) { return b * nvo / nb; };
  // Images per chunk: their padded input and pixel-major dy within ~1 MiB (L2).
  const int64_t per = C * g.S + P * Op;
  const int64_t nimg = std::max<int64_t>(1, std::min<int64_t>(p.N, (256 * 1024) / per));
  thread_local std::vector<float> xbuf, dbuf, wbuf;
  float* xp = grow(xbuf, nimg * C * g.S + 16);
  float* dyt = grow(dbuf, nimg * P * Op);
  float* dwt = grow(wbuf, C * 9 * Op);  // dwt[(c*9 + t)*Op + o]
  std::fill(dwt, dwt + C * 9 * Op, 0.0f);
  for (int64_t n0 = 0; n0 < p.N; n0 += nimg) {
    const int64_t ni = std::min(nimg, p.N - n0);
    parallel_for(ni, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        pad_image(x + (n0 + i) * C * p.H * p.W, C, p.H, p.W, p.ph, p.pw, g, xp + i * C * g.S);
        float* d = dyt + i * P * Op;  // d[q*Op + o] = dy[n][o][q], 0 for o >= O
        k.unpack(dy + (n0 + i) * O * P, P, O, P, nullptr, d, Op);
        if (Op > O)
          for (int64_t q = 0; q < P; ++q) std::fill(d + q * Op + O, d + (q + 1) * Op, 0.0f);
      }
    });
    parallel_for(nb * C, 1, [&](int64_t a, int64_t b) {
      for (int64_t task = a; task < b; ++task) {
        const int64_t ob = task / C, c = task % C, v0 = vs(ob);
        k.wtile(static_cast<int>(vs(ob + 1) - v0), ni, g.OH, g.OW, xp + c * g.S, g.Wp, C * g.S, dyt + v0 * L, Op,
                P * Op, dwt + c * 9 * Op + v0 * L, Op);
      }
    });
  }
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int t = 0; t < 9; ++t) dw[(o * C + c) * 9 + t] = dwt[(c * 9 + t) * Op + o];
}

}  // namespace ck
