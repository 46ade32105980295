// CPU reference for 2-d pooling over contiguous NCHW planes, with PyTorch's (1.13) semantics. The caller
// computes OH/OW (ceil_mode included); every function here is parallel over the N*C planes, so the
// backward scatters never race.
//
// max:      window rows oh*sh - ph + i*dh (i < kh), clipped to the input (padding is -inf). The index is
//           the flat h*W + w within the plane; the first maximum wins on ties, and a NaN replaces the
//           running maximum (so the last NaN of a window wins), exactly as PyTorch's CPU and CUDA kernels.
//           An all -inf window reports its first in-bounds position. Backward adds dy at the index
//           (indices outside the plane, which only degenerate parameters produce, are ignored).
// avg:      hend = min(hstart + kh, H + ph); pool_size = (hend - hstart) * (wend - wstart) before the window
//           is clipped to [0, H) x [0, W); divisor = divisor_override, else pool_size when count_include_pad,
//           else the clipped area. An empty clipped window gives 0. Sums accumulate in float, as PyTorch's.
// adaptive: window of output i spans [floor(i*H/OH), ceil((i+1)*H/OH)); y = sum / kh / kw.
//
// The common 2x2 stride-2 max pool (no padding, no dilation, every window inside the input) runs per output row
// through the ISA table of pool_kernels.h (pool_avx2.cc on the AVX paths): one pass each way, the backward
// writing every input position of a window instead of zero-filling the plane and scattering into it. Global
// average pooling's plane sum goes through the table too.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>
#include "../core/error.h"
#include "../core/nn_kernels.h"
#include "isa.h"
#include "pool_kernels.h"
#include "threadpool.h"

namespace ck {

namespace {

constexpr int64_t kGrainWork = 1 << 14;

int64_t plane_grain(int64_t work_per_plane) {
  return work_per_plane >= kGrainWork ? 1 : kGrainWork / (work_per_plane + 1) + 1;
}

inline int64_t start_index(int64_t o, int64_t O, int64_t I) { return (o * I) / O; }
inline int64_t end_index(int64_t o, int64_t O, int64_t I) { return ((o + 1) * I + O - 1) / O; }

double sum_plane(const float* x, int64_t n) {
  // 16 double accumulators: four independent 4-wide chains, so the adds are not one latency-bound chain.
  double a[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) a[j] += static_cast<double>(x[i + j]);
  for (int j = 0; j < 4; ++j) a[j] = (a[j] + a[j + 4]) + (a[j + 8] + a[j + 12]);
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) a[j] += static_cast<double>(x[i + j]);
  double s = (a[0] + a[1]) + (a[2] + a[3]);
  for (; i < n; ++i) s += static_cast<double>(x[i]);
  return s;
}

// ---- the baseline rows of pool_kernels.h ----

void max2x2_row(const float* x0, const float* x1, int64_t OW, int32_t i0, int32_t W, float* y, int32_t* idx) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    const int32_t c = static_cast<int32_t>(2 * ow);
    const float taps[4] = {x0[c], x0[c + 1], x1[c], x1[c + 1]};
    const int32_t at[4] = {i0 + c, i0 + c + 1, i0 + W + c, i0 + W + c + 1};
    float m = taps[0];
    int32_t best = at[0];
    for (int t = 1; t < 4; ++t)
      if (taps[t] > m || taps[t] != taps[t]) {
        m = taps[t];
        best = at[t];
      }
    y[ow] = m;
    if (idx) idx[ow] = best;
  }
}

bool max2x2_back_row(const float* dy, const int32_t* idx, int64_t OW, int32_t i0, int32_t W, float* d0, float* d1) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    const int32_t c = static_cast<int32_t>(2 * ow), tap = idx[ow] - i0 - c;
    if (tap != 0 && tap != 1 && tap != W && tap != W + 1) return false;
    d0[c] = tap == 0 ? dy[ow] + 0.0f : 0.0f;
    d0[c + 1] = tap == 1 ? dy[ow] + 0.0f : 0.0f;
    d1[c] = tap == W ? dy[ow] + 0.0f : 0.0f;
    d1[c + 1] = tap == W + 1 ? dy[ow] + 0.0f : 0.0f;
  }
  return true;
}

