// 2-D convolution: CUDA twins of conv2d_forward_cpu / conv2d_backward_data_cpu / conv2d_backward_weight_cpu
// (csrc/core/nn_kernels.h), as im2col/col2im around ck::cuda::sgemm_cuda.
//
// Layout: x (N, C, H, W), w (O, C/g, KH, KW), y/dy (N, O, OH, OW), all contiguous NCHW float32. Per group
// K = C/g*KH*KW; P = OH*OW. A chunk of B images is processed at a time so the col scratch stays within
// kColBudget floats (stream-ordered ck::cuda::malloc, freed at the end of the call).
//
// Algorithm:
//   forward          conv_im2col_kernel writes col (B, C*KH*KW, P), one thread per (image, channel, output
//                    pixel) writing that pixel's KH*KW entries; per group one batched GEMM over the
//                    images of the chunk: y[n,g] (O/g, P) = W[g] (O/g, K) @ col[n,g] (K, P) (when groups
//                    outnumber images, per image one GEMM batched over the groups instead); then
//                    conv_bias_kernel adds b.
//   backward_data    per group, batched over images: col[n,g] (K, P) = W[g]^T @ dy[n,g]; then
//                    conv_col2im_kernel gathers: one thread per dx element sums, in a fixed (kh, kw) order,
//                    the col entries of the output pixels its input pixel feeds, so there are no atomics and
//                    the result is deterministic.
//   backward_weight  dW[g] = sum_n dy[n,g] @ col[n,g]^T. The batch is cut into segments of S images that
//                    become one GEMM's reduction dimension: im2col writes col as (seg, C*KH*KW, S, P) and
//                    conv_permute_kernel copies dy to (seg, O, S, P), so segment s, group g is one
//                    (O/g x S*P) @ (S*P x K) product, all of them one GEMM batched over (segment, group)
//                    into a partial (segments, O, K); conv_dw_reduce_kernel adds the partials in segment
//                    order (split-K without atomics: deterministic). S is chosen so that S*P >= 256, which
//                    keeps the products deep enough while leaving many of them for the GPU to run at once.
//                    db: conv_bias_grad_kernel, a block per (channel, slice of the batch) with a warp-shuffle
//                    block reduction, then conv_bias_grad_finish_kernel adds the slices in order.
//   1x1, stride 1, no padding: x itself is the col matrix (forward, backward_weight with S = 1), and the
//   backward_data GEMM writes dx directly.
// Index arithmetic inside the kernels is 32-bit (the host checks every per-chunk extent fits), except
// image offsets into x, dx, y and dy, which are 64-bit.
#include <algorithm>
#include <cstdint>
#include <string>

#include "runtime.cuh"
#include "common.cuh"
#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/nn_kernels.h"
#include "core/nn_kernels_cuda.h"
#include "core/types.h"

