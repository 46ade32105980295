// Optimizer updates: SGD, Adam/AdamW, RMSprop over every tensor of a parameter group in ONE launch
// (multi-tensor apply). CUDA twins of csrc/cpu/optim.cc (core/optim_kernels.h).
//
// Layout: each tensor of the group is a flat run of n floats (param, grad, and up to three state buffers of
// the same length), anywhere in device memory.
//
// Algorithm: the host drops empty tensors, cuts each remaining tensor into chunks of kChunk elements and
// uploads, into one stream-ordered scratch buffer, the table of OptimTensor entries (device pointers, n,
// per-tensor scalars) followed by first_chunk[k], the index of tensor k's first chunk. The grid has one block
// per (tensor, chunk) pair; a block finds its tensor by binary search in first_chunk (a few cached loads),
// then its threads walk the chunk: float4 loads and stores when every buffer of that tensor is 16-byte
// aligned (chunk starts are multiples of 4, so only the tensor's last n % 4 elements go one at a time),
// scalar otherwise. Each element is read and written exactly once: the whole update is one pass over memory.
//
// Capturable Adam / AdamW (core/optim_kernels.h): a first launch, one thread per tensor, increments each tensor's
// device step count and writes its bias-correction scalars into the uploaded table (adam_capturable_coefs);
// the update then reads its hyperparameters from the group's device buffer (AdamElem::resolve, once per block)
// and the scalars from the table. Nothing of a step's values is baked into the launch, so a graph replays it.
//
// Numerics: PyTorch 1.13's single-tensor path op for op in float32, as the CPU reference: fused multiply-adds
// exactly where PyTorch has them (add with alpha, addcmul), every other op rounded on its own. The explicit
// __f*_rn intrinsics keep nvcc from contracting anything else; with IEEE sqrt and division the GPU then
// gives the CPU reference's bits. In the host emulation the intrinsics are plain C++ that the host compiler
// could contract after inlining, so the two places where a product meets an add go through rounded().
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime.cuh"
#include "core/runtime_cuda.h"
#include "common.cuh"
#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/optim_kernels_cuda.h"

namespace ck {
namespace cuda {
namespace {

constexpr int64_t kChunk = 16384;  // elements per block: 16 float4 per thread
constexpr int64_t kMaxChunks = 2147483647;

__device__ __forceinline__ float rounded(float x) {
#if CK_CUDA_REAL
  return x;
#elif defined(__x86_64__) || defined(__i386__)
  __asm__("" : "+x"(x));
  return x;
#else
  __asm__("" : "+g"(x));
  return x;
#endif
}

// torch.maximum: NaN if either is NaN.
__device__ __forceinline__ float maximum(float a, float b) {
  return (a != a || b != b) ? __int_as_float(0x7fc00000) : (a > b ? a : b);
}

// ---- per-element updates (state s0..s2 as in core/optim_kernels.h) ------------------------------

struct SgdElem {
  float neg_lr, wd, momentum, one_minus_dampening;
  bool has_wd, use_buf, nesterov, maximize;

  __device__ __forceinline__ SgdElem resolve() const { return *this; }
  __device__ __forceinline__ bool uses(int k) const { return k == 0 && use_buf; }
  __device__ __forceinline__ void operator()(float& p, float g, float& buf, float&, float&, const OptimTensor& t) const {
    float d = maximize ? -g : g;
    if (has_wd) d = __fmaf_rn(p, wd, d);  // d_p.add(param, alpha=wd)
    if (use_buf) {
      const float b = t.flag ? d : __fmaf_rn(d, one_minus_dampening, __fmul_rn(buf, momentum));
      buf = b;
      d = nesterov ? __fmaf_rn(b, momentum, d) : b;
    }
    p = __fmaf_rn(d, neg_lr, p);  // param.add_(d_p, alpha=-lr)
  }
};

struct AdamElem {
  float wd, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  bool has_wd, adamw, maximize, amsgrad;
  // Capturable: the floats above come from this device buffer (AdamHyperSlot); the table's coef from the
  // step count on the device, and the update is PyTorch's capturable one (core/optim_kernels.h).
  const float* hyper;

