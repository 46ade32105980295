// Strided copy: dst view <- src view, both of one shape, 4-byte elements moved as raw bits (float32
// and int32 alike). CUDA twin of copy_cpu (csrc/core/kernels.h); the backbone of in-place writes into
// views (slice assignment, gradients of slices, optimizer state loads).
//
// Layout: both operands are ck::Layout views (offset + sum(idx_k * strides_k), in elements).
// Algorithm: the host drops size-1 dims and merges dims that are contiguous in both operands, then a
// grid-stride loop decomposes each linear index once and applies both stride sets. When both views are
// fully contiguous the copy is a cudaMemcpyAsync-equivalent device-to-device copy.
// Overlap: both paths assume src and dst share no memory (threads read and write in no fixed order).
// The one caller, copy() in csrc/binding/tensor_ops.cc, makes sure of it on every device: a same-view
// copy is skipped, dense partial overlap and stride-0 destinations are ERR_ARG, and other views of
// one storage whose ranges intersect go through a temporary.
#include <cstdint>

#include "runtime.cuh"
#include "common.cuh"
#include "core/kernels_cuda.h"
#include "core/types.h"

namespace ck {
namespace cuda {
namespace {


__global__ void copy_strided_kernel(const uint32_t* __restrict__ src,  // strided view, shape `shape`
                                    uint32_t* __restrict__ dst,        // strided view, shape `shape`
                                    Layout sl, Layout dl, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t rem = i, so = sl.offset, doff = dl.offset;
    for (int d = sl.ndim - 1; d >= 0; --d) {
      int64_t idx = rem % sl.shape[d];
      rem /= sl.shape[d];
      so += idx * sl.strides[d];
      doff += idx * dl.strides[d];
    }
    dst[doff] = src[so];
  }
}

// Drops size-1 dims and merges neighbours contiguous in both layouts.
void collapse2(Layout& a, Layout& b) {
  Layout ra = a, rb = b;
  int n = 0;
  for (int d = 0; d < a.ndim; ++d) {
    if (a.shape[d] == 1) continue;
    if (n > 0 && ra.strides[n - 1] == a.strides[d] * a.shape[d] && rb.strides[n - 1] == b.strides[d] * a.shape[d]) {
      ra.shape[n - 1] *= a.shape[d];
      rb.shape[n - 1] = ra.shape[n - 1];
      ra.strides[n - 1] = a.strides[d];
      rb.strides[n - 1] = b.strides[d];
      continue;
    }
    ra.shape[n] = rb.shape[n] = a.shape[d];
    ra.strides[n] = a.strides[d];
    rb.strides[n] = b.strides[d];
    ++n;
  }
  if (n == 0) { ra.shape[0] = rb.shape[0] = 1; ra.strides[0] = rb.strides[0] = 1; n = 1; }
  ra.ndim = rb.ndim = n;
  a = ra;
  b = rb;
}

}  // namespace

void copy_cuda(const void* src, const Layout& sl_in, void* dst, const Layout& dl_in, Stream s) {
  int64_t n = 1;
  for (int d = 0; d < sl_in.ndim; ++d) n *= sl_in.shape[d];
  if (n == 0) return;
  Layout sl = sl_in, dl = dl_in;
  collapse2(sl, dl);
  if (sl.ndim == 1 && sl.strides[0] == 1 && dl.strides[0] == 1) {
    memcpy_d2d((uint32_t*)dst + dl.offset, (const uint32_t*)src + sl.offset, (size_t)n * 4, s);
    return;
  }
  launch(copy_strided_kernel, dim3(grid_for(n)), dim3(kThreads), 0, s, (const uint32_t*)src, (uint32_t*)dst, sl, dl, n);
}

}  // namespace cuda
}  // namespace ck
