// Direct convolution for shallow inputs (C <= 4 input channels, stride 1, dilation 1, groups 1, any kernel size
// and padding). The stem of an image CNN (3 -> 32 channels, 3x3, on 32x32 RGB) does 27 multiply-adds per output
// and writes 32 outputs per input pixel: as an im2col GEMM it is an unrolled (27, pixels) panel and a GEMM of
// depth 27, all packing and edge handling, and the result is written at the end. Here the output pixels are
// in the vector lanes instead and nothing but the output is written in bulk.
//
// Layout. Per work item (image, band of output rows [oh0, oh1)) the band's input is copied, zero-bordered, into
// C*KW shifted copies of OW columns: xs[c][kw][r][ow] = x[c][oh0 + r - ph][ow + kw - pw] (0 outside the image),
// r < band + KH - 1. Then output pixel q of the band (flattened: q = (oh - oh0)*OW + ow) reads tap (c, kh, kw)
// at xs[c][kw] + kh*OW + q, a linear run for consecutive q across row ends: the band is one flat vector loop with
// no bounds checks, no lanes lost at row ends (28-wide rows), only the band's last vector masked. The copies are
// C*KW*(band + KH - 1)*OW floats, in L1/L2 (9.8 K floats per image for 3 channels, 3x3, 32x32, against 32 K of
// output). The weights are packed once per call as [block of kernels.ob output channels][c][kh][kw][channel of
// the block] (zeros past O), the bias (and the epilogue's scale / shift) per block likewise.
//
// Kernel (cpu/conv_small_kernels.inc, per ISA): tiles of V vectors of consecutive pixels x ob output channels
// (AVX-512: 3 x 16 pixels x 8 channels, 24 zmm accumulators; AVX2 and SSE2: 2 vectors x 4 channels). Per tap: V
// loads, ob weight broadcasts, V*ob FMAs. The bias is added after the sums (as the GEMM adds it: the two paths
// give the same bits); the epilogue's scale, shift and ReLU (eval-mode batch norm + ReLU, cpu/fused.h) are
// applied in registers, and the tile is stored once into y. A residual, if any, is added by
// ConvEpilogue::apply over the band while it is in cache.
//
// Work: items (image, band of output rows), bands sized so an item's output stays in L2 and there are items
// for every thread, run by the pool; each output is one fixed sum in a fixed order, so the result does not
// depend on the thread count.
#include "cpu/conv_small.h"

#include <algorithm>
#include <numeric>  // std::gcd
#include <emmintrin.h>
#include <vector>

#include "core/kernels.h"  // get_num_threads
#include "cpu/conv_small_kernels.h"
#include "cpu/isa.h"
#include "cpu/threadpool.h"

