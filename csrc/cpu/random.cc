// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"): a counter-based
// generator, so any element of any draw can be computed independently, in any order, on any thread.
#include <cmath>
#include "../core/error.h"
#include "../core/kernels.h"
#include "threadpool.h"

namespace ck {
namespace {

struct U4 { uint32_t v[4]; };

inline U4 philox(uint64_t counter, uint64_t seed) {
  uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1; c3 = (uint32_t)p0; c0 = n0; c2 = n2;
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// 24 random bits -> [0, 1)
inline double unit(uint32_t x) { return (double)(x >> 8) * (1.0 / 16777216.0); }

}  // namespace

void random_cpu(RandomKind kind, DType dt, void* p, int64_t n, uint64_t seed, uint64_t offset, double a, double b) {
  if (kind == RandomKind::Int && !(b > a)) throw Error("ERR_ARG", "randint needs high > low", ErrorKind::Range);
  parallel_for(n, 1 << 14, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      U4 r = philox(offset + (uint64_t)i, seed);
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
