// Reference 2-D convolution (NCHW, weights (O, C/groups, KH, KW)): forward, backward data, backward weight
// and the bias gradient, with stride, padding, dilation and groups, as PyTorch's Conv2d. Double precision,
// one loop nest over every tap that lands inside the input.
#pragma once
#include <cstdint>
#include <vector>

#include "core/nn_kernels.h"

namespace ck {
namespace ref {

// Calls f(n, o, oh, ow, c, cl, kh, kw, ih, iw) for every tap inside the input (c the input channel, cl its
// index within the group).
template <class F>
void conv2d_for_each_tap(const Conv2dParams& p, F f) {
  const int64_t Cg = p.C / p.groups, Og = p.O / p.groups;
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t o = 0; o < p.O; ++o)
      for (int64_t oh = 0; oh < p.OH; ++oh)
        for (int64_t ow = 0; ow < p.OW; ++ow)
          for (int64_t cl = 0; cl < Cg; ++cl)
            for (int64_t kh = 0; kh < p.KH; ++kh)
              for (int64_t kw = 0; kw < p.KW; ++kw) {
                const int64_t ih = oh * p.sh - p.ph + kh * p.dh, iw = ow * p.sw - p.pw + kw * p.dw;
                if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                f(n, o, oh, ow, (o / Og) * Cg + cl, cl, kh, kw, ih, iw);
              }
}

struct Conv2d {
  std::vector<double> y, dx, dw, db;               // (N,O,OH,OW), (N,C,H,W), (O,C/g,KH,KW), (O)
  std::vector<int64_t> y_terms, dx_terms, dw_terms;  // products in each sum, for rounding-aware tolerances
};

// y = conv(x, w) + b (b may be null); dx, dw, db from the upstream gradient dy.
inline Conv2d conv2d(const Conv2dParams& p, const std::vector<float>& x, const std::vector<float>& w,
                     const std::vector<float>* b, const std::vector<float>& dy) {
  const int64_t Cg = p.C / p.groups;
  const int64_t P = p.OH * p.OW;
  Conv2d r;
  r.y.assign(p.N * p.O * P, 0.0), r.y_terms.assign(r.y.size(), 1);
  r.dx.assign(p.N * p.C * p.H * p.W, 0.0), r.dx_terms.assign(r.dx.size(), 1);
  r.dw.assign(p.O * Cg * p.KH * p.KW, 0.0), r.dw_terms.assign(r.dw.size(), 1);
  r.db.assign(p.O, 0.0);
  conv2d_for_each_tap(p, [&](int64_t n, int64_t o, int64_t oh, int64_t ow, int64_t c, int64_t cl, int64_t kh,
                             int64_t kw, int64_t ih, int64_t iw) {
    const int64_t yi = ((n * p.O + o) * p.OH + oh) * p.OW + ow;
    const int64_t xi = ((n * p.C + c) * p.H + ih) * p.W + iw;
    const int64_t wi = ((o * Cg + cl) * p.KH + kh) * p.KW + kw;
    r.y[yi] += double(x[xi]) * w[wi], ++r.y_terms[yi];
    r.dx[xi] += double(dy[yi]) * w[wi], ++r.dx_terms[xi];
    r.dw[wi] += double(dy[yi]) * x[xi], ++r.dw_terms[wi];
  });
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t o = 0; o < p.O; ++o)
      for (int64_t i = 0; i < P; ++i) {
        if (b) r.y[(n * p.O + o) * P + i] += (*b)[o];
        r.db[o] += dy[(n * p.O + o) * P + i];
      }
  return r;
}

}  // namespace ref
}  // namespace ck
