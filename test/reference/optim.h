// Reference optimizer updates for one element, transcribed from PyTorch 1.13's single-tensor Python
// (torch/optim/{sgd,adam,adamw,rmsprop}.py, _single_tensor_*): SGD (momentum, dampening, nesterov, weight decay,
// maximize), Adam / AdamW (amsgrad, maximize; AdamW is `adamw`), RMSprop (centered, momentum). Unlike the
// other references these are float, not double: each PyTorch op is computed in double and rounded once to
// float (exact IEEE float arithmetic for + - * / sqrt), std::fmaf where PyTorch's kernels fuse, so the kernels
// must match them bit for bit.
#pragma once
#include <cmath>

#include "core/optim_kernels.h"

namespace ck {
namespace ref {
namespace fl {
// The volatile keeps the compiler from folding the casts back into float ops and contracting them into an fma.
inline float rnd(double x) {
  volatile float r = static_cast<float>(x);
  return r;
}
inline float mul(float a, float b) { return rnd(static_cast<double>(a) * b); }
inline float add(float a, float b) { return rnd(static_cast<double>(a) + b); }
inline float dvd(float a, float b) { return rnd(static_cast<double>(a) / b); }
inline float sqr(float a) { return rnd(std::sqrt(static_cast<double>(a))); }
inline float fused(float a, float b, float c) { return std::fmaf(a, b, c); }
inline float maxnan(float a, float b) { return (a != a || b != b) ? NAN : (a > b ? a : b); }
}  // namespace fl

// p: parameter, g: gradient, buf: momentum buffer (fresh: its first step).
inline void sgd(float& p, float g, float& buf, bool fresh, const SgdParams& h) {
  using namespace fl;
  float d = h.maximize ? -g : g;
  if (h.weight_decay != 0) d = fused(p, (float)h.weight_decay, d);  // d_p.add(param, alpha=wd)
  if (h.momentum != 0) {
    buf = fresh ? d : fused(d, (float)(1 - h.dampening), mul(buf, (float)h.momentum));  // buf.mul_(m).add_(d_p, 1-damp)
    d = h.nesterov ? fused(buf, (float)h.momentum, d) : buf;
  }
  p = fused(d, (float)-h.lr, p);  // param.add_(d_p, alpha=-lr)
}

// m, v: first and second moments, vmax: amsgrad's running maximum; step counts from 1.
inline void adam(float& p, float g, float& m, float& v, float& vmax, double step, const AdamParams& h) {
  using namespace fl;
  if (h.maximize) g = -g;
  if (h.adamw) p = mul(p, (float)(1 - h.lr * h.weight_decay));
  else if (h.weight_decay != 0) g = fused(p, (float)h.weight_decay, g);
  m = fused(g, (float)(1 - h.beta1), mul(m, (float)h.beta1));
  v = fused(mul((float)(1 - h.beta2), g), g, mul(v, (float)h.beta2));  // addcmul_(g, g, value=1-beta2)
  const double step_size = h.lr / (1 - std::pow(h.beta1, step));
  const double bc2_sqrt = std::sqrt(1 - std::pow(h.beta2, step));
  float d = v;
  if (h.amsgrad) d = vmax = maxnan(vmax, v);
  d = add(dvd(sqr(d), (float)bc2_sqrt), (float)h.eps);
  p = add(p, dvd(mul((float)-step_size, m), d));  // addcdiv_(exp_avg, denom, value=-step_size)
}

// sq: square average, buf: momentum buffer, ga: gradient average (centered).
inline void rmsprop(float& p, float g, float& sq, float& buf, float& ga, const RmspropParams& h) {
  using namespace fl;
  if (h.maximize) g = -g;
  if (h.weight_decay != 0) g = fused(p, (float)h.weight_decay, g);
  sq = fused(mul((float)(1 - h.alpha), g), g, mul(sq, (float)h.alpha));
  float avg;
  if (h.centered) {
    ga = fused(g, (float)(1 - h.alpha), mul(ga, (float)h.alpha));
    avg = sqr(fused(-ga, ga, sq));
  } else {
    avg = sqr(sq);
  }
  avg = add(avg, (float)h.eps);
  if (h.momentum > 0) {
    buf = add(mul(buf, (float)h.momentum), dvd(g, avg));
    p = fused(buf, (float)-h.lr, p);
  } else {
    p = add(p, dvd(mul((float)-h.lr, g), avg));
  }
}

}  // namespace ref
}  // namespace ck
