// 2-d pooling over NCHW planes: max pool (with indices), average pool, adaptive average pool, forward and
// backward. CUDA twins of the pooling functions of csrc/core/nn_kernels.h, with the semantics of
// csrc/cpu/pool.cc (PyTorch 1.13): the caller passes OH/OW (ceil_mode included); max-pool indices are the
// flat h*W + w within the plane, ties keep the first maximum, a NaN replaces the running maximum;
// avg-pool windows are clipped as PyTorch's AvgPool2d (pool size taken before clipping, divisor_override,
// count_include_pad); adaptive windows span [floor(i*H/OH), ceil((i+1)*H/OH)).
//
// Layout: contiguous NCHW; a "plane" is one (n, c) image of H*W floats. Window geometry runs in 32-bit
// integers (the launchers check that it fits); flat element indices are 32-bit when the tensor allows it,
// and then split into (plane, row, column) by multiply-high fast division (PyTorch's IntDivider).
//
// Algorithm:
//   maxpool2d_forward_kernel            one thread per output (grid-stride), coalesced stores; the window
//                                       reads hit L1/L2 because neighbouring outputs share input rows.
//   maxpool2d_backward_kernel           one thread per input, a gather: it visits the outputs whose
//                                       (dilated) window can contain it and adds dy where the saved index is
//                                       this input. No atomics, no memset of dx, deterministic, and it adds
//                                       in the same order as the CPU scatter, so the results are identical.
//   avgpool2d_forward_kernel            one thread per output.
//   avgpool2d_backward_kernel           one thread per input, gathering dy/divisor over the covering outputs.
//   adaptive_avgpool2d_forward_windowed  one thread per output.
//   adaptive_avgpool2d_backward_windowed one thread per input, gathering over the outputs that cover it:
//                                       oh in [floor(h*OH/H), ceil((h+1)*OH/H)) (no atomics).
// Global pooling (OH = OW = 1: ResNet's head; also AvgPool2d whose unpadded window covers the plane):
//   adaptive_avgpool2d_forward_global_warp  one warp per plane: lanes stride the plane (float4 loads when the plane
//                                       is a multiple of 4 floats), __shfl_xor_sync tree, lane 0 writes.
//   adaptive_avgpool2d_forward_global_block  one 256-thread block per plane when planes are few and large.
//   adaptive_avgpool2d_backward_global dx = dy[plane] / divisor, a broadcast (float4 stores when possible).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "runtime.cuh"
#include "common.cuh"
#include "divider.cuh"
#include "core/error.h"
#include "core/nn_kernels_cuda.h"

