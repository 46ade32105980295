// The optimizer update interface: CPU references (csrc/cpu/optim.cc) and CUDA twins (cuda/optim.cu, declared
// in core/optim_kernels_cuda.h). One call updates every tensor of one parameter group in place, from a table
// of OptimTensor entries; on CUDA that call is one kernel launch (multi-tensor apply).
//
// Numerics are PyTorch 1.13's single-tensor (foreach=False) CPU optimizers, op for op in float32, with a
// fused multiply-add exactly where PyTorch's AVX2 kernels have one (add with alpha is fmadd(other, alpha, self);
// addcmul is fma(value * t1, t2, self); addcdiv is self + (value * t1) / t2; everything else one rounding per op).
// Scalars arrive as doubles (Python floats) and are rounded to float where PyTorch converts them.
#pragma once
#include <math.h>
#include <cstdint>

#if defined(__CUDACC__)
#define CK_OPTIM_HD __host__ __device__ inline
#else
#define CK_OPTIM_HD inline
#endif

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
// Capturable Adam / AdamW (PyTorch 1.13's capturable=True): the step count is a float32 tensor of one element
// per parameter (its state['step']) that the update itself increments, and the bias corrections are computed
// from it where the update runs, in float32 as PyTorch's 1-element tensor ops compute them (adam_capturable_coefs).
// The update is then denom = sqrt(v) / coef[0] + coef[1]; param += exp_avg / denom, PyTorch's
// `(exp_avg_sq.sqrt() / (bc2_sqrt * step_size_neg)).add_(eps / step_size_neg)` and `addcdiv_(exp_avg, denom)`.
// On CUDA the hyperparameters the update reads (AdamHyperSlot) live in a small device buffer per group, written
// outside any graph whenever they change, so a replayed graph follows a scheduler's learning rate.
enum AdamHyperSlot : int {
  kAdamLr,           // float(lr)
  kAdamDecay,        // float(1 - lr * weight_decay): AdamW's param.mul_
  kAdamWd,           // float(weight_decay)
  kAdamBeta1,        // float(beta1)
  kAdamOneMinusBeta1,
  kAdamBeta2,
  kAdamOneMinusBeta2,
  kAdamEps,
  kAdamHyperSlots
};

// The floats of AdamHyperSlot from the hyperparameters (doubles, as Python holds them).
inline void adam_hyper_values(const AdamParams& p, float out[kAdamHyperSlots]) {
  out[kAdamLr] = static_cast<float>(p.lr);
  out[kAdamDecay] = static_cast<float>(1.0 - p.lr * p.weight_decay);
  out[kAdamWd] = static_cast<float>(p.weight_decay);
  out[kAdamBeta1] = static_cast<float>(p.beta1);
  out[kAdamOneMinusBeta1] = static_cast<float>(1.0 - p.beta1);
  out[kAdamBeta2] = static_cast<float>(p.beta2);
  out[kAdamOneMinusBeta2] = static_cast<float>(1.0 - p.beta2);
  out[kAdamEps] = static_cast<float>(p.eps);
}

// One capturable step's per-tensor scalars: *step += 1, then, in float32 op by op as PyTorch 1.13 evaluates
// `1 - torch.pow(beta, step)`, `lr / bc1` (Tensor.__rtruediv__: reciprocal() * lr), `.neg()`, `.sqrt()`, the
// product and `eps / step_size_neg`: coef[0] = sqrt(bc2) * -step_size, coef[1] = eps / -step_size. No product
// meets an add here, so no compiler can contract anything. powf is the C library's on the host (bit-identical to
// PyTorch's CPU kernel) and CUDA's on a real GPU (within 2 ulp of it).
CK_OPTIM_HD void adam_capturable_coefs(float* step, const float* hyper, float coef[2]) {
  const float s = *step + 1.0f;
  *step = s;
  const float bc1 = 1.0f - powf(hyper[kAdamBeta1], s);
  const float bc2 = 1.0f - powf(hyper[kAdamBeta2], s);
  const float neg_step_size = -((1.0f / bc1) * hyper[kAdamLr]);
  coef[0] = sqrtf(bc2) * neg_step_size;
  coef[1] = (1.0f / neg_step_size) * hyper[kAdamEps];
}

// RMSprop: state[0] = square_avg, state[1] = momentum_buffer (momentum > 0), state[2] = grad_avg (centered).
struct RmspropParams {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

void sgd_step_cpu(const OptimTensor* tensors, int64_t count, const SgdParams& p);
void adam_step_cpu(const OptimTensor* tensors, int64_t count, const AdamParams& p);
// Capturable: steps[k] is tensor k's step count (one float), incremented here; coef is filled from it.
void adam_step_capturable_cpu(OptimTensor* tensors, float* const* steps, int64_t count, const AdamParams& p);
void rmsprop_step_cpu(const OptimTensor* tensors, int64_t count, const RmspropParams& p);

}  // namespace ck
