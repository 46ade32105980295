// Batch augmentation: random crop with zero padding + horizontal flip + per-channel normalisation of a
// whole (N, C, H, W) float32 batch on the GPU, the CIFAR-10 training recipe in one pass. CUDA twin of
// csrc/cpu/augment.cc (core/augment_kernels.h).
//
// Layout: x (N, C, H, W) and y (N, C, OH, OW) contiguous NCHW; params (N, 3) int32 [top, left, flip] drawn
// on the host; norm (2, C) [mean; std] or null.
//
// Algorithm: batch_augment_kernel, a pure gather. grid.x covers the OH*OW pixels of one output plane (one thread
// each), grid.y walks the N*C planes (a stride loop past 65535 planes). A thread's (oy, ox) is fixed, so
// it divides once; per plane it reads its sample's three params (uniform across the block, cached by
// __ldg), computes the source pixel and either loads it or takes the fill. Consecutive threads read
// consecutive source columns (reversed under a flip, still one coalesced segment) and write consecutive
// outputs. The normalisation is a true float division, matching the CPU kernel and transforms.Normalize
// bit for bit.
#include <cstdint>
#include <string>

#include "runtime.cuh"
#include "common.cuh"
#include "core/augment_kernels_cuda.h"
#include "core/error.h"

namespace ck {
namespace cuda {
namespace {

constexpr int64_t kMaxGridY = 65535;

__global__ void batch_augment_kernel(const float* __restrict__ x,         // (N, C, H, W)
                                      const int32_t* __restrict__ params,  // (N, 3)
                                      const float* __restrict__ norm,      // (2, C) | null
                                      float* __restrict__ y,               // (N, C, OH, OW)
                                      BatchAugmentParams p) {
  const int out_plane = static_cast<int>(p.OH * p.OW);
  const int pix = static_cast<int>(blockIdx.x) * static_cast<int>(blockDim.x) + static_cast<int>(threadIdx.x);
  if (pix >= out_plane) return;
  const int ow = static_cast<int>(p.OW);
  const int oy = pix / ow;
  const int ox = pix - oy * ow;
  const int64_t planes = p.N * p.C;
  for (int64_t q = blockIdx.y; q < planes; q += gridDim.y) {
    const int64_t n = q / p.C;
    const int64_t c = q - n * p.C;
    const int64_t top = __ldg(params + n * 3);
    const int64_t left = __ldg(params + n * 3 + 1);
    const bool flip = __ldg(params + n * 3 + 2) != 0;
    const int64_t sy = top - p.pad + oy;
    const int64_t sx = left - p.pad + (flip ? ow - 1 - ox : ox);
    float v = p.fill;
    if (sy >= 0 && sy < p.H && sx >= 0 && sx < p.W) v = __ldg(x + (q * p.H + sy) * p.W + sx);
    if (norm != nullptr) v = (v - __ldg(norm + c)) / __ldg(norm + p.C + c);
    y[q * out_plane + pix] = v;
  }
}

}  // namespace

void batch_augment_cuda(const BatchAugmentParams& p, const float* x, const int32_t* params, const float* norm, float* y, Stream s) {
  if (p.N < 0 || p.C < 0 || p.H < 0 || p.W < 0 || p.OH < 0 || p.OW < 0 || p.pad < 0)
    throw Error("ERR_ARG", "batch_augment: negative extent", ErrorKind::Range);
  const int64_t out_plane = p.OH * p.OW;
  const int64_t planes = p.N * p.C;
  if (out_plane == 0 || planes == 0) return;
  if (out_plane >= (int64_t(1) << 31) - kThreads)
    throw Error("ERR_SHAPE", "batch_augment: an output plane of " + std::to_string(out_plane) + " pixels is too large",
                ErrorKind::Range);
  const dim3 grid(static_cast<unsigned>((out_plane + kThreads - 1) / kThreads),
                  static_cast<unsigned>(planes < kMaxGridY ? planes : kMaxGridY));
  launch(batch_augment_kernel, grid, dim3(kThreads), 0, s, x, params, norm, y, p);
}

}  // namespace cuda
}  // namespace ck
