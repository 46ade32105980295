// Seeded draws from the counter-based Philox stream (core/philox.h): any element of any draw can be
// computed independently, in any order, on any thread, on any device.
#include <cmath>
#include "../core/error.h"
#include "../core/kernels.h"
#include "../core/philox.h"
#include "threadpool.h"

namespace ck {
namespace {
// 24 random bits -> [0, 1), the same mapping the CUDA dropout uses (philox_unit), in double
inline double unit(uint32_t x) { return (double)philox_unit(x); }
}  // namespace

void random_cpu(RandomKind kind, DType dt, void* p, int64_t n, uint64_t seed, uint64_t offset, double a, double b) {
  if (kind == RandomKind::Int && !(b > a)) throw Error("ERR_ARG", "randint needs high > low", ErrorKind::Range);
  parallel_for(n, 1 << 14, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      Philox4 r = philox(offset + (uint64_t)i, seed);
      double v;
      switch (kind) {
        case RandomKind::Uniform: v = a + (b - a) * unit(r.v[0]); break;
        case RandomKind::Normal: {
          // Box-Muller on two 32-bit draws; 1 - u keeps the log argument in (0, 1].
          double u1 = 1.0 - ((double)r.v[0] * (1.0 / 4294967296.0));
          double u2 = (double)r.v[1] * (1.0 / 4294967296.0);
          v = a + b * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
          break;
        }
        case RandomKind::Int: {
          uint64_t range = (uint64_t)(b - a);
          uint64_t x = ((uint64_t)r.v[0] << 32) | r.v[1];
          v = a + (double)(x % range);
          break;
        }
        case RandomKind::Bernoulli: v = unit(r.v[0]) < a ? 1.0 : 0.0; break;
        default: v = 0;
      }
      if (dt == DType::F32) ((float*)p)[i] = (float)v;
      else ((int32_t*)p)[i] = (int32_t)v;
    }
  });
}

}  // namespace ck