namespace ck {
namespace cuda {
namespace {

constexpr int64_t kInt32Max = 2147483647;
// Floats of col scratch per chunk (128 MiB) and of backward_weight partials (64 MiB).
// (The macros let a test build shrink them, to run the chunked paths on small shapes.)
#ifndef CK_CONV_CUDA_COL_BUDGET
#define CK_CONV_CUDA_COL_BUDGET (int64_t(32) << 20)
#endif
#ifndef CK_CONV_CUDA_PARTIAL_BUDGET
#define CK_CONV_CUDA_PARTIAL_BUDGET (int64_t(16) << 20)
#endif
#ifndef CK_CONV_CUDA_BIAS_GRAD_MIN
#define CK_CONV_CUDA_BIAS_GRAD_MIN 8192
#endif
constexpr int64_t kColBudget = CK_CONV_CUDA_COL_BUDGET;
constexpr int64_t kPartialBudget = CK_CONV_CUDA_PARTIAL_BUDGET;
// backward_weight: images per segment so that a GEMM's reduction dimension is at least this deep.
constexpr int64_t kMinSegmentDepth = 256;
// conv_bias_grad_kernel: aim for this many blocks, none summing fewer than kBiasGradMin values.
constexpr int64_t kBiasGradBlocks = 264;
constexpr int64_t kBiasGradMin = CK_CONV_CUDA_BIAS_GRAD_MIN;

// The geometry the kernels need, in 32-bit (checked on the host).
struct ConvDims {
  int C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw;
};

// ---- kernels ----------------------------------------------------------------------------------------

// col[((s*CKK + k)*S + j)*P + p] = x[n = s*S + j][c][oh*sh - ph + kh*dh][ow*sw - pw + kw*dw], 0 outside the
// image and for n >= nvalid; k = (c*KH + kh)*KW + kw, p = oh*OW + ow. S = 1 gives (B, C*KH*KW, P).
// One thread per (s, c, j, p) writes the KH*KW entries of its output pixel, so the index arithmetic is paid
// once per pixel rather than once per entry; neighbouring threads take neighbouring p, so for every (kh, kw)
// the warp's writes are coalesced and its reads are too (stride sw).
__global__ void conv_im2col_kernel(const float* __restrict__ x,  // (nvalid, C, H, W)
                                   float* __restrict__ col,      // (segments, C*KH*KW, S, OH*OW)
                                   ConvDims d, int S, int nvalid, int total) {  // total = segments*C*S*P
  const int P = d.OH * d.OW;
  const int KK = d.KH * d.KW;
  const int64_t chw = int64_t(d.C) * d.H * d.W;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    const int p = i % P;
    int t = i / P;
    const int j = t % S;
    t /= S;
    const int c = t % d.C;
    const int s = t / d.C;
    const int n = s * S + j;
    const int oh = p / d.OW, ow = p - (p / d.OW) * d.OW;
    const int ih0 = oh * d.sh - d.ph, iw0 = ow * d.sw - d.pw;
    const bool live = n < nvalid;
    const float* xc = x + (live ? n : 0) * chw + c * d.H * d.W;
    // Entry (kh, kw) of this pixel: col[((s*CKK + c*KK + kh*KW + kw)*S + j)*P + p].
    float* out = col + ((int64_t(s) * d.C + c) * KK * S + j) * P + p;
    const int64_t kstep = int64_t(S) * P;
    for (int kh = 0; kh < d.KH; ++kh) {
      const int ih = ih0 + kh * d.dh;
      const bool row_ok = live && ih >= 0 && ih < d.H;
      for (int kw = 0; kw < d.KW; ++kw) {
        const int iw = iw0 + kw * d.dw;
        *out = row_ok && iw >= 0 && iw < d.W ? __ldg(xc + ih * d.W + iw) : 0.0f;
        out += kstep;
      }
    }
  }
}

// dx[n][c][ih][iw] = sum over (kh, kw) of col[n][(c*KH + kh)*KW + kw][oh*OW + ow] for the (oh, ow) with
// oh*sh - ph + kh*dh == ih and ow*sw - pw + kw*dw == iw. One thread per dx element, no atomics.
__global__ void conv_col2im_kernel(const float* __restrict__ col,  // (B, C*KH*KW, OH*OW)
                                   float* __restrict__ dx,         // (B, C, H, W)
                                   ConvDims d, int total) {
  const int P = d.OH * d.OW;
  const int CKK = d.C * d.KH * d.KW;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    const int iw = i % d.W;
    int t = i / d.W;
    const int ih = t % d.H;
    t /= d.H;
    const int c = t % d.C;
    const int n = t / d.C;
    const float* cn = col + (int64_t(n) * CKK + c * d.KH * d.KW) * P;
    float s = 0.0f;
    for (int kh = 0; kh < d.KH; ++kh) {
      const int hp = ih + d.ph - kh * d.dh;
      if (hp < 0) break;  // only decreases with kh
      if (d.sh != 1 && hp % d.sh != 0) continue;
      const int oh = d.sh == 1 ? hp : hp / d.sh;
      if (oh >= d.OH) continue;
      for (int kw = 0; kw < d.KW; ++kw) {
        const int wp = iw + d.pw - kw * d.dw;
        if (wp < 0) break;
        if (d.sw != 1 && wp % d.sw != 0) continue;
        const int ow = d.sw == 1 ? wp : wp / d.sw;
        if (ow >= d.OW) continue;
        s += __ldg(cn + (kh * d.KW + kw) * P + oh * d.OW + ow);
      }
    }
    dx[int64_t(n) * d.C * d.H * d.W + (c * d.H + ih) * d.W + iw] = s;
  }
}

// dyT[((s*O + o)*S + j)*P + p] = dy[n = s*S + j][o][p], 0 for n >= nvalid.
__global__ void conv_permute_kernel(const float* __restrict__ dy,  // (nvalid, O, P)
                                    float* __restrict__ dyT,       // (segments, O, S, P)
                                    int O, int P, int S, int nvalid, int total) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    const int p = i % P;
    int t = i / P;
    const int j = t % S;
    t /= S;
    const int o = t % O;
    const int n = (t / O) * S + j;
    dyT[i] = n < nvalid ? __ldg(dy + (int64_t(n) * O + o) * P + p) : 0.0f;
  }
}

