// Standalone self-test of the convolution kernels (csrc/cpu/conv.cc, cuda/conv.cu): for small shapes covering
// stride, padding (including padding wider than the kernel), dilation, groups (grouped, depthwise,
// depthwise with a channel multiplier), no bias, batch 1, non-square kernels, 1x1 (the direct path and a
// strided 1x1), every CPU function is checked against a naive double-precision loop, under 1, 2 and 3
// threads so the item, slice and wide modes all run, and every CUDA function is checked against the same
// reference (test/reference/conv.h), |a - ref| <= 1e-5 sqrt(products in the sum) + 1e-4 |ref|. Outputs are
// pre-filled with NaN so a kernel that fails to overwrite shows. Bad parameters must throw ERR_SHAPE / ERR_ARG from both backends. Exits non-zero on any failure.
//
// Built and run by `node scripts/native-selftests.js` (g++ -DCK_CUDA_EMU, no GPU needed) from these sources:
// selftest-build: cuda/conv.cu cuda/gemm.cu cuda/elementwise.cu cuda/reduce.cu cuda/runtime.cu cuda/stats.cu csrc/cpu/conv.cc
// selftest-build: csrc/cpu/gemm.cc csrc/cpu/gemm_bf16.cc csrc/cpu/threadpool.cc csrc/cpu/elementwise.cc csrc/cpu/reduce.cc
// selftest-build: csrc/cpu/random.cc csrc/cpu/winograd.cc csrc/cpu/fused.cc csrc/cpu/batchnorm.cc csrc/cpu/pool.cc csrc/cpu/conv_direct.cc csrc/cpu/conv_small.cc cuda/emu/*.cc
// Real GPU: nvcc -std=c++17 -O3 -arch=sm_90 -Icsrc -Icuda with the same files (.cu and .cc).
// Pass --big to add a larger case (bands in the CPU code, deep split-K sums in the CUDA weight gradient).
// The tiling of both backends is sized for real shapes, so on these small ones most of it degenerates to
// one piece. So the script also builds it once more with tiny budgets, which runs the cut-up paths:
// CPU one-row bands and one-channel blocks; CUDA split-K partials over budget (fewer splits), split bias-gradient sums:
// selftest-variant: tiny-budgets -DCK_CONV_UNROLL_BUDGET=64 -DCK_CONV_MIN_BAND_COLS=1 -DCK_CONV_CUDA_PARTIAL_BUDGET=200 -DCK_CONV_CUDA_BIAS_GRAD_MIN=16
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernels.h"
#include "core/kernels_cuda.h"
#include "core/nn_kernels.h"
#include "core/nn_kernels_cuda.h"
#include "../reference/check.h"
#include "../reference/conv.h"

using ck::Conv2dParams;

