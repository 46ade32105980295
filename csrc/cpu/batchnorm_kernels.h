// The per-ISA loops of training-mode batch norm, plain and fused with ReLU (batchnorm.cc drives them; the
// convention of cpu/isa.h: plain declarations only, so the per-ISA file can include it). Each call covers one
// channel: its N rows of L contiguous floats, row i at x + i * stride. The sums run in float lanes over blocks
// of about kBnBlock values (a block may span rows), each block's total then added in double: a block's
// rounding stays near float epsilon whatever N and L are, and the blocks add up in double as PyTorch's row
// sums do. One call per channel rather than per row: with small maps (7x7) the per-row overhead of a call, a
// horizontal sum and a masked tail was a third of the time.
//
// With relu, the ReLU's mask is recomputed from x with the same float operations as normalize's forward
// (v = (x - m) * k + sh, v > 0), so the backward reads dy and x only, never the output.
#pragma once
#include <cstdint>

namespace ck {

constexpr int64_t kBnBlock = 256;

struct BnRowKernels {
  double (*sum)(const float* x, int64_t N, int64_t L, int64_t stride);                // sum x
  double (*sqdev)(const float* x, int64_t N, int64_t L, int64_t stride, float mean);  // sum (x - mean)^2
  // y = (x - m) * k + sh, clamped at 0 with relu (y's rows at the same stride)
  void (*normalize)(const float* x, int64_t N, int64_t L, int64_t stride, float m, float k, float sh, bool relu,
                    float* y);
  // g = dy (with relu: where (x - m) * k + sh > 0, else 0): *sg = sum g; *sgx = sum g * (x - m). dy's rows are
  // gstride apart (x's: stride), so that a gradient expanded into a compact scratch pairs with x in place.
  void (*dot)(const float* dy, const float* x, int64_t N, int64_t L, int64_t stride, int64_t gstride, float m, float k,
              float sh, bool relu, double* sg, double* sgx);
  // dx = (g - mg - (x - m) * proj) * k, g as dot's (dx's rows at x's stride)
  void (*dx)(const float* dy, const float* x, int64_t N, int64_t L, int64_t stride, int64_t gstride, float m, float k,
             float sh, bool relu, float mg, float proj, float* dx);
};

namespace avx2 {
extern const BnRowKernels kBnRowKernels;
}

}  // namespace ck
