// The index family on the GPU: CUDA twins of csrc/cpu/index_ops.cc (csrc/core/index_kernels.h), with the
// scalar rules (offsets of a flat index in several views, the sort order, clamp's values and gradients)
// shared with the CPU in idx::.
//
//   cat      one launch per kCatChunk inputs: blockIdx.y picks the input (pointers, sizes and offsets
//            travel in the CatArgs kernel parameter), a grid-stride loop copies its (outer, size*inner)
//            rows into the output's (outer, total*inner) rows at its column offset.
//   where / clamp / clamp backward
//            grid-stride loops over the output, each element's offsets in the broadcast views computed
//            from its flat index (stride 0 = broadcast; no operand is materialised).
//   gather / scatter
//            grid-stride over the index view; an index outside [0, size) is skipped and reported into the
//            device's error slot, so the host never waits: ERR_INDEX is raised at the next synchronisation
//            (as PyTorch's device-side assert, but the process stays usable). scatter_add uses atomicAdd
//            (float sums of duplicate indices then land in no fixed order, as PyTorch's CUDA scatter_add).
//   sort / topk
//            one block per row: each thread ranks its elements against the whole row, staged through
//            shared memory in tiles of kThreads, rank = #elements before it in idx::before's total order
//            (NaN largest, ties by index: a stable sort), and writes the element to slot rank when
//            rank < k. O(n^2 / kThreads) per row: meant for rows up to a few thousand (class scores,
//            top-5 accuracy), not for sorting millions of keys.
// Layout: every view is a ck::Layout over the op's iteration shape; outputs are contiguous.
#include <cstdint>
#include <string>

#include "runtime.cuh"
#include "common.cuh"
#include "core/error.h"
#include "core/index_kernels_cuda.h"
#include "core/runtime_cuda.h"

namespace ck {
namespace cuda {
namespace {

int64_t numel_of(const Layout& l) {
  int64_t n = 1;
  for (int d = 0; d < l.ndim; ++d) n *= l.shape[d];
  return n;
}

__global__ void cat_kernel(CatArgs a, uint32_t* __restrict__ out) {  // out (outer, total, inner)
  const int i = blockIdx.y;
  const auto* in = static_cast<const uint32_t*>(a.inputs[i]);  // (outer, sizes[i], inner)
  const int64_t run = a.sizes[i] * a.inner, n = a.outer * run;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = e / run, r = e - o * run;
    out[(o * a.total + a.offsets[i]) * a.inner + r] = in[e];
  }
}

__global__ void where_kernel(WhereArgs w, const void* __restrict__ cond,  // view (out shape)
                              const uint32_t* __restrict__ a,               // view or null
                              const uint32_t* __restrict__ b,               // view or null
                              uint32_t* __restrict__ out, int64_t n) {      // (out shape)
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Layout* l[3] = {&w.cond, &w.a, &w.b};
    int64_t o[3];
    idx::offsets<3>(l, i, o);
    out[i] = idx::where_at(w, cond, a, b, o);
  }
}

template <class T>
__global__ void clamp_kernel(ClampArgs c, const T* __restrict__ x, const T* __restrict__ lo,  // views; lo/hi may be null
                              const T* __restrict__ hi, T* __restrict__ out, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Layout* l[3] = {&c.x, &c.lo, &c.hi};
    int64_t o[3];
    idx::offsets<3>(l, i, o);
    out[i] = idx::clamp_at<T>(x, lo, hi, o);
  }
}

__global__ void clamp_backward_kernel(ClampArgs c, const float* __restrict__ x, const float* __restrict__ lo,
                                       const float* __restrict__ hi, const float* __restrict__ g,  // g (out shape)
                                       float* __restrict__ gx, float* __restrict__ glo, float* __restrict__ ghi,
                                       int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Layout* l[3] = {&c.x, &c.lo, &c.hi};
    int64_t o[3];
    idx::offsets<3>(l, i, o);
    idx::clamp_backward_at(x, lo, hi, g, gx, glo, ghi, i, o);
  }
}

// kMode 0 gather (other <- data), 1 scatter (data <- other), 2 scatter_add float, 3 scatter_add int32. An
// index out of range is skipped and reported into the device's error slot (core/runtime_cuda.h: the first
// report wins), which the host reads at its next synchronisation.
template <int kMode>
__global__ void index_kernel(IndexArgs a, const int32_t* __restrict__ index,  // view (index shape)
                             uint32_t* data,                                   // view, data.shape[dim] = bound
                             uint32_t* other,                                  // view (index shape)
                             DeviceError* __restrict__ err, int op, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Layout* l[3] = {&a.index, &a.data, &a.other};
    int64_t off[3], d = 0;
    idx::offsets<3>(l, i, off);
    if (idx::index_at(a, index, off, &d) < 0) {
      if (atomicCAS(&err->code, 0u, 1u) == 0u) {
        err->op = op;
        err->value = index[off[0]];
        err->bound = a.dim_size;
        err->dim = a.dim;
        err->index = i;
      }
      continue;
    }
    if (kMode == 0) other[off[2]] = data[d];
    else if (kMode == 1) data[d] = other[off[2]];
    else if (kMode == 2) atomicAdd(reinterpret_cast<float*>(data) + d, __int_as_float(static_cast<int>(other[off[2]])));
    else atomicAdd(data + d, other[off[2]]);
  }
}

