// CPU reference for row reductions: x is (outer, inner) contiguous and each row reduces to one value.
// Any reduction over arbitrary dims is brought to this form by the caller (permute + contiguous).
// Sums accumulate in double, so the reference is at least as accurate as PyTorch's pairwise sums.
#include <cmath>
#include <limits>
#include "../core/error.h"
#include "../core/kernels.h"
#include "threadpool.h"

namespace ck {

namespace {
template <class T, class Out>
void reduce_rows(ReduceOp op, const T* x, Out* y, int64_t outer, int64_t inner, int64_t correction) {
  int64_t grain = inner >= 4096 ? 1 : (4096 / (inner + 1) + 1);
  parallel_for(outer, grain, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const T* row = x + r * inner;
      switch (op) {
        case ReduceOp::Sum: case ReduceOp::Mean: {
          double s = 0;
          for (int64_t i = 0; i < inner; ++i) s += (double)row[i];
          y[r] = (Out)(op == ReduceOp::Mean ? (inner ? s / (double)inner : NAN) : s);
          break;
        }
        case ReduceOp::Prod: {
          double p = 1;
          for (int64_t i = 0; i < inner; ++i) p *= (double)row[i];
          y[r] = (Out)p;
          break;
        }
        case ReduceOp::Max: case ReduceOp::Min: case ReduceOp::ArgMax: case ReduceOp::ArgMin: {
          bool want_max = op == ReduceOp::Max || op == ReduceOp::ArgMax;
          int64_t best = 0;
          for (int64_t i = 1; i < inner; ++i) {
            T v = row[i], b = row[best];
            if (b != b) break;  // NaN wins, first one kept
            if (v != v || (want_max ? v > b : v < b)) best = i;
          }
          if (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin) y[r] = (Out)best;
          else y[r] = (Out)row[best];
          break;
        }
        case ReduceOp::Var: {
          double mean = 0;
          for (int64_t i = 0; i < inner; ++i) mean += (double)row[i];
          mean /= (double)inner;
          double ss = 0;
          for (int64_t i = 0; i < inner; ++i) { double d = (double)row[i] - mean; ss += d * d; }
          // PyTorch clamps the divisor at zero, so one element with correction 1 gives NaN.
          double denom = inner - correction > 0 ? (double)(inner - correction) : 0.0;
          y[r] = (Out)(ss / denom);
          break;
        }
        default: throw Error("ERR_ARG", "unknown reduce op", ErrorKind::Range);
      }
    }
  });
}
}  // namespace

void reduce_cpu(ReduceOp op, DType dt, const void* x, void* y, int64_t outer, int64_t inner, int64_t correction) {
  if ((op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::ArgMax || op == ReduceOp::ArgMin) && inner == 0)
    throw Error("ERR_SHAPE", "max/min/argmax over an empty dimension", ErrorKind::Range);
  bool idx = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  if (dt == DType::F32) {
    if (idx) reduce_rows(op, (const float*)x, (int32_t*)y, outer, inner, correction);
    else reduce_rows(op, (const float*)x, (float*)y, outer, inner, correction);
  } else {
    if (op == ReduceOp::Mean || op == ReduceOp::Var)
      throw Error("ERR_DTYPE", "mean/var need a float32 tensor", ErrorKind::Type);
    reduce_rows(op, (const int32_t*)x, (int32_t*)y, outer, inner, correction);
  }
}

}  // namespace ck