// y[n][o][p] += b[o] over planes of P elements; I: the index type (unsigned 32-bit whenever the tensor allows).
template <typename I>
__global__ void conv_bias_kernel(float* __restrict__ y,        // (N, O, P)
                                 const float* __restrict__ b,  // (O)
                                 I O, I P, I total) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += I(gridDim.x) * blockDim.x)
    y[i] += __ldg(b + (i / P) % O);
}

// db[o] (nsplit == 1) or part[o][sp] = the sum of dy[n][o][p] over images [sp*N/nsplit, (sp+1)*N/nsplit) and
// all p: block (o, sp); each thread walks the flattened (n, p) range with a stride of blockDim (the (n, p)
// position advances by a precomputed quotient and remainder: no division in the loop), then a warp-shuffle
// tree and one over the warps' sums.
__global__ void conv_bias_grad_kernel(const float* __restrict__ dy,  // (N, O, P)
                                      float* __restrict__ out,       // (O) or (O, nsplit)
                                      int N, int O, int P, int nsplit) {
  const int o = blockIdx.x, sp = blockIdx.y;
  const int n0 = static_cast<int>(int64_t(sp) * N / nsplit), n1 = static_cast<int>(int64_t(sp + 1) * N / nsplit);
  const int step = blockDim.x, dq = step / P, dr = step % P;
  int n = n0 + static_cast<int>(threadIdx.x) / P, q = static_cast<int>(threadIdx.x) % P;
  float s = 0.0f;
  while (n < n1) {
    s += __ldg(dy + (int64_t(n) * O + o) * P + q);
    n += dq;
    q += dr;
    if (q >= P) {
      q -= P;
      ++n;
    }
  }
  s = block_reduce(s, SumOp{}, 0.0f);
  if (threadIdx.x == 0) out[o * nsplit + sp] = s;
}

// db[o] = sum over sp of part[o][sp], in order.
__global__ void conv_bias_grad_finish_kernel(const float* __restrict__ part,  // (O, nsplit)
                                             float* __restrict__ db,          // (O)
                                             int O, int nsplit) {
  for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < O; o += gridDim.x * blockDim.x) {
    float s = 0.0f;
    for (int k = 0; k < nsplit; ++k) s += part[o * nsplit + k];
    db[o] = s;
  }
}

// dw[i] = (accumulate ? dw[i] : 0) + sum over s of partial[s][i], s in order.
__global__ void conv_dw_reduce_kernel(const float* __restrict__ partial,  // (segments, O*K)
                                      float* __restrict__ dw,             // (O*K)
                                      int segments, int size, int accumulate) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < size; i += gridDim.x * blockDim.x) {
    float s = accumulate ? dw[i] : 0.0f;
    for (int k = 0; k < segments; ++k) s += __ldg(partial + int64_t(k) * size + i);
    dw[i] = s;
  }
}

// ---- host side ----------------------------------------------------------------------------------------

std::string dims(const Conv2dParams& p) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return "x (" + s(p.N) + ", " + s(p.C) + ", " + s(p.H) + ", " + s(p.W) + "), w (" + s(p.O) + ", " +
         s(p.groups > 0 ? p.C / p.groups : p.C) + ", " + s(p.KH) + ", " + s(p.KW) + "), y (" + s(p.N) + ", " +
         s(p.O) + ", " + s(p.OH) + ", " + s(p.OW) + "), stride (" + s(p.sh) + ", " + s(p.sw) + "), padding (" +
         s(p.ph) + ", " + s(p.pw) + "), dilation (" + s(p.dh) + ", " + s(p.dw) + "), groups " + s(p.groups);
}

