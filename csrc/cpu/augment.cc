// CPU reference for the batch augmentation (core/augment_kernels.h): random crop with padding, flip and
// normalisation of a (N, C, H, W) batch in one pass over the output.
//
// Work splits over the N*C output planes. Within a plane each output row is one source row (or fill);
// the row's in-bounds span is found once, so the inner loops are branch-free copies (forward or
// reversed) that the compiler vectorises, with the normalisation folded in.
#include <algorithm>
#include <cstdint>
#include "../core/augment_kernels.h"
#include "../core/error.h"
#include "threadpool.h"

namespace ck {

namespace {

inline float norm_value(float v, float mean, float stdv, bool normalize) { return normalize ? (v - mean) / stdv : v; }

}  // namespace

void batch_augment_cpu(const BatchAugmentParams& p, const float* x, const int32_t* params, const float* norm, float* y) {
  if (p.N < 0 || p.C < 0 || p.H < 0 || p.W < 0 || p.OH < 0 || p.OW < 0 || p.pad < 0)
    throw Error("ERR_ARG", "batch_augment: negative extent", ErrorKind::Range);
  const int64_t planes = p.N * p.C;
  const int64_t out_plane = p.OH * p.OW;
  if (planes == 0 || out_plane == 0) return;
  const bool normalize = norm != nullptr;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(out_plane, 1));
  parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      const int64_t n = q / p.C, c = q % p.C;
      const int64_t top = params[n * 3], left = params[n * 3 + 1];
      const bool flip = params[n * 3 + 2] != 0;
      const float mean = normalize ? norm[c] : 0.f, stdv = normalize ? norm[p.C + c] : 1.f;
      const float filled = norm_value(p.fill, mean, stdv, normalize);
      const float* src = x + q * p.H * p.W;
      float* dst = y + q * out_plane;
      // Output column ox reads source column sx = left - pad + (flip ? OW-1-ox : ox); the columns that
      // land inside [0, W) form one contiguous range [lo, hi) of ox.
      const int64_t base = left - p.pad;
      int64_t lo, hi;
      if (!flip) {
        lo = std::clamp<int64_t>(-base, 0, p.OW);
        hi = std::clamp<int64_t>(p.W - base, lo, p.OW);
      } else {  // sx = base + OW-1-ox in [0, W)  <=>  ox in (base + OW-1-W, base + OW-1]
        lo = std::clamp<int64_t>(base + p.OW - p.W, 0, p.OW);
        hi = std::clamp<int64_t>(base + p.OW, lo, p.OW);
      }
      for (int64_t oy = 0; oy < p.OH; ++oy) {
        float* row = dst + oy * p.OW;
        const int64_t sy = top - p.pad + oy;
        if (sy < 0 || sy >= p.H) {
          std::fill(row, row + p.OW, filled);
          continue;
        }
        const float* srow = src + sy * p.W;
        for (int64_t ox = 0; ox < lo; ++ox) row[ox] = filled;
        if (!flip) {
          for (int64_t ox = lo; ox < hi; ++ox) row[ox] = norm_value(srow[base + ox], mean, stdv, normalize);
        } else {
          const int64_t last = base + p.OW - 1;
          for (int64_t ox = lo; ox < hi; ++ox) row[ox] = norm_value(srow[last - ox], mean, stdv, normalize);
        }
        for (int64_t ox = hi; ox < p.OW; ++ox) row[ox] = filled;
      }
    }
  });
}

}  // namespace ck
