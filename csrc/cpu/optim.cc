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
// Vectorisation: one element function per optimizer, templated on the lane type: __m256 (8 floats, AVX2 +
// FMA, which the build enables on x86-64) for the body, float for the tail and for other targets. GCC would
// not vectorise a plain loop here: sqrtf may set errno, and the build keeps -fmath-errno.
// Threads: the group is cut into chunks of kChunk elements (never straddling two tensors) and the chunks
// are shared out with ck::parallel_for; a group smaller than one chunk runs on the calling thread.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/error.h"
#include "../core/kernels.h"
#include "../core/optim_kernels.h"
#include "threadpool.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define CK_OPTIM_AVX2 1
#else
#define CK_OPTIM_AVX2 0
#endif

namespace ck {
namespace {

constexpr int64_t kChunk = int64_t(1) << 15;

// ---- lane operations: float (scalar) and __m256 (8 lanes), the same rounding per op ----------------

template <class V> V load(const float* p);
template <class V> void store(float* p, V v);
template <class V> V splat(float x);

template <> inline float load<float>(const float* p) { return *p; }
template <> inline void store<float>(float* p, float v) { *p = v; }
template <> inline float splat<float>(float x) { return x; }
inline float add(float a, float b) { return a + b; }
inline float mul(float a, float b) { return a * b; }
inline float div(float a, float b) { return a / b; }
inline float fma(float a, float b, float c) { return std::fma(a, b, c); }
inline float sqrt(float a) { return std::sqrt(a); }
inline float neg(float a) { return -a; }
// torch.maximum: NaN if either is NaN.
inline float maximum(float a, float b) {
  return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a > b ? a : b);
}
inline float rounded(float a) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+x"(a));
#elif defined(__GNUC__)
  __asm__("" : "+g"(a));
#endif
  return a;
}

#if CK_OPTIM_AVX2
template <> inline __m256 load<__m256>(const float* p) { return _mm256_loadu_ps(p); }
template <> inline void store<__m256>(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
template <> inline __m256 splat<__m256>(float x) { return _mm256_set1_ps(x); }
inline __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
inline __m256 mul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
inline __m256 div(__m256 a, __m256 b) { return _mm256_div_ps(a, b); }
inline __m256 fma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
inline __m256 sqrt(__m256 a) { return _mm256_sqrt_ps(a); }
inline __m256 neg(__m256 a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
inline __m256 maximum(__m256 a, __m256 b) {  // all-ones lanes (unordered) are NaN
  return _mm256_or_ps(_mm256_max_ps(a, b), _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
}
inline __m256 rounded(__m256 a) {
  __asm__("" : "+x"(a));
  return a;
}
#endif

// Runs op.template at<V>(i) over [b, e): 8 lanes at a time, then one.
template <class Op>
void run_range(const Op& op, int64_t b, int64_t e) {
  int64_t i = b;
#if CK_OPTIM_AVX2
  for (; i + 8 <= e; i += 8) op.template at<__m256>(i);
#endif
  for (; i < e; ++i) op.template at<float>(i);
}

// Makes an Op from one tensor of the table and runs it over chunks of the whole group.
template <class MakeOp>
void for_group(const char* name, const OptimTensor* t, int64_t count, const MakeOp& make) {
  if (count < 0) throw Error("ERR_ARG", std::string(name) + ": negative tensor count", ErrorKind::Range);
  int64_t total = 0;
  for (int64_t k = 0; k < count; ++k) {
    if (t[k].n < 0) throw Error("ERR_ARG", std::string(name) + ": negative element count", ErrorKind::Range);
    total += t[k].n;
  }
  if (total <= kChunk) {
    for (int64_t k = 0; k < count; ++k) run_range(make(t[k]), 0, t[k].n);
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
      run_range(make(x), b, b + kChunk < x.n ? b + kChunk : x.n);
    }
  });
}

// ---- SGD ---------------------------------------------------------------------------------------------

struct SgdOp {
  float* __restrict__ p;
  const float* __restrict__ g;
  float* __restrict__ buf;  // null when momentum == 0
  float neg_lr, wd, momentum, one_minus_dampening;
  bool has_wd, nesterov, maximize, init;

  template <class V>
  void at(int64_t i) const {
    V d = load<V>(g + i);
    const V pv = load<V>(p + i);
    if (maximize) d = neg(d);
    if (has_wd) d = fma(pv, splat<V>(wd), d);  // d_p.add(param, alpha=wd)
    if (buf) {
      V b;
      if (init) b = d;  // torch.clone(d_p)
      else b = fma(d, splat<V>(one_minus_dampening), mul(load<V>(buf + i), splat<V>(momentum)));
      store<V>(buf + i, b);
      d = nesterov ? fma(b, splat<V>(momentum), d) : b;
    }
    store<V>(p + i, fma(d, splat<V>(neg_lr), pv));  // param.add_(d_p, alpha=-lr)
  }
};

// ---- Adam / AdamW ------------------------------------------------------------------------------------

struct AdamOp {
  float* __restrict__ p;
  const float* __restrict__ g;
  float* __restrict__ m;
  float* __restrict__ v;
  float* __restrict__ vmax;  // null unless amsgrad
  float wd, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, neg_step_size, bc2_sqrt;
  bool has_wd, adamw, maximize;

  template <class V>
  void at(int64_t i) const {
    V gv = load<V>(g + i);
    V pv = load<V>(p + i);
    if (maximize) gv = neg(gv);
    if (adamw) pv = rounded(mul(pv, splat<V>(decay)));  // param.mul_(1 - lr * wd)
    else if (has_wd) gv = fma(pv, splat<V>(wd), gv);        // grad.add(param, alpha=wd)
    const V mv = fma(gv, splat<V>(one_minus_beta1), mul(load<V>(m + i), splat<V>(beta1)));
    const V vv = fma(mul(splat<V>(one_minus_beta2), gv), gv, mul(load<V>(v + i), splat<V>(beta2)));
    store<V>(m + i, mv);
    store<V>(v + i, vv);
    V d = vv;
    if (vmax) {
      d = maximum(load<V>(vmax + i), vv);
      store<V>(vmax + i, d);
    }
    d = add(div(sqrt(d), splat<V>(bc2_sqrt)), splat<V>(eps));
    store<V>(p + i, add(pv, div(mul(splat<V>(neg_step_size), mv), d)));  // addcdiv_(exp_avg, denom, -step_size)
  }
};

// ---- RMSprop -----------------------------------------------------------------------------------------

struct RmspropOp {
  float* __restrict__ p;
  const float* __restrict__ g;
  float* __restrict__ sq;
  float* __restrict__ buf;  // null unless momentum > 0
  float* __restrict__ ga;   // null unless centered
  float neg_lr, wd, alpha, one_minus_alpha, eps, momentum;
  bool has_wd, maximize;

  template <class V>
  void at(int64_t i) const {
    V gv = load<V>(g + i);
    const V pv = load<V>(p + i);
    if (maximize) gv = neg(gv);
    if (has_wd) gv = fma(pv, splat<V>(wd), gv);
    const V s = fma(mul(splat<V>(one_minus_alpha), gv), gv, mul(load<V>(sq + i), splat<V>(alpha)));
    store<V>(sq + i, s);
    V avg;
    if (ga) {
      const V a = fma(gv, splat<V>(one_minus_alpha), mul(load<V>(ga + i), splat<V>(alpha)));
      store<V>(ga + i, a);
      avg = sqrt(fma(neg(a), a, s));  // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
    } else {
      avg = sqrt(s);
    }
    avg = add(avg, splat<V>(eps));
    if (buf) {
      const V b = add(rounded(mul(load<V>(buf + i), splat<V>(momentum))), div(gv, avg));  // mul_(m).addcdiv_(g, avg)
      store<V>(buf + i, b);
      store<V>(p + i, fma(b, splat<V>(neg_lr), pv));
    } else {
      store<V>(p + i, add(pv, div(mul(splat<V>(neg_lr), gv), avg)));
    }
  }
};

}  // namespace