// The same checks as the CPU entry points, plus the 32-bit limits of the kernels' index arithmetic.
void check_params(const Conv2dParams& p, const char* fn) {
  const std::string where = std::string(fn) + ": ";
  if (p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1 || p.ph < 0 || p.pw < 0 || p.groups < 1)
    throw Error("ERR_ARG", where + "stride and dilation must be >= 1, padding >= 0, groups >= 1: " + dims(p),
                ErrorKind::Range);
  if (p.N < 0 || p.C < 1 || p.H < 1 || p.W < 1 || p.O < 1 || p.KH < 1 || p.KW < 1)
    throw Error("ERR_SHAPE", where + "extents must be positive (N >= 0): " + dims(p));
  if (p.C % p.groups != 0 || p.O % p.groups != 0)
    throw Error("ERR_SHAPE", where + "in and out channels must be divisible by groups: " + dims(p));
  const int64_t eh = p.H + 2 * p.ph - p.dh * (p.KH - 1) - 1;
  const int64_t ew = p.W + 2 * p.pw - p.dw * (p.KW - 1) - 1;
  if (eh < 0 || ew < 0)
    throw Error("ERR_SHAPE", where + "the dilated kernel is larger than the padded input: " + dims(p));
  if (p.OH != eh / p.sh + 1 || p.OW != ew / p.sw + 1)
    throw Error("ERR_SHAPE", where + "output size must be (" + std::to_string(eh / p.sh + 1) + ", " +
                                 std::to_string(ew / p.sw + 1) + "): " + dims(p));
  const int64_t per_image = std::max({p.C * p.KH * p.KW * p.OH * p.OW, p.C * p.H * p.W, p.O * p.OH * p.OW});
  if (per_image > kInt32Max / 2 || p.N * p.OH * p.OW > kInt32Max || p.O * p.C * p.KH * p.KW > kInt32Max ||
      p.H + 2 * p.ph + p.dh * p.KH > kInt32Max / 2 || p.W + 2 * p.pw + p.dw * p.KW > kInt32Max / 2)
    throw Error("ERR_ARG", where + "too large for the CUDA kernels' 32-bit indexing: " + dims(p), ErrorKind::Range);
}

ConvDims conv_dims(const Conv2dParams& p) {
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return ConvDims{i(p.C),  i(p.H),  i(p.W),  i(p.KH), i(p.KW), i(p.OH), i(p.OW),
                  i(p.sh), i(p.sw), i(p.ph), i(p.pw), i(p.dh), i(p.dw)};
}

struct Geo {
  int64_t Cg, Og, K, CKK, P, HW;
  bool direct;
  explicit Geo(const Conv2dParams& p)
      : Cg(p.C / p.groups), Og(p.O / p.groups), K(p.C / p.groups * p.KH * p.KW), CKK(p.C * p.KH * p.KW),
        P(p.OH * p.OW), HW(p.H * p.W),
        direct(p.KH == 1 && p.KW == 1 && p.sh == 1 && p.sw == 1 && p.ph == 0 && p.pw == 0) {}
};


// Images per chunk: as many as fit `budget` floats at `per_image` each, in chunks of even size.
int64_t chunk_images(int64_t N, int64_t per_image, int64_t budget) {
  const int64_t fit = std::max<int64_t>(1, budget / std::max<int64_t>(1, per_image));
  const int64_t chunks = (N + fit - 1) / fit;
  return (N + chunks - 1) / chunks;
}

void im2col(const Conv2dParams& p, const float* x, float* col, int S, int segments, int nvalid, Stream s) {
  const int64_t total = int64_t(segments) * S * p.C * p.OH * p.OW;
  launch(conv_im2col_kernel, dim3(grid_for(total)), dim3(kThreads), 0, s, x, col, conv_dims(p), S, nvalid,
         static_cast<int>(total));
}

// out[n, g] (Og, P) = W[g] (Og, K) @ in[n, g] (K, P) for the B images of a chunk; `in` has image stride
// in_img, group stride K*in_ld and row stride in_ld; out image stride O*P.
void forward_gemms(const Conv2dParams& p, const Geo& g, int64_t B, const float* w, const float* in, int64_t in_img,
                   int64_t in_ld, float* out, Stream s) {
  const int64_t G = p.groups;
  if (G == 1 || B >= G) {
    for (int64_t gi = 0; gi < G; ++gi)
      sgemm_cuda(B, g.Og, g.P, g.K, 1.0f, w + gi * g.Og * g.K, 0, g.K, 1, in + gi * g.K * in_ld, in_img, in_ld, 1,
                 0.0f, out + gi * g.Og * g.P, p.O * g.P, g.P, s);
  } else {
    for (int64_t n = 0; n < B; ++n)
      sgemm_cuda(G, g.Og, g.P, g.K, 1.0f, w, g.Og * g.K, g.K, 1, in + n * in_img, g.K * in_ld, in_ld, 1, 0.0f,
                 out + n * p.O * g.P, g.Og * g.P, g.P, s);
  }
}