  __device__ __forceinline__ AdamElem resolve() const {
    if (!hyper) return *this;
    AdamElem e = *this;
    e.wd = hyper[kAdamWd];
    e.decay = hyper[kAdamDecay];
    e.beta1 = hyper[kAdamBeta1];
    e.one_minus_beta1 = hyper[kAdamOneMinusBeta1];
    e.beta2 = hyper[kAdamBeta2];
    e.one_minus_beta2 = hyper[kAdamOneMinusBeta2];
    e.eps = hyper[kAdamEps];
    e.has_wd = e.wd != 0.0f;
    return e;
  }
  __device__ __forceinline__ bool uses(int k) const { return k < 2 || amsgrad; }
  __device__ __forceinline__ void operator()(float& p, float g, float& m, float& v, float& vmax,
                                             const OptimTensor& t) const {
    if (maximize) g = -g;
    if (adamw) p = rounded(__fmul_rn(p, decay));  // param.mul_(1 - lr * wd)
    else if (has_wd) g = __fmaf_rn(p, wd, g);         // grad.add(param, alpha=wd)
    m = __fmaf_rn(g, one_minus_beta1, __fmul_rn(m, beta1));
    v = __fmaf_rn(__fmul_rn(one_minus_beta2, g), g, __fmul_rn(v, beta2));
    float d = v;
    if (amsgrad) {
      vmax = maximum(vmax, v);
      d = vmax;
    }
    if (hyper) {  // (sqrt(v) / (bc2_sqrt * step_size_neg)).add_(eps / step_size_neg); addcdiv_(exp_avg, denom)
      d = __fadd_rn(__fdiv_rn(__fsqrt_rn(d), t.coef[0]), t.coef[1]);
      p = __fadd_rn(p, __fdiv_rn(m, d));
      return;
    }
    d = __fadd_rn(__fdiv_rn(__fsqrt_rn(d), t.coef[1]), eps);
    p = __fadd_rn(p, __fdiv_rn(__fmul_rn(t.coef[0], m), d));  // addcdiv_(exp_avg, denom, value=-step_size)
  }
};

struct RmspropElem {
  float neg_lr, wd, alpha, one_minus_alpha, eps, momentum;
  bool has_wd, use_buf, centered, maximize;

