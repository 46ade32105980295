// Direct 3x3 convolution on the zero-padded grid (NCHW, float32, stride 1, dilation 1, groups 1, padding 0..2),
// a hand-written register-blocked kernel for small feature maps where the im2col GEMM's unrolling and packing
// cost more than the multiplies (cpu/conv_direct.cc has the design, docs/conv_algos.md the measurements).
#pragma once
#include <cstdint>

#include "core/nn_params.h"
#include "cpu/fused.h"  // ConvEpilogue

namespace ck {

// Whether p is a shape the direct 3x3 kernel computes.
bool direct3x3_applies(const Conv2dParams& p);
// y (N, O, OH, OW) = conv(x, w) + b (b may be null), then the epilogue.
void direct3x3_forward_cpu(const Conv2dParams& p, const float* x, const float* w, const float* b,
                           const ConvEpilogue& ep, float* y);
// dx (N, C, H, W) (overwritten): the forward convolution of dy with the flipped, transposed weights.
void direct3x3_backward_data_cpu(const Conv2dParams& p, const float* dy, const float* w, float* dx);
// dw (O, C, 3, 3) (overwritten); the bias gradient is the caller's.
void direct3x3_backward_weight_cpu(const Conv2dParams& p, const float* x, const float* dy, float* dw);

}  // namespace ck
