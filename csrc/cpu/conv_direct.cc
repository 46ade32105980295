// Direct 3x3 convolution (stride 1, dilation 1, groups 1, padding 0..2) on the zero-padded grid.
//
// Layout. Each input channel of an image is copied into a zero-bordered plane of Hp = H + 2ph rows of
// Wp = W + 2pw floats, flattened (xp[c][r*Wp + s]). Output pixel (oh, ow) is computed at grid position
// q = oh*Wp + ow, and tap (kh, kw) reads xp[c][q + kh*Wp + kw]: for a vector of consecutive q the input of one
// tap is ONE contiguous (unaligned) vector load, whatever the row breaks. The grid's columns ow >= OW are junk
// (they mix the next row's border) and are computed and dropped: OW/Wp of the work is useful (14x14: 87.5%,
// 7x7: 78%), which costs less than the im2col GEMM's unrolling and packing on these small maps.
//
// Kernel (cpu/conv_direct_kernels.inc, per ISA): a tile of R pixel vectors x J output channels held in
// R*J vector registers, over every input channel c and tap t: per tap R loads of x and J broadcast weights,
// R*J FMAs. Weights are packed once per call as [oblock][c][t][j]. The tile's sums (with the bias) go to a
// small grid-layout buffer, from which the valid columns are copied into y, and the epilogue applied, while
// they are in L1.
//
// Work: tasks (image, range of output-channel blocks), one padded copy of the image per task (in L2: C*Hp*Wp
// floats), run by the pool; no task writes another's outputs, and each output is one fixed sum, so the result
// does not depend on the thread count.
//
// Backward-data is this forward with dy as the input, the weights flipped and transposed, padding 2 - p.
// Backward-weight: dw[o][c][t] = sum_{n,q} dyg[n][o][q] * xp[n][c][q + off[t]] with dy placed on the same grid
// (junk columns zero), a reduction over pixels per (o, c) held in 9*J vector registers (J <= 3) over a chunk of
// images, summed horizontally once per chunk.
#include "cpu/conv_direct.h"

#include <algorithm>
#include <cstdlib>
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

const DirectKernels kBaseDirectKernels = CK_DIRECT_KERNELS;

// v grown to hold n floats from a 64-byte boundary on (scratch that only grows); returns that boundary.
float* grow(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n + 16) v.resize(static_cast<size_t>(n + 16));
  const auto a = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<float*>((a + 63) & ~uintptr_t{63});
}