// out[n, g] (K, P) = W[g]^T (K, Og) @ dy[n, g] (Og, P); out has image stride out_img, group stride K*out_ld.
void backward_data_gemms(const Conv2dParams& p, const Geo& g, int64_t B, const float* w, const float* dy,
                         float* out, int64_t out_img, int64_t out_ld, Stream s) {
  const int64_t G = p.groups;
  if (G == 1 || B >= G) {
    for (int64_t gi = 0; gi < G; ++gi)
      sgemm_cuda(B, g.K, g.P, g.Og, 1.0f, w + gi * g.Og * g.K, 0, 1, g.K, dy + gi * g.Og * g.P, p.O * g.P, g.P, 1,
                 0.0f, out + gi * g.K * out_ld, out_img, out_ld, s);
  } else {
    for (int64_t n = 0; n < B; ++n)
      sgemm_cuda(G, g.K, g.P, g.Og, 1.0f, w, g.Og * g.K, 1, g.K, dy + n * p.O * g.P, g.Og * g.P, g.P, 1, 0.0f,
                 out + n * out_img, g.K * out_ld, out_ld, s);
  }
}

}  // namespace

void conv2d_forward_cuda(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y, Stream s) {
  check_params(p, "conv2d_forward");
  if (p.N == 0) return;
  const Geo g(p);
  if (g.direct) {
    forward_gemms(p, g, p.N, w, x, p.C * g.HW, g.HW, y, s);
  } else {
    const int64_t B = chunk_images(p.N, g.CKK * g.P, kColBudget);
    Scratch col(sizeof(float) * static_cast<size_t>(B * g.CKK * g.P), s);
    for (int64_t n0 = 0; n0 < p.N; n0 += B) {
      const int64_t nb = std::min(B, p.N - n0);
      im2col(p, x + n0 * p.C * g.HW, col.f(), 1, static_cast<int>(nb), static_cast<int>(nb), s);
      forward_gemms(p, g, nb, w, col.f(), g.CKK * g.P, g.P, y + n0 * p.O * g.P, s);
    }
  }
  if (b) {
    const int64_t total = p.N * p.O * g.P;
    if (total <= kInt32Max)
      // unsigned: i + the grid stride (< 2^24) can pass INT32_MAX before the loop test, never 2^32
      launch(conv_bias_kernel<uint32_t>, dim3(grid_for(total)), dim3(kThreads), 0, s, y, b, static_cast<uint32_t>(p.O),
             static_cast<uint32_t>(g.P), static_cast<uint32_t>(total));
    else
      launch(conv_bias_kernel<int64_t>, dim3(grid_for(total)), dim3(kThreads), 0, s, y, b, p.O, g.P, total);
  }
}

void conv2d_backward_data_cuda(const Conv2dParams& p, const float* dy, const float* w, float* dx, Stream s) {
  check_params(p, "conv2d_backward_data");
  if (p.N == 0) return;
  const Geo g(p);
  if (g.direct) {
    backward_data_gemms(p, g, p.N, w, dy, dx, p.C * g.HW, g.HW, s);
    return;
  }
  // The gather kernel indexes dx of a chunk in 32 bits too.
  const int64_t B = chunk_images(p.N, std::max(g.CKK * g.P, p.C * g.HW), kColBudget);
  Scratch col(sizeof(float) * static_cast<size_t>(B * g.CKK * g.P), s);
  for (int64_t n0 = 0; n0 < p.N; n0 += B) {
    const int64_t nb = std::min(B, p.N - n0);
    backward_data_gemms(p, g, nb, w, dy + n0 * p.O * g.P, col.f(), g.CKK * g.P, g.P, s);
    const int64_t total = nb * p.C * g.HW;
    launch(conv_col2im_kernel, dim3(grid_for(total)), dim3(kThreads), 0, s, col.f(), dx + n0 * p.C * g.HW,
           conv_dims(p), static_cast<int>(total));
  }
}