namespace {

int g_checks = 0;
int g_failures = 0;

void fail(const std::string& what) {
  if (++g_failures <= 40) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  float uniform() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<double>(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
};

std::vector<float> random_vec(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform();
  return v;
}

struct Dev {
  float* p = nullptr;
  explicit Dev(size_t n) {
    p = static_cast<float*>(ck::cuda::malloc((n ? n : 1) * 4, ck::cuda::default_stream()));
  }
  explicit Dev(const std::vector<float>& v) : Dev(v.size()) { put(v); }
  ~Dev() { ck::cuda::free(p, ck::cuda::default_stream()); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  void put(const std::vector<float>& v) { ck::cuda::memcpy_h2d(p, v.data(), v.size() * 4, ck::cuda::default_stream()); }
  std::vector<float> get(size_t n) const {
    std::vector<float> v(n);
    ck::cuda::memcpy_d2h(v.data(), p, n * 4, ck::cuda::default_stream());
    return v;
  }
};

Conv2dParams make(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t sh,
                  int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t g) {
  Conv2dParams p{};
  p.N = N, p.C = C, p.H = H, p.W = W, p.O = O, p.KH = KH, p.KW = KW;
  p.sh = sh, p.sw = sw, p.ph = ph, p.pw = pw, p.dh = dh, p.dw = dw, p.groups = g;
  p.OH = (H + 2 * ph - dh * (KH - 1) - 1) / sh + 1;
  p.OW = (W + 2 * pw - dw * (KW - 1) - 1) / sw + 1;
  return p;
}

std::string describe(const Conv2dParams& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "N%lld C%lld %lldx%lld O%lld k%lldx%lld s%lld,%lld p%lld,%lld d%lld,%lld g%lld",
                (long long)p.N, (long long)p.C, (long long)p.H, (long long)p.W, (long long)p.O, (long long)p.KH,
                (long long)p.KW, (long long)p.sh, (long long)p.sw, (long long)p.ph, (long long)p.pw,
                (long long)p.dh, (long long)p.dw, (long long)p.groups);
  return buf;
}

// A result against the double reference (test/reference/conv.h), both devices alike: rounding grows with the
// number of products in a sum, so |got - ref| <= 1e-5 sqrt(terms) + 1e-4 |ref| (+ extra_atol for big sums).
// TF32 kernels (g_tf32): each operand is rounded to 10 mantissa bits (relative error <= 2^-11, about
// 2^-11/sqrt(3) = 2.8e-4 rms), so a product of two unit-variance values is off by ~4e-4 rms and a sum of
// t of them by ~4e-4 sqrt(t): |got - ref| <= 3e-3 sqrt(terms) + 1e-3 |ref| allows 7 standard deviations.
bool g_tf32 = false;
void check_ref(const std::string& what, const std::vector<float>& got, const std::vector<double>& ref,
               const std::vector<int64_t>* terms, double extra_atol = 0.0) {
  int bad = 0;
  ++g_checks;
  ck::ref::tally("conv", ck::ref::device_of(what));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double t = terms ? double((*terms)[i]) : 1.0;
    const double tol = g_tf32 ? 3e-3 * std::sqrt(t) + 1e-3 * std::fabs(ref[i]) + extra_atol
                              : 1e-5 * std::sqrt(t) + 1e-4 * std::fabs(ref[i]) + extra_atol;
    if (!(std::fabs(got[i] - ref[i]) <= tol)) {
      if (bad++ < 3) fail(what + " [" + std::to_string(i) + "] got " + std::to_string(got[i]) + " want " + std::to_string(ref[i]));
    }
  }
}

// Exact-ish comparison with a known answer (the empty batch): |a-b| <= atol + 1e-4|b|.
void check_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                 double atol = 1e-5) {
  int bad = 0;
  ++g_checks;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!(std::fabs(double(got[i]) - want[i]) <= atol + 1e-4 * std::fabs(double(want[i])))) {
      if (bad++ < 3) fail(what + " [" + std::to_string(i) + "] got " + std::to_string(got[i]) + " want " + std::to_string(want[i]));
    }
  }
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();

