// Winograd convolution for 3x3, stride 1, dilation 1, groups 1 (NCHW, float32): F(2x2,3x3) and F(4x4,3x3).
// Forward, and backward-data as the forward convolution of dy with the flipped, transposed kernel.
#pragma once
#include <cstdint>

#include "core/nn_params.h"
#include "cpu/fused.h"  // ConvEpilogue

namespace ck {

// Output tile size m of F(m x m, 3 x 3): 2 or 4.
enum class WinogradTile : int { F2 = 2, F4 = 4 };

// Which algorithm 3x3 stride-1 convolutions use on the CPU (the others always use the im2col GEMM):
// Auto (the measured rule in conv.cc), Direct (im2col GEMM), Winograd (F(2x2,3x3) wherever it applies), or a
// forced tile. Process-wide; the initial value comes from CONVKIT_CONV_ALGO (auto | direct | winograd |
// winograd2 | winograd4), read once; set_conv_algo (ck.setConvAlgo) overrides it.
enum class ConvAlgo : int { Auto = 0, Direct = 1, Winograd = 2, Winograd2 = 3, Winograd4 = 4, Direct3x3 = 5 };
void set_conv_algo(ConvAlgo a);
ConvAlgo get_conv_algo();
// "auto" | "direct" | "winograd" | "winograd2" | "winograd4" | "direct3x3" (cpu/conv_direct.h); false if the name is none of them.
bool parse_conv_algo(const char* name, ConvAlgo* out);
const char* conv_algo_name(ConvAlgo a);

// Whether p is a shape Winograd computes (3x3, stride 1, dilation 1, groups 1; any padding).
bool winograd_applies(const Conv2dParams& p);

// y (N, O, OH, OW) = conv(x, w) + b, then the epilogue.
void winograd_forward_cpu(const Conv2dParams& p, WinogradTile tile, const float* x, const float* w, const float* b,
                          float* y, const ConvEpilogue& ep = ConvEpilogue());
// dx (N, C, H, W) (overwritten) from dy (N, O, OH, OW) and w (O, C, 3, 3).
void winograd_backward_data_cpu(const Conv2dParams& p, WinogradTile tile, const float* dy, const float* w, float* dx);
// dw (O, C, 3, 3) (overwritten) from x (N, C, H, W) and dy (N, O, OH, OW): the forward algorithm's adjoint.
void winograd_backward_weight_cpu(const Conv2dParams& p, WinogradTile tile, const float* x, const float* dy, float* dw);

}  // namespace ck
