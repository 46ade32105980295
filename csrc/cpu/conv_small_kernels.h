// The shallow-input direct convolution's per-ISA row kernel (cpu/conv_small.cc has the design; cpu/isa.h the
// convention). Plain declarations only, so the per-ISA files can include it.
#pragma once
#include <cstdint>

namespace ck {

struct SmallConvKernels {
  int lanes;  // floats per vector: output pixels per vector of one output row
  int ob;     // output channels per register tile (the weight layout's block)
  // One output row of `nj` <= ob output channels, stride 1:
  //   y[j*ys + q] = epi_j(bias[j] + sum over c < C, kh < KH, kw < KW of w[((c*KH + kh)*KW + kw)*ob + j] *
  //                                                                      xp[c*plane + kh*wp + q + kw])
  // for q < OW, where epi_j(v) = relu?(v * scale[j] + shift[j]) when scale is non-null, else v. xp: the
  // zero-bordered input rows of the output row (row kh of channel c at xp + c*plane + kh*wp), readable up to
  // column ceil(OW / lanes)*lanes + KW - 1; bias, scale, shift: ob floats each (scale/shift may be null).
  void (*row)(const float* xp, int64_t wp, int64_t plane, int64_t C, int64_t KH, int64_t KW, const float* w,
              const float* bias, const float* scale, const float* shift, bool relu, float* y, int64_t ys, int64_t nj,
              int64_t OW);
};

const SmallConvKernels& small_conv_kernels();

namespace avx2 {
extern const SmallConvKernels kSmallConvKernels;
}
namespace avx512 {
extern const SmallConvKernels kSmallConvKernels;
}

}  // namespace ck
