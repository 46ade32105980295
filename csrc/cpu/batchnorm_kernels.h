// The per-ISA row sums of batch norm's statistics (batchnorm.cc; the convention of cpu/isa.h).
#pragma once
#include <cstdint>

namespace ck {

struct BnRowKernels {
  double (*sum)(const float* x, int64_t L);                  // sum x, in double
  double (*sqdev)(const float* x, int64_t L, double mean);   // sum (x - mean)^2, in double
  // *sdy += sum dy; *sdyx += sum dy * (x - mean), in double
  void (*dot)(const float* dy, const float* x, int64_t L, double mean, double* sdy, double* sdyx);
};

namespace avx2 {
extern const BnRowKernels kBnRowKernels;
}

}  // namespace ck