namespace ck {
namespace {

constexpr int kSmLanes = 4;
typedef __m128 svec;
#define CK_SM_SPLAT(s) _mm_set1_ps(s)
constexpr int kSmOB = 4;
constexpr int kSmV = 2;
inline void sm_store_n(float* p, svec v, int n) {
  float t[4];
  _mm_storeu_ps(t, v);
  for (int i = 0; i < n; ++i) p[i] = t[i];
}
#include "cpu/conv_small_kernels.inc"

const SmallConvKernels kBaseSmallConvKernels = CK_SMALL_CONV_KERNELS;

// Most input channels the kernel takes: beyond this the GEMM's depth C*KH*KW is deep enough to pay.
constexpr int64_t kMaxChannels = 4;
// Floats of output per work item (the band's rows of all output channels): 256 KB, within L2 with its input.
// A whole CIFAR / Fashion-MNIST image per item: on calls with cold caches 64 K measured ~6-13% faster than 16 K
// (4-8 rows of 32 channels: shorter store streams per plane).
constexpr int64_t kItemOutputFloats = 65536;

}  // namespace

const SmallConvKernels& small_conv_kernels() {
  static const SmallConvKernels& k =
      CK_ISA_TABLE(kBaseSmallConvKernels, avx2::kSmallConvKernels, avx512::kSmallConvKernels);
  return k;
}

bool conv_small_applies(const Conv2dParams& p) {
  return p.groups == 1 && p.C >= 1 && p.C <= kMaxChannels && p.O >= 1 && p.KH >= 1 && p.KW >= 1 && p.sh == 1 &&
         p.sw == 1 && p.dh == 1 && p.dw == 1 && p.ph >= 0 && p.pw >= 0 && p.OH >= 1 && p.OW >= 1 &&
         p.OH == p.H + 2 * p.ph - p.KH + 1 && p.OW == p.W + 2 * p.pw - p.KW + 1;
}

// Measured (docs/conv_algos.md, one thread, no bias): on AVX-512 and AVX2 faster than the GEMM (and than the
// depthwise loops that take 1-channel inputs with up to 16 outputs) for 3x3 and 5x5 (128x3x32->32 1.6x / 1.25x,
// 64x1x28->8 4.4x / 3.6x, 32x3x32->16 5x5 1.3x / 1.1x), a tie for the 1-channel 28x28 stem on AVX-512 and
// slower for 7x7 (a runtime tap loop: 1.03x / 1.19x the GEMM's time); on the SSE2 baseline (no FMA, 16
// registers) faster for 1-channel 3x3 only (64x1x28->32 1.2x, ->8 2.1x; 3 channels 1.0-1.2x slower).
bool conv_small_rule(const Conv2dParams& p) {
  if (!conv_small_applies(p) || p.KH * p.KW > 25) return false;
  return cpu_isa() != CpuIsa::kBaseline || (p.C == 1 && p.KH * p.KW <= 9);
}

void conv_small_forward_cpu(const Conv2dParams& p, const float* x, const float* w, const float* b,
                            const ConvEpilogue& ep, float* y) {
  const SmallConvKernels& k = small_conv_kernels();
  const int64_t C = p.C, H = p.H, W = p.W, O = p.O, KH = p.KH, KW = p.KW, OH = p.OH, OW = p.OW, P = OH * OW;
  const int64_t OB = k.ob, L = k.lanes, nob = (O + OB - 1) / OB, T = C * KH * KW;
  // Packed per block: weights [ob][t][j], then bias, scale and shift [ob][j] (zeros past O).
  const bool fuse = (ep.scale || ep.shift || ep.relu) && !ep.residual;
  thread_local std::vector<float> wbuf;
  wbuf.assign(static_cast<size_t>(nob * OB * (T + 3)), 0.0f);
  float* wp = wbuf.data();
  float* bp = wp + nob * OB * T;
  float* sp = bp + nob * OB;
  float* hp = sp + nob * OB;
  for (int64_t o = 0; o < O; ++o) {
    const int64_t ob = o / OB, j = o % OB;
    for (int64_t t = 0; t < T; ++t) wp[(ob * T + t) * OB + j] = w[o * T + t];
    bp[o] = b ? b[o] : 0.0f;
    sp[o] = ep.scale ? ep.scale[o] : 1.0f;
    hp[o] = ep.shift ? ep.shift[o] : 0.0f;
  }
  // Bands: an item's output within kItemOutputFloats, and at least 4 items per thread when the batch is small.
  const int nthreads = in_parallel_region() ? 1 : get_num_threads();
  // Bands are whole units of m rows, m*OW a multiple of the vector width, so that every band starts on a
  // vector boundary of the y plane (28-wide rows: 4 rows; with 14-row bands half the stores split cache lines).
  const int64_t m = L / std::gcd(OW, L), nunits = (OH + m - 1) / m;
  int64_t nb = std::max<int64_t>(1, std::min(nunits, (O * P + kItemOutputFloats - 1) / kItemOutputFloats));
  while (nb < nunits && p.N * nb < 4 * nthreads) ++nb;
  const int64_t band_max = std::min(OH, (nunits + nb - 1) / nb * m);
  // Copy (c, kw): (band + KH - 1)*OW floats and the slack the band's last vector reads, S apart.
  const int64_t S = ((band_max + KH - 1) * OW + L + 15) / 16 * 16;
  // Tap t = (c*KH + kh)*KW + kw reads copy (c, kw) from row kh.
  std::vector<int64_t> off(static_cast<size_t>(T));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw) off[static_cast<size_t>((c * KH + kh) * KW + kw)] = (c * KW + kw) * S + kh * OW;
  const int64_t* offs = off.data();
  parallel_for(p.N * nb, 1, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> xbuf;
    if (static_cast<int64_t>(xbuf.size()) < C * KW * S) xbuf.resize(static_cast<size_t>(C * KW * S));
    float* xs = xbuf.data();
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t n = item / nb, bi = item % nb;
      const int64_t oh0 = std::min(OH, bi * nunits / nb * m), oh1 = std::min(OH, (bi + 1) * nunits / nb * m);
      const int64_t rows = oh1 - oh0 + KH - 1, nq = (oh1 - oh0) * OW;
      k.fill(xs, S, x + n * C * H * W, C, H, W, KW, p.pw, oh0 - p.ph, rows, OW);
      for (int64_t ob = 0; ob < nob; ++ob)
        k.band(xs, offs, T, wp + ob * T * OB, b ? bp + ob * OB : nullptr, fuse ? sp + ob * OB : nullptr, fuse ? hp + ob * OB : nullptr,
               ep.relu, y + (n * O + ob * OB) * P + oh0 * OW, P, std::min(OB, O - ob * OB), nq);
      if (ep.active() && !fuse)
        for (int64_t o = 0; o < O; ++o) ep.apply(y, n * O + o, O, P, oh0 * OW, nq);
    }
  });
}

}  // namespace ck
