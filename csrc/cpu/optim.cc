// CPU reference for the optimizer updates (core/optim_kernels.h): SGD, Adam/AdamW, RMSprop over every tensor of
// a parameter group, in place.
//
// Numerics: PyTorch 1.13's single-tensor CPU path, op for op in float32. PyTorch's AVX2 kernels fuse exactly
// two patterns, `add(self, other, alpha)` = fma(other, alpha, self) and `addcmul(self, t1, t2, value)` =
// fma(value * t1, t2, self) (both its vector body and its scalar tail, which GCC contracts); every other op
// (mul/div/add by a scalar, sqrt, maximum, addcdiv) rounds once. So this file writes those two as explicit
// fmas and stops the compiler from contracting anything else: a product that feeds a plain add goes through
// rounded(), an empty asm the optimiser cannot see through. The results are then bit-identical to PyTorch's.
//
// Vectorisation: one element function per optimizer (optim_ops.inc), templated on the lane type: __m256 (8
// floats, optim_avx2.cc) for the body on the AVX paths of cpu/isa.h, float for the tail and the baseline.
// GCC would not vectorise a plain loop here: sqrtf may set errno, and the build keeps -fmath-errno.
// Threads: the group is cut into chunks of kChunk elements (never straddling two tensors) and the chunks
// are shared out with ck::parallel_for; a group smaller than one chunk runs on the calling thread.
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/kernels.h"
#include "../core/optim_kernels.h"
#include "isa.h"
#include "optim_ops.h"
#include "threadpool.h"

namespace ck {
namespace {

constexpr int64_t kChunk = int64_t(1) << 15;

#include "cpu/optim_ops.inc"

// The ISA path in use (cpu/isa.h); the AVX-512 path uses the AVX2 loops (the updates are bound by memory).
const OptimRanges& ranges() {
  static const OptimRanges base = {sgd_range, adam_range, rmsprop_range};
  static const OptimRanges& k = CK_AVX2_OR_BASE(base, avx2::kOptimRanges);
  return k;
}

// Makes an Op from one tensor of the table and runs it over chunks of the whole group.
template <class Op, class MakeOp>
void for_group(const char* name, const OptimTensor* t, int64_t count, void (*range)(const Op&, int64_t, int64_t),
               const MakeOp& make) {
  if (count < 0) throw Error("ERR_ARG", std::string(name) + ": negative tensor count", ErrorKind::Range);
  int64_t total = 0;
  for (int64_t k = 0; k < count; ++k) {
    if (t[k].n < 0) throw Error("ERR_ARG", std::string(name) + ": negative element count", ErrorKind::Range);
    total += t[k].n;
  }
  if (total <= kChunk) {
    for (int64_t k = 0; k < count; ++k) range(make(t[k]), 0, t[k].n);
    return;
  }
  struct Chunk {
    int64_t k, b;
  };
  std::vector<Chunk> chunks;
  chunks.reserve(static_cast<size_t>(total / kChunk + count));
  for (int64_t k = 0; k < count; ++k)
    for (int64_t b = 0; b < t[k].n; b += kChunk) chunks.push_back({k, b});
  parallel_for(static_cast<int64_t>(chunks.size()), 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const OptimTensor& x = t[chunks[c].k];
      const int64_t b = chunks[c].b;
      range(make(x), b, b + kChunk < x.n ? b + kChunk : x.n);
    }
  });
}

}  // namespace

void sgd_step_cpu(const OptimTensor* tensors, int64_t count, const SgdParams& hp) {
  const bool use_buf = hp.momentum != 0.0;
  for_group("sgd_step", tensors, count, ranges().sgd, [&](const OptimTensor& t) {
    return SgdOp{t.param, t.grad, use_buf ? t.state[0] : nullptr,
                 static_cast<float>(-hp.lr), static_cast<float>(hp.weight_decay), static_cast<float>(hp.momentum),
                 static_cast<float>(1.0 - hp.dampening), hp.weight_decay != 0.0, hp.nesterov, hp.maximize, t.flag != 0};
  });
}

namespace {
// One group's Adam update; capturable: the tensors' coef come from adam_capturable_coefs (see AdamOp).
void adam_group(const OptimTensor* tensors, int64_t count, const AdamParams& hp, bool capturable) {
  float h[kAdamHyperSlots];
  adam_hyper_values(hp, h);
  for_group("adam_step", tensors, count, ranges().adam, [&](const OptimTensor& t) {
    return AdamOp{t.param, t.grad, t.state[0], t.state[1], hp.amsgrad ? t.state[2] : nullptr,
                  h[kAdamWd], h[kAdamDecay], h[kAdamBeta1], h[kAdamOneMinusBeta1], h[kAdamBeta2],
                  h[kAdamOneMinusBeta2], h[kAdamEps], t.coef[0], t.coef[1],
                  hp.weight_decay != 0.0, hp.adamw, hp.maximize, capturable};
  });
}
}  // namespace

void adam_step_cpu(const OptimTensor* tensors, int64_t count, const AdamParams& hp) {
  adam_group(tensors, count, hp, false);
}

void adam_step_capturable_cpu(OptimTensor* tensors, float* const* steps, int64_t count, const AdamParams& hp) {
  float h[kAdamHyperSlots];
  adam_hyper_values(hp, h);
  for (int64_t k = 0; k < count; ++k) adam_capturable_coefs(steps[k], h, tensors[k].coef);
  adam_group(tensors, count, hp, true);
}

void rmsprop_step_cpu(const OptimTensor* tensors, int64_t count, const RmspropParams& hp) {
  const bool use_buf = hp.momentum > 0.0;
  for_group("rmsprop_step", tensors, count, ranges().rmsprop, [&](const OptimTensor& t) {
    return RmspropOp{t.param, t.grad, t.state[0], use_buf ? t.state[1] : nullptr, hp.centered ? t.state[2] : nullptr,
                     static_cast<float>(-hp.lr), static_cast<float>(hp.weight_decay), static_cast<float>(hp.alpha),
                     static_cast<float>(1.0 - hp.alpha), static_cast<float>(hp.eps), static_cast<float>(hp.momentum),
                     hp.weight_decay != 0.0, hp.maximize};
  });
}

}  // namespace ck
