// The index family on the CPU (csrc/core/index_kernels.h): cat, where, clamp with tensor bounds,
// gather / scatter, sort / topk. The elementwise ones walk their views row by row over coalesced dims
// (strided.h: no division per element), chunked over the thread pool, and apply the per-element rule
// shared with CUDA (idx::); scatter runs serially so that duplicate indices add (or overwrite, last one
// winning) in a fixed order. Indices are checked before anything is written: a bad one is ERR_INDEX
// naming the op, the value, the dim and its size.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.h"
#include "../core/index_kernels.h"
#include "strided.h"
#include "threadpool.h"

namespace ck {
namespace {

constexpr int64_t kGrain = 1 << 14;

int64_t numel_of(const Layout& l) {
  int64_t n = 1;
  for (int d = 0; d < l.ndim; ++d) n *= l.shape[d];
  return n;
}

// Calls fn(i, o, run, step) for each run of `run` consecutive elements i.. of NL views of one shape,
// whose offsets start at o[k] and advance by step[k], in row-major order (dims coalesced first); over
// the pool's threads when `parallel`, else serially in order.
template <int NL, class Fn>
void walk_runs(const Layout* const (&l)[NL], bool parallel, Fn&& fn) {
  int64_t shape[kMaxDims], strides[NL][kMaxDims], base[NL];
  for (int d = 0; d < l[0]->ndim; ++d) {
    shape[d] = l[0]->shape[d];
    for (int k = 0; k < NL; ++k) strides[k][d] = l[k]->strides[d];
  }
  for (int k = 0; k < NL; ++k) base[k] = l[k]->offset;
  const int nd = cpu::coalesce<NL>(l[0]->ndim, shape, strides);
  int64_t step[NL];
  for (int k = 0; k < NL; ++k) step[k] = strides[k][nd - 1];
  auto chunk = [&](int64_t b, int64_t e) {
    cpu::walk_rows<NL>(nd, shape, strides, base, b, e, [&](int64_t i, const int64_t* o, int64_t run) { fn(i, o, run, step); });
  };
  const int64_t n = numel_of(*l[0]);
  if (parallel) parallel_for(n, kGrain, chunk);
  else chunk(0, n);
}

// Calls fn(i, o) for every element i (o: its offsets in each view), as walk_runs.
template <int NL, class Fn>
void walk(const Layout* const (&l)[NL], bool parallel, Fn&& fn) {
  walk_runs<NL>(l, parallel, [&](int64_t i, const int64_t* o0, int64_t run, const int64_t* step) {
    int64_t o[NL];
    for (int64_t r = 0; r < run; ++r) {
      for (int k = 0; k < NL; ++k) o[k] = o0[k] + r * step[k];
      fn(i + r, o);
    }
  });
}

// Throws ERR_INDEX for the first index outside [0, dim_size).
void check_indices(const char* op, const IndexArgs& a, const int32_t* index) {
  const Layout* l[1] = {&a.index};
  walk_runs<1>(l, false, [&](int64_t, const int64_t* o, int64_t run, const int64_t* step) {
    for (int64_t r = 0; r < (step[0] == 0 ? 1 : run); ++r) {  // a broadcast index (index_select) once per run
      const int32_t v = index[o[0] + r * step[0]];
      if (v < 0 || v >= a.dim_size) throw Error("ERR_INDEX", index_error_message(op, v, a.dim, a.dim_size), ErrorKind::Range);
    }
  });
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
  const Layout* l[3] = {&c.x, &c.lo, &c.hi};
  walk<3>(l, true, [&](int64_t i, const int64_t* o) { out[i] = idx::clamp_at<T>(x, lo, hi, o); });
}

}  // namespace

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
  const Layout* l[3] = {&w.cond, &w.a, &w.b};
  walk<3>(l, true, [&](int64_t i, const int64_t* off) { o[i] = idx::where_at(w, cond, ca, cb, off); });
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
  const Layout* l[3] = {&c.x, &c.lo, &c.hi};
  walk<3>(l, true, [&](int64_t i, const int64_t* o) { idx::clamp_backward_at(x, lo, hi, g, gx, glo, ghi, i, o); });
}

void gather_cpu(const IndexArgs& a, const int32_t* index, const void* data, void* other) {
  check_indices("gather", a, index);
  const auto* d = static_cast<const uint32_t*>(data);
  auto* out = static_cast<uint32_t*>(other);
  const Layout* l[3] = {&a.index, &a.data, &a.other};
  walk_runs<3>(l, true, [&](int64_t, const int64_t* o0, int64_t run, const int64_t* step) {
    int64_t at = 0;
    if (step[0] == 0 && step[1] == 1 && step[2] == 1) {  // one index for a contiguous run (index_select): a row copy
      idx::index_at(a, index, o0, &at);
      std::memcpy(out + o0[2], d + at, static_cast<size_t>(run) * 4);
      return;
    }
    for (int64_t r = 0; r < run; ++r) {
      const int64_t o[3] = {o0[0] + r * step[0], o0[1] + r * step[1], o0[2] + r * step[2]};
      idx::index_at(a, index, o, &at);
      out[o[2]] = d[at];
    }
  });
}

void scatter_cpu(const IndexArgs& a, bool add, const int32_t* index, void* data, const void* other) {
  check_indices(add ? "scatter_add" : "scatter", a, index);
  const Layout* l[3] = {&a.index, &a.data, &a.other};
  walk<3>(l, false, [&](int64_t, const int64_t* o) {
    int64_t at = 0;
    idx::index_at(a, index, o, &at);
    if (!add) {
      static_cast<uint32_t*>(data)[at] = static_cast<const uint32_t*>(other)[o[2]];
    } else if (a.dtype == DType::F32) {
      static_cast<float*>(data)[at] += static_cast<const float*>(other)[o[2]];
    } else {  // int32 wraps modulo 2^32, as the other integer kernels
      static_cast<uint32_t*>(data)[at] += static_cast<const uint32_t*>(other)[o[2]];
    }
  });
}

void sort_cpu(const SortArgs& s, const void* x, void* values, int32_t* indices) {
  if (s.dtype == DType::F32) sort_rows(s, static_cast<const float*>(x), static_cast<float*>(values), indices);
  else sort_rows(s, static_cast<const int32_t*>(x), static_cast<int32_t*>(values), indices);
}

}  // namespace ck