namespace ck {
namespace cuda {
namespace {

constexpr int64_t kMaxGrid = int64_t(1) << 20;  // one-block-per-plane grids
constexpr float kInf = __builtin_huge_valf();
constexpr int64_t kI32Max = INT32_MAX;

// Pooling geometry in 32-bit integers, passed by value.
struct Geom {
  int32_t H, W, OH, OW;
  int32_t kh, kw, sh, sw, ph, pw, dh, dw;
  int32_t count_include_pad, divisor_override;
};

// Divider<I>: division by a run-time constant (cuda/divider.cuh).

// Grid-stride loop over the elements i < total of a (planes, rows, cols) tensor: body(i, plane, row, col),
// the position from two fast divisions (d_inner divides by cols, d_outer by rows).
template <typename I, class Body>
__device__ __forceinline__ void for_each_pixel(I total, const Divider<I>& d_inner, const Divider<I>& d_outer,
                                               Body body) {
  const I stride = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); i < total;
       i += stride) {
    const I t = d_inner.div(i), plane = d_outer.div(t);
    body(i, plane, static_cast<int>(t - plane * d_outer.d), static_cast<int>(i - t * d_inner.d));
  }
}

// ---- kernels ----------------------------------------------------------------------------------------

template <typename I>
__global__ void maxpool2d_forward_kernel(const float* __restrict__ x,  // (N, C, H, W)
                                         float* __restrict__ y,        // (N, C, OH, OW)
                                         int32_t* __restrict__ ind,    // (N, C, OH, OW) | null
                                         Geom g, Divider<I> d_inner, Divider<I> d_outer, I total) {
  for_each_pixel(total, d_inner, d_outer, [&](I i, I plane, int oh, int ow) {
    const float* xp = x + plane * static_cast<I>(g.H) * static_cast<I>(g.W);
    int h0 = oh * g.sh - g.ph;
    const int h1 = min(h0 + (g.kh - 1) * g.dh + 1, g.H);
    if (h0 < 0) h0 += (-h0 + g.dh - 1) / g.dh * g.dh;  // first non-negative tap
    int w0 = ow * g.sw - g.pw;
    const int w1 = min(w0 + (g.kw - 1) * g.dw + 1, g.W);
    if (w0 < 0) w0 += (-w0 + g.dw - 1) / g.dw * g.dw;
    int best = h0 * g.W + w0;
    float m = -kInf;
    for (int h = h0; h < h1; h += g.dh) {
      const float* row = xp + h * g.W;
      for (int w = w0; w < w1; w += g.dw) {
        const float v = row[w];
        if (v > m || v != v) {
          m = v;
          best = h * g.W + w;
        }
      }
    }
    y[i] = m;
    if (ind) ind[i] = best;
  });
}

template <typename I>
__global__ void maxpool2d_backward_kernel(const float* __restrict__ dy,     // (N, C, OH, OW)
                                          const int32_t* __restrict__ ind,  // (N, C, OH, OW)
                                          float* __restrict__ dx,           // (N, C, H, W)
                                          Geom g, Divider<I> d_inner, Divider<I> d_outer, I total) {
  const int ekh = (g.kh - 1) * g.dh + 1, ekw = (g.kw - 1) * g.dw + 1;  // dilated window extents
  for_each_pixel(total, d_inner, d_outer, [&](I i, I plane, int h, int w) {
    const int hp = h + g.ph, wp = w + g.pw;
    const int oh0 = hp < ekh ? 0 : (hp - ekh) / g.sh + 1, oh1 = min(hp / g.sh + 1, g.OH);
    const int ow0 = wp < ekw ? 0 : (wp - ekw) / g.sw + 1, ow1 = min(wp / g.sw + 1, g.OW);
    const I obase = plane * static_cast<I>(g.OH) * static_cast<I>(g.OW);
    const float* dyp = dy + obase;
    const int32_t* ip = ind + obase;
    const int32_t target = h * g.W + w;
    float acc = 0.0f;
    for (int oh = oh0; oh < oh1; ++oh)
      for (int ow = ow0; ow < ow1; ++ow) {
        const int o = oh * g.OW + ow;
        if (ip[o] == target) acc += dyp[o];
      }
    dx[i] = acc;
  });
}

// The clipped window and divisor of average-pool output (oh, ow), as PyTorch's AvgPool2d.
struct AvgWin {
  int h0, h1, w0, w1, div;
};

__device__ __forceinline__ AvgWin avg_window(const Geom& g, int oh, int ow) {
  int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int h1 = min(h0 + g.kh, g.H + g.ph), w1 = min(w0 + g.kw, g.W + g.pw);
  const int pool_size = (h1 - h0) * (w1 - w0);
  h0 = max(h0, 0);
  w0 = max(w0, 0);
  h1 = min(h1, g.H);
  w1 = min(w1, g.W);
  const int div = g.divisor_override ? g.divisor_override : (g.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0));
  return AvgWin{h0, h1, w0, w1, div};
}

