// Walking strided layouts on the CPU: dimension coalescing and a chunked multi-index walk, so the
// elementwise kernels read any view (transposed, sliced, broadcast with stride 0) without a copy.
#pragma once
#include <cstdint>
#include "../core/types.h"

namespace ck {
namespace cpu {

// Merges dimension k into k+1 wherever every layout is row-contiguous across the pair, and drops
// size-1 dims. All layouts must share one shape. Returns the new ndim (>= 1).
template <int NL>
inline int coalesce(int ndim, int64_t* shape, int64_t (*strides)[kMaxDims]) {
  int64_t sh[kMaxDims]; int64_t st[NL][kMaxDims]; int n = 0;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (n > 0) {
      bool merge = true;
      for (int l = 0; l < NL; ++l) if (st[l][n - 1] != strides[l][d] * shape[d]) { merge = false; break; }
      if (merge) {
        sh[n - 1] *= shape[d];
        for (int l = 0; l < NL; ++l) st[l][n - 1] = strides[l][d];
        continue;
      }
    }
    sh[n] = shape[d];
    for (int l = 0; l < NL; ++l) st[l][n] = strides[l][d];
    ++n;
  }
  if (n == 0) { sh[0] = 1; for (int l = 0; l < NL; ++l) st[l][0] = 0; n = 1; }
  for (int d = 0; d < n; ++d) { shape[d] = sh[d]; for (int l = 0; l < NL; ++l) strides[l][d] = st[l][d]; }
  return n;
}

inline int64_t numel(const Layout& l) {
  int64_t n = 1;
  for (int d = 0; d < l.ndim; ++d) n *= l.shape[d];
  return n;
}

inline bool is_contiguous(const Layout& l) {
  int64_t expect = 1;
  for (int d = l.ndim - 1; d >= 0; --d) {
    if (l.shape[d] != 1 && l.strides[d] != expect) return false;
    expect *= l.shape[d];
  }
  return true;
}

// Visits the flat elements [begin, end) of `ndim` coalesced dims in row-major order, for NL layouts at
// once: calls fn(i, o, run) once per stretch of the innermost dimension, where elements i .. i+run-1 sit
// at o[l] + r * strides[l][ndim - 1] in layout l. A kernel then picks a vectorisable loop for the inner
// strides (1 = contiguous, 0 = broadcast) instead of paying a call per element.
template <int NL, class Fn>
inline void walk_rows(int ndim, const int64_t* shape, const int64_t (*strides)[kMaxDims], const int64_t* base,
                      int64_t begin, int64_t end, Fn&& fn) {
  if (begin >= end) return;
  int64_t idx[kMaxDims];
  int64_t off[NL];
  int64_t rem = begin;
  for (int d = ndim - 1; d >= 0; --d) { idx[d] = rem % shape[d]; rem /= shape[d]; }
  for (int l = 0; l < NL; ++l) {
    off[l] = base[l];
    for (int d = 0; d < ndim; ++d) off[l] += idx[d] * strides[l][d];
  }
  const int last = ndim - 1;
  int64_t i = begin;
  while (i < end) {
    int64_t run = shape[last] - idx[last];
    if (run > end - i) run = end - i;
    fn(i, static_cast<const int64_t*>(off), run);
    i += run;
    if (i >= end) break;
    for (int l = 0; l < NL; ++l) off[l] += (shape[last] - idx[last]) * strides[l][last];
    idx[last] = shape[last];
    for (int d = last; d > 0 && idx[d] == shape[d]; --d) {
      for (int l = 0; l < NL; ++l) off[l] -= shape[d] * strides[l][d] - strides[l][d - 1];
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

}  // namespace cpu
}  // namespace ck