void run_case(const Conv2dParams& p, bool bias, bool with_cuda, double big_atol) {
  const std::string name = describe(p) + (bias ? " bias" : " nobias");
  const int64_t Cg = p.C / p.groups;
  const size_t nx = p.N * p.C * p.H * p.W, nw = p.O * Cg * p.KH * p.KW, ny = p.N * p.O * p.OH * p.OW;
  const std::vector<float> x = random_vec(nx, 1 + nx), w = random_vec(nw, 2 + nw), bv = random_vec(p.O, 3),
                           dy = random_vec(ny, 4 + ny);
  const std::vector<float>* b = bias ? &bv : nullptr;
  const ck::ref::Conv2d r = ck::ref::conv2d(p, x, w, b, dy);
  std::vector<int64_t> db_terms(p.O, p.N * p.OH * p.OW);

  for (int threads : {1, 2, 3}) {
    ck::set_num_threads(threads);
    const std::string tag = name + " threads " + std::to_string(threads);
    std::vector<float> y(ny, kNaN), dx(nx, kNaN), dwv(nw, kNaN), db(p.O, kNaN);
    ck::conv2d_forward_cpu(p, x.data(), w.data(), bias ? bv.data() : nullptr, y.data());
    ck::conv2d_backward_data_cpu(p, dy.data(), w.data(), dx.data());
    ck::conv2d_backward_weight_cpu(p, x.data(), dy.data(), dwv.data(), bias ? db.data() : nullptr);
    check_ref("cpu forward " + tag, y, r.y, &r.y_terms, big_atol);
    check_ref("cpu backward_data " + tag, dx, r.dx, &r.dx_terms, big_atol);
    check_ref("cpu backward_weight dw " + tag, dwv, r.dw, &r.dw_terms, big_atol);
    if (bias) check_ref("cpu backward_weight db " + tag, db, r.db, &db_terms, big_atol);
  }
  ck::set_num_threads(2);
  if (!with_cuda) return;

  // Every kernel variant the dispatcher can pick (cuda/conv.cu): FP32 SIMT and TF32 mma, each with the
  // automatic choice and with forced tiles and split-K.
  struct Mode {
    const char* name;
    ck::cuda::ConvTuning t;
  };
  const Mode modes[] = {{"fp32", {0, 0, 0, 1}},         {"fp32 64x128 split3", {64, 128, 3, 1}},
                        {"tf32", {0, 0, 0, 2}},         {"tf32 128x64 split2", {128, 64, 2, 2}},
                        {"tf32 128x128", {128, 128, 0, 2}}};
  auto s = ck::cuda::default_stream();
  Dev dx_(x), dw_(w), db_(bv), ddy(dy), dy_out(std::vector<float>(ny, kNaN)), ddx(std::vector<float>(nx, kNaN)),
      ddw(std::vector<float>(nw, kNaN)), ddb(std::vector<float>(p.O, kNaN));
  for (const Mode& m : modes) {
    ck::cuda::set_conv_tuning(m.t);
    g_tf32 = m.t.math == 2;
    const std::string tag = name + " " + m.name;
    ck::cuda::conv2d_forward_cuda(p, dx_.p, dw_.p, bias ? db_.p : nullptr, dy_out.p, s);
    ck::cuda::conv2d_backward_data_cuda(p, ddy.p, dw_.p, ddx.p, s);
    ck::cuda::conv2d_backward_weight_cuda(p, dx_.p, ddy.p, ddw.p, bias ? ddb.p : nullptr, s);
    check_ref("cuda forward " + tag, dy_out.get(ny), r.y, &r.y_terms, big_atol);
    check_ref("cuda backward_data " + tag, ddx.get(nx), r.dx, &r.dx_terms, big_atol);
    check_ref("cuda backward_weight dw " + tag, ddw.get(nw), r.dw, &r.dw_terms, big_atol);
    if (bias) check_ref("cuda backward_weight db " + tag, ddb.get(p.O), r.db, &db_terms, big_atol);
  }
  ck::cuda::set_conv_tuning(ck::cuda::ConvTuning{});
  g_tf32 = false;
  if (!bias) {
    const std::vector<float> untouched = ddb.get(p.O);
    ++g_checks;
    if (!std::isnan(untouched[0])) fail("cuda backward_weight wrote db although it is null: " + name);
  }
}

