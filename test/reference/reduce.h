// Reference reductions of one row (a tensor viewed as (outer, inner) with the reduced dims innermost): sum,
// mean, prod, max / min (NaN wins), argmax / argmin (the first extreme; the first NaN wins), var with a
// correction (Bessel's: 1). Double precision; int32 rows are exact and wrap modulo 2^32 as the kernels.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/types.h"

namespace ck {
namespace ref {

inline double reduce_row(ReduceOp op, const std::vector<double>& r, int64_t correction, bool is_int) {
  const int64_t n = static_cast<int64_t>(r.size());
  switch (op) {
    case ReduceOp::Sum: case ReduceOp::Mean: {
      double s = 0;
      for (double v : r) s += v;
      if (is_int) return static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(s)));
      return op == ReduceOp::Mean ? s / n : s;
    }
    case ReduceOp::Prod: {
      double p = 1;
      uint32_t pi = 1;
      for (double v : r) {
        p *= v;
        pi *= static_cast<uint32_t>(static_cast<int32_t>(v));
      }
      return is_int ? static_cast<double>(static_cast<int32_t>(pi)) : p;
    }
    case ReduceOp::Max: case ReduceOp::Min: {
      double m = r[0];
      for (double v : r) {
        if (std::isnan(v)) return NAN;
        if (op == ReduceOp::Max ? v > m : v < m) m = v;
      }
      return m;
    }
    case ReduceOp::ArgMax: case ReduceOp::ArgMin: {
      int64_t best = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (std::isnan(r[i])) return static_cast<double>(i);
        if (op == ReduceOp::ArgMax ? r[i] > r[best] : r[i] < r[best]) best = i;
      }
      return static_cast<double>(best);
    }
    case ReduceOp::Var: {
      double s = 0;
      for (double v : r) s += v;
      const double mean = s / n;
      double q = 0;
      for (double v : r) q += (v - mean) * (v - mean);
      return q / static_cast<double>(std::max<int64_t>(0, n - correction));
    }
    default: return NAN;
  }
}

}  // namespace ref
}  // namespace ck
