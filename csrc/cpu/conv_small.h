// Direct convolution for shallow inputs (NCHW, float32, 1-4 input channels, stride 1, dilation 1, groups 1, any
// kernel size and padding): the first layer of a CNN on images, where C*KH*KW (27 for RGB 3x3) is too shallow
// for the im2col GEMM and the work is bound by writing the output (cpu/conv_small.cc has the design,
// docs/conv_algos.md the measurements).
#pragma once

#include "core/nn_params.h"
#include "cpu/fused.h"  // ConvEpilogue

namespace ck {

// Whether p is a shape the kernel computes.
bool conv_small_applies(const Conv2dParams& p);
// Whether the auto rule takes it for p (conv.cc asks only under ConvAlgo::Auto and FP32).
bool conv_small_rule(const Conv2dParams& p);
// y (N, O, OH, OW) = conv(x, w) + b (b may be null), then the epilogue.
void conv_small_forward_cpu(const Conv2dParams& p, const float* x, const float* w, const float* b,
                            const ConvEpilogue& ep, float* y);

}  // namespace ck
