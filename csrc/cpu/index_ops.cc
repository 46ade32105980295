// The index family on the CPU (csrc/core/index_kernels.h): cat, where, clamp with tensor bounds,
// gather / scatter, sort / topk. Each walks its output once, computing each element's offsets in every
// view from its flat index (idx::offsets), chunked over the thread pool; scatter runs serially so that
// duplicate indices add (or overwrite, last one winning) in a fixed order. Indices are checked before
// anything is written: a bad one is ERR_INDEX naming the op, the value, the dim and its size.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.h"
#include "../core/index_kernels.h"
#include "threadpool.h"

namespace ck {
namespace {

constexpr int64_t kGrain = 1 << 14;

int64_t numel_of(const Layout& l) {
  int64_t n = 1;
  for (int d = 0; d < l.ndim; ++d) n *= l.shape[d];
  return n;
}

// Throws ERR_INDEX for the first index outside [0, a.data.shape[dim]).
void check_indices(const char* op, const IndexArgs& a, const int32_t* index) {
  const int64_t n = numel_of(a.index), size = a.dim_size;
  const Layout* l[1] = {&a.index};
  for (int64_t i = 0; i < n; ++i) {
    int64_t o;
    idx::offsets<1>(l, i, &o);
    const int32_t v = index[o];
    if (v < 0 || v >= size) throw Error("ERR_INDEX", index_error_message(op, v, a.dim, size), ErrorKind::Range);
  }
}

template <class T>
void sort_rows(const SortArgs& s, const T* x, T* values, int32_t* indices) {
  parallel_for(s.rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.n)), [&](int64_t r0, int64_t r1) {
    if (s.topk_order) {
      // PyTorch 1.13's topk_impl_loop, step for step: (value as double, index) pairs compared by value only.
      using elem = std::pair<double, int64_t>;
      std::vector<elem> q(static_cast<size_t>(s.n));
      auto gt = [](const elem& a, const elem& b) { return (idx::is_nan(a.first) && !idx::is_nan(b.first)) || a.first > b.first; };
      auto lt = [](const elem& a, const elem& b) { return (!idx::is_nan(a.first) && idx::is_nan(b.first)) || a.first < b.first; };
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = x + r * s.n;
        for (int64_t j = 0; j < s.n; ++j) q[j] = elem(static_cast<double>(row[j]), j);
        const int64_t k = s.k;
        if (k > 0) {
          auto run = [&](auto cmp) {
            if (k * 64 <= s.n) {
              std::partial_sort(q.begin(), q.begin() + k, q.end(), cmp);
            } else {
              std::nth_element(q.begin(), q.begin() + k - 1, q.end(), cmp);
              if (s.sorted) std::sort(q.begin(), q.begin() + k - 1, cmp);
            }
          };
          if (s.descending) run(gt); else run(lt);
        }
        for (int64_t j = 0; j < k; ++j) {
          values[r * k + j] = static_cast<T>(q[j].first);
          indices[r * k + j] = static_cast<int32_t>(q[j].second);
        }
      }
      return;
    }
    std::vector<int32_t> order(static_cast<size_t>(s.n));
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = x + r * s.n;
      std::iota(order.begin(), order.end(), 0);
      auto cmp = [&](int32_t a, int32_t b) { return idx::before(row[a], a, row[b], b, s.descending); };
      // before() breaks ties by index, so any sort is stable; partial_sort does only the k we need.
      if (s.k < s.n) std::partial_sort(order.begin(), order.begin() + s.k, order.end(), cmp);
      else std::sort(order.begin(), order.end(), cmp);
      for (int64_t j = 0; j < s.k; ++j) {
        values[r * s.k + j] = row[order[j]];
        indices[r * s.k + j] = order[j];
      }
    }
  });
}

template <class T>
void clamp_rows(const ClampArgs& c, const T* x, const T* lo, const T* hi, T* out) {
  parallel_for(numel_of(c.x), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = idx::clamp_at<T>(c, x, lo, hi, i);
  });
}

}  // namespace

std::string index_error_message(const char* op, int64_t v, int32_t dim, int64_t size) {
  return std::string(op) + ": index " + std::to_string(v) + " is out of bounds for dimension " + std::to_string(dim) +
         " with size " + std::to_string(size);
}

void cat_cpu(const CatArgs& a, void* output) {
  auto* out = static_cast<uint32_t*>(output);
  for (int i = 0; i < a.n; ++i) {
    const auto* in = static_cast<const uint32_t*>(a.inputs[i]);
    const int64_t run = a.sizes[i] * a.inner;  // one contiguous run per outer index
    if (run == 0) continue;
    parallel_for(a.outer, std::max<int64_t>(1, kGrain / run), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        std::memcpy(out + (o * a.total + a.offsets[i]) * a.inner, in + o * run, static_cast<size_t>(run) * 4);
    });
  }
}

void where_cpu(const WhereArgs& w, const void* cond, const void* a, const void* b, void* out) {
  const auto* ca = static_cast<const uint32_t*>(a);
  const auto* cb = static_cast<const uint32_t*>(b);
  auto* o = static_cast<uint32_t*>(out);
  parallel_for(numel_of(w.cond), kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) o[i] = idx::where_at(w, cond, ca, cb, i);
  });
}

void clamp_tensor_cpu(const ClampArgs& c, const void* x, const void* lo, const void* hi, void* out) {
  if (c.dtype == DType::F32)
    clamp_rows(c, static_cast<const float*>(x), static_cast<const float*>(lo), static_cast<const float*>(hi), static_cast<float*>(out));
  else
    clamp_rows(c, static_cast<const int32_t*>(x), static_cast<const int32_t*>(lo), static_cast<const int32_t*>(hi),
               static_cast<int32_t*>(out));
}

void clamp_tensor_backward_cpu(const ClampArgs& c, const float* x, const float* lo, const float* hi, const float* g,
                               float* gx, float* glo, float* ghi) {
  parallel_for(numel_of(c.x), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) idx::clamp_backward_at(c, x, lo, hi, g, gx, glo, ghi, i);
  });
}

void gather_cpu(const IndexArgs& a, const int32_t* index, const void* data, void* other) {
  check_indices("gather", a, index);
  const auto* d = static_cast<const uint32_t*>(data);
  auto* o = static_cast<uint32_t*>(other);
  parallel_for(numel_of(a.index), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      int64_t off[3];
      idx::index_at(a, index, i, off);
      o[off[2]] = d[off[1]];
    }
  });
}

void scatter_cpu(const IndexArgs& a, bool add, const int32_t* index, void* data, const void* other) {
  check_indices(add ? "scatter_add" : "scatter", a, index);
  const int64_t n = numel_of(a.index);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off[3];
    idx::index_at(a, index, i, off);
    if (!add) {
      static_cast<uint32_t*>(data)[off[1]] = static_cast<const uint32_t*>(other)[off[2]];
    } else if (a.dtype == DType::F32) {
      static_cast<float*>(data)[off[1]] += static_cast<const float*>(other)[off[2]];
    } else {  // int32 wraps modulo 2^32, as the other integer kernels
      auto* p = static_cast<uint32_t*>(data) + off[1];
      *p += static_cast<const uint32_t*>(other)[off[2]];
    }
  }
}

void sort_cpu(const SortArgs& s, const void* x, void* values, int32_t* indices) {
  if (s.dtype == DType::F32) sort_rows(s, static_cast<const float*>(x), static_cast<float*>(values), indices);
  else sort_rows(s, static_cast<const int32_t*>(x), static_cast<int32_t*>(values), indices);
}

}  // namespace ck
