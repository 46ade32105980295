// conv2d forward, backward-data, backward-filter and bias through cuDNN's legacy convolution API, FP32 NCHW.
// Algorithm choice follows PyTorch: with benchmark on, cudnnFind*AlgorithmEx times every algorithm once per
// (device, direction, shape, parameters, TF32) and the fastest is cached; otherwise cudnnGet*_v7's
// heuristic ranking is taken (also cached). TF32 is cuDNN's DEFAULT_MATH for FP32 on Ampere and later;
// allowTF32 = false selects FMA_MATH, which rules tensor cores out. Workspaces come from the stream-ordered
// pool (ck::cuda::malloc/free on the default stream), so a per-call allocation is cheap and is released in
// stream order. One handle per device, bound to convkit's default stream.
#include "conv.h"

#include <atomic>

#include "../core/error.h"

#if defined(CK_HAVE_CUDA) && !defined(CK_CUDA_EMU)
#include <array>
#include <climits>
#include <map>
#include <mutex>
#include <string>
#include "../core/kernels_cuda.h"
#include "loader.h"
#endif

namespace ck {
namespace cudnn {
namespace {
std::atomic<bool> g_benchmark{false};
std::atomic<bool> g_allow_tf32{true};
}  // namespace

void set_options(bool bm, bool tf32) {
  g_benchmark = bm;
  g_allow_tf32 = tf32;
}
bool benchmark() { return g_benchmark; }
bool allow_tf32() { return g_allow_tf32; }

#if defined(CK_HAVE_CUDA) && !defined(CK_CUDA_EMU)

bool compiled() { return true; }

namespace {

[[noreturn]] void throw_status(cudnnStatus_t st, const char* expr, int line) {
  const Api& a = api();
  std::string msg = std::string("cuDNN error ") + status_name(st) + " (" + std::to_string((int)st) + ")";
  if (a.cudnnGetErrorString) msg += std::string(": ") + a.cudnnGetErrorString(st);
  msg += std::string(" from ") + expr + " at " + __FILE__ + ":" + std::to_string(line);
  throw Error("ERR_CUDNN", msg);
}

#define CK_CUDNN_CHECK(expr)                                                       \
  do {                                                                             \
    const cudnnStatus_t ck_st_ = (expr);                                           \
    if (ck_st_ != CUDNN_STATUS_SUCCESS) throw_status(ck_st_, #expr, __LINE__);     \
  } while (0)

int to_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw Error("ERR_SHAPE", std::string("cuDNN conv2d: ") + what + " does not fit cuDNN's int sizes", ErrorKind::Range);
  return (int)v;
}

std::mutex g_mu;
std::map<int, cudnnHandle_t> g_handles;

cudnnHandle_t handle(const Api& a, int device) {
  cuda::set_device(device);
  cudnnHandle_t h;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_handles.find(device);
    if (it == g_handles.end()) {
      cudnnHandle_t nh = nullptr;
      CK_CUDNN_CHECK(a.cudnnCreate(&nh));
      it = g_handles.emplace(device, nh).first;  // kept for the life of the process, as cuDNN advises
    }
    h = it->second;
  }
  CK_CUDNN_CHECK(a.cudnnSetStream(h, static_cast<cudaStream_t>(cuda::default_stream())));
  return h;
}

// A cuDNN descriptor owned for a scope: created, then set by set(d) (destroyed again if that throws), and
// destroyed at the end of the scope.
template <class D, auto Create, auto Destroy>
struct Desc {
  const Api& a;
  D d = nullptr;
  template <class Set>
  Desc(const Api& api_, Set&& set) : a(api_) {
    CK_CUDNN_CHECK((a.*Create)(&d));
    try {
      set(d);
    } catch (...) {
      (a.*Destroy)(d);
      throw;
    }
  }
  ~Desc() { (a.*Destroy)(d); }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
};

using TensorDescBase =
    Desc<cudnnTensorDescriptor_t, &Api::cudnnCreateTensorDescriptor, &Api::cudnnDestroyTensorDescriptor>;
struct TensorDesc : TensorDescBase {
  TensorDesc(const Api& api_, int64_t n, int64_t c, int64_t h, int64_t w)
      : TensorDescBase(api_, [&](cudnnTensorDescriptor_t d) {
          CK_CUDNN_CHECK(api_.cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(n, "N"),
                                                         to_int(c, "C"), to_int(h, "H"), to_int(w, "W")));
        }) {}
};

using FilterDescBase =
    Desc<cudnnFilterDescriptor_t, &Api::cudnnCreateFilterDescriptor, &Api::cudnnDestroyFilterDescriptor>;
struct FilterDesc : FilterDescBase {
  FilterDesc(const Api& api_, const Conv2dParams& p)
      : FilterDescBase(api_, [&](cudnnFilterDescriptor_t d) {
          CK_CUDNN_CHECK(api_.cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, to_int(p.O, "O"),
                                                         to_int(p.C / p.groups, "C/groups"), to_int(p.KH, "KH"),
                                                         to_int(p.KW, "KW")));
        }) {}
};