void base_mean_planes(const float* x, int64_t planes, int64_t n, double h, double w, float* y) {
  for (int64_t p = 0; p < planes; ++p) y[p] = static_cast<float>(sum_plane(x + p * n, n) / h / w);
}

#include "pool_planes.inc"


// 2x2 windows, stride 2, no padding or dilation, every window inside the input: pool_kernels.h's rows apply.
bool is_max2x2(const Pool2dParams& p) {
  return p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.ph == 0 && p.pw == 0 && p.dh == 1 && p.dw == 1 &&
         2 * p.OH <= p.H && 2 * p.OW <= p.W;
}

// The scatter backward of one plane: zero-fill, then dx[index] += dy.
void max_scatter_plane(const float* dyp, const int32_t* ip, int64_t OHW, int64_t HW, float* dxp) {
  std::memset(dxp, 0, static_cast<size_t>(HW) * sizeof(float));
  for (int64_t o = 0; o < OHW; ++o) {
    const int64_t i = ip[o];
    if (i >= 0 && i < HW) dxp[i] += dyp[o];
  }
}

}  // namespace

const PoolKernels& pool_rows() {
  static const PoolKernels base = {max2x2_plane, max2x2_back_plane, base_mean_planes};
  static const PoolKernels& k = CK_AVX2_OR_BASE(base, avx2::kPoolKernels);
  return k;
}

// ---- max pool ---------------------------------------------------------------------------------------

void maxpool2d_forward_cpu(const Pool2dParams& p, const float* x, float* y, int32_t* indices) {
  check_pool2d(p, true, "maxpool2d_forward");
  const int64_t H = p.H, W = p.W, OH = p.OH, OW = p.OW;
  const int64_t planes = p.N * p.C;
  if (planes == 0 || OH * OW == 0) return;
  if (is_max2x2(p)) {
    const PoolKernels& k = pool_rows();
    parallel_for(planes, plane_grain(4 * OH * OW), [&](int64_t pb, int64_t pe) {
      for (int64_t pl = pb; pl < pe; ++pl)
        k.max2x2(x + pl * H * W, W, OH, OW, y + pl * OH * OW, indices ? indices + pl * OH * OW : nullptr);
    });
    return;
  }
  // Interior columns [lo, hi): every tap of the window lies inside the row. They run tap-major with
  // branch-free selects over a whole output row (vectorisable); the few border columns take the
  // per-output loop. Both visit a window's taps in the same (h, w) order, so ties and NaN resolve alike.
  const int64_t ekw = (p.kw - 1) * p.dw;
  const int64_t lo = std::min((p.pw + p.sw - 1) / p.sw, OW);
  const int64_t num = W + p.pw - ekw;
  const int64_t hi = std::max(lo, std::min(num > 0 ? (num + p.sw - 1) / p.sw : 0, OW));
  parallel_for(planes, plane_grain(OH * OW * p.kh * p.kw), [&](int64_t pb, int64_t pe) {
    for (int64_t pl = pb; pl < pe; ++pl) {
      const float* xp = x + pl * H * W;
      for (int64_t oh = 0; oh < OH; ++oh) {
        int64_t h0 = oh * p.sh - p.ph;
        const int64_t h1 = std::min(h0 + (p.kh - 1) * p.dh + 1, H);
        while (h0 < 0) h0 += p.dh;
        float* __restrict__ yr = y + (pl * OH + oh) * OW;
        int32_t* __restrict__ ir = indices ? indices + (pl * OH + oh) * OW : nullptr;
        auto border = [&](int64_t ow) {
          int64_t w0 = ow * p.sw - p.pw;
          const int64_t w1 = std::min(w0 + ekw + 1, W);
          while (w0 < 0) w0 += p.dw;
          int64_t best = h0 * W + w0;
          float m = -std::numeric_limits<float>::infinity();
          for (int64_t h = h0; h < h1; h += p.dh) {
            const float* row = xp + h * W;
            for (int64_t w = w0; w < w1; w += p.dw) {
              const float v = row[w];
              if (v > m || v != v) {
                m = v;
                best = h * W + w;
              }
            }
          }
          yr[ow] = m;
          if (ir) ir[ow] = static_cast<int32_t>(best);
        };
        for (int64_t ow = 0; ow < lo; ++ow) border(ow);
        for (int64_t ow = hi; ow < OW; ++ow) border(ow);
        if (lo >= hi) continue;
        const int64_t sw = p.sw;
        for (int64_t ow = lo; ow < hi; ++ow) yr[ow] = -std::numeric_limits<float>::infinity();
        if (ir)
          for (int64_t ow = lo; ow < hi; ++ow) ir[ow] = static_cast<int32_t>(h0 * W + ow * sw - p.pw);
        for (int64_t h = h0; h < h1; h += p.dh) {
          const float* __restrict__ row = xp + h * W;
          for (int64_t j = 0; j < p.kw; ++j) {
            const int64_t off = j * p.dw - p.pw;  // column of output ow's tap: ow * sw + off
            if (ir) {
              const int32_t base = static_cast<int32_t>(h * W + off);
              for (int64_t ow = lo; ow < hi; ++ow) {
                const float v = row[ow * sw + off];
                const bool take = v > yr[ow] || v != v;
                yr[ow] = take ? v : yr[ow];
                ir[ow] = take ? base + static_cast<int32_t>(ow * sw) : ir[ow];
              }
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) {
                const float v = row[ow * sw + off];
                yr[ow] = (v > yr[ow] || v != v) ? v : yr[ow];
              }
            }
          }
        }
      }
    }
  });
}

