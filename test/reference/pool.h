// Reference 2-D pooling over NCHW planes, as PyTorch: max pooling (padding, dilation, ceil_mode; the first
// maximum of a window wins, a NaN always wins; indices are h * W + w within the plane), average pooling
// (count_include_pad, divisor_override, ceil_mode windows clipped to the padded input) and adaptive average
// pooling (window [floor(o*H/OH), ceil((o+1)*H/OH))), each forward and backward. Double precision (max pooling
// picks values, so it is exact in float).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/nn_kernels.h"

namespace ck {
namespace ref {

// Output extent of a pooling window along one dimension (PyTorch's pooling_output_shape).
inline int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  const int64_t eff = d * (k - 1) + 1;
  int64_t out = (in + 2 * p - eff + (ceil_mode ? s - 1 : 0)) / s + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

struct MaxPool {
  std::vector<float> y;
  std::vector<int32_t> indices;
  std::vector<double> dx;
};

inline MaxPool maxpool2d(const Pool2dParams& p, const std::vector<float>& x, const std::vector<float>& dy) {
  const int64_t planes = p.N * p.C, HW = p.H * p.W, OHW = p.OH * p.OW;
  MaxPool r;
  r.y.assign(planes * OHW, 0.0f);
  r.indices.assign(planes * OHW, 0);
  r.dx.assign(planes * HW, 0.0);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        float m = -std::numeric_limits<float>::infinity();
        int64_t best = -1;
        for (int64_t i = 0; i < p.kh; ++i)
          for (int64_t j = 0; j < p.kw; ++j) {
            const int64_t h = oh * p.sh - p.ph + i * p.dh, w = ow * p.sw - p.pw + j * p.dw;
            if (h < 0 || h >= p.H || w < 0 || w >= p.W) continue;
            const float v = x[pl * HW + h * p.W + w];
            if (best < 0) best = h * p.W + w;  // the first tap inside the plane
            if (v > m || std::isnan(v)) {     // strict: first max wins; a NaN always takes over
              m = v;
              best = h * p.W + w;
            }
          }
        const int64_t o = pl * OHW + oh * p.OW + ow;
        r.y[o] = m;
        r.indices[o] = static_cast<int32_t>(best);
        r.dx[pl * HW + best] += dy[o];
      }
  return r;
}

struct AvgPool {
  std::vector<double> y, dx;
};

// PyTorch's AvgPool2d window of output (oh, ow): [h0, h1) x [w0, w1) inside the input, and its divisor.
inline void avgpool2d_window(const Pool2dParams& p, int64_t oh, int64_t ow, int64_t* h0, int64_t* h1, int64_t* w0,
                             int64_t* w1, double* div) {
  const int64_t hs = oh * p.sh - p.ph, ws = ow * p.sw - p.pw;
  const int64_t he = std::min(hs + p.kh, p.H + p.ph), we = std::min(ws + p.kw, p.W + p.pw);
  const double padded_area = static_cast<double>((he - hs) * (we - ws));
  *h0 = std::max<int64_t>(hs, 0);
  *w0 = std::max<int64_t>(ws, 0);
  *h1 = std::min(he, p.H);
  *w1 = std::min(we, p.W);
  const double area = static_cast<double>((*h1 - *h0) * (*w1 - *w0));
  *div = p.divisor_override ? static_cast<double>(p.divisor_override) : (p.count_include_pad ? padded_area : area);
}

inline AvgPool avgpool2d(const Pool2dParams& p, const std::vector<float>& x, const std::vector<float>& dy) {
  const int64_t planes = p.N * p.C, HW = p.H * p.W, OHW = p.OH * p.OW;
  AvgPool r;
  r.y.assign(planes * OHW, 0.0);
  r.dx.assign(planes * HW, 0.0);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        int64_t h0, h1, w0, w1;
        double div;
        avgpool2d_window(p, oh, ow, &h0, &h1, &w0, &w1, &div);
        const int64_t o = pl * OHW + oh * p.OW + ow;
        if (h0 >= h1 || w0 >= w1) continue;
        double s = 0.0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            s += x[pl * HW + h * p.W + w];
            r.dx[pl * HW + h * p.W + w] += dy[o] / div;
          }
        r.y[o] = s / div;
      }
  return r;
}

inline AvgPool adaptive_avgpool2d(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  const std::vector<float>& x, const std::vector<float>& dy) {
  const int64_t planes = N * C, HW = H * W, OHW = OH * OW;
  AvgPool r;
  r.y.assign(planes * OHW, 0.0);
  r.dx.assign(planes * HW, 0.0);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t h0 = static_cast<int64_t>(std::floor(static_cast<double>(oh) * H / OH));
        const int64_t h1 = static_cast<int64_t>(std::ceil(static_cast<double>(oh + 1) * H / OH));
        const int64_t w0 = static_cast<int64_t>(std::floor(static_cast<double>(ow) * W / OW));
        const int64_t w1 = static_cast<int64_t>(std::ceil(static_cast<double>(ow + 1) * W / OW));
        const double area = static_cast<double>((h1 - h0) * (w1 - w0));
        const int64_t o = pl * OHW + oh * OW + ow;
        double s = 0.0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            s += x[pl * HW + h * W + w];
            r.dx[pl * HW + h * W + w] += dy[o] / area;
          }
        r.y[o] = s / area;
      }
  return r;
}

}  // namespace ref
}  // namespace ck
