// The AVX2 + FMA loops of training-mode batch norm and batch norm + ReLU (batchnorm.cc, batchnorm_kernels.h;
// compiled with -mavx2 -mfma, cpu/isa.h; they also serve the AVX-512 path, the loops being bound by memory).
// One channel per call: sums in 8-float accumulators carried across its rows and flushed to double every
// kBnBlock values; the ReLU mask a compare, no branches; each row's tail by masked loads and stores.
#include <immintrin.h>

#include <cstdint>

#include "cpu/batchnorm_kernels.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "batchnorm_avx2.cc must be compiled with -mavx2 -mfma (CMakeLists.txt / binding.gyp)"
#endif

namespace ck {
namespace avx2 {
namespace {

#include "cpu/lanes_avx2.inc"

// A product the compiler may not fuse into the next add (GCC contracts mul + add into an FMA under -mfma): the
// forward's v = (x - m) * k + sh and the backward's recomputed mask must round alike.
inline __m256 mul_exact(__m256 a, __m256 b) {
  __m256 p = _mm256_mul_ps(a, b);
  __asm__("" : "+x"(p));
  return p;
}
inline __m256 affine(__m256 x, __m256 m, __m256 k, __m256 sh) { return _mm256_add_ps(mul_exact(_mm256_sub_ps(x, m), k), sh); }

// One channel's rows: body(i, j, slot, true, all ones) for every 8 floats, the slot alternating 0, 1 so that
// two accumulator chains hide the add latency, and body(i, j, 0, false, mask) for each row's tail; then flush()
// whenever kBnBlock or more values went in since the last one, and at the end.
template <class Body, class Flush>
inline __attribute__((always_inline)) void channel(int64_t N, int64_t L, Body body, Flush flush) {
  const int64_t full = L & ~int64_t(7), pairs = L & ~int64_t(15);
  const __m256i ones = _mm256_set1_epi32(-1), tail = lanes_below(L - full);
  int64_t since = 0;
  for (int64_t i = 0; i < N; ++i) {
    int64_t j = 0;
    for (; j < pairs; j += 16) {
      body(i, j, 0, true, ones);
      body(i, j + 8, 1, true, ones);
      if ((since += 16) >= kBnBlock) {
        flush();
        since = 0;
      }
    }
    if (j < full) {
      body(i, j, 0, true, ones);
      since += 8;
    }
    if (full < L) {
      body(i, full, 1, false, tail);
      since += L - full;
    }
  }
  flush();
}
inline __m256 load(const float* p, __m256i mk) { return _mm256_maskload_ps(p, mk); }

double sum(const float* x, int64_t N, int64_t L, int64_t stride) {
  double s = 0.0;
  __m256 a[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  channel(N, L, [&](int64_t i, int64_t j, int slot, bool full, __m256i mk) {
    const float* p = x + i * stride + j;
    a[slot] = _mm256_add_ps(a[slot], full ? _mm256_loadu_ps(p) : load(p, mk));
  }, [&] {
    s += hsum(_mm256_add_ps(a[0], a[1]));
    a[0] = a[1] = _mm256_setzero_ps();
  });
  return s;
}

double sqdev(const float* x, int64_t N, int64_t L, int64_t stride, float mean) {
  const __m256 m = _mm256_set1_ps(mean);
  double s = 0.0;
  __m256 a[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  channel(N, L, [&](int64_t i, int64_t j, int slot, bool full, __m256i mk) {
    const float* p = x + i * stride + j;
    __m256 d = _mm256_sub_ps(full ? _mm256_loadu_ps(p) : load(p, mk), m);
    if (!full) d = _mm256_and_ps(d, _mm256_castsi256_ps(mk));
    a[slot] = _mm256_fmadd_ps(d, d, a[slot]);
  }, [&] {
    s += hsum(_mm256_add_ps(a[0], a[1]));
    a[0] = a[1] = _mm256_setzero_ps();
  });
  return s;
}

// The loops below take relu as an argument and are always inlined into the two entry points' branches, so each
// branch compiles to its own loop without the test (templates would work too, but a template function's
// demangled name starts with its return type, which test/unit/isa.test.ts's namespace check does not accept).
#define CK_INLINE inline __attribute__((always_inline))

CK_INLINE __m256 norm(__m256 x, __m256 vm, __m256 vk, __m256 vs, bool relu) {
  const __m256 v = affine(x, vm, vk, vs);
  return relu ? _mm256_max_ps(v, _mm256_setzero_ps()) : v;
}
CK_INLINE void normalize_t(const float* x, int64_t N, int64_t L, int64_t stride, float m, float k, float sh, bool relu,
                           float* y) {
  const __m256 vm = _mm256_set1_ps(m), vk = _mm256_set1_ps(k), vs = _mm256_set1_ps(sh);
  const int64_t full = L & ~int64_t(7);
  const __m256i tail = lanes_below(L - full);
  for (int64_t i = 0; i < N; ++i) {
    const float* xr = x + i * stride;
    float* yr = y + i * stride;
    for (int64_t j = 0; j < full; j += 8) _mm256_storeu_ps(yr + j, norm(_mm256_loadu_ps(xr + j), vm, vk, vs, relu));
    if (full < L) _mm256_maskstore_ps(yr + full, tail, norm(load(xr + full, tail), vm, vk, vs, relu));
  }
}
void normalize(const float* x, int64_t N, int64_t L, int64_t stride, float m, float k, float sh, bool relu, float* y) {
  if (relu) normalize_t(x, N, L, stride, m, k, sh, true, y);
  else normalize_t(x, N, L, stride, m, k, sh, false, y);
}

// g: dy, or with relu dy where the forward's v > 0 (masked-off tail lanes load dy = 0: g = 0 there).
CK_INLINE __m256 grad(__m256 dy, __m256 x, __m256 vm, __m256 vk, __m256 vs, bool relu) {
  if (!relu) return dy;
  return _mm256_and_ps(dy, _mm256_cmp_ps(affine(x, vm, vk, vs), _mm256_setzero_ps(), _CMP_GT_OQ));
}

CK_INLINE void dot_t(const float* dy, const float* x, int64_t N, int64_t L, int64_t stride, int64_t gstride, float m,
                     float k, float sh, bool relu, double* sg, double* sgx) {
  const __m256 vm = _mm256_set1_ps(m), vk = _mm256_set1_ps(k), vs = _mm256_set1_ps(sh);
  __m256 a[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, b[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  double s = 0.0, t = 0.0;
  channel(N, L, [&](int64_t i, int64_t j, int slot, bool full, __m256i mk) {
    const int64_t o = i * stride + j, og = i * gstride + j;
    const __m256 xv = full ? _mm256_loadu_ps(x + o) : load(x + o, mk);
    const __m256 g = grad(full ? _mm256_loadu_ps(dy + og) : load(dy + og, mk), xv, vm, vk, vs, relu);
    a[slot] = _mm256_add_ps(a[slot], g);
    b[slot] = _mm256_fmadd_ps(g, _mm256_sub_ps(xv, vm), b[slot]);
  }, [&] {
    s += hsum(_mm256_add_ps(a[0], a[1]));
    t += hsum(_mm256_add_ps(b[0], b[1]));
    a[0] = a[1] = b[0] = b[1] = _mm256_setzero_ps();
  });
  *sg = s;
  *sgx = t;
}
void dot(const float* dy, const float* x, int64_t N, int64_t L, int64_t stride, int64_t gstride, float m, float k,
         float sh, bool relu, double* sg, double* sgx) {
  if (relu) dot_t(dy, x, N, L, stride, gstride, m, k, sh, true, sg, sgx);
  else dot_t(dy, x, N, L, stride, gstride, m, k, sh, false, sg, sgx);
}

CK_INLINE void dx_t(const float* dy, const float* x, int64_t N, int64_t L, int64_t stride, int64_t gstride, float m,
                    float k, float sh, bool relu, float mg, float proj, float* dx) {
  const __m256 vm = _mm256_set1_ps(m), vk = _mm256_set1_ps(k), vs = _mm256_set1_ps(sh);
  const __m256 vmg = _mm256_set1_ps(mg), vp = _mm256_set1_ps(proj);
  // (g - mg - (x - m) * proj) * k
  auto f = [&](__m256 g, __m256 xv) { return _mm256_mul_ps(_mm256_fnmadd_ps(_mm256_sub_ps(xv, vm), vp, _mm256_sub_ps(g, vmg)), vk); };
  const int64_t full = L & ~int64_t(7);
  const __m256i tail = lanes_below(L - full);
  for (int64_t i = 0; i < N; ++i) {
    const float* xr = x + i * stride;
    const float* gr = dy + i * gstride;
    float* dr = dx + i * stride;
    for (int64_t j = 0; j < full; j += 8) {
      const __m256 xv = _mm256_loadu_ps(xr + j);
      _mm256_storeu_ps(dr + j, f(grad(_mm256_loadu_ps(gr + j), xv, vm, vk, vs, relu), xv));
    }
    if (full < L) {
      const __m256 xv = load(xr + full, tail);
      _mm256_maskstore_ps(dr + full, tail, f(grad(load(gr + full, tail), xv, vm, vk, vs, relu), xv));
    }
  }
}
void dx(const float* dy, const float* x, int64_t N, int64_t L, int64_t stride, int64_t gstride, float m, float k,
        float sh, bool relu, float mg, float proj, float* out) {
  if (relu) dx_t(dy, x, N, L, stride, gstride, m, k, sh, true, mg, proj, out);
  else dx_t(dy, x, N, L, stride, gstride, m, k, sh, false, mg, proj, out);
}

}  // namespace

extern const BnRowKernels kBnRowKernels = {sum, sqdev, normalize, dot, dx};

}  // namespace avx2
}  // namespace ck
