// The optimizer updates' element loops per ISA (optim.cc; the convention of cpu/isa.h): one plain struct of
// pointers and hyper-parameters per optimizer, and a range function per ISA path.
#pragma once
#include <cstdint>

namespace ck {

struct SgdOp {
  float* __restrict__ p;
  const float* __restrict__ g;
  float* __restrict__ buf;  // null when momentum == 0
  float neg_lr, wd, momentum, one_minus_dampening;
  bool has_wd, nesterov, maximize, init;
};

struct AdamOp {
  float* __restrict__ p;
  const float* __restrict__ g;
  float* __restrict__ m;
  float* __restrict__ v;
  float* __restrict__ vmax;  // null unless amsgrad
  // neg_step_size, bc2_sqrt: the host step's scalars (core/optim_kernels.h: coef); capturable: coef[0], coef[1]
  // of adam_capturable_coefs, and the update is PyTorch's capturable one (denom = sqrt(v) / c0 + c1, p += m / denom)
  float wd, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, neg_step_size, bc2_sqrt;
  bool has_wd, adamw, maximize, capturable;
};

struct RmspropOp {
  float* __restrict__ p;
  const float* __restrict__ g;
  float* __restrict__ sq;
  float* __restrict__ buf;  // null unless momentum > 0
  float* __restrict__ ga;   // null unless centered
  float neg_lr, wd, alpha, one_minus_alpha, eps, momentum;
  bool has_wd, maximize;
};

struct OptimRanges {
  void (*sgd)(const SgdOp& o, int64_t begin, int64_t end);
  void (*adam)(const AdamOp& o, int64_t begin, int64_t end);
  void (*rmsprop)(const RmspropOp& o, int64_t begin, int64_t end);
};

namespace avx2 {
extern const OptimRanges kOptimRanges;
}

}  // namespace ck