void maxpool2d_backward_cpu(const Pool2dParams& p, const float* dy, const int32_t* indices, float* dx) {
  check_pool2d(p, true, "maxpool2d_backward");
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const int64_t planes = p.N * p.C;
  if (planes == 0 || HW == 0) return;
  const bool fast = is_max2x2(p);
  const PoolKernels& k = pool_rows();
  const int64_t H = p.H, W = p.W, OH = p.OH, OW = p.OW;
  parallel_for(planes, plane_grain(HW + OHW), [&](int64_t pb, int64_t pe) {
    for (int64_t pl = pb; pl < pe; ++pl) {
      float* dxp = dx + pl * HW;
      const float* dyp = dy + pl * OHW;
      const int32_t* ip = indices + pl * OHW;
      if (fast && k.max2x2_back(dyp, ip, W, OH, OW, dxp)) {
        if (2 * OH < H) std::memset(dxp + 2 * OH * W, 0, static_cast<size_t>((H - 2 * OH) * W) * sizeof(float));
        continue;
      }
      max_scatter_plane(dyp, ip, OHW, HW, dxp);  // not 2x2, or an index outside its window
    }
  });
}

// ---- average pool -----------------------------------------------------------------------------------

// Average pooling is separable: the window of (oh, ow) is the rectangle rows(oh) x cols(ow), clipped. Per
// output row, the window rows are first summed column-wise (a vectorised pass over W), then each output
// adds its columns of that row sum. The backward mirrors it: the dy/divisor of an output row spread over
// one row buffer, which is then added to each window row.
namespace {
struct AvgAxis {  // one axis of every window: clipped [lo, hi) and the padded extent (pool size factor)
  std::vector<int64_t> lo, hi, padded;
};
AvgAxis avg_axis(int64_t O, int64_t I, int64_t k, int64_t s, int64_t pad) {
  AvgAxis a;
  a.lo.resize(O);
  a.hi.resize(O);
  a.padded.resize(O);
  for (int64_t o = 0; o < O; ++o) {
    const int64_t start = o * s - pad, end = std::min(start + k, I + pad);
    a.padded[o] = end - start;
    a.lo[o] = std::max<int64_t>(start, 0);
    a.hi[o] = std::min(end, I);
  }
  return a;
}
inline int64_t avg_divisor(const Pool2dParams& p, const AvgAxis& ah, const AvgAxis& aw, int64_t oh, int64_t ow) {
  if (p.divisor_override) return p.divisor_override;
  if (p.count_include_pad) return ah.padded[oh] * aw.padded[ow];
  return (ah.hi[oh] - ah.lo[oh]) * (aw.hi[ow] - aw.lo[ow]);
}

// The average pools' frame: body(plane, ah, aw, buffer of W floats) for each of the N*C planes, in parallel
// (nothing when `empty`).
template <class Body>
void avg_pool_planes(const Pool2dParams& p, const char* op, bool empty, Body&& body) {
  check_pool2d(p, false, op);
  const int64_t planes = p.N * p.C;
  if (planes == 0 || empty) return;
  const AvgAxis ah = avg_axis(p.OH, p.H, p.kh, p.sh, p.ph), aw = avg_axis(p.OW, p.W, p.kw, p.sw, p.pw);
  parallel_for(planes, plane_grain(p.H * p.W + p.OH * p.OW * p.kw), [&](int64_t pb, int64_t pe) {
    std::vector<float> buf(static_cast<size_t>(p.W));
    for (int64_t pl = pb; pl < pe; ++pl) body(pl, ah, aw, buf.data());
  });
}
}  // namespace