template <typename I>
__global__ void avgpool2d_forward_kernel(const float* __restrict__ x,  // (N, C, H, W)
                                         float* __restrict__ y,        // (N, C, OH, OW)
                                         Geom g, Divider<I> d_inner, Divider<I> d_outer, I total) {
  for_each_pixel(total, d_inner, d_outer, [&](I i, I plane, int oh, int ow) {
    const AvgWin win = avg_window(g, oh, ow);
    if (win.h0 >= win.h1 || win.w0 >= win.w1) {
      y[i] = 0.0f;
      return;
    }
    const float* xp = x + plane * static_cast<I>(g.H) * static_cast<I>(g.W);
    float s = 0.0f;
    for (int h = win.h0; h < win.h1; ++h) {
      const float* row = xp + h * g.W;
      for (int w = win.w0; w < win.w1; ++w) s += row[w];
    }
    y[i] = s / static_cast<float>(win.div);
  });
}

template <typename I>
__global__ void avgpool2d_backward_kernel(const float* __restrict__ dy,  // (N, C, OH, OW)
                                          float* __restrict__ dx,        // (N, C, H, W)
                                          Geom g, Divider<I> d_inner, Divider<I> d_outer, I total) {
  for_each_pixel(total, d_inner, d_outer, [&](I i, I plane, int h, int w) {
    const int hp = h + g.ph, wp = w + g.pw;
    const int oh0 = hp < g.kh ? 0 : (hp - g.kh) / g.sh + 1, oh1 = min(hp / g.sh + 1, g.OH);
    const int ow0 = wp < g.kw ? 0 : (wp - g.kw) / g.sw + 1, ow1 = min(wp / g.sw + 1, g.OW);
    const float* dyp = dy + plane * static_cast<I>(g.OH) * static_cast<I>(g.OW);
    float acc = 0.0f;
    for (int oh = oh0; oh < oh1; ++oh)
      for (int ow = ow0; ow < ow1; ++ow) {
        const AvgWin win = avg_window(g, oh, ow);
        acc += dyp[oh * g.OW + ow] / static_cast<float>(win.div);
      }
    dx[i] = acc;
  });
}

// The adaptive window of output o of O over I inputs: [floor(o*I/O), ceil((o+1)*I/O)). With the roles
// swapped (o an input, O = I, I_ = O) it is the span of the outputs whose windows cover input o.
struct Span {
  int begin, end;
  __device__ __forceinline__ float size() const { return static_cast<float>(end - begin); }
};
__device__ __forceinline__ Span adaptive_span(int o, int O, int I_) {
  return {static_cast<int>((static_cast<int64_t>(o) * I_) / O),
          static_cast<int>(((static_cast<int64_t>(o) + 1) * I_ + O - 1) / O)};
}

template <typename I>
__global__ void adaptive_avgpool2d_forward_windowed(const float* __restrict__ x,  // (N, C, H, W)
                                                   float* __restrict__ y,        // (N, C, OH, OW)
                                                   int H, int W, int OH, int OW, Divider<I> d_inner, Divider<I> d_outer, I total) {
  for_each_pixel(total, d_inner, d_outer, [&](I i, I plane, int oh, int ow) {
    const Span hs = adaptive_span(oh, OH, H), ws = adaptive_span(ow, OW, W);
    const float* xp = x + plane * static_cast<I>(H) * static_cast<I>(W);
    float s = 0.0f;
    for (int h = hs.begin; h < hs.end; ++h)
      for (int w = ws.begin; w < ws.end; ++w) s += xp[h * W + w];
    y[i] = s / hs.size() / ws.size();
  });
}

// The part of plane p's sum that one thread adds: units first, first + step, ... (float4 units when V == 4).
template <int V>
__device__ __forceinline__ float plane_partial_sum(const float* __restrict__ x, int64_t p, int64_t units,
                                                   int64_t first, int64_t step) {
  float s = 0.0f;
  if constexpr (V == 4) {
    const float4* xp = reinterpret_cast<const float4*>(x) + p * units;
    for (int64_t u = first; u < units; u += step) {
      const float4 v = xp[u];
      s += (v.x + v.y) + (v.z + v.w);
    }
  } else {
    const float* xp = x + p * units;
    for (int64_t u = first; u < units; u += step) s += xp[u];
  }
  return s;
}