template <class T>
__global__ void sort_kernel(SortArgs s, const T* __restrict__ x,  // (rows, n)
                             T* __restrict__ values,                // (rows, k)
                             int32_t* __restrict__ indices) {       // (rows, k)
  CK_SHARED(T, tile, [kThreads]);
  const int64_t n = s.n;
  for (int64_t r = blockIdx.x; r < s.rows; r += gridDim.x) {
    const T* row = x + r * n;
    for (int64_t base = 0; base < n; base += blockDim.x) {  // every thread runs the same trip counts
      const int64_t i = base + threadIdx.x;
      const T vi = i < n ? row[i] : T(0);
      int64_t rank = 0;
      for (int64_t t = 0; t < n; t += kThreads) {
        const int64_t m = n - t < kThreads ? n - t : kThreads;
        if (threadIdx.x < m) tile[threadIdx.x] = row[t + threadIdx.x];
        __syncthreads();
        if (i < n)
          for (int64_t j = 0; j < m; ++j) rank += idx::before<T>(tile[j], t + j, vi, i, s.descending) ? 1 : 0;
        __syncthreads();
      }
      if (i < n && rank < s.k) {
        values[r * s.k + rank] = vi;
        indices[r * s.k + rank] = static_cast<int32_t>(i);
      }
    }
  }
}

template <int kMode>
void run_index(DeviceErrorOp op, const IndexArgs& a, const int32_t* index, const void* data, const void* other,
               Stream s) {
  const int64_t n = numel_of(a.index);
  if (n == 0) return;
  launch(index_kernel<kMode>, dim3(grid_for(n)), dim3(kThreads), 0, s, a, index,
         const_cast<uint32_t*>(static_cast<const uint32_t*>(data)),
         const_cast<uint32_t*>(static_cast<const uint32_t*>(other)), device_error_slot(), static_cast<int>(op), n);
}

}  // namespace

void cat_cuda(const CatArgs& a, void* output, Stream s) {
  int64_t most = 0;
  for (int i = 0; i < a.n; ++i) most = a.sizes[i] > most ? a.sizes[i] : most;
  if (a.n == 0 || most * a.inner * a.outer == 0) return;
  launch(cat_kernel, dim3(grid_for(a.outer * most * a.inner), static_cast<unsigned>(a.n)), dim3(kThreads), 0, s, a,
         static_cast<uint32_t*>(output));
}

void where_cuda(const WhereArgs& w, const void* cond, const void* a, const void* b, void* out, Stream s) {
  const int64_t n = numel_of(w.cond);
  if (n == 0) return;
  launch(where_kernel, dim3(grid_for(n)), dim3(kThreads), 0, s, w, cond, static_cast<const uint32_t*>(a),
         static_cast<const uint32_t*>(b), static_cast<uint32_t*>(out), n);
}

void clamp_tensor_cuda(const ClampArgs& c, const void* x, const void* lo, const void* hi, void* out, Stream s) {
  const int64_t n = numel_of(c.x);
  if (n == 0) return;
  if (c.dtype == DType::F32)
    launch(clamp_kernel<float>, dim3(grid_for(n)), dim3(kThreads), 0, s, c, static_cast<const float*>(x),
           static_cast<const float*>(lo), static_cast<const float*>(hi), static_cast<float*>(out), n);
  else
    launch(clamp_kernel<int32_t>, dim3(grid_for(n)), dim3(kThreads), 0, s, c, static_cast<const int32_t*>(x),
           static_cast<const int32_t*>(lo), static_cast<const int32_t*>(hi), static_cast<int32_t*>(out), n);
}

void clamp_tensor_backward_cuda(const ClampArgs& c, const float* x, const float* lo, const float* hi, const float* g,
                                float* gx, float* glo, float* ghi, Stream s) {
  const int64_t n = numel_of(c.x);
  if (n == 0) return;
  launch(clamp_backward_kernel, dim3(grid_for(n)), dim3(kThreads), 0, s, c, x, lo, hi, g, gx, glo, ghi, n);
}

void gather_cuda(const IndexArgs& a, const int32_t* index, const void* data, void* other, Stream s) {
  run_index<0>(kDevErrGather, a, index, data, other, s);
}

void scatter_cuda(const IndexArgs& a, bool add, const int32_t* index, void* data, const void* other, Stream s) {
  if (!add) run_index<1>(kDevErrScatter, a, index, data, other, s);
  else if (a.dtype == DType::F32) run_index<2>(kDevErrScatterAdd, a, index, data, other, s);
  else run_index<3>(kDevErrScatterAdd, a, index, data, other, s);
}

void sort_cuda(const SortArgs& a, const void* x, void* values, int32_t* indices, Stream s) {
  if (a.rows == 0 || a.n == 0 || a.k == 0) return;
  const dim3 grid(static_cast<unsigned>(a.rows < kMaxGridBlocks ? a.rows : kMaxGridBlocks));
  if (a.dtype == DType::F32)
    launch(sort_kernel<float>, grid, dim3(kThreads), 0, s, a, static_cast<const float*>(x), static_cast<float*>(values), indices);
  else
    launch(sort_kernel<int32_t>, grid, dim3(kThreads), 0, s, a, static_cast<const int32_t*>(x), static_cast<int32_t*>(values),
           indices);
}

}  // namespace cuda
}  // namespace ck