void avgpool2d_forward_cpu(const Pool2dParams& p, const float* x, float* y) {
  const int64_t H = p.H, W = p.W, OH = p.OH, OW = p.OW;
  avg_pool_planes(p, "avgpool2d_forward", OH * OW == 0,
                  [&](int64_t pl, const AvgAxis& ah, const AvgAxis& aw, float* __restrict__ col) {
    const float* xp = x + pl * H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      float* yr = y + (pl * OH + oh) * OW;
      const int64_t h0 = ah.lo[oh], h1 = ah.hi[oh];
      if (h0 >= h1) {
        for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = 0.0f;
        continue;
      }
      const float* __restrict__ r0 = xp + h0 * W;
      for (int64_t w = 0; w < W; ++w) col[w] = r0[w];
      for (int64_t h = h0 + 1; h < h1; ++h) {
        const float* __restrict__ r = xp + h * W;
        for (int64_t w = 0; w < W; ++w) col[w] += r[w];
      }
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = aw.lo[ow], w1 = aw.hi[ow];
        if (w0 >= w1) {
          yr[ow] = 0.0f;
          continue;
        }
        float sum = 0.0f;
        for (int64_t w = w0; w < w1; ++w) sum += col[w];
        yr[ow] = sum / static_cast<float>(avg_divisor(p, ah, aw, oh, ow));
      }
    }
  });
}

void avgpool2d_backward_cpu(const Pool2dParams& p, const float* dy, float* dx) {
  const int64_t H = p.H, W = p.W, OH = p.OH, OW = p.OW;
  avg_pool_planes(p, "avgpool2d_backward", H * W == 0,
                  [&](int64_t pl, const AvgAxis& ah, const AvgAxis& aw, float* __restrict__ rg) {
    float* dxp = dx + pl * H * W;
    const float* dyr = dy + pl * OH * OW;
    std::memset(dxp, 0, static_cast<size_t>(H * W) * sizeof(float));
    for (int64_t oh = 0; oh < OH; ++oh, dyr += OW) {
      const int64_t h0 = ah.lo[oh], h1 = ah.hi[oh];
      if (h0 >= h1) continue;
      for (int64_t w = 0; w < W; ++w) rg[w] = 0.0f;
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = aw.lo[ow], w1 = aw.hi[ow];
        if (w0 >= w1) continue;
        const float g = dyr[ow] / static_cast<float>(avg_divisor(p, ah, aw, oh, ow));
        for (int64_t w = w0; w < w1; ++w) rg[w] += g;
      }
      for (int64_t h = h0; h < h1; ++h) {
        float* __restrict__ r = dxp + h * W;
        for (int64_t w = 0; w < W; ++w) r[w] += rg[w];
      }
    }
  });
}

