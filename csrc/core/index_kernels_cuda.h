// CUDA twins of csrc/core/index_kernels.h (cuda/index_ops.cu): same arguments plus the stream; device
// pointers. gather / scatter check their indices on the device and throw ERR_INDEX after reading back one
// flag (a synchronisation, as nll_loss's target check). sort / topk always order ties by index (a stable
// sort): PyTorch's CUDA topk, too, orders ties differently from its CPU one.
#pragma once
#include "index_kernels.h"
#include "kernels_cuda.h"

namespace ck {
namespace cuda {

void cat_cuda(const CatArgs& a, void* output, Stream s);
void where_cuda(const WhereArgs& w, const void* cond, const void* a, const void* b, void* out, Stream s);
void clamp_tensor_cuda(const ClampArgs& c, const void* x, const void* lo, const void* hi, void* out, Stream s);
void clamp_tensor_backward_cuda(const ClampArgs& c, const float* x, const float* lo, const float* hi, const float* g,
                                float* gx, float* glo, float* ghi, Stream s);
void gather_cuda(const IndexArgs& a, const int32_t* index, const void* data, void* other, Stream s);
void scatter_cuda(const IndexArgs& a, bool add, const int32_t* index, void* data, const void* other, Stream s);
void sort_cuda(const SortArgs& a, const void* x, void* values, int32_t* indices, Stream s);

}  // namespace cuda
}  // namespace ck
