// Convolution through cuDNN (FP32, NCHW) with the same arguments as the native conv2d kernels
// (csrc/core/nn_kernels.h) plus the device. Only the real CUDA build runs these; in the cpu and emulated
// builds compiled() is false and every call throws ck::Error ERR_CUDNN.
#pragma once
#include "../core/nn_kernels.h"

namespace ck {
namespace cudnn {

// PyTorch's torch.backends.cudnn.{benchmark, allow_tf32}; defaults False and True as there.
void set_options(bool benchmark, bool allow_tf32);
bool benchmark();
bool allow_tf32();

bool compiled();  // this binary can run cuDNN (the real CUDA build)

// x (N, C, H, W), w (O, C/g, KH, KW), b (O) | null -> y (N, O, OH, OW) (overwritten)
void conv2d_forward(int device, const Conv2dParams& p, const float* x, const float* w, const float* b, float* y);
// dy (N, O, OH, OW), w -> dx (N, C, H, W) (overwritten)
void conv2d_backward_data(int device, const Conv2dParams& p, const float* dy, const float* w, float* dx);
// x, dy -> dw (O, C/g, KH, KW) (overwritten), db (O) | null (overwritten)
void conv2d_backward_weight(int device, const Conv2dParams& p, const float* x, const float* dy, float* dw, float* db);

}  // namespace cudnn
}  // namespace ck