// ---- adaptive average pool --------------------------------------------------------------------------

void adaptive_avgpool2d_forward_cpu(const AdaptivePool2dParams& p, const float* x, float* y) {
  check_adaptive_pool2d(p, "adaptive_avgpool2d_forward");
  const int64_t N = p.N, C = p.C, H = p.H, W = p.W, OH = p.OH, OW = p.OW;
  const int64_t planes = N * C;
  if (planes == 0 || OH * OW == 0) return;
  if (OH == 1 && OW == 1) {  // global pooling: one vectorised sum per plane
    const int64_t HW = H * W;
    const PoolKernels& k = pool_rows();
    parallel_for(planes, plane_grain(HW), [&](int64_t pb, int64_t pe) {
      k.mean_planes(x + pb * HW, pe - pb, HW, static_cast<double>(H), static_cast<double>(W), y + pb);
    });
    return;
  }
  parallel_for(planes, plane_grain(H * W + OH * OW), [&](int64_t pb, int64_t pe) {
    for (int64_t pl = pb; pl < pe; ++pl) {
      const float* xp = x + pl * H * W;
      float* yp = y + pl * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = start_index(oh, OH, H), h1 = end_index(oh, OH, H);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = start_index(ow, OW, W), w1 = end_index(ow, OW, W);
          double s = 0.0;
          for (int64_t h = h0; h < h1; ++h) {
            const float* row = xp + h * W;
            for (int64_t w = w0; w < w1; ++w) s += static_cast<double>(row[w]);
          }
          yp[oh * OW + ow] = static_cast<float>(s / static_cast<double>(h1 - h0) / static_cast<double>(w1 - w0));
        }
      }
    }
  });
}

void adaptive_avgpool2d_backward_cpu(const AdaptivePool2dParams& p, const float* dy, float* dx) {
  check_adaptive_pool2d(p, "adaptive_avgpool2d_backward");
  const int64_t N = p.N, C = p.C, H = p.H, W = p.W, OH = p.OH, OW = p.OW;
  const int64_t planes = N * C;
  if (planes == 0 || H * W == 0) return;
  if (OH == 1 && OW == 1) {  // global pooling: a broadcast per plane
    const int64_t HW = H * W;
    parallel_for(planes, plane_grain(HW), [&](int64_t pb, int64_t pe) {
      for (int64_t pl = pb; pl < pe; ++pl) {
        const float g = dy[pl] / static_cast<float>(H) / static_cast<float>(W);
        float* dxp = dx + pl * HW;
        for (int64_t i = 0; i < HW; ++i) dxp[i] = g;
      }
    });
    return;
  }
  parallel_for(planes, plane_grain(H * W + OH * OW), [&](int64_t pb, int64_t pe) {
    for (int64_t pl = pb; pl < pe; ++pl) {
      float* dxp = dx + pl * H * W;
      const float* dyp = dy + pl * OH * OW;
      std::memset(dxp, 0, static_cast<size_t>(H * W) * sizeof(float));
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = start_index(oh, OH, H), h1 = end_index(oh, OH, H);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = start_index(ow, OW, W), w1 = end_index(ow, OW, W);
          const float g = dyp[oh * OW + ow] / static_cast<float>(h1 - h0) / static_cast<float>(w1 - w0);
          for (int64_t h = h0; h < h1; ++h) {
            float* row = dxp + h * W;
            for (int64_t w = w0; w < w1; ++w) row[w] += g;
          }
        }
      }
    }
  });
}

}  // namespace ck