// Global pooling, one warp per plane: y[p] = sum(plane p) / d1 / d2.
template <int V>
__global__ void adaptive_avgpool2d_forward_global_warp(const float* __restrict__ x,  // (planes, HW); read as HW/V units
                                                       float* __restrict__ y,        // (planes)
                                                       int64_t planes, int64_t units, float d1, float d2) {
  const int lane = static_cast<int>(threadIdx.x) & (kWarp - 1);
  const int64_t warps_per_block = blockDim.x / kWarp;
  const int64_t nwarps = static_cast<int64_t>(gridDim.x) * warps_per_block;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * warps_per_block + threadIdx.x / kWarp; p < planes;
       p += nwarps) {  // uniform across the warp
    const float s = warp_sum(plane_partial_sum<V>(x, p, units, lane, kWarp));
    if (lane == 0) y[p] = s / d1 / d2;
  }
}

// Global pooling, one block per plane (few, large planes).
template <int V>
__global__ void __launch_bounds__(kThreads)
    adaptive_avgpool2d_forward_global_block(const float* __restrict__ x,  // (planes, HW); read as HW/V units
                                            float* __restrict__ y,        // (planes)
                                            int64_t planes, int64_t units, float d1, float d2) {
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {
    // block_reduce ends with a __syncthreads: its shared memory is reused by the next plane.
    const float s = block_reduce(plane_partial_sum<V>(x, p, units, threadIdx.x, blockDim.x), SumOp{}, 0.0f);
    if (threadIdx.x == 0) y[p] = s / d1 / d2;
  }
}

template <typename I>
__global__ void adaptive_avgpool2d_backward_windowed(const float* __restrict__ dy,  // (N, C, OH, OW)
                                                    float* __restrict__ dx,        // (N, C, H, W)
                                                    int H, int W, int OH, int OW, Divider<I> d_inner, Divider<I> d_outer, I total) {
  for_each_pixel(total, d_inner, d_outer, [&](I i, I plane, int h, int w) {
    const Span ohs = adaptive_span(h, H, OH), ows = adaptive_span(w, W, OW);  // the outputs covering (h, w)
    const float* dyp = dy + plane * static_cast<I>(OH) * static_cast<I>(OW);
    float acc = 0.0f;
    for (int oh = ohs.begin; oh < ohs.end; ++oh) {
      const float kh = adaptive_span(oh, OH, H).size();
      for (int ow = ows.begin; ow < ows.end; ++ow) acc += dyp[oh * OW + ow] / kh / adaptive_span(ow, OW, W).size();
    }
    dx[i] = acc;
  });
}

// Global pooling backward: dx[p, :] = dy[p] / d1 / d2.
template <int V, typename I>
__global__ void adaptive_avgpool2d_backward_global(const float* __restrict__ dy,  // (planes)
                                                    float* __restrict__ dx,        // (planes, HW); written as HW/V units
                                                    Divider<I> units_per_plane, I total_units, float d1, float d2) {
  const I stride = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I u = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); u < total_units;
       u += stride) {
    const float g = dy[units_per_plane.div(u)] / d1 / d2;
    if constexpr (V == 4) reinterpret_cast<float4*>(dx)[u] = make_float4(g, g, g, g);
    else dx[u] = g;
  }
}

// ---- host side --------------------------------------------------------------------------------------

// Calls f(I{}) with I = uint32_t (fast division) when a grid-stride loop over `total` items stays below 2^31
// and no element offset into a tensor of `extent` elements overflows 32 bits.
template <class F>
void with_index(int64_t total, int64_t extent, F&& f) {
  const int64_t reach = total + static_cast<int64_t>(grid_for(total)) * kThreads;
  if (reach < (int64_t(1) << 31) && extent < (int64_t(1) << 32)) f(uint32_t{});
  else f(uint64_t{});
}