void conv2d_backward_weight_cuda(const Conv2dParams& p, const float* x, const float* dy, float* dw, float* db,
                                 Stream s) {
  check_params(p, "conv2d_backward_weight");
  const Geo g(p);
  const int64_t wsize = p.O * g.K;
  if (db) {
    // Enough blocks to fill the GPU when there are few channels, each still summing >= kBiasGradMin values.
    const int64_t nsplit = std::max<int64_t>(
        1, std::min({(kBiasGradBlocks + p.O - 1) / p.O, p.N, p.N * g.P / kBiasGradMin, kMaxGridBlocks}));
    Scratch part(sizeof(float) * static_cast<size_t>(nsplit > 1 ? p.O * nsplit : 0), s);
    launch(conv_bias_grad_kernel, dim3(static_cast<unsigned>(p.O), static_cast<unsigned>(nsplit)), dim3(kThreads), 0,
           s, dy, nsplit > 1 ? part.f() : db, static_cast<int>(p.N), static_cast<int>(p.O), static_cast<int>(g.P),
           static_cast<int>(nsplit));
    if (nsplit > 1)
      launch(conv_bias_grad_finish_kernel, dim3(grid_for(p.O)), dim3(kThreads), 0, s, part.f(), db,
             static_cast<int>(p.O), static_cast<int>(nsplit));
  }
  if (p.N == 0) {
    fill_cuda(DType::F32, dw, wsize, 0.0, s);
    return;
  }

  // S images per segment (the direct path reads x in place, so S = 1 there); B images per chunk.
  int64_t S = g.direct ? 1 : std::min(p.N, (kMinSegmentDepth + g.P - 1) / g.P);
  while (S > 1 && S * g.CKK * g.P > kColBudget) --S;
  const int64_t per_segment_col = g.direct ? 0 : S * g.CKK * g.P;
  int64_t segs = (p.N + S - 1) / S;  // segments per chunk
  if (per_segment_col > 0) segs = std::min(segs, std::max<int64_t>(1, kColBudget / per_segment_col));
  segs = std::min(segs, std::max<int64_t>(1, kPartialBudget / wsize));
  if (S > 1) segs = std::min(segs, std::max<int64_t>(1, kColBudget / (p.O * S * g.P)));
  const int64_t nchunks = ((p.N + S - 1) / S + segs - 1) / segs;
  segs = ((p.N + S - 1) / S + nchunks - 1) / nchunks;
  const int64_t B = segs * S;

  Scratch col(sizeof(float) * static_cast<size_t>(g.direct ? 0 : segs * per_segment_col), s);
  Scratch dyT(sizeof(float) * static_cast<size_t>(S > 1 ? segs * p.O * S * g.P : 0), s);
  Scratch partial(sizeof(float) * static_cast<size_t>(segs > 1 ? segs * wsize : 0), s);
  const int64_t depth = S * g.P;  // the GEMM's reduction dimension
  for (int64_t n0 = 0, chunk = 0; n0 < p.N; n0 += B, ++chunk) {
    const int64_t nb = std::min(B, p.N - n0);
    const int64_t nseg = (nb + S - 1) / S;
    const float* bsrc = x + n0 * p.C * g.HW;
    if (!g.direct) {
      im2col(p, bsrc, col.f(), static_cast<int>(S), static_cast<int>(nseg), static_cast<int>(nb), s);
      bsrc = col.f();
    }
    const float* asrc = dy + n0 * p.O * g.P;
    if (S > 1) {
      const int64_t total = nseg * p.O * S * g.P;
      launch(conv_permute_kernel, dim3(grid_for(total)), dim3(kThreads), 0, s, asrc, dyT.f(), static_cast<int>(p.O),
             static_cast<int>(g.P), static_cast<int>(S), static_cast<int>(nb), static_cast<int>(total));
      asrc = dyT.f();
    }
    // Batch item (segment t, group gi) = t*G + gi: A (Og, depth), B^T rows of K, C (Og, K).
    const int64_t batch = nseg * p.groups;
    if (nseg == 1) {
      sgemm_cuda(batch, g.Og, g.K, depth, 1.0f, asrc, g.Og * depth, depth, 1, bsrc, g.K * depth, 1, depth,
                 chunk == 0 ? 0.0f : 1.0f, dw, g.Og * g.K, g.K, s);
    } else {
      sgemm_cuda(batch, g.Og, g.K, depth, 1.0f, asrc, g.Og * depth, depth, 1, bsrc, g.K * depth, 1, depth, 0.0f,
                 partial.f(), g.Og * g.K, g.K, s);
      launch(conv_dw_reduce_kernel, dim3(grid_for(wsize)), dim3(kThreads), 0, s, partial.f(), dw,
             static_cast<int>(nseg), static_cast<int>(wsize), chunk == 0 ? 0 : 1);
    }
  }
}

}  // namespace cuda
}  // namespace ck
