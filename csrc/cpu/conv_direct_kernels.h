// The direct 3x3 convolution's per-ISA micro-kernel (see cpu/isa.h for the convention): its loop body lives in
// cpu/conv_direct_kernels.inc, compiled three times (conv_direct.cc for the baseline with 4-float vectors,
// conv_direct_avx2.cc with 8, conv_direct_avx512.cc with 16). conv_direct.cc drives it through the table
// direct_kernels(), picked once from cpu_isa(). Plain declarations only.
#pragma once
#include <cstdint>

namespace ck {

struct DirectKernels {
  int lanes;  // floats per vector
  int regs;   // vector registers: a tile of R pixels x JV channel vectors needs R*JV + JV + 1 <= regs
  // One tile of the convolution on the zero-padded grid (row stride wp) of one image: for pixels (a, b),
  // a < RR, b < RC (xp points at pixel (0, 0)'s top-left tap in channel 0) and output channels j < JV*lanes,
  //   out[((a*RC + b)*JV*lanes + j] (+)= sum_{c < C, kh, kw} w[(c*9 + kh*3 + kw)*JV*lanes + j]
  //                                                        * xp[c*cs + (a + kh)*wp + b + kw]
  // (+= when accumulate). RR == 1 (the only one instantiated), 1 <= RC <= 14, 1 <= JV <= 4, RR*RC*JV + JV + 1 <= regs (other values:
  // nothing is computed).
  void (*tile)(int RR, int RC, int JV, const float* xp, int64_t wp, int64_t cs, int64_t C, const float* w, float* out,
               bool accumulate);
  // The tiles' sums (pixel-major) to NCHW rows with the bias (may be null):
  //   y[j*ldy + q] = src[q*ld + j] + bias[j],  j < nj, q < npix.
  void (*unpack)(const float* src, int64_t ld, int64_t npix, int64_t nj, const float* bias, float* y, int64_t ldy);
  // The weight gradient's tile, one input channel x JV vectors of output channels x 9 taps, over images i < nimg
  // (padded input plane at xp + i*xstep, row stride wp; dy pixel-major at dyt + i*dstep, pixel q's channels at
  // dyt[q*ldd ..]) and their output pixels (oh, ow):
  //   dwt[t*ldw + j] += sum_{i, oh, ow} dyt[i*dstep + (oh*OW + ow)*ldd + j] * xp[i*xstep + (oh + kh)*wp + ow + kw]
  // for j < JV*lanes, t = kh*3 + kw. 1 <= JV, 10*JV + 1 <= regs (JV <= 3 on AVX-512, 1 on the others).
  void (*wtile)(int JV, int64_t nimg, int64_t OH, int64_t OW, const float* xp, int64_t wp, int64_t xstep,
                const float* dyt, int64_t ldd, int64_t dstep, float* dwt, int64_t ldw);
};

const DirectKernels& direct_kernels();

namespace avx2 {
extern const DirectKernels kDirectKernels;
}
namespace avx512 {
extern const DirectKernels kDirectKernels;
}

}  // namespace ck