// Calls f(std::integral_constant<int, V>{}) for a run-time vector width V of 4 (float4) or 1.
template <class F>
void with_width(int V, F&& f) {
  if (V == 4) f(std::integral_constant<int, 4>{});
  else f(std::integral_constant<int, 1>{});
}

[[noreturn]] void bad_params(const Pool2dParams& p, const char* who, const char* why) {
  throw Error("ERR_ARG",
              std::string(who) + ": " + why + ": (N, C, H, W) = (" + std::to_string(p.N) + ", " + std::to_string(p.C) +
                  ", " + std::to_string(p.H) + ", " + std::to_string(p.W) + "), output (" + std::to_string(p.OH) +
                  ", " + std::to_string(p.OW) + "), kernel (" + std::to_string(p.kh) + ", " + std::to_string(p.kw) +
                  "), stride (" + std::to_string(p.sh) + ", " + std::to_string(p.sw) + "), padding (" +
                  std::to_string(p.ph) + ", " + std::to_string(p.pw) + "), dilation (" + std::to_string(p.dh) + ", " +
                  std::to_string(p.dw) + ")",
              ErrorKind::Range);
}

Geom make_geom(const Pool2dParams& p, bool is_max, const char* who) {
  const bool ok = p.N >= 0 && p.C >= 0 && p.H >= 0 && p.W >= 0 && p.OH >= 0 && p.OW >= 0 && p.kh > 0 && p.kw > 0 &&
                  p.sh > 0 && p.sw > 0 && p.ph >= 0 && p.pw >= 0 && (!is_max || (p.dh > 0 && p.dw > 0)) &&
                  p.divisor_override >= 0;
  if (!ok) bad_params(p, who, "invalid pooling parameters");
  const int64_t dh = is_max ? p.dh : 1, dw = is_max ? p.dw : 1;
  // Every intermediate of the 32-bit window arithmetic stays below 2^31.
  const bool fits = p.H * p.W <= kI32Max && p.OH * p.OW <= kI32Max && p.divisor_override <= kI32Max &&
                    p.OH * p.sh + p.kh * dh + p.H + p.ph <= kI32Max && p.OW * p.sw + p.kw * dw + p.W + p.pw <= kI32Max &&
                    p.kh * p.kw <= kI32Max && (p.kh + p.ph) * (p.kw + p.pw) <= kI32Max;
  if (!fits) bad_params(p, who, "pooling geometry does not fit 32-bit indices");
  Geom g;
  g.H = static_cast<int32_t>(p.H);
  g.W = static_cast<int32_t>(p.W);
  g.OH = static_cast<int32_t>(p.OH);
  g.OW = static_cast<int32_t>(p.OW);
  g.kh = static_cast<int32_t>(p.kh);
  g.kw = static_cast<int32_t>(p.kw);
  g.sh = static_cast<int32_t>(p.sh);
  g.sw = static_cast<int32_t>(p.sw);
  g.ph = static_cast<int32_t>(p.ph);
  g.pw = static_cast<int32_t>(p.pw);
  g.dh = static_cast<int32_t>(dh);
  g.dw = static_cast<int32_t>(dw);
  g.count_include_pad = p.count_include_pad ? 1 : 0;
  g.divisor_override = static_cast<int32_t>(p.divisor_override);
  return g;
}

void check_adaptive(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, const char* who) {
  const bool ok = N >= 0 && C >= 0 && H >= 0 && W >= 0 && OH >= 0 && OW >= 0;
  const bool fits = H * W <= kI32Max && OH * OW <= kI32Max && (OH + 1) * H <= kI32Max && (OW + 1) * W <= kI32Max &&
                    (H + 1) * OH <= kI32Max && (W + 1) * OW <= kI32Max;
  if (!ok || !fits)
    throw Error("ERR_ARG",
                std::string(who) + ": invalid sizes (N, C, H, W) = (" + std::to_string(N) + ", " + std::to_string(C) +
                    ", " + std::to_string(H) + ", " + std::to_string(W) + "), output (" + std::to_string(OH) + ", " +
                    std::to_string(OW) + ")",
                ErrorKind::Range);
}