// Every entry point of both backends must throw ck::Error with `code` for these parameters.
void expect_throw(const std::string& what, const Conv2dParams& p, const char* code) {
  std::vector<float> buf(4096, 0.0f);
  Dev d(4096);
  float* h = buf.data();
  auto s = ck::cuda::default_stream();
  const std::function<void()> calls[] = {
      [&] { ck::conv2d_forward_cpu(p, h, h, h, h); },
      [&] { ck::conv2d_backward_data_cpu(p, h, h, h); },
      [&] { ck::conv2d_backward_weight_cpu(p, h, h, h, h); },
      [&] { ck::cuda::conv2d_forward_cuda(p, d.p, d.p, d.p, d.p, s); },
      [&] { ck::cuda::conv2d_backward_data_cuda(p, d.p, d.p, d.p, s); },
      [&] { ck::cuda::conv2d_backward_weight_cuda(p, d.p, d.p, d.p, d.p, s); },
  };
  int i = 0;
  for (const auto& call : calls) {
    ++g_checks;
    const std::string tag = what + " (entry point " + std::to_string(i++) + ")";
    try {
      call();
      fail(tag + ": did not throw");
    } catch (const ck::Error& e) {
      if (e.code != code) fail(tag + ": threw " + e.code + " instead of " + code + ": " + e.what());
    } catch (const std::exception& e) {
      fail(tag + ": threw a non-ck::Error: " + e.what());
    }
  }
}

void test_errors() {
  Conv2dParams p = make(2, 4, 7, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  Conv2dParams q = p;
  q.OH += 1;
  expect_throw("OH inconsistent", q, "ERR_SHAPE");
  q = p;
  q.OW -= 1;
  expect_throw("OW inconsistent", q, "ERR_SHAPE");
  q = make(2, 4, 7, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 3);
  expect_throw("C not divisible by groups", q, "ERR_SHAPE");
  q = make(2, 4, 7, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 4);
  expect_throw("O not divisible by groups", q, "ERR_SHAPE");
  q = p;
  q.KH = 10, q.ph = 0;
  expect_throw("kernel larger than the input", q, "ERR_SHAPE");
  q = p;
  q.sh = 0;
  expect_throw("stride 0", q, "ERR_ARG");
  q = p;
  q.pw = -1;
  expect_throw("negative padding", q, "ERR_ARG");
  q = p;
  q.groups = 0;
  expect_throw("groups 0", q, "ERR_ARG");
}

// N == 0: nothing to compute; the weight gradient is all zeros.
void test_empty_batch() {
  const Conv2dParams p = make(0, 4, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2);
  const size_t nw = p.O * (p.C / p.groups) * p.KH * p.KW;
  std::vector<float> dw(nw, kNaN), db(p.O, kNaN);
  ck::conv2d_forward_cpu(p, nullptr, dw.data(), nullptr, nullptr);
  ck::conv2d_backward_data_cpu(p, nullptr, dw.data(), nullptr);
  ck::conv2d_backward_weight_cpu(p, nullptr, nullptr, dw.data(), db.data());
  check_close("cpu empty batch dw", dw, std::vector<float>(nw, 0.0f));
  check_close("cpu empty batch db", db, std::vector<float>(p.O, 0.0f));
  Dev ddw(std::vector<float>(nw, kNaN)), ddb(std::vector<float>(p.O, kNaN));
  ck::cuda::conv2d_backward_weight_cuda(p, nullptr, nullptr, ddw.p, ddb.p, ck::cuda::default_stream());
  check_close("cuda empty batch dw", ddw.get(nw), std::vector<float>(nw, 0.0f));
  check_close("cuda empty batch db", ddb.get(p.O), std::vector<float>(p.O, 0.0f));
}

}  // namespace

