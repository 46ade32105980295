// The optimizer update interface: CPU references (csrc/cpu/optim.cc) and CUDA twins (cuda/optim.cu, declared
// in core/optim_kernels_cuda.h). One call updates every tensor of one parameter group in place, from a table
// of OptimTensor entries; on CUDA that call is one kernel launch (multi-tensor apply).
//
// Numerics are PyTorch 1.13's single-tensor (foreach=False) CPU optimizers, op for op in float32, with a
// fused multiply-add exactly where PyTorch's AVX2 kernels have one (add with alpha is fmadd(other, alpha, self);
// addcmul is fma(value * t1, t2, self); addcdiv is self + (value * t1) / t2; everything else one rounding per op).
// Scalars arrive as doubles (Python floats) and are rounded to float where PyTorch converts them.
#pragma once
#include <cstdint>

namespace ck {

// One tensor of a parameter group. Every buffer holds n contiguous floats on the same device.
struct OptimTensor {
  float* param;        // (n) updated in place
  const float* grad;   // (n)
  float* state[3];     // (n) each | null: per optimizer (see below)
  int64_t n;
  float coef[2];       // per-tensor scalars, per optimizer (see below)
  int32_t flag;        // per-tensor flag, per optimizer (see below)
  int32_t reserved;    // keeps the entry 64 bytes on every ABI; 0
};

// SGD: state[0] = momentum_buffer (momentum != 0). flag = 1: the buffer is new and is set to the (decayed)
// gradient instead of being decayed, as PyTorch's `torch.clone(d_p)` on the first step.
struct SgdParams {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};
// Adam / AdamW: state[0] = exp_avg, state[1] = exp_avg_sq, state[2] = max_exp_avg_sq (amsgrad).
// coef[0] = -lr / (1 - beta1^step), coef[1] = sqrt(1 - beta2^step), from the tensor's own step count
// (the binding fills them with the C library's pow and sqrt, as Python does).
// adamw (decoupled weight decay): param *= 1 - lr * weight_decay first, and the gradient is not decayed.
struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, adamw;
};
// RMSprop: state[0] = square_avg, state[1] = momentum_buffer (momentum > 0), state[2] = grad_avg (centered).
struct RmspropParams {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

void sgd_step_cpu(const OptimTensor* tensors, int64_t count, const SgdParams& p);
void adam_step_cpu(const OptimTensor* tensors, int64_t count, const AdamParams& p);
void rmsprop_step_cpu(const OptimTensor* tensors, int64_t count, const RmspropParams& p);

}  // namespace ck