using ConvDescBase =
    Desc<cudnnConvolutionDescriptor_t, &Api::cudnnCreateConvolutionDescriptor, &Api::cudnnDestroyConvolutionDescriptor>;
struct ConvDesc : ConvDescBase {
  ConvDesc(const Api& api_, const Conv2dParams& p, cudnnMathType_t math)
      : ConvDescBase(api_, [&](cudnnConvolutionDescriptor_t d) {
          CK_CUDNN_CHECK(api_.cudnnSetConvolution2dDescriptor(d, to_int(p.ph, "padding"), to_int(p.pw, "padding"),
                                                              to_int(p.sh, "stride"), to_int(p.sw, "stride"),
                                                              to_int(p.dh, "dilation"), to_int(p.dw, "dilation"),
                                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
          CK_CUDNN_CHECK(api_.cudnnSetConvolutionGroupCount(d, to_int(p.groups, "groups")));
          CK_CUDNN_CHECK(api_.cudnnSetConvolutionMathType(d, math));
        }) {}
  void set_math(cudnnMathType_t m) { CK_CUDNN_CHECK(a.cudnnSetConvolutionMathType(d, m)); }
};

// Workspace from the stream-ordered pool, returned in stream order.
struct Workspace {
  void* p = nullptr;
  size_t bytes = 0;
  Workspace() = default;
  explicit Workspace(size_t n) : p(n ? cuda::malloc(n, cuda::default_stream()) : nullptr), bytes(n) {}
  // The largest of `n` that the pool grants, halving on ERR_CUDA_OOM (for the algorithm search).
  static size_t try_alloc(Workspace& w, size_t n) {
    while (n > 0) {
      try {
        w.p = cuda::malloc(n, cuda::default_stream());
        w.bytes = n;
        return n;
      } catch (const Error& e) {
        if (e.code != "ERR_CUDA_OOM") throw;
        n /= 2;
      }
    }
    return 0;
  }
  ~Workspace() {
    if (p) cuda::free(p, cuda::default_stream());
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
};

enum Direction { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };

struct Choice {
  int algo;
  cudnnMathType_t math;
  size_t workspace;
};

using Key = std::array<int64_t, 21>;
std::map<Key, Choice> g_choices;

Key make_key(int device, Direction dir, const Conv2dParams& p, bool bm, bool tf32) {
  return Key{device, dir, bm, tf32, p.N, p.C, p.H, p.W, p.O, p.KH, p.KW, p.OH, p.OW, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, p.groups, 0};
}

bool cached(const Key& k, Choice& c) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_choices.find(k);
  if (it == g_choices.end()) return false;
  c = it->second;
  return true;
}
void remember(const Key& k, const Choice& c) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_choices[k] = c;
}

// Picks from a perf list sorted best first: the first that succeeded. With TF32 off the math type stays
// FMA whatever the entry says, so a cached choice can never turn TF32 back on.
template <class Perf>
bool pick(const Perf* perf, int n, bool tf32, Choice& out) {
  for (int i = 0; i < n; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    out.algo = (int)perf[i].algo;
    out.math = tf32 ? perf[i].mathType : CUDNN_FMA_MATH;
    out.workspace = perf[i].memory;
    return true;
  }
  return false;
}

[[noreturn]] void no_algorithm(const char* what, const Conv2dParams& p) {
  throw Error("ERR_CUDNN", std::string("cuDNN found no ") + what + " algorithm for conv2d N=" + std::to_string(p.N) +
                               " C=" + std::to_string(p.C) + " H=" + std::to_string(p.H) + " W=" + std::to_string(p.W) +
                               " O=" + std::to_string(p.O) + " k=" + std::to_string(p.KH) + "x" + std::to_string(p.KW) +
                               " groups=" + std::to_string(p.groups));
}

// The largest workspace any algorithm of a direction asks for (those that fail the query are skipped).
template <class Query>
size_t max_workspace(int count, Query&& q) {
  size_t best = 0;
  for (int i = 0; i < count; ++i) {
    size_t s = 0;
    if (q(i, &s) == CUDNN_STATUS_SUCCESS && s > best) best = s;
  }
  return best;
}

struct Setup {
  // The shared validation (core/nn_params.h) before any descriptor is made from p.
  static const Api& checked(const Api& api_, const Conv2dParams& p) {
    check_conv2d(p, "cuDNN conv2d");
    return api_;
  }
  const Api& a;
  cudnnHandle_t h;
  bool bm, tf32;
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  Setup(const Api& api_, int device, const Conv2dParams& p)
      : a(checked(api_, p)), h(handle(api_, device)), bm(benchmark()), tf32(allow_tf32()),
        x(api_, p.N, p.C, p.H, p.W), y(api_, p.N, p.O, p.OH, p.OW), w(api_, p), conv(api_, p, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH) {}
};

// A direction's types, algorithm count and Api members (see run_direction).
#define CK_CUDNN_DIRECTION(Name, Kind, KIND)                                                                \
  struct Name {                                                                                           \
    using Algo = cudnnConvolution##Kind##Algo_t;                                                          \
    using Perf = cudnnConvolution##Kind##AlgoPerf_t;                                                      \
    static constexpr int kCount = CUDNN_CONVOLUTION_##KIND##_ALGO_COUNT;                                   \
    static constexpr auto size = &Api::cudnnGetConvolution##Name##WorkspaceSize;                          \
    static constexpr auto find = &Api::cudnnFindConvolution##Name##AlgorithmEx;                           \
    static constexpr auto suggest = &Api::cudnnGetConvolution##Name##Algorithm_v7;                        \
    static constexpr auto run = &Api::cudnnConvolution##Name;                                             \
  };
CK_CUDNN_DIRECTION(Forward, Fwd, FWD)
CK_CUDNN_DIRECTION(BackwardData, BwdData, BWD_DATA)
CK_CUDNN_DIRECTION(BackwardFilter, BwdFilter, BWD_FILTER)
#undef CK_CUDNN_DIRECTION

// One direction of a convolution. cuDNN's three directions share one call shape, with descriptors d1, d2, d3
// (and their pointers) in the direction's own order: forward (x, w, y), backward-data (w, dy, dx),
// backward-filter (x, dy, dw). A direction (Forward, BackwardData, BackwardFilter below) names its types and
// its Api members:
//   size(h, d1, d2, conv, d3, algo, &bytes)                     its workspace for an algorithm
//   find(h, d1, p1, d2, p2, conv, d3, p3, count, &n, perf, ws, bytes)  timed (benchmark mode)
//   suggest(h, d1, d2, conv, d3, count, &n, perf)                 heuristic order
//   run(h, &one, d1, p1, d2, p2, conv, algo, ws, bytes, &zero, d3, p3)
// The algorithm comes from the cache, else from find (in the largest workspace that can be allocated) or
// suggest; then it runs in its workspace.
template <class Dir, class D1, class D2, class D3>
void run_direction(Setup& s, const Key& key, const char* what, const Conv2dParams& p, D1 d1, const void* p1, D2 d2,
                   const void* p2, D3 d3, void* p3) {
  using Algo = typename Dir::Algo;
  using Perf = typename Dir::Perf;
  constexpr int kCount = Dir::kCount;
  constexpr auto size = Dir::size;
  constexpr auto find = Dir::find;
  constexpr auto suggest = Dir::suggest;
  constexpr auto run = Dir::run;
  const Api& a = s.a;
  auto workspace_of = [&](int algo, size_t* bytes) {
    return (a.*size)(s.h, d1, d2, s.conv.d, d3, static_cast<Algo>(algo), bytes);
  };
  Choice c{};
  if (cached(key, c)) {
    s.conv.set_math(c.math);
  } else {
    Perf perf[kCount];
    int n = 0;
    if (s.bm) {
      Workspace ws;
      const size_t got = Workspace::try_alloc(ws, max_workspace(kCount, workspace_of));
      CK_CUDNN_CHECK((a.*find)(s.h, d1, p1, d2, p2, s.conv.d, d3, p3, kCount, &n, perf, ws.p, got));
    } else {
      CK_CUDNN_CHECK((a.*suggest)(s.h, d1, d2, s.conv.d, d3, kCount, &n, perf));
    }
    if (!pick(perf, n, s.tf32, c)) no_algorithm(what, p);
    s.conv.set_math(c.math);
    CK_CUDNN_CHECK(workspace_of(c.algo, &c.workspace));
    remember(key, c);
  }
  Workspace ws(c.workspace);
  const float one = 1.f, zero = 0.f;
  CK_CUDNN_CHECK((a.*run)(s.h, &one, d1, p1, d2, p2, s.conv.d, static_cast<Algo>(c.algo), ws.p, ws.bytes, &zero, d3,
                          p3));
}

}  // namespace