int main(int argc, char** argv) {
  const bool big = argc > 1 && std::strcmp(argv[1], "--big") == 0;
  std::printf("conv self-test on %s\n", ck::cuda::runtime_info().c_str());
  struct Case {
    Conv2dParams p;
    bool bias;
  };
  //                      N  C  H  W  O KH KW sh sw ph pw dh dw g
  const Case cases[] = {
      {make(2, 4, 7, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1), true},    // the basic 3x3 "same" conv
      {make(2, 4, 7, 9, 6, 3, 3, 2, 2, 0, 0, 1, 1, 1), false},   // stride 2, no padding, no bias
      {make(2, 4, 7, 9, 6, 3, 2, 1, 2, 2, 1, 2, 1, 1), true},    // non-square kernel, mixed stride, dilation
      {make(1, 4, 7, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1), true},    // batch 1 (wide mode)
      {make(2, 4, 7, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2), true},    // groups 2
      {make(2, 4, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4), true},    // depthwise
      {make(2, 4, 7, 9, 8, 3, 3, 2, 1, 1, 1, 1, 1, 4), true},    // depthwise, channel multiplier 2, stride
      {make(1, 4, 7, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4), false},   // depthwise batch 1 (groups > batch)
      {make(2, 4, 8, 10, 4, 3, 3, 2, 2, 0, 0, 1, 1, 4), true},   // depthwise, stride 2: last row/column unread
      {make(2, 3, 7, 9, 6, 3, 3, 1, 1, 1, 1, 2, 1, 3), true},    // depthwise, dilation
      {make(2, 1, 9, 8, 6, 5, 5, 1, 1, 2, 2, 1, 1, 1), true},    // one input channel (LeNet's first layer)
      {make(2, 4, 7, 9, 36, 3, 3, 1, 1, 1, 1, 1, 1, 2), true},   // wider groups: 18 outputs per group
      {make(2, 2, 7, 9, 34, 3, 3, 1, 1, 1, 1, 1, 1, 2), true},   // depthwise, multiplier 17 (CPU: GEMM path)
      {make(2, 4, 7, 9, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1), true},    // 1x1 direct path
      {make(3, 4, 7, 9, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2), false},   // 1x1 direct, grouped
      {make(1, 4, 7, 9, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1), true},    // 1x1 direct, batch 1
      {make(2, 4, 7, 9, 6, 1, 1, 2, 2, 0, 0, 1, 1, 1), true},    // 1x1 stride 2 (im2col path)
      {make(2, 3, 7, 9, 5, 5, 5, 2, 3, 2, 2, 1, 1, 1), true},    // 5x5, stride (2,3)
      {make(2, 4, 7, 9, 6, 3, 3, 1, 1, 3, 4, 1, 1, 1), true},    // padding wider than the kernel
      {make(2, 4, 7, 9, 6, 7, 9, 1, 1, 0, 0, 1, 1, 2), true},    // kernel covers the input: 1x1 output
      {make(5, 2, 6, 5, 3, 2, 3, 3, 2, 1, 0, 2, 2, 1), true},    // odd batch, dilation both ways
      {make(7, 2, 7, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1), true},    // CUDA dw: 2 segments of 5 images, 3 padding
  };
  for (const auto& c : cases) {
    const int before = g_failures;
    try {
      run_case(c.p, c.bias, true, 0.0);
    } catch (const std::exception& e) {
      fail(describe(c.p) + ": exception " + e.what());
    }
    std::printf("%-60s %s\n", describe(c.p).c_str(), g_failures == before ? "ok" : "FAILED");
  }
  if (big) {
    // Bands on the CPU (K*OW large); on CUDA S=1 segments and several of them. Sums of ~1000 products:
    // both comparisons get an extra absolute tolerance.
    const Conv2dParams p = make(3, 64, 32, 30, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    const int before = g_failures;
    try {
      run_case(p, true, true, 2e-4);
    } catch (const std::exception& e) {
      fail(describe(p) + ": exception " + e.what());
    }
    std::printf("%-60s %s\n", describe(p).c_str(), g_failures == before ? "ok" : "FAILED");
  }
  const struct {
    const char* name;
    void (*fn)();
  } parts[] = {{"errors", test_errors}, {"empty batch", test_empty_batch}};
  for (const auto& part : parts) {
    const int before = g_failures;
    try {
      part.fn();
      ck::cuda::synchronize();
    } catch (const std::exception& e) {
      fail(std::string(part.name) + ": exception " + e.what());
    }
    std::printf("%-60s %s\n", part.name, g_failures == before ? "ok" : "FAILED");
  }
  ck::ref::print_tally();
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
