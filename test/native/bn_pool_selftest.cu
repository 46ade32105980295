// Standalone self-test of batch norm and pooling: csrc/cpu/batchnorm.cc, csrc/cpu/pool.cc and cuda/batchnorm.cu,
// cuda/pool.cu, each against the naive double-precision references of test/reference/{batchnorm,pool}.h
// (|a - ref| <= 1e-5 + 1e-4 |ref|; max-pool values and indices exactly). Small shapes with odd sizes, batch 1,
// L = 1, the float4 and the scalar paths, multi-chunk channel reductions, null gamma/beta/running stats,
// ceil_mode windows that start in the padding, dilation, count_include_pad, divisor_override, ties, NaN,
// all -inf windows, global pooling (warp- and block-per-plane), and the error paths. Exits non-zero on
// any mismatch.
//
// Built and run by `node scripts/native-selftests.js` (g++ -DCK_CUDA_EMU, no GPU needed) from these sources:
// selftest-build: cuda/batchnorm.cu cuda/pool.cu cuda/gemm.cu cuda/elementwise.cu cuda/reduce.cu cuda/runtime.cu cuda/stats.cu
// selftest-build: csrc/cpu/batchnorm.cc csrc/cpu/pool.cc csrc/cpu/gemm.cc csrc/cpu/gemm_bf16.cc csrc/cpu/threadpool.cc
// selftest-build: csrc/cpu/elementwise.cc csrc/cpu/reduce.cc csrc/cpu/random.cc cuda/emu/*.cc
// Real build: nvcc -std=c++17 -O3 -arch=sm_90 -Icsrc -Icuda with the same .cu files and the .cc files.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/nn_kernels.h"
#include "core/nn_kernels_cuda.h"
#include "../reference/batchnorm.h"
#include "../reference/check.h"
#include "../reference/pool.h"