  __device__ __forceinline__ RmspropElem resolve() const { return *this; }
  __device__ __forceinline__ bool uses(int k) const { return k == 0 || (k == 1 && use_buf) || (k == 2 && centered); }
  __device__ __forceinline__ void operator()(float& p, float g, float& sq, float& buf, float& ga,
                                             const OptimTensor&) const {
    if (maximize) g = -g;
    if (has_wd) g = __fmaf_rn(p, wd, g);
    sq = __fmaf_rn(__fmul_rn(one_minus_alpha, g), g, __fmul_rn(sq, alpha));
    float avg;
    if (centered) {
      ga = __fmaf_rn(g, one_minus_alpha, __fmul_rn(ga, alpha));
      avg = __fsqrt_rn(__fmaf_rn(-ga, ga, sq));  // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
    } else {
      avg = __fsqrt_rn(sq);
    }
    avg = __fadd_rn(avg, eps);
    if (use_buf) {
      buf = __fadd_rn(rounded(__fmul_rn(buf, momentum)), __fdiv_rn(g, avg));  // buf.mul_(m).addcdiv_(grad, avg)
      p = __fmaf_rn(buf, neg_lr, p);
    } else {
      p = __fadd_rn(p, __fdiv_rn(__fmul_rn(neg_lr, g), avg));
    }
  }
};

// ---- multi-tensor apply -----------------------------------------------------------------------------

template <class Elem>
__device__ __forceinline__ void update4(const Elem& e, const OptimTensor& t, int64_t i) {
  const float4 z = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  float4 p = *reinterpret_cast<const float4*>(t.param + i);
  const float4 g = *reinterpret_cast<const float4*>(t.grad + i);
  float4 s0 = e.uses(0) ? *reinterpret_cast<const float4*>(t.state[0] + i) : z;
  float4 s1 = e.uses(1) ? *reinterpret_cast<const float4*>(t.state[1] + i) : z;
  float4 s2 = e.uses(2) ? *reinterpret_cast<const float4*>(t.state[2] + i) : z;
  e(p.x, g.x, s0.x, s1.x, s2.x, t);
  e(p.y, g.y, s0.y, s1.y, s2.y, t);
  e(p.z, g.z, s0.z, s1.z, s2.z, t);
  e(p.w, g.w, s0.w, s1.w, s2.w, t);
  *reinterpret_cast<float4*>(t.param + i) = p;
  if (e.uses(0)) *reinterpret_cast<float4*>(t.state[0] + i) = s0;
  if (e.uses(1)) *reinterpret_cast<float4*>(t.state[1] + i) = s1;
  if (e.uses(2)) *reinterpret_cast<float4*>(t.state[2] + i) = s2;
}

template <class Elem>
__device__ __forceinline__ void update1(const Elem& e, const OptimTensor& t, int64_t i) {
  float p = t.param[i];
  float s0 = e.uses(0) ? t.state[0][i] : 0.0f;
  float s1 = e.uses(1) ? t.state[1][i] : 0.0f;
  float s2 = e.uses(2) ? t.state[2][i] : 0.0f;
  e(p, t.grad[i], s0, s1, s2, t);
  t.param[i] = p;
  if (e.uses(0)) t.state[0][i] = s0;
  if (e.uses(1)) t.state[1][i] = s1;
  if (e.uses(2)) t.state[2][i] = s2;
}

template <class Elem>
__device__ __forceinline__ bool aligned16(const Elem& e, const OptimTensor& t) {
  uintptr_t bits = reinterpret_cast<uintptr_t>(t.param) | reinterpret_cast<uintptr_t>(t.grad);
  for (int k = 0; k < 3; ++k)
    if (e.uses(k)) bits |= reinterpret_cast<uintptr_t>(t.state[k]);
  return (bits & 15u) == 0;
}

// One block per (tensor, chunk): block b updates chunk b - first_chunk[k] of the tensor k with
// first_chunk[k] <= b < first_chunk[k + 1]. Every tensor of the table has at least one chunk.
template <class Elem>
__global__ void __launch_bounds__(kThreads) multi_tensor_kernel1(const OptimTensor* __restrict__ table,   // (count)
                                                                 const int64_t* __restrict__ first_chunk,  // (count)
                                                                 int32_t count, Elem e0) {
  const Elem e = e0.resolve();
  const int64_t b = blockIdx.x;
  int32_t lo = 0, hi = count - 1;
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo + 1) / 2;
    if (__ldg(first_chunk + mid) <= b) lo = mid;
    else hi = mid - 1;
  }
  const OptimTensor t = table[lo];
  const int64_t begin = (b - __ldg(first_chunk + lo)) * kChunk;
  const int64_t end = begin + kChunk < t.n ? begin + kChunk : t.n;
  const int64_t tid = threadIdx.x, nt = blockDim.x;
  int64_t i = begin + tid;
  if (aligned16(e, t)) {
    const int64_t nv = (end - begin) / 4;
    for (int64_t j = tid; j < nv; j += nt) update4(e, t, begin + 4 * j);
    i = begin + 4 * nv + tid;
  }
  for (; i < end; i += nt) update1(e, t, i);
}

// Capturable Adam's per-tensor scalars: every tensor's step (live[k] >= 0: its row of the table, whose coef
// this fills; -1: an empty tensor, whose step still counts, as PyTorch's).
__global__ void __launch_bounds__(kThreads) adam_capturable_prelude(OptimTensor* __restrict__ table,  // (live)
                                                                    float* const* __restrict__ steps,  // (count)
                                                                    const int32_t* __restrict__ live,  // (count)
                                                                    int32_t count, const float* __restrict__ hyper) {
  for (int32_t k = threadIdx.x; k < count; k += blockDim.x) {
    float coef[2];
    adam_capturable_coefs(steps[k], hyper, coef);
    if (live[k] >= 0) {
      table[live[k]].coef[0] = coef[0];
      table[live[k]].coef[1] = coef[1];
    }
  }
}

// ---- host side --------------------------------------------------------------------------------------

// steps (capturable Adam, with e.hyper): each tensor's device step count, for adam_capturable_prelude.
template <class Elem>
void apply_group(const char* name, const OptimTensor* tensors, int64_t count, const Elem& e, Stream s,
                 float* const* steps = nullptr, const float* hyper = nullptr) {
  if (count < 0) throw Error("ERR_ARG", std::string(name) + ": negative tensor count", ErrorKind::Range);
  std::vector<OptimTensor> live;
  std::vector<int64_t> first;
  std::vector<int32_t> row;  // per tensor: its row in live, or -1
  int64_t chunks = 0;
  for (int64_t k = 0; k < count; ++k) {
    if (tensors[k].n < 0) throw Error("ERR_ARG", std::string(name) + ": negative element count", ErrorKind::Range);
    row.push_back(tensors[k].n == 0 ? -1 : static_cast<int32_t>(live.size()));
    if (tensors[k].n == 0) continue;
    live.push_back(tensors[k]);
    first.push_back(chunks);
    chunks += (tensors[k].n + kChunk - 1) / kChunk;
  }
  if (live.empty() && !steps) return;
  if (chunks > kMaxChunks || live.size() > static_cast<size_t>(INT32_MAX))
    throw Error("ERR_ARG", std::string(name) + ": parameter group too large for one launch", ErrorKind::Range);
  // One upload: the table, then first_chunk (OptimTensor is 64 bytes, so the int64s stay aligned). The table
  // is written straight into a pinned block, so the copy is asynchronous and nothing waits for it; the
  // block returns to the pinned pool with an event and is reused only once the copy has run.
  // Capturable Adam appends the step pointers (8 bytes each) and the rows (int32).
  const size_t table_bytes = live.size() * sizeof(OptimTensor);
  const size_t first_bytes = first.size() * sizeof(int64_t);
  const size_t steps_bytes = steps ? row.size() * sizeof(float*) : 0;
  const size_t bytes = table_bytes + first_bytes + steps_bytes + (steps ? row.size() * sizeof(int32_t) : 0);
  unsigned char* host = static_cast<unsigned char*>(pinned_alloc(bytes));
  std::memcpy(host, live.data(), table_bytes);
  std::memcpy(host + table_bytes, first.data(), first_bytes);
  if (steps) {
    std::memcpy(host + table_bytes + first_bytes, steps, steps_bytes);
    std::memcpy(host + table_bytes + first_bytes + steps_bytes, row.data(), row.size() * sizeof(int32_t));
  }
  Scratch buf(bytes, s);
  try {
    memcpy_h2d_async(buf.p, host, bytes, s);
  } catch (...) {
    pinned_free(host);
    throw;
  }
  pinned_free(host);  // while a graph is captured, the graph keeps it: every replay reads it again
  auto* table = static_cast<OptimTensor*>(buf.p);
  unsigned char* base = static_cast<unsigned char*>(buf.p);
  const auto* first_dev = reinterpret_cast<const int64_t*>(base + table_bytes);
  if (steps) {
    launch(adam_capturable_prelude, dim3(1), dim3(kThreads), 0, s, table,
           reinterpret_cast<float* const*>(base + table_bytes + first_bytes),
           reinterpret_cast<const int32_t*>(base + table_bytes + first_bytes + steps_bytes),
           static_cast<int32_t>(row.size()), hyper);
  }
  if (live.empty()) return;
  launch(multi_tensor_kernel1<Elem>, dim3(static_cast<unsigned>(chunks)), dim3(kThreads), 0, s, table, first_dev,
         static_cast<int32_t>(live.size()), e);
}

}  // namespace