// Global average: y[p] = sum(x[p, :]) / d1 / d2 over `planes` planes of HW floats.
void global_avg_forward(const float* x, float* y, int64_t planes, int64_t HW, float d1, float d2, Stream s) {
  const int V = (HW % 4 == 0 && aligned16(x)) ? 4 : 1;
  const int64_t units = HW / V;
  // Warp per plane unless the planes are too few to fill the GPU and long enough to share a block.
  const bool block_per_plane = planes < 4096 && units >= 1024;
  with_width(V, [&](auto width) {
    constexpr int kV = decltype(width)::value;
    if (block_per_plane)
      launch(adaptive_avgpool2d_forward_global_block<kV>, dim3(static_cast<unsigned>(std::min(planes, kMaxGrid))),
             dim3(kThreads), 0, s, x, y, planes, units, d1, d2);
    else
      launch(adaptive_avgpool2d_forward_global_warp<kV>, dim3(grid_for(planes, kWarps)), dim3(kThreads), 0, s, x, y,
             planes, units, d1, d2);
  });
}

// Global average backward: dx[p, :] = dy[p] / d1 / d2.
void global_avg_backward(const float* dy, float* dx, int64_t planes, int64_t HW, float d1, float d2, Stream s) {
  const int V = (HW % 4 == 0 && aligned16(dx)) ? 4 : 1;
  const int64_t upp = HW / V, total = planes * upp, extent = planes * HW;
  with_index(total, extent, [&](auto tag) {
    using I = decltype(tag);
    with_width(V, [&](auto width) {
      launch(adaptive_avgpool2d_backward_global<decltype(width)::value, I>, dim3(grid_for(total)), dim3(kThreads), 0, s,
             dy, dx, Divider<I>(upp), static_cast<I>(total), d1, d2);
    });
  });
}

// One thread per element of the (planes, rows, cols) tensor a per-pixel kernel walks, with 32-bit indices
// when the larger of it and the other tensor (planes, other_plane) allows: kernel_for(I{}) is the kernel for
// index type I, launched with (args..., Divider(cols), Divider(rows), total).
template <class KernelFor, class... Args>
void launch_per_pixel(int64_t planes, int64_t rows, int64_t cols, int64_t other_plane, Stream s,
                      KernelFor kernel_for, Args... args) {
  const int64_t total = planes * rows * cols;
  if (total == 0) return;
  with_index(total, std::max(total, planes * other_plane), [&](auto tag) {
    using I = decltype(tag);
    launch(kernel_for(tag), dim3(grid_for(total)), dim3(kThreads), 0, s, args..., Divider<I>(cols),
           Divider<I>(rows), static_cast<I>(total));
  });
}

// AvgPool2d whose single, unpadded window covers the whole plane: pool size H*W whatever the options.
bool avg_is_global(const Pool2dParams& p) {
  return p.OH == 1 && p.OW == 1 && p.ph == 0 && p.pw == 0 && p.kh >= p.H && p.kw >= p.W && p.H > 0 && p.W > 0;
}

}  // namespace

// ---- max pool ---------------------------------------------------------------------------------------

void maxpool2d_forward_cuda(const Pool2dParams& p, const float* x, float* y, int32_t* indices, Stream s) {
  const Geom g = make_geom(p, true, "maxpool2d_forward");
  launch_per_pixel(p.N * p.C, p.OH, p.OW, p.H * p.W, s,
                   [](auto tag) { return maxpool2d_forward_kernel<decltype(tag)>; }, x, y, indices, g);
}