void sgd_step_cpu(const OptimTensor* tensors, int64_t count, const SgdParams& hp) {
  const bool use_buf = hp.momentum != 0.0;
  for_group("sgd_step", tensors, count, [&](const OptimTensor& t) {
    return SgdOp{t.param, t.grad, use_buf ? t.state[0] : nullptr,
                 static_cast<float>(-hp.lr), static_cast<float>(hp.weight_decay), static_cast<float>(hp.momentum),
                 static_cast<float>(1.0 - hp.dampening), hp.weight_decay != 0.0, hp.nesterov, hp.maximize, t.flag != 0};
  });
}

void adam_step_cpu(const OptimTensor* tensors, int64_t count, const AdamParams& hp) {
  for_group("adam_step", tensors, count, [&](const OptimTensor& t) {
    return AdamOp{t.param, t.grad, t.state[0], t.state[1], hp.amsgrad ? t.state[2] : nullptr,
                  static_cast<float>(hp.weight_decay), static_cast<float>(1.0 - hp.lr * hp.weight_decay),
                  static_cast<float>(hp.beta1), static_cast<float>(1.0 - hp.beta1), static_cast<float>(hp.beta2),
                  static_cast<float>(1.0 - hp.beta2), static_cast<float>(hp.eps), t.coef[0], t.coef[1],
                  hp.weight_decay != 0.0, hp.adamw, hp.maximize};
  });
}

void rmsprop_step_cpu(const OptimTensor* tensors, int64_t count, const RmspropParams& hp) {
  const bool use_buf = hp.momentum > 0.0;
  for_group("rmsprop_step", tensors, count, [&](const OptimTensor& t) {
    return RmspropOp{t.param, t.grad, t.state[0], use_buf ? t.state[1] : nullptr, hp.centered ? t.state[2] : nullptr,
                     static_cast<float>(-hp.lr), static_cast<float>(hp.weight_decay), static_cast<float>(hp.alpha),
                     static_cast<float>(1.0 - hp.alpha), static_cast<float>(hp.eps), static_cast<float>(hp.momentum),
                     hp.weight_decay != 0.0, hp.maximize};
  });
}

}  // namespace ck