static_assert(sizeof(OptimTensor) == 64, "the device table assumes 64-byte entries");

void sgd_step_cuda(const OptimTensor* tensors, int64_t count, const SgdParams& hp, Stream s) {
  const SgdElem e{static_cast<float>(-hp.lr), static_cast<float>(hp.weight_decay), static_cast<float>(hp.momentum),
                  static_cast<float>(1.0 - hp.dampening), hp.weight_decay != 0.0, hp.momentum != 0.0, hp.nesterov,
                  hp.maximize};
  apply_group("sgd_step", tensors, count, e, s);
}

void adam_step_cuda(const OptimTensor* tensors, int64_t count, const AdamParams& hp, Stream s) {
  const AdamElem e{static_cast<float>(hp.weight_decay), static_cast<float>(1.0 - hp.lr * hp.weight_decay),
                   static_cast<float>(hp.beta1), static_cast<float>(1.0 - hp.beta1), static_cast<float>(hp.beta2),
                   static_cast<float>(1.0 - hp.beta2), static_cast<float>(hp.eps), hp.weight_decay != 0.0,
                   hp.adamw, hp.maximize, hp.amsgrad, nullptr};
  apply_group("adam_step", tensors, count, e, s);
}

void adam_step_capturable_cuda(const OptimTensor* tensors, float* const* steps, int64_t count, const float* hyper,
                               const AdamParams& hp, Stream s) {
  if (!hyper) throw Error("ERR_ARG", "adam_step (capturable): no hyperparameter buffer", ErrorKind::Type);
  AdamElem e{};
  e.adamw = hp.adamw;
  e.maximize = hp.maximize;
  e.amsgrad = hp.amsgrad;
  e.hyper = hyper;
  apply_group("adam_step", tensors, count, e, s, steps, hyper);
}

void adam_hyper_upload_cuda(float* hyper, const AdamParams& hp, Stream s) {
  if (capturing())
    throw Error("ERR_UNSUPPORTED", "an optimizer's hyperparameters changed during a CUDA graph capture: they are "
                "written outside the graph (before each replay), so set them before capture() or after it");
  float h[kAdamHyperSlots];
  adam_hyper_values(hp, h);
  void* host = pinned_alloc(sizeof(h));
  std::memcpy(host, h, sizeof(h));
  try {
    memcpy_h2d_async(hyper, host, sizeof(h), s);
  } catch (...) {
    pinned_free(host);
    throw;
  }
  pinned_free(host);  // reused once the copy has run (its event)
}

void rmsprop_step_cuda(const OptimTensor* tensors, int64_t count, const RmspropParams& hp, Stream s) {
  const RmspropElem e{static_cast<float>(-hp.lr), static_cast<float>(hp.weight_decay), static_cast<float>(hp.alpha),
                      static_cast<float>(1.0 - hp.alpha), static_cast<float>(hp.eps), static_cast<float>(hp.momentum),
                      hp.weight_decay != 0.0, hp.momentum > 0.0, hp.centered, hp.maximize};
  apply_group("rmsprop_step", tensors, count, e, s);
}

}  // namespace cuda
}  // namespace ck
