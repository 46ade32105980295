// Dropout forward: keep[i] = philox_unit(philox(offset + i, seed).v[0]) < 1 - p, mask[i] = keep ? 1/(1-p) : 0,
// y = x * mask. CUDA twin of csrc/cpu/dropout.cc (core/nn_kernels.h).
//
// Layout: x, y, mask flat (n); mask may be null.
//
// CUDA graphs: with offset_base (one uint64 in device memory), the counter starts at *offset_base + offset, read
// by the kernel, so a captured dropout draws a new mask at every replay: the graph writes the generator's
// offset there before each replay (lib/cuda/graph.ts) and offset is relative to the capture's start.
//
// Bit-identical to the CPU: the draw is counter-based (core/philox.h, Philox4x32-10: element i depends only
// on (seed, offset + i), not on the thread that computes it), philox_unit is exact in float, and the keep
// probability q = 1 - p and the scale 1 / q are computed once on the host in float, exactly as the CPU
// computes them, and passed in; the kernel only compares and does one float multiply. p == 1: q = 0, nothing
// is kept, scale 0 (no division by zero). p == 0: q = 1 > every unit, everything kept with scale 1.
//
// Algorithm: grid-stride loops (contiguous_for). One element per thread per step, or one float4 of x, y (and
// mask) per step when every base is 16-byte aligned: four Philox evaluations (10 rounds of two 32x32->64
// multiplies each) per vector, then one 16-byte load and one or two 16-byte stores; the n % 4 tail is taken
// by the first threads. Philox dominates the arithmetic; at 8 bytes of traffic per element (12 with mask)
// the kernel stays close to memory-bound on an H100.
#include <cstdint>
#include <string>

#include "runtime.cuh"
#include "common.cuh"
#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/nn_kernels_cuda.h"
#include "core/philox.h"

namespace ck {
namespace cuda {
namespace {


__device__ __forceinline__ float keep_scale(uint64_t counter, uint64_t seed, float q, float scale) {
  return philox_unit(philox(counter, seed).v[0]) < q ? scale : 0.0f;
}

// y = x * keep_scale, per element or (vec: x, y, mask 16-byte aligned) per float4 with the tail per element.
__global__ void dropout_forward_kernel(const float* __restrict__ x,  // (n)
                                       float* __restrict__ y,        // (n)
                                       float* __restrict__ mask,     // (n) | null
                                       int64_t n, bool vec, float q, float scale, uint64_t seed, uint64_t offset0,
                                       const uint64_t* __restrict__ offset_base) {  // (1) | null
  const uint64_t offset = offset0 + (offset_base ? *offset_base : 0);
  const float4* x4 = reinterpret_cast<const float4*>(x);
  float4* y4 = reinterpret_cast<float4*>(y);
  float4* m4 = reinterpret_cast<float4*>(mask);
  contiguous_for(
      n, vec,
      [&](int64_t i) {
        const uint64_t c = offset + static_cast<uint64_t>(i) * 4;
        const float4 m = make_float4(keep_scale(c, seed, q, scale), keep_scale(c + 1, seed, q, scale),
                                     keep_scale(c + 2, seed, q, scale), keep_scale(c + 3, seed, q, scale));
        const float4 v = x4[i];
        if (mask) m4[i] = m;
        y4[i] = make_float4(v.x * m.x, v.y * m.y, v.z * m.z, v.w * m.w);
      },
      [&](int64_t i) {
        const float m = keep_scale(offset + static_cast<uint64_t>(i), seed, q, scale);
        if (mask) mask[i] = m;
        y[i] = x[i] * m;
      });
}


}  // namespace

void dropout_forward_cuda(int64_t n, const float* x, float p, uint64_t seed, uint64_t offset, float* y, float* mask,
                          Stream s, const uint64_t* offset_base) {
  if (n < 0) throw Error("ERR_ARG", "dropout: negative count", ErrorKind::Range);
  if (!(p >= 0.0f && p <= 1.0f))
    throw Error("ERR_ARG", "dropout probability has to be between 0 and 1, but got " + std::to_string(p),
                ErrorKind::Range);
  if (n == 0) return;
  const float q = 1.0f - p;  // the same float operations as dropout_forward_cpu
  const float scale = q > 0.0f ? 1.0f / q : 0.0f;
  const bool vec = aligned16(x) && aligned16(y) && (!mask || aligned16(mask));
  const int64_t work = vec ? (n / 4 > 0 ? n / 4 : 1) : n;
  const dim3 grid(grid_for(work)), block(kThreads);
  launch(dropout_forward_kernel, grid, block, 0, s, x, y, mask, n, vec, q, scale, seed, offset, offset_base);
}

}  // namespace cuda
}  // namespace ck
