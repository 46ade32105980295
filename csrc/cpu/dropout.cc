// CPU reference for dropout: keep[i] = philox_unit(philox(offset + i, seed).v[0]) < 1 - p, the Bernoulli
// draw of random_cpu, so the mask of element i depends only on (seed, offset + i): the same on every thread
// count and bit-identical to cuda/dropout.cu, which computes keep probability and scale the same way
// (float 1 - p, float 1 / (1 - p)) and applies them with one float multiply.
// mask[i] = keep ? 1/(1-p) : 0 and y = x * mask, as PyTorch (so a NaN/inf x dropped gives NaN, as there);
// p == 1 keeps nothing (mask all 0, no division by zero), p == 0 keeps everything (mask all 1).
// mask may be null when only y is wanted.
#include <cstdint>
#include <string>
#include "../core/error.h"
#include "../core/nn_kernels.h"
#include "../core/philox.h"
#include "threadpool.h"

namespace ck {

void dropout_forward_cpu(int64_t n, const float* x, float p, uint64_t seed, uint64_t offset, float* y, float* mask) {
  CK_CHECK_ARG(n >= 0, "dropout: negative count");
  CK_CHECK_ARG(p >= 0.0f && p <= 1.0f, "dropout probability has to be between 0 and 1, but got " + std::to_string(p));
  const float q = 1.0f - p;
  const float scale = q > 0.0f ? 1.0f / q : 0.0f;
  parallel_for(n, 1 << 14, [x, y, mask, q, scale, seed, offset](int64_t s, int64_t e) {
    // by-value captures: locals the stores below cannot alias, so the loops vectorise
    if (mask) {
      for (int64_t i = s; i < e; ++i) {
        const float m = philox_unit(philox(offset + (uint64_t)i, seed).v[0]) < q ? scale : 0.0f;
        mask[i] = m;
        y[i] = x[i] * m;
      }
    } else {
      for (int64_t i = s; i < e; ++i)
        y[i] = x[i] * (philox_unit(philox(offset + (uint64_t)i, seed).v[0]) < q ? scale : 0.0f);
    }
  });
}

}  // namespace ck