void conv2d_forward(int device, const Conv2dParams& p, const float* x, const float* w, const float* b, float* y) {
  const Api& a = api();
  Setup s(a, device, p);
  run_direction<Forward>(s, make_key(device, kForward, p, s.bm, s.tf32), "forward", p, s.x.d, x, s.w.d, w, s.y.d, y);
  if (b) {
    const float one = 1.f;
    TensorDesc bd(a, 1, p.O, 1, 1);
    CK_CUDNN_CHECK(a.cudnnAddTensor(s.h, &one, bd.d, b, &one, s.y.d, y));
  }
}

void conv2d_backward_data(int device, const Conv2dParams& p, const float* dy, const float* w, float* dx) {
  Setup s(api(), device, p);  // s.x describes dx, s.y describes dy
  run_direction<BackwardData>(s, make_key(device, kBackwardData, p, s.bm, s.tf32), "backward-data", p, s.w.d, w,
                              s.y.d, dy, s.x.d, dx);
}

void conv2d_backward_weight(int device, const Conv2dParams& p, const float* x, const float* dy, float* dw, float* db) {
  const Api& a = api();
  if (db && !a.cudnnConvolutionBackwardBias)
    throw Error("ERR_CUDNN", "this cuDNN has no cudnnConvolutionBackwardBias; use backend 'native' for a conv with a bias gradient");
  Setup s(a, device, p);
  run_direction<BackwardFilter>(s, make_key(device, kBackwardFilter, p, s.bm, s.tf32), "backward-filter", p, s.x.d,
                                x, s.y.d, dy, s.w.d, dw);
  if (db) {
    const float one = 1.f, zero = 0.f;
    TensorDesc bd(a, 1, p.O, 1, 1);
    CK_CUDNN_CHECK(a.cudnnConvolutionBackwardBias(s.h, &one, s.y.d, dy, &zero, bd.d, db));
  }
}

#else  // cpu and emulated builds: no cuDNN

bool compiled() { return false; }

namespace {
[[noreturn]] void unavailable() {
  throw Error("ERR_CUDNN", std::string("cuDNN is not available in the '") + CK_FLAVOUR +
                               "' build of convkit: it needs the real CUDA build (a GPU binary)");
}
}  // namespace

void conv2d_forward(int, const Conv2dParams&, const float*, const float*, const float*, float*) { unavailable(); }
void conv2d_backward_data(int, const Conv2dParams&, const float*, const float*, float*) { unavailable(); }
void conv2d_backward_weight(int, const Conv2dParams&, const float*, const float*, float*, float*) { unavailable(); }

#endif

}  // namespace cudnn
}  // namespace ck
