// The shallow-input direct convolution's per-ISA row kernel (cpu/conv_small.cc has the design; cpu/isa.h the
// convention). Plain declarations only, so the per-ISA files can include it.
#pragma once
#include <cstdint>

namespace ck {

struct SmallConvKernels {
  int lanes;  // floats per vector: output pixels per vector of one output row
  int ob;     // output channels per register tile (the weight layout's block)
  // One band of nq output pixels (flattened: consecutive rows of one image) of `nj` <= ob output channels:
  //   y[j*ys + q] = epi_j(sum over taps t < nt of w[t*ob + j] * xs[off[t] + q] (+ bias[j])),  q < nq,
  // where epi_j(v) = relu?(v * scale[j] + shift[j]) when scale is non-null, else v. xs: the band's input laid out
  // so that every tap reads a linear run (cpu/conv_small.cc), readable up to off[t] + nq + lanes - 1; bias, scale,
  // shift: ob floats each (any may be null; scale and shift both or neither).
  void (*band)(const float* xs, const int64_t* off, int64_t nt, const float* w, const float* bias, const float* scale,
               const float* shift, bool relu, float* y, int64_t ys, int64_t nj, int64_t nq);
  // The band's input: xs[(c*KW + kw)*S + r*OW + ow] = x[c][ih0 + r][ow + kw - pw] (0 outside the image) for
  // r < rows, ow < OW, and zeros up to S (S >= rows*OW + lanes) after each copy's rows. x:
  // one image (C, H, W).
  void (*fill)(float* xs, int64_t S, const float* x, int64_t C, int64_t H, int64_t W, int64_t KW, int64_t pw,
               int64_t ih0, int64_t rows, int64_t OW);
};

const SmallConvKernels& small_conv_kernels();

namespace avx2 {
extern const SmallConvKernels kSmallConvKernels;
}
namespace avx512 {
extern const SmallConvKernels kSmallConvKernels;
}

}  // namespace ck