// The padded grid of a (channels, H, W) input with padding (ph, pw) and its tiling by pixel vectors.
struct Grid {
  int64_t Hp, Wp, OH, OW, nq, S;  // nq: pixel-vector-rounded OH*Wp; S: floats per padded channel plane
  int64_t off[9];
  Grid(int64_t H, int64_t W, int64_t ph, int64_t pw, int lanes) {
    Hp = H + 2 * ph;
    Wp = W + 2 * pw;
    OH = Hp - 2;
    OW = Wp - 2;
    nq = (OH * Wp + lanes - 1) / lanes * lanes;
    S = (std::max(Hp * Wp, nq + 2 * Wp + 2) + 15) / 16 * 16;
    for (int t = 0; t < 9; ++t) off[t] = (t / 3) * Wp + t % 3;
  }
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

// How the forward pass tiles an output row and the output channels: JV channel vectors per block (nb blocks),
// a row cut into `pieces` of at most R pixels. Picked by a cost model of the kernel: per tap and tile,
// max(R*JV FMAs, R + JV loads) + 3 cycles of overhead, over all tiles (zero-padded channel lanes included).
struct Tiling {
  int64_t JV = 1, nb = 1, pieces = 1, R = 1;
  Tiling(const DirectKernels& k, int64_t O, int64_t OW) {
    const int64_t nvo = (O + k.lanes - 1) / k.lanes;
    int64_t best = -1;
    for (int64_t jv = 1; jv <= 4; ++jv) {
      if (jv > nvo) break;
      const int64_t rmax = std::min<int64_t>(14, (k.regs - 1 - jv) / jv);
      if (rmax < 1) break;
      const int64_t pc = (OW + rmax - 1) / rmax, r = (OW + pc - 1) / pc, b = (nvo + jv - 1) / jv;
      const int64_t cost = b * pc * (std::max(r * jv, r + jv) + 3);
      if (best < 0 || cost < best) {
        best = cost;
        JV = jv;
        nb = b;
        pieces = pc;
        R = r;
      }
    }
  }
};

// The forward pass of (N, C, H, W) x with weights w (O, C, 3, 3) as given by the callers below.
void forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t ph, int64_t pw, const float* x,
             const float* w, const float* b, const ConvEpilogue& ep, float* y) {
  const DirectKernels& k = direct_kernels();
  const Grid g(H, W, ph, pw, 1);
  const int64_t P = g.OH * g.OW, L = k.lanes;
  const Tiling tl(k, O, g.OW);
  const int64_t BW = tl.JV * L;  // output channels per block (lanes past O are zero weights)
  // wp[(ob*C + c)*9 + t][j] (BW floats each) = w[ob*BW + j][c][t], 0 past O.
  thread_local std::vector<float> wbuf;
  float* wp = grow(wbuf, tl.nb * C * 9 * BW);
  for (int64_t ob = 0; ob < tl.nb; ++ob)
    for (int64_t c = 0; c < C; ++c)
      for (int t = 0; t < 9; ++t) {
        float* d = wp + ((ob * C + c) * 9 + t) * BW;
        for (int64_t j = 0; j < BW; ++j) {
          const int64_t o = ob * BW + j;
          d[j] = o < O ? w[(o * C + c) * 9 + t] : 0.0f;
        }
      }
  // Tasks: (image, slice of the channel blocks); slices only when images alone leave threads idle.
  const int nthreads = in_parallel_region() ? 1 : get_num_threads();
  const int64_t nsl = std::min(tl.nb, std::max<int64_t>(1, (2 * nthreads + N - 1) / N));
  parallel_for(N * nsl, 1, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> xbuf, obuf;
    float* xp = grow(xbuf, C * g.S + 16);
    float* out = grow(obuf, tl.R * BW);
    int64_t padded = -1;
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t n = task / nsl, sl = task % nsl;
      if (n != padded) pad_image(x + n * C * H * W, C, H, W, ph, pw, g, xp);
      padded = n;
      for (int64_t ob = sl * tl.nb / nsl; ob < (sl + 1) * tl.nb / nsl; ++ob) {
        const int64_t o0 = ob * BW, nj = std::min(BW, O - o0);
        const float* wb = wp + ob * C * 9 * BW;
        float* yb = y + (n * O + o0) * P;
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow0 = 0; ow0 < g.OW; ow0 += tl.R) {
            const int64_t R = std::min(tl.R, g.OW - ow0);
            k.tile(static_cast<int>(R), static_cast<int>(tl.JV), xp + oh * g.Wp + ow0, g.S, C, wb, g.off, out);
            // out (R, BW) -> y rows, plus the bias.
            float* yr = yb + oh * g.OW + ow0;
            for (int64_t j = 0; j < nj; ++j) {
              const float bj = b ? b[o0 + j] : 0.0f;
              for (int64_t r = 0; r < R; ++r) yr[j * P + r] = out[r * BW + j] + bj;
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
  return p.KH == 3 && p.KW == 3 && p.sh == 1 && p.sw == 1 && p.dh == 1 && p.dw == 1 && p.groups == 1 && p.ph <= 2 &&
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
  const Grid g(p.H, p.W, p.ph, p.pw, k.lanes);
  const int64_t C = p.C, O = p.O, P = p.OH * p.OW;
  // Images per chunk: the chunk's padded x and gridded dy within ~1 MiB (L2).
  const int64_t per = C * g.S + O * g.nq;
  const int64_t nimg = std::max<int64_t>(1, std::min<int64_t>(p.N, (256 * 1024) / per));
  thread_local std::vector<float> xbuf, dbuf;
  float* xp = grow(xbuf, nimg * C * g.S + 16);
  float* dg = grow(dbuf, nimg * O * g.nq);
  std::fill(dw, dw + O * C * 9, 0.0f);
  constexpr int64_t J = 3;
  const int64_t nob = (O + J - 1) / J;
  for (int64_t n0 = 0; n0 < p.N; n0 += nimg) {
    const int64_t ni = std::min(nimg, p.N - n0);
    parallel_for(ni, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        pad_image(x + (n0 + i) * C * p.H * p.W, C, p.H, p.W, p.ph, p.pw, g, xp + i * C * g.S);
        for (int64_t o = 0; o < O; ++o) {
          float* d = dg + (i * O + o) * g.nq;
          const float* s = dy + ((n0 + i) * O + o) * P;
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            std::memcpy(d + oh * g.Wp, s + oh * g.OW, sizeof(float) * g.OW);
            std::memset(d + oh * g.Wp + g.OW, 0, sizeof(float) * (g.Wp - g.OW));
          }
          std::memset(d + g.OH * g.Wp, 0, sizeof(float) * (g.nq - g.OH * g.Wp));
        }
      }
    });
    parallel_for(nob, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t ob = b0; ob < b1; ++ob) {
        const int64_t o0 = ob * J, Jb = std::min(J, O - o0);
        for (int64_t c = 0; c < C; ++c)
          k.wtile(static_cast<int>(Jb), ni, dg + o0 * g.nq, O * g.nq, g.nq, xp + c * g.S, C * g.S, g.off, g.nq,
                  dw + (o0 * C + c) * 9, C * 9);
      }
    });
  }
}

}  // namespace ck