namespace {

int g_checks = 0;
int g_failures = 0;

void fail(const std::string& what) {
  if (++g_failures <= 60) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

bool close_to(double got, double ref, double rtol, double atol) {
  if (std::isnan(ref)) return std::isnan(got);
  if (std::isinf(ref)) return got == ref;
  if (std::isnan(got) || std::isinf(got)) return false;
  return std::fabs(got - ref) <= atol + rtol * std::fabs(ref);
}

// Compares n values; reports the first mismatch.
template <typename A, typename B>
void expect_close(const std::string& what, const A* got, const B* ref, int64_t n, double rtol = 1e-4,
                  double atol = 1e-5) {
  ++g_checks;
  for (int64_t i = 0; i < n; ++i)
    if (!close_to(static_cast<double>(got[i]), static_cast<double>(ref[i]), rtol, atol)) {
      fail(what + " at " + std::to_string(i) + ": got " + std::to_string(static_cast<double>(got[i])) + " want " +
           std::to_string(static_cast<double>(ref[i])));
      return;
    }
}

// Exact comparison (max-pool values compare bit-for-bit, NaN equal to NaN).
void expect_same(const std::string& what, const float* got, const float* ref, int64_t n) {
  ++g_checks;
  for (int64_t i = 0; i < n; ++i) {
    const bool ok = (std::isnan(got[i]) && std::isnan(ref[i])) || got[i] == ref[i];
    if (!ok) {
      fail(what + " at " + std::to_string(i) + ": got " + std::to_string(got[i]) + " want " + std::to_string(ref[i]));
      return;
    }
  }
}

void expect_same(const std::string& what, const int32_t* got, const int32_t* ref, int64_t n) {
  ++g_checks;
  for (int64_t i = 0; i < n; ++i)
    if (got[i] != ref[i]) {
      fail(what + " at " + std::to_string(i) + ": got " + std::to_string(got[i]) + " want " + std::to_string(ref[i]));
      return;
    }
}

// The same comparisons against a reference of test/reference/, counted per family and device.
const char* family_of(const std::string& what) { return what.compare(0, 3, "bn ") == 0 ? "batchnorm" : "pool"; }
template <typename A, typename B>
void ref_close(const std::string& what, const A* got, const B* ref, int64_t n) {
  ck::ref::tally(family_of(what), ck::ref::device_of(what));
  expect_close(what, got, ref, n);
}
template <typename T>
void ref_same(const std::string& what, const T* got, const T* ref, int64_t n) {
  ck::ref::tally(family_of(what), ck::ref::device_of(what));
  expect_same(what, got, ref, n);
}

void expect_throw(const std::string& what, const std::string& code, const std::function<void()>& fn) {
  ++g_checks;
  try {
    fn();
  } catch (const ck::Error& e) {
    if (e.code != code) fail(what + ": threw " + e.code + " (" + e.what() + "), want " + code);
    return;
  } catch (const std::exception& e) {
    fail(what + ": threw a non-ck exception: " + e.what());
    return;
  }
  fail(what + ": did not throw " + code);
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  double uniform(double lo, double hi) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * static_cast<double>(s >> 11) / 9007199254740992.0;
  }
  int integer(int lo, int hi) { return static_cast<int>(std::floor(uniform(lo, hi + 1 - 1e-9))); }
};

std::vector<float> random_vec(int64_t n, Rng& rng, double lo, double hi) {
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(rng.uniform(lo, hi));
  return v;
}

ck::cuda::Stream stream() { return ck::cuda::default_stream(); }

// A device buffer of 4-byte elements; null when built from an empty optional.
struct Dev {
  void* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) { p = ck::cuda::malloc((count ? count : 1) * 4, stream()); }
  template <typename T>
  explicit Dev(const std::vector<T>& v) : Dev(v.size()) {
    put(v);
  }
  ~Dev() { ck::cuda::free(p, stream()); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  template <typename T>
  void put(const std::vector<T>& v) {
    if (!v.empty()) ck::cuda::memcpy_h2d(p, v.data(), v.size() * 4, stream());
  }
  template <typename T>
  std::vector<T> get() const {
    std::vector<T> v(n);
    if (n) ck::cuda::memcpy_d2h(v.data(), p, n * 4, stream());
    return v;
  }
  float* f() const { return static_cast<float*>(p); }
  int32_t* i() const { return static_cast<int32_t*>(p); }
};

std::string shape_str(int64_t a, int64_t b, int64_t c) {
  return "(" + std::to_string(a) + "," + std::to_string(b) + "," + std::to_string(c) + ")";
}

// =====================================================================================================
// batch norm
// =====================================================================================================

struct BnCase {
  int64_t N, C, L;
  bool affine, running;
  float eps, momentum;
  double offset, spread;  // x ~ offset + U(-spread, spread) (per channel offset varies)
  bool constant_channel;  // channel 0 constant (var == 0)
};

void run_bn_case(const BnCase& k, uint64_t seed) {
  const int64_t N = k.N, C = k.C, L = k.L, total = N * C * L;
  const std::string tag = "bn " + shape_str(N, C, L) + (k.affine ? " affine" : " no-affine") +
                          (k.running ? " running" : " no-running") + " eps=" + std::to_string(k.eps) +
                          " m=" + std::to_string(k.momentum);
  Rng rng(seed);
  std::vector<float> x(total), dy = random_vec(total, rng, -1.0, 1.0);
  std::vector<double> choff(C);
  for (int64_t c = 0; c < C; ++c) choff[c] = k.offset * (1.0 + 0.3 * c) * (c % 2 ? -1.0 : 1.0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t e = (i * C + c) * L + l;
        x[e] = (k.constant_channel && c == 0) ? 1.25f
                                              : static_cast<float>(choff[c] + rng.uniform(-k.spread, k.spread));
      }
  std::vector<float> gamma, beta, rm0, rv0;
  if (k.affine) {
    gamma = random_vec(C, rng, 0.5, 1.5);
    beta = random_vec(C, rng, -0.5, 0.5);
  }
  if (k.running) {
    rm0 = random_vec(C, rng, -0.2, 0.2);
    rv0 = random_vec(C, rng, 0.5, 2.0);
  }
  const ck::ref::BatchNorm ref = ck::ref::batchnorm(N, C, L, x, dy, gamma, beta, rm0, rv0, k.eps, k.momentum);
  const float* g = k.affine ? gamma.data() : nullptr;
  const float* b = k.affine ? beta.data() : nullptr;

  // ---- CPU against the reference ----
  std::vector<float> y(total), sm(C), si(C), rm = rm0, rv = rv0;
  ck::batchnorm_forward_train_cpu(N, C, L, x.data(), g, b, k.eps, k.momentum, k.running ? rm.data() : nullptr,
                                  k.running ? rv.data() : nullptr, y.data(), sm.data(), si.data());
  ref_close(tag + " cpu y", y.data(), ref.y.data(), total);
  ref_close(tag + " cpu save_mean", sm.data(), ref.mean.data(), C);
  ref_close(tag + " cpu save_invstd", si.data(), ref.invstd.data(), C);
  if (k.running) {
    ref_close(tag + " cpu running_mean", rm.data(), ref.running_mean.data(), C);
    ref_close(tag + " cpu running_var", rv.data(), ref.running_var.data(), C);
  }
  std::vector<float> dx(total), dg(C), db(C);
  ck::batchnorm_backward_cpu(N, C, L, dy.data(), x.data(), g, sm.data(), si.data(), dx.data(), dg.data(), db.data());
  ref_close(tag + " cpu dx", dx.data(), ref.dx.data(), total);
  ref_close(tag + " cpu dgamma", dg.data(), ref.dgamma.data(), C);
  ref_close(tag + " cpu dbeta", db.data(), ref.dbeta.data(), C);
  std::vector<float> ye(total);
  if (k.running) {
    ck::batchnorm_forward_eval_cpu(N, C, L, x.data(), g, b, rm0.data(), rv0.data(), k.eps, ye.data());
    ref_close(tag + " cpu eval y", ye.data(), ref.y_eval.data(), total);
  }
  // dx only / dgamma-dbeta only
  {
    std::vector<float> dx2(total), dg2(C);
    ck::batchnorm_backward_cpu(N, C, L, dy.data(), x.data(), g, sm.data(), si.data(), dx2.data(), nullptr, nullptr);
    expect_same(tag + " cpu dx (no dgamma/dbeta)", dx2.data(), dx.data(), total);
    ck::batchnorm_backward_cpu(N, C, L, dy.data(), x.data(), g, sm.data(), si.data(), nullptr, dg2.data(), nullptr);
    expect_same(tag + " cpu dgamma (no dx)", dg2.data(), dg.data(), C);
  }

  // ---- CUDA against the reference ----
  Dev dx_in(x), ddy(dy), dy_out(total), dsm(C), dsi(C), ddx(total), ddg(C), ddb(C), dye(total);
  Dev dgam(gamma), dbet(beta), drm(rm0), drv(rv0);
  const float* dg_p = k.affine ? dgam.f() : nullptr;
  const float* db_p = k.affine ? dbet.f() : nullptr;
  ck::cuda::batchnorm_forward_train_cuda(N, C, L, dx_in.f(), dg_p, db_p, k.eps, k.momentum,
                                         k.running ? drm.f() : nullptr, k.running ? drv.f() : nullptr, dy_out.f(),
                                         dsm.f(), dsi.f(), stream());
  const auto cy = dy_out.get<float>(), csm = dsm.get<float>(), csi = dsi.get<float>();
  ref_close(tag + " cuda y", cy.data(), ref.y.data(), total);
  ref_close(tag + " cuda save_mean", csm.data(), ref.mean.data(), C);
  ref_close(tag + " cuda save_invstd", csi.data(), ref.invstd.data(), C);
  if (k.running) {
    const auto crm = drm.get<float>(), crv = drv.get<float>();
    ref_close(tag + " cuda running_mean", crm.data(), ref.running_mean.data(), C);
    ref_close(tag + " cuda running_var", crv.data(), ref.running_var.data(), C);
  }
  // Backward from the CPU's saved statistics, so it is checked on its own.
  dsm.put(sm);
  dsi.put(si);
  ck::cuda::batchnorm_backward_cuda(N, C, L, ddy.f(), dx_in.f(), dg_p, dsm.f(), dsi.f(), ddx.f(), ddg.f(), ddb.f(),
                                    stream());
  const auto cdx = ddx.get<float>(), cdg = ddg.get<float>(), cdb = ddb.get<float>();
  ref_close(tag + " cuda dx", cdx.data(), ref.dx.data(), total);
  ref_close(tag + " cuda dgamma", cdg.data(), ref.dgamma.data(), C);
  ref_close(tag + " cuda dbeta", cdb.data(), ref.dbeta.data(), C);
  {
    Dev ddx2(total), ddb2(C);
    ck::cuda::batchnorm_backward_cuda(N, C, L, ddy.f(), dx_in.f(), dg_p, dsm.f(), dsi.f(), ddx2.f(), nullptr, nullptr,
                                      stream());
    const auto v = ddx2.get<float>();
    ref_close(tag + " cuda dx (no dgamma/dbeta)", v.data(), ref.dx.data(), total);
    ck::cuda::batchnorm_backward_cuda(N, C, L, ddy.f(), dx_in.f(), dg_p, dsm.f(), dsi.f(), nullptr, nullptr, ddb2.f(),
                                      stream());
    const auto w = ddb2.get<float>();
    ref_close(tag + " cuda dbeta (no dx)", w.data(), ref.dbeta.data(), C);
  }
  if (k.running) {
    Dev drm0(rm0), drv0(rv0);
    ck::cuda::batchnorm_forward_eval_cuda(N, C, L, dx_in.f(), dg_p, db_p, drm0.f(), drv0.f(), k.eps, dye.f(), stream());
    const auto v = dye.get<float>();
    ref_close(tag + " cuda eval y", v.data(), ref.y_eval.data(), total);
  }
}

void test_batchnorm() {
  const BnCase cases[] = {
      // N, C, L, affine, running, eps, momentum, offset, spread, constant channel
      {2, 3, 5, true, true, 1e-5f, 0.1f, 3.0, 2.0, false},
      {1, 4, 7, true, true, 1e-5f, 0.1f, 0.5, 1.0, false},      // batch 1
      {4, 3, 16, false, true, 1e-3f, 0.3f, 2.0, 1.0, false},   // float4 path, no affine
      {3, 2, 1, true, false, 1e-5f, 0.1f, 1.0, 1.0, false},    // L = 1 (BatchNorm1d), no running stats
      {2, 1, 1, true, true, 1e-5f, 1.0f, 0.0, 1.0, false},     // n = 2, momentum 1
      {7, 5, 3, false, false, 1e-5f, 0.1f, 50.0, 1.0, false},  // large mean, small spread
      {5, 3, 1024, true, true, 1e-5f, 0.1f, 4.0, 3.0, false},  // float4, several chunks per channel
      {3, 2, 999, true, true, 1e-5f, 0.1f, -2.0, 1.5, false},  // scalar, several chunks per channel
      {6, 3, 9, true, true, 0.0f, 0.1f, 1.0, 1.0, true},       // var == eps == 0 -> invstd 0
      {3, 3, 12, true, true, 1e-5f, 0.0f, 1.0, 1.0, true},     // var == 0, momentum 0
      {1, 2, 257, false, true, 1e-5f, 0.5f, 0.0, 1.0, false},  // L > blockDim, batch 1
      {40, 3, 1, true, true, 1e-5f, 0.1f, 1.0, 1.0, false},    // L = 1, n > blockDim
  };
  uint64_t seed = 11;
  for (const auto& k : cases) run_bn_case(k, seed++);

  // n = N*L == 1 throws in training, as F.batch_norm.
  std::vector<float> one(3, 1.0f), out(3), sm(3), si(3);
  expect_throw("bn cpu n == 1", "ERR_SHAPE", [&] {
    ck::batchnorm_forward_train_cpu(1, 3, 1, one.data(), nullptr, nullptr, 1e-5f, 0.1f, nullptr, nullptr, out.data(),
                                    sm.data(), si.data());
  });
  Dev d1(one), dout(3), dsm(3), dsi(3);
  expect_throw("bn cuda n == 1", "ERR_SHAPE", [&] {
    ck::cuda::batchnorm_forward_train_cuda(1, 3, 1, d1.f(), nullptr, nullptr, 1e-5f, 0.1f, nullptr, nullptr, dout.f(),
                                           dsm.f(), dsi.f(), stream());
  });
  expect_throw("bn cpu eval without running stats", "ERR_ARG", [&] {
    ck::batchnorm_forward_eval_cpu(2, 3, 1, one.data(), nullptr, nullptr, nullptr, nullptr, 1e-5f, out.data());
  });
  expect_throw("bn cuda eval without running stats", "ERR_ARG", [&] {
    ck::cuda::batchnorm_forward_eval_cuda(1, 3, 1, d1.f(), nullptr, nullptr, nullptr, nullptr, 1e-5f, dout.f(),
                                          stream());
  });
  // Empty batch: running statistics untouched, saved statistics zero.
  {
    std::vector<float> rm = {0.5f, 0.25f, 0.125f}, rv = {2.0f, 3.0f, 4.0f}, s1(3, 7.0f), s2(3, 7.0f);
    ck::batchnorm_forward_train_cpu(0, 3, 4, nullptr, nullptr, nullptr, 1e-5f, 0.1f, rm.data(), rv.data(), nullptr,
                                    s1.data(), s2.data());
    const std::vector<float> rm_want = {0.5f, 0.25f, 0.125f}, rv_want = {2.0f, 3.0f, 4.0f}, zero(3, 0.0f);
    expect_same("bn cpu empty running_mean", rm.data(), rm_want.data(), 3);
    expect_same("bn cpu empty running_var", rv.data(), rv_want.data(), 3);
    expect_same("bn cpu empty save_mean", s1.data(), zero.data(), 3);
    Dev drm(rm), drv(rv), ds1(s1), ds2(s2);
    ck::cuda::batchnorm_forward_train_cuda(0, 3, 4, nullptr, nullptr, nullptr, 1e-5f, 0.1f, drm.f(), drv.f(), nullptr,
                                           ds1.f(), ds2.f(), stream());
    const auto a = drm.get<float>(), c = ds1.get<float>(), d = ds2.get<float>();
    expect_same("bn cuda empty running_mean", a.data(), rm_want.data(), 3);
    expect_same("bn cuda empty save_mean", c.data(), zero.data(), 3);
    expect_same("bn cuda empty save_invstd", d.data(), zero.data(), 3);
  }
}

// =====================================================================================================
// pooling
// =====================================================================================================

using ck::ref::pool_out;

struct PoolCase {
  int64_t N, C, H, W;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool ceil_mode;
};

ck::Pool2dParams make_params(const PoolCase& k, bool is_max, bool count_include_pad, int64_t divisor_override) {
  ck::Pool2dParams p;
  p.N = k.N;
  p.C = k.C;
  p.H = k.H;
  p.W = k.W;
  p.kh = k.kh;
  p.kw = k.kw;
  p.sh = k.sh;
  p.sw = k.sw;
  p.ph = k.ph;
  p.pw = k.pw;
  p.dh = is_max ? k.dh : 1;
  p.dw = is_max ? k.dw : 1;
  p.OH = pool_out(k.H, k.kh, k.sh, k.ph, p.dh, k.ceil_mode);
  p.OW = pool_out(k.W, k.kw, k.sw, k.pw, p.dw, k.ceil_mode);
  p.count_include_pad = count_include_pad;
  p.divisor_override = divisor_override;
  return p;
}

std::string pool_tag(const char* op, const ck::Pool2dParams& p) {
  return std::string(op) + " N" + std::to_string(p.N) + " C" + std::to_string(p.C) + " " + std::to_string(p.H) + "x" +
         std::to_string(p.W) + "->" + std::to_string(p.OH) + "x" + std::to_string(p.OW) + " k" + std::to_string(p.kh) +
         "x" + std::to_string(p.kw) + " s" + std::to_string(p.sh) + "x" + std::to_string(p.sw) + " p" +
         std::to_string(p.ph) + "x" + std::to_string(p.pw) + " d" + std::to_string(p.dh) + "x" + std::to_string(p.dw) +
         (p.count_include_pad ? " incl" : " excl") + " div" + std::to_string(p.divisor_override);
}

// Inputs: random floats, or small integers (many ties), with NaN / -inf planes sprinkled in when asked.
std::vector<float> pool_input(const ck::Pool2dParams& p, Rng& rng, bool ties, bool specials) {
  const int64_t HW = p.H * p.W, total = p.N * p.C * HW;
  std::vector<float> x(total);
  for (auto& v : x) v = ties ? static_cast<float>(rng.integer(0, 3)) : static_cast<float>(rng.uniform(-2.0, 2.0));
  if (specials && p.N * p.C >= 3 && HW >= 4) {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    x[0 * HW + 1] = nan;  // plane 0: two NaNs
    x[0 * HW + HW - 2] = nan;
    for (int64_t i = 0; i < HW; ++i) x[1 * HW + i] = -inf;  // plane 1: all -inf
    x[2 * HW + HW / 2] = inf;                               // plane 2: one +inf
  }
  return x;
}

void run_maxpool(const PoolCase& k, bool ties, bool specials, uint64_t seed) {
  const ck::Pool2dParams p = make_params(k, true, false, 0);
  const std::string tag = pool_tag("maxpool", p) + (ties ? " ties" : "") + (specials ? " nan/inf" : "");
  const int64_t planes = p.N * p.C, HW = p.H * p.W, OHW = p.OH * p.OW;
  Rng rng(seed);
  const std::vector<float> x = pool_input(p, rng, ties, specials);
  const std::vector<float> dy = random_vec(planes * OHW, rng, -1.0, 1.0);
  const ck::ref::MaxPool ref = ck::ref::maxpool2d(p, x, dy);
  const std::vector<float>& ry = ref.y;
  const std::vector<int32_t>& ri = ref.indices;
  const std::vector<double>& rdx = ref.dx;
  std::vector<float> y(planes * OHW), dx(planes * HW), y2(planes * OHW);
  std::vector<int32_t> ind(planes * OHW);
  ck::maxpool2d_forward_cpu(p, x.data(), y.data(), ind.data());
  ref_same(tag + " cpu y", y.data(), ry.data(), planes * OHW);
  ref_same(tag + " cpu indices", ind.data(), ri.data(), planes * OHW);
  ck::maxpool2d_forward_cpu(p, x.data(), y2.data(), nullptr);
  ref_same(tag + " cpu y (no indices)", y2.data(), ry.data(), planes * OHW);
  ck::maxpool2d_backward_cpu(p, dy.data(), ind.data(), dx.data());
  ref_close(tag + " cpu dx", dx.data(), rdx.data(), planes * HW);

  Dev dxin(x), ddy(dy), dyo(planes * OHW), dind(planes * OHW), ddx(planes * HW);
  ck::cuda::maxpool2d_forward_cuda(p, dxin.f(), dyo.f(), dind.i(), stream());
  const auto cy = dyo.get<float>();
  const auto ci = dind.get<int32_t>();
  ref_same(tag + " cuda y", cy.data(), ry.data(), planes * OHW);
  ref_same(tag + " cuda indices", ci.data(), ri.data(), planes * OHW);
  ck::cuda::maxpool2d_forward_cuda(p, dxin.f(), dyo.f(), nullptr, stream());
  const auto cy2 = dyo.get<float>();
  ref_same(tag + " cuda y (no indices)", cy2.data(), ry.data(), planes * OHW);
  ck::cuda::maxpool2d_backward_cuda(p, ddy.f(), dind.i(), ddx.f(), stream());
  const auto cdx = ddx.get<float>();
  ref_close(tag + " cuda dx", cdx.data(), rdx.data(), planes * HW);
}

void run_avgpool(const PoolCase& k, bool include_pad, int64_t divisor, uint64_t seed) {
  const ck::Pool2dParams p = make_params(k, false, include_pad, divisor);
  const std::string tag = pool_tag("avgpool", p);
  const int64_t planes = p.N * p.C, HW = p.H * p.W, OHW = p.OH * p.OW;
  Rng rng(seed);
  const std::vector<float> x = random_vec(planes * HW, rng, -2.0, 2.0);
  const std::vector<float> dy = random_vec(planes * OHW, rng, -1.0, 1.0);
  const ck::ref::AvgPool ref = ck::ref::avgpool2d(p, x, dy);
  const std::vector<double>&ry = ref.y, &rdx = ref.dx;
  std::vector<float> y(planes * OHW), dx(planes * HW);
  ck::avgpool2d_forward_cpu(p, x.data(), y.data());
  ref_close(tag + " cpu y", y.data(), ry.data(), planes * OHW);
  ck::avgpool2d_backward_cpu(p, dy.data(), dx.data());
  ref_close(tag + " cpu dx", dx.data(), rdx.data(), planes * HW);

  Dev dxin(x), ddy(dy), dyo(planes * OHW), ddx(planes * HW);
  ck::cuda::avgpool2d_forward_cuda(p, dxin.f(), dyo.f(), stream());
  const auto cy = dyo.get<float>();
  ref_close(tag + " cuda y", cy.data(), ry.data(), planes * OHW);
  ck::cuda::avgpool2d_backward_cuda(p, ddy.f(), ddx.f(), stream());
  const auto cdx = ddx.get<float>();
  ref_close(tag + " cuda dx", cdx.data(), rdx.data(), planes * HW);
}

void run_adaptive(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, uint64_t seed) {
  const std::string tag = "adaptive N" + std::to_string(N) + " C" + std::to_string(C) + " " + std::to_string(H) + "x" +
                          std::to_string(W) + "->" + std::to_string(OH) + "x" + std::to_string(OW);
  const int64_t planes = N * C, HW = H * W, OHW = OH * OW;
  Rng rng(seed);
  const std::vector<float> x = random_vec(planes * HW, rng, -2.0, 2.0);
  const std::vector<float> dy = random_vec(planes * OHW, rng, -1.0, 1.0);
  const ck::ref::AvgPool ref = ck::ref::adaptive_avgpool2d(N, C, H, W, OH, OW, x, dy);
  const std::vector<double>&ry = ref.y, &rdx = ref.dx;
  std::vector<float> y(planes * OHW), dx(planes * HW);
  const ck::AdaptivePool2dParams ap{N, C, H, W, OH, OW};
  ck::adaptive_avgpool2d_forward_cpu(ap, x.data(), y.data());
  ref_close(tag + " cpu y", y.data(), ry.data(), planes * OHW);
  ck::adaptive_avgpool2d_backward_cpu(ap, dy.data(), dx.data());
  ref_close(tag + " cpu dx", dx.data(), rdx.data(), planes * HW);

  Dev dxin(x), ddy(dy), dyo(planes * OHW), ddx(planes * HW);
  ck::cuda::adaptive_avgpool2d_forward_cuda(ap, dxin.f(), dyo.f(), stream());
  const auto cy = dyo.get<float>();
  ref_close(tag + " cuda y", cy.data(), ry.data(), planes * OHW);
  ck::cuda::adaptive_avgpool2d_backward_cuda(ap, ddy.f(), ddx.f(), stream());
  const auto cdx = ddx.get<float>();
  ref_close(tag + " cuda dx", cdx.data(), rdx.data(), planes * HW);
}

void test_pooling() {
  const PoolCase max_cases[] = {
      // N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode
      {2, 3, 9, 9, 3, 3, 2, 2, 1, 1, 1, 1, false},   // ResNet stem: overlapping windows
      {1, 1, 7, 6, 2, 2, 2, 2, 0, 0, 1, 1, true},    // ceil_mode, batch 1
      {2, 2, 8, 7, 3, 3, 1, 1, 1, 1, 2, 2, false},   // dilation
      {1, 3, 7, 5, 3, 2, 2, 1, 1, 0, 1, 1, false},   // rectangular
      {2, 2, 10, 11, 3, 3, 2, 2, 1, 1, 1, 1, true},  // ceil_mode with padding: last window starts in the pad
      {1, 2, 5, 5, 5, 5, 1, 1, 2, 2, 1, 1, false},   // stride 1, large overlap
      {3, 1, 6, 6, 3, 3, 3, 3, 1, 1, 2, 1, true},    // ceil_mode, dilation, non-overlapping
      {1, 4, 7, 7, 7, 7, 1, 1, 0, 0, 1, 1, false},   // global
  };
  uint64_t seed = 100;
  for (const auto& k : max_cases) {
    run_maxpool(k, false, false, seed++);
    run_maxpool(k, true, false, seed++);
    run_maxpool(k, false, true, seed++);
  }

  const PoolCase avg_cases[] = {
      {2, 3, 9, 9, 3, 3, 2, 2, 1, 1, 1, 1, false},
      {1, 1, 7, 6, 2, 2, 2, 2, 0, 0, 1, 1, true},
      {2, 2, 10, 11, 3, 3, 2, 2, 1, 1, 1, 1, true},  // the last window starts in the padding
      {1, 2, 6, 5, 4, 3, 3, 2, 2, 1, 1, 1, true},
      {1, 3, 7, 5, 3, 2, 2, 1, 1, 0, 1, 1, false},
      {2, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, false},
      {2, 3, 7, 7, 7, 7, 1, 1, 0, 0, 1, 1, false},  // global (fast path), scalar
      {1, 2, 8, 8, 8, 8, 8, 8, 0, 0, 1, 1, false},  // global (fast path), float4
  };
  for (const auto& k : avg_cases) {
    run_avgpool(k, true, 0, seed++);
    run_avgpool(k, false, 0, seed++);
    run_avgpool(k, true, 5, seed++);
    run_avgpool(k, false, 3, seed++);
  }

  // adaptive: N, C, H, W, OH, OW
  run_adaptive(2, 3, 7, 7, 3, 3, seed++);
  run_adaptive(1, 2, 10, 9, 4, 5, seed++);
  run_adaptive(2, 2, 5, 6, 7, 8, seed++);   // output larger than input: overlapping windows
  run_adaptive(1, 1, 13, 11, 1, 3, seed++);
  run_adaptive(2, 5, 6, 6, 6, 6, seed++);   // identity
  run_adaptive(4, 5, 7, 7, 1, 1, seed++);   // global, warp per plane, scalar
  run_adaptive(3, 3, 4, 4, 1, 1, seed++);   // global, warp per plane, float4
  run_adaptive(1, 2, 64, 64, 1, 1, seed++); // global, block per plane, float4
  run_adaptive(2, 1, 33, 33, 1, 1, seed++); // global, block per plane, scalar
  run_adaptive(1, 1, 1, 1, 1, 1, seed++);

  // Invalid parameters throw ERR_ARG in both backends.
  PoolCase bad = {1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1, false};
  ck::Pool2dParams p = make_params(bad, true, false, 0);
  p.sh = 0;
  std::vector<float> x(16), y(4);
  std::vector<int32_t> ind(4);
  Dev dxin(16), dyo(4), dind(4);
  expect_throw("maxpool cpu stride 0", "ERR_ARG", [&] { ck::maxpool2d_forward_cpu(p, x.data(), y.data(), ind.data()); });
  expect_throw("maxpool cuda stride 0", "ERR_ARG",
               [&] { ck::cuda::maxpool2d_forward_cuda(p, dxin.f(), dyo.f(), dind.i(), stream()); });
  p = make_params(bad, false, false, 0);
  p.kh = 0;
  expect_throw("avgpool cpu kernel 0", "ERR_ARG", [&] { ck::avgpool2d_forward_cpu(p, x.data(), y.data()); });
  expect_throw("avgpool cuda kernel 0", "ERR_ARG", [&] { ck::cuda::avgpool2d_forward_cuda(p, dxin.f(), dyo.f(), stream()); });
}

}  // namespace

int main() {
  struct Part {
    const char* name;
    void (*fn)();
  };
  const Part parts[] = {{"batchnorm", test_batchnorm}, {"pooling", test_pooling}};
  std::printf("batch norm / pooling self-test on %s\n", ck::cuda::runtime_info().c_str());
  for (const auto& p : parts) {
    const int before = g_failures;
    try {
      p.fn();
      ck::cuda::synchronize();
    } catch (const std::exception& e) {
      fail(std::string(p.name) + ": exception " + e.what());
    }
    std::printf("%-10s %s\n", p.name, g_failures == before ? "ok" : "FAILED");
  }
  ck::ref::print_tally();
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