void maxpool2d_backward_cuda(const Pool2dParams& p, const float* dy, const int32_t* indices, float* dx, Stream s) {
  const Geom g = make_geom(p, true, "maxpool2d_backward");
  launch_per_pixel(p.N * p.C, p.H, p.W, p.OH * p.OW, s,
                   [](auto tag) { return maxpool2d_backward_kernel<decltype(tag)>; }, dy, indices, dx, g);
}

// ---- average pool and adaptive average pool ---------------------------------------------------------

namespace {
// One average-pool pass over NC planes of (H, W) inputs and (OH, OW) outputs: forward src = x, dst = y;
// backward src = dy, dst = dx. A global pool (every window the whole plane) is a plane sum (forward) or a
// broadcast (backward) divided by d1 and d2; otherwise one thread per element of dst runs
// forward_for(I{}) / backward_for(I{}), the kernel for index type I, with (src, dst, args...).
template <class ForwardFor, class BackwardFor, class... Args>
void avg_pool_pass(bool backward, bool global, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW, float d1,
                   float d2, const float* src, float* dst, Stream s, ForwardFor forward_for, BackwardFor backward_for,
                   Args... args) {
  if (NC * (backward ? H * W : OH * OW) == 0) return;
  if (global) (backward ? global_avg_backward : global_avg_forward)(src, dst, NC, H * W, d1, d2, s);
  else if (backward) launch_per_pixel(NC, H, W, OH * OW, s, backward_for, src, dst, args...);
  else launch_per_pixel(NC, OH, OW, H * W, s, forward_for, src, dst, args...);
}

void avg_pool(bool backward, const Pool2dParams& p, const float* src, float* dst, Stream s) {
  const Geom g = make_geom(p, false, backward ? "avgpool2d_backward" : "avgpool2d_forward");
  const float div = static_cast<float>(p.divisor_override ? p.divisor_override : p.H * p.W);  // global case only
  avg_pool_pass(
      backward, avg_is_global(p), p.N * p.C, p.H, p.W, p.OH, p.OW, div, 1.0f, src, dst, s,
      [](auto tag) { return avgpool2d_forward_kernel<decltype(tag)>; },
      [](auto tag) { return avgpool2d_backward_kernel<decltype(tag)>; }, g);
}

void adaptive_avg_pool(bool backward, const AdaptivePool2dParams& p, const float* src, float* dst, Stream s) {
  check_adaptive(p.N, p.C, p.H, p.W, p.OH, p.OW, backward ? "adaptive_avgpool2d_backward" : "adaptive_avgpool2d_forward");
  avg_pool_pass(
      backward, p.OH == 1 && p.OW == 1, p.N * p.C, p.H, p.W, p.OH, p.OW, static_cast<float>(p.H),
      static_cast<float>(p.W), src, dst, s, [](auto tag) { return adaptive_avgpool2d_forward_windowed<decltype(tag)>; },
      [](auto tag) { return adaptive_avgpool2d_backward_windowed<decltype(tag)>; }, static_cast<int>(p.H),
      static_cast<int>(p.W), static_cast<int>(p.OH), static_cast<int>(p.OW));
}
}  // namespace

void avgpool2d_forward_cuda(const Pool2dParams& p, const float* x, float* y, Stream s) { avg_pool(false, p, x, y, s); }
void avgpool2d_backward_cuda(const Pool2dParams& p, const float* dy, float* dx, Stream s) { avg_pool(true, p, dy, dx, s); }
void adaptive_avgpool2d_forward_cuda(const AdaptivePool2dParams& p, const float* x, float* y, Stream s) {
  adaptive_avg_pool(false, p, x, y, s);
}
void adaptive_avgpool2d_backward_cuda(const AdaptivePool2dParams& p, const float* dy, float* dx, Stream s) {
  adaptive_avg_pool(true, p, dy, dx, s);
}

}  // namespace cuda
}  // namespace ck
