// The batch augmentation kernel interface: random crop with zero padding + horizontal flip + per-channel
// normalisation of a whole (N, C, H, W) float32 batch, the CIFAR-10 recipe applied after the batch is
// assembled (or already on the GPU). CPU reference in csrc/cpu/augment.cc, CUDA twin in cuda/augment.cu.
//
// Each sample's choice is drawn on the host (lib/transforms/batch_augment.ts, from the seeded stream) and
// passed in `params`, so the CPU and CUDA kernels compute the same thing and the kernel holds no state.
#pragma once
#include <cstdint>

namespace ck {

struct BatchAugmentParams {
  int64_t N, C, H, W;  // input (N, C, H, W)
  int64_t OH, OW;      // output (N, C, OH, OW): the crop
  int64_t pad;         // zero padding on every side before cropping
  float fill;          // value of padded pixels, before normalisation (0: black, as torchvision)
};

// x (N, C, H, W), params (N, 3) int32 [top, left, flip] with top/left in padded coordinates
// (0 <= top <= H + 2 pad - OH), norm (2, C) [mean[0..C), std[0..C)] | null -> y (N, C, OH, OW):
//   v = padded(x)[n, c, top + oy, left + (flip ? OW - 1 - ox : ox)]   (fill outside x)
//   y = norm ? (v - mean[c]) / std[c] : v        (float32, as transforms.Normalize)
// Offsets outside their range read fill, never outside x.
void batch_augment_cpu(const BatchAugmentParams& p, const float* x, const int32_t* params, const float* norm, float* y);

}  // namespace ck
