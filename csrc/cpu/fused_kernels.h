// The per-ISA rows of the fused training-mode batch norm + ReLU (fused.cc; the convention of cpu/isa.h). Plain
// declarations only, so the per-ISA file can include it. Rows of L floats; statistics in double as PyTorch.
#pragma once
#include <cstdint>

namespace ck {

// (The statistics use batch norm's own rows, cpu/batchnorm_kernels.h, so that fused and unfused agree bit for bit.)
struct FusedBnKernels {
  // y[j] = max((x[j] - m) * k + sh, 0)
  void (*norm_relu)(const float* x, int64_t L, float m, float k, float sh, float* y);
  // With g = dy where y > 0, else 0: *sg += sum g; *sgx += sum g * (x - mean).
  void (*relu_dot)(const float* dy, const float* y, const float* x, int64_t L, double mean, double* sg, double* sgx);
  // dx[j] = (g - mg - (x[j] - m) * proj) * k, g as relu_dot's.
  void (*relu_dx)(const float* dy, const float* y, const float* x, int64_t L, float mg, float m, float proj, float k,
                  float* dx);
};

namespace avx2 {
extern const FusedBnKernels kFusedBnKernels;
}

}  // namespace ck
