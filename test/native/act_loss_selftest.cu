// Standalone self-test of the fused activations, softmax / losses and dropout (core/nn_kernels.h): each CPU
// function (csrc/cpu/activation.cc, softmax_loss.cc, dropout.cc) and each CUDA twin (cuda/activation.cu,
// softmax_loss.cu, dropout.cu, through ck::cuda::malloc/memcpy) against the double-precision references of
// test/reference/{activation,loss}.h, |a - ref| <= 1e-5 + 1e-4 |ref|, zeros of relu outputs and gradients with
// the reference's sign (PyTorch's relu(-0) = -0); cross entropy as the chain log_softmax -> nll and back on each
// device; dropout against test/reference/dropout.h (its own Philox), CUDA masks bit-identical to the CPU's.
// Shapes are small and odd (the emulation costs ~1 us per thread switch) but reach every kernel variant:
// warp/block softmax, float4 and scalar paths (misaligned bases), plane/column bias-relu reductions with
// several splits, 32/64-bit index paths where cheap, NaN/inf rows, ignore_index inside and outside [0, K),
// out-of-range targets (ERR_ARG on both devices), p = 0 / 1, 64-bit Philox counters. Exits non-zero on failure.
//
// Built and run by `node scripts/native-selftests.js` (g++ -DCK_CUDA_EMU, no GPU needed) from these sources:
// selftest-build: cuda/activation.cu cuda/softmax_loss.cu cuda/dropout.cu cuda/gemm.cu cuda/elementwise.cu
// selftest-build: cuda/reduce.cu cuda/runtime.cu cuda/stats.cu csrc/cpu/activation.cc csrc/cpu/softmax_loss.cc csrc/cpu/dropout.cc
// selftest-build: csrc/cpu/gemm.cc csrc/cpu/gemm_bf16.cc csrc/cpu/threadpool.cc csrc/cpu/elementwise.cc csrc/cpu/reduce.cc csrc/cpu/random.cc
// selftest-build: cuda/emu/*.cc
// Real build: the same sources with nvcc -std=c++17 -O3 -arch=sm_90 -Icsrc -Icuda (.cc files via -x cu or
// compiled by the host compiler).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernels.h"
#include "core/kernels_cuda.h"
#include "core/nn_kernels.h"
#include "core/nn_kernels_cuda.h"
#include "../reference/activation.h"
#include "../reference/check.h"
#include "../reference/dropout.h"
#include "../reference/loss.h"

namespace {

int g_checks = 0;
int g_failures = 0;
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

void fail(const std::string& what) {
  if (++g_failures <= 40) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

bool close_to(double got, double ref, double rtol = 1e-4, double atol = 1e-5) {
  if (std::isnan(ref)) return std::isnan(got);
  if (std::isinf(ref)) return got == ref;
  if (std::isnan(got) || std::isinf(got)) return false;
  return std::fabs(got - ref) <= atol + rtol * std::fabs(ref);
}

template <typename A, typename B>
void check_all(const std::string& what, const A& got, const B& ref, size_t n, double rtol = 1e-4, double atol = 1e-5) {
  ++g_checks;
  for (size_t i = 0; i < n; ++i) {
    if (!close_to(static_cast<double>(got[i]), static_cast<double>(ref[i]), rtol, atol)) {
      fail(what + " [" + std::to_string(i) + "]: got " + std::to_string(static_cast<double>(got[i])) + " want " +
           std::to_string(static_cast<double>(ref[i])));
      return;
    }
  }
}

void check_bits(const std::string& what, const std::vector<float>& got, const std::vector<float>& ref) {
  ++g_checks;
  if (got.size() != ref.size() || (got.size() && std::memcmp(got.data(), ref.data(), got.size() * 4) != 0)) {
    size_t i = 0;
    while (i < got.size() && i < ref.size() && std::memcmp(&got[i], &ref[i], 4) == 0) ++i;
    fail(what + ": not bit-identical at " + std::to_string(i));
  }
}

void check(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) fail(what);
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  double uniform(double lo, double hi) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * static_cast<double>(s >> 11) / 9007199254740992.0;
  }
  int32_t integer(int lo, int hi) { return static_cast<int32_t>(std::floor(uniform(lo, hi + 1 - 1e-9))); }
  std::vector<float> floats(size_t n, double lo, double hi) {
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(uniform(lo, hi));
    return v;
  }
};

// A device buffer of 4-byte elements; `shift` elements of padding in front make the base misaligned.
struct Dev {
  void* p = nullptr;
  size_t n = 0;
  int shift = 0;
  explicit Dev(size_t count, int shift_ = 0) : n(count), shift(shift_) {
    p = ck::cuda::malloc((count + shift + 1) * 4, ck::cuda::default_stream());
  }
  ~Dev() { ck::cuda::free(p, ck::cuda::default_stream()); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  template <typename T>
  T* ptr() const { return static_cast<T*>(p) + shift; }
  float* f() const { return ptr<float>(); }
  template <typename T>
  void put(const std::vector<T>& v) {
    ck::cuda::memcpy_h2d(ptr<T>(), v.data(), v.size() * 4, ck::cuda::default_stream());
  }
  template <typename T = float>
  std::vector<T> get() const {
    std::vector<T> v(n);
    ck::cuda::memcpy_d2h(v.data(), ptr<T>(), n * 4, ck::cuda::default_stream());
    return v;
  }
};

template <typename T>
Dev* upload(const std::vector<T>& v, int shift = 0) {
  Dev* d = new Dev(v.size(), shift);
  d->put(v);
  return d;
}

ck::cuda::Stream S() { return ck::cuda::default_stream(); }

// Runs fn and checks that it throws ck::Error with `code` (and `msg` as the start of what(), if given).
template <class F>
void expect_error(const std::string& what, const char* code, const std::string& msg, F fn) {
  ++g_checks;
  try {
    fn();
    fail(what + ": no error thrown");
  } catch (const ck::Error& e) {
    if (e.code != code) fail(what + ": code " + e.code + ", want " + code);
    else if (!msg.empty() && std::string(e.what()).compare(0, msg.size(), msg) != 0)
      fail(what + ": message '" + e.what() + "', want '" + msg + "'");
  }
}

std::string shape_str(std::initializer_list<int64_t> d) {
  std::string s = "(";
  for (int64_t v : d) s += (s.size() > 1 ? "," : "") + std::to_string(v);
  return s + ")";
}

// ---- fused activations --------------------------------------------------------------------------

// A result against its reference (test/reference/), counted for its family and device. `signed_zeros`: a zero
// must also carry the reference's sign (relu(-0) = -0 as PyTorch, while the gradient's zeros are +0).
template <typename A, typename B>
void check_ref(const char* family, const std::string& what, const A& got, const B& ref, size_t n,
               bool signed_zeros = false, double rtol = 1e-4, double atol = 1e-5) {
  ck::ref::tally(family, ck::ref::device_of(what));
  check_all(what, got, ref, n, rtol, atol);
  if (!signed_zeros) return;
  for (size_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(got[i]), r = static_cast<double>(ref[i]);
    if (g == 0.0 && r == 0.0 && std::signbit(g) != std::signbit(r)) {
      fail(what + " [" + std::to_string(i) + "]: zero of the wrong sign, got " + (std::signbit(g) ? "-0" : "+0"));
      return;
    }
  }
}

void test_activation() {
  Rng rng(11);
  struct Shape { int64_t N, C, L; };
  // plane kernel: L >= 64 (with splits when N*L >= 8192); column kernel: L < 64 (several row chunks when N >= 32)
  const Shape shapes[] = {{1, 1, 1},  {2, 3, 5},   {3, 4, 8},    {2, 5, 64},  {3, 2, 67},   {5, 3, 1},
                          {17, 6, 12}, {40, 3, 7},  {33, 4, 1},   {1, 2, 130}, {8, 2, 1100}, {9, 3, 1027},
                          {0, 3, 5},  {4, 0, 5},   {4, 3, 0}};
  for (const Shape& sh : shapes) {
    const int64_t N = sh.N, C = sh.C, L = sh.L, n = N * C * L;
    const std::string tag = shape_str({N, C, L});
    std::vector<float> x = rng.floats(n, -2, 2), b = rng.floats(C, -1, 1), dy = rng.floats(n, -1, 1);
    if (n > 3) { x[1] = kNaN; x[2] = -0.0f; x[3] = -b[(3 / L) % C]; }  // x[3] + b = +0
    // forward
    std::vector<float> y(n);
    ck::bias_relu_forward_cpu(N, C, L, x.data(), b.data(), y.data());
    const std::vector<double> yref = ck::ref::bias_relu_forward(N, C, L, x, b);
    check_ref("activation", "bias_relu_forward_cpu " + tag, y, yref, n, true);
    // backward: y from the forward (zeros where clamped, a NaN where x was NaN); NaN/inf dy where y == 0
    for (int64_t i = 0; i < n; ++i)
      if (y[i] == 0.0f && i % 3 == 0) dy[i] = i % 2 ? kNaN : kInf;
    std::vector<float> dx(n), db(C);
    ck::bias_relu_backward_cpu(N, C, L, dy.data(), y.data(), dx.data(), db.data());
    std::vector<double> dxref, dbref;
    ck::ref::bias_relu_backward(N, C, L, dy, y, dxref, dbref);
    check_ref("activation", "bias_relu_backward_cpu dx " + tag, dx, dxref, n, true);
    check_ref("activation", "bias_relu_backward_cpu db " + tag, db, dbref, C);
    std::vector<float> dx2(n);
    ck::bias_relu_backward_cpu(N, C, L, dy.data(), y.data(), dx2.data(), nullptr);
    check_ref("activation", "bias_relu_backward_cpu (no db) " + tag, dx2, dxref, n, true);
    // thread count must not change the bits of db
    const int threads = ck::get_num_threads();
    ck::set_num_threads(1);
    std::vector<float> db1(C);
    ck::bias_relu_backward_cpu(N, C, L, dy.data(), y.data(), dx2.data(), db1.data());
    ck::set_num_threads(threads);
    check_bits("bias_relu_backward_cpu db 1 thread vs pool " + tag, db1, db);

    // CUDA, aligned and misaligned bases
    for (int shift : {0, 1}) {
      const std::string t2 = tag + (shift ? " misaligned" : "");
      Dev *dX = upload(x, shift), *dB = upload(b, shift), *dY = new Dev(n, shift), *dG = upload(dy, shift),
          *dYc = upload(y, shift), *dDX = new Dev(n, shift), *dDB = new Dev(C, shift);
      ck::cuda::bias_relu_forward_cuda(N, C, L, dX->f(), dB->f(), dY->f(), S());
      check_ref("activation", "bias_relu_forward_cuda " + t2, dY->get(), yref, n, true);
      ck::cuda::bias_relu_backward_cuda(N, C, L, dG->f(), dYc->f(), dDX->f(), dDB->f(), S());
      check_ref("activation", "bias_relu_backward_cuda dx " + t2, dDX->get(), dxref, n, true);
      const std::vector<float> dbc = dDB->get();
      check_ref("activation", "bias_relu_backward_cuda db " + t2, dbc, dbref, C);
      ck::cuda::bias_relu_backward_cuda(N, C, L, dG->f(), dYc->f(), dDX->f(), dDB->f(), S());
      check_bits("bias_relu_backward_cuda db repeat " + t2, dDB->get(), dbc);
      Dev* dDX2 = new Dev(n, shift);
      ck::cuda::bias_relu_backward_cuda(N, C, L, dG->f(), dYc->f(), dDX2->f(), nullptr, S());
      check_ref("activation", "bias_relu_backward_cuda (no db) " + t2, dDX2->get(), dxref, n, true);
      for (Dev* d : {dX, dB, dY, dG, dYc, dDX, dDB, dDX2}) delete d;
    }
  }

  // add_relu and relu_backward over flat buffers (float4 body + tail, and scalar when misaligned)
  for (int64_t n : {int64_t(1), int64_t(3), int64_t(4), int64_t(17), int64_t(1000), int64_t(1003)}) {
    std::vector<float> a = rng.floats(n, -2, 2), b = rng.floats(n, -2, 2), g = rng.floats(n, -1, 1),
                       yy = rng.floats(n, -1, 1);
    if (n > 3) { a[0] = kNaN; yy[1] = kNaN; yy[2] = 0.0f; g[2] = kNaN; yy[3] = -0.5f; g[3] = kInf; }
    // Signed zeros: -0 + -0 = -0 and relu(-0) = -0; -0 + +0 = +0; a zero output's gradient is +0 even for dy < 0.
    if (n > 5) { a[4] = -0.0f; b[4] = -0.0f; a[5] = -0.0f; b[5] = 0.0f; yy[4] = -0.0f; g[4] = -1.0f; }
    std::vector<float> y(n), dx(n);
    ck::add_relu_forward_cpu(n, a.data(), b.data(), y.data());
    ck::relu_backward_cpu(n, g.data(), yy.data(), dx.data());
    const std::vector<double> yref = ck::ref::add_relu_forward(a, b), dxref = ck::ref::relu_backward(g, yy);
    const std::string tag = "n=" + std::to_string(n);
    check_ref("activation", "add_relu_forward_cpu " + tag, y, yref, n, true);
    check_ref("activation", "relu_backward_cpu " + tag, dx, dxref, n, true);
    for (int shift : {0, 1}) {
      const std::string t2 = tag + (shift ? " misaligned" : "");
      Dev *dA = upload(a, shift), *dB = upload(b, shift), *dG = upload(g, shift), *dYY = upload(yy, shift),
          *dY = new Dev(n, shift), *dDX = new Dev(n, shift);
      ck::cuda::add_relu_forward_cuda(n, dA->f(), dB->f(), dY->f(), S());
      ck::cuda::relu_backward_cuda(n, dG->f(), dYY->f(), dDX->f(), S());
      check_ref("activation", "add_relu_forward_cuda " + t2, dY->get(), yref, n, true);
      check_ref("activation", "relu_backward_cuda " + t2, dDX->get(), dxref, n, true);
      for (Dev* d : {dA, dB, dG, dYY, dY, dDX}) delete d;
    }
  }
}

// ---- softmax ------------------------------------------------------------------------------------

void test_softmax() {
  Rng rng(23);
  struct Shape { int64_t R, K; };
  const Shape shapes[] = {{1, 1},   {3, 5},    {4, 32},   {5, 33},   {2, 64},  {3, 100},  {2, 128},
                          {3, 255}, {2, 256},  {2, 513},  {2, 1000}, {2, 1024}, {2, 1025}, {2, 2048},
                          {1, 8200}, {37, 10}, {9, 3},    {0, 7}};
  for (const Shape& sh : shapes) {
    const int64_t R = sh.R, K = sh.K, n = R * K;
    std::vector<float> x = rng.floats(n, -6, 6), dy = rng.floats(n, -1, 1);
    if (R >= 3) {
      for (int64_t k = 0; k < K; ++k) x[1 * K + k] += 1000.0f;  // stability: large logits
      if (K >= 3) x[2 * K + 1] = -kInf;                         // a masked logit
    }
    for (bool log : {false, true}) {
      const std::string tag = std::string(log ? "log_softmax " : "softmax ") + shape_str({R, K});
      std::vector<float> y(n), dx(n);
      ck::softmax_forward_cpu(R, K, x.data(), y.data(), log);
      const std::vector<double> yref = ck::ref::softmax_forward(R, K, x, log);
      check_ref("loss", tag + " forward cpu", y, yref, n);
      // backward from the float y (the CUDA kernel gets the same y)
      ck::softmax_backward_cpu(R, K, y.data(), dy.data(), dx.data(), log);
      const std::vector<double> dxref = ck::ref::softmax_backward(R, K, y, dy, log);
      check_ref("loss", tag + " backward cpu", dx, dxref, n);
      // in place: dx == dy
      std::vector<float> inplace = dy;
      ck::softmax_backward_cpu(R, K, y.data(), inplace.data(), inplace.data(), log);
      check_bits(tag + " backward cpu in place", inplace, dx);

      for (int shift : {0, 1}) {
        const std::string t2 = tag + (shift ? " misaligned" : "");
        Dev *dX = upload(x, shift), *dY = new Dev(n, shift), *dYc = upload(y, shift), *dG = upload(dy, shift),
            *dDX = new Dev(n, shift);
        ck::cuda::softmax_forward_cuda(R, K, dX->f(), dY->f(), log, S());
        check_ref("loss", t2 + " forward cuda", dY->get(), yref, n);
        ck::cuda::softmax_backward_cuda(R, K, dYc->f(), dG->f(), dDX->f(), log, S());
        check_ref("loss", t2 + " backward cuda", dDX->get(), dxref, n);
        ck::cuda::softmax_backward_cuda(R, K, dYc->f(), dG->f(), dG->f(), log, S());  // in place
        check_ref("loss", t2 + " backward cuda in place", dG->get(), dxref, n);
        for (Dev* d : {dX, dY, dYc, dG, dDX}) delete d;
      }
    }
  }
  // special rows: NaN, all -inf, +inf -> NaN rows on both devices, the other rows untouched
  for (int64_t K : {int64_t(7), int64_t(40), int64_t(1500)}) {
    const int64_t R = 4, n = R * K;
    std::vector<float> x = rng.floats(n, -3, 3);
    x[0 * K + K / 2] = kNaN;
    for (int64_t k = 0; k < K; ++k) x[1 * K + k] = -kInf;
    x[2 * K + 1] = kInf;
    for (bool log : {false, true}) {
      const std::string tag = std::string(log ? "log_softmax" : "softmax") + " special rows K=" + std::to_string(K);
      std::vector<float> y(n);
      ck::softmax_forward_cpu(R, K, x.data(), y.data(), log);
      const std::vector<double> yref = ck::ref::softmax_forward(R, K, x, log);
      check_ref("loss", tag + " cpu", y, yref, n);
      Dev *dX = upload(x), *dY = new Dev(n);
      ck::cuda::softmax_forward_cuda(R, K, dX->f(), dY->f(), log, S());
      check_ref("loss", tag + " cuda", dY->get(), yref, n);
      delete dX;
      delete dY;
    }
  }
}

// ---- nll ----------------------------------------------------------------------------------------

void test_nll() {
  Rng rng(37);
  struct Shape { int64_t R, K; };
  const Shape shapes[] = {{1, 1}, {5, 3}, {37, 10}, {4, 1000}, {300, 7}, {0, 4}};
  for (const Shape& sh : shapes) {
    for (int32_t ignore : {-100, 1}) {
      const int64_t R = sh.R, K = sh.K, n = R * K;
      const std::string tag = shape_str({R, K}) + " ignore=" + std::to_string(ignore);
      std::vector<float> logp = rng.floats(n, -8, 0), g = rng.floats(R, -2, 2);
      std::vector<int32_t> t(R);
      for (int64_t r = 0; r < R; ++r) t[r] = r % 4 == 3 ? ignore : rng.integer(0, (int)K - 1);
      std::vector<float> loss(R), dl(n);
      ck::nll_forward_cpu(R, K, logp.data(), t.data(), ignore, loss.data());
      ck::nll_backward_cpu(R, K, t.data(), ignore, g.data(), dl.data());
      std::vector<double> lref, dref;
      ck::ref::nll(R, K, logp, t, ignore, g, lref, dref);
      check_ref("loss", "nll_forward_cpu " + tag, loss, lref, R);
      check_ref("loss", "nll_backward_cpu " + tag, dl, dref, n);
      Dev *dL = upload(logp), *dT = upload(t), *dG = upload(g), *dLoss = new Dev(R), *dD = new Dev(n);
      ck::cuda::nll_forward_cuda(R, K, dL->f(), dT->ptr<int32_t>(), ignore, dLoss->f(), S());
      ck::cuda::nll_backward_cuda(R, K, dT->ptr<int32_t>(), ignore, dG->f(), dD->f(), S());
      check_ref("loss", "nll_forward_cuda " + tag, dLoss->get(), lref, R);
      check_ref("loss", "nll_backward_cuda " + tag, dD->get(), dref, n);
      // out-of-range targets: the CPU reports the first bad row at once; the device at the next synchronisation
      if (R >= 5) {
        std::vector<int32_t> bad = t;
        bad[2] = (int32_t)K;  // first bad row
        bad[4] = -1;
        const std::string msg = "target " + std::to_string(K) + " out of range for " + std::to_string(K) + " classes";
        expect_error("nll_forward_cpu bad target " + tag, "ERR_ARG", msg,
                     [&] { ck::nll_forward_cpu(R, K, logp.data(), bad.data(), ignore, loss.data()); });
        expect_error("nll_backward_cpu bad target " + tag, "ERR_ARG", msg,
                     [&] { ck::nll_backward_cpu(R, K, bad.data(), ignore, g.data(), dl.data()); });
        dT->put(bad);
        // on the device the check is device-side: ERR_INDEX at the next synchronisation, naming the op
        expect_error("nll_forward_cuda bad target " + tag, "ERR_INDEX", "nll_loss forward", [&] {
          ck::cuda::nll_forward_cuda(R, K, dL->f(), dT->ptr<int32_t>(), ignore, dLoss->f(), S());
          ck::cuda::synchronize();
        });
        const std::vector<float> lb = dLoss->get();
        check(lb[2] == 0.0f && lb[4] == 0.0f, "nll_forward_cuda writes 0 for bad rows " + tag);
        expect_error("nll_backward_cuda bad target " + tag, "ERR_INDEX", "nll_loss backward", [&] {
          ck::cuda::nll_backward_cuda(R, K, dT->ptr<int32_t>(), ignore, dG->f(), dD->f(), S());
          ck::cuda::synchronize();
        });
        // and the device is still usable afterwards
        dT->put(t);
        ck::cuda::nll_forward_cuda(R, K, dL->f(), dT->ptr<int32_t>(), ignore, dLoss->f(), S());
        check_all("nll_forward_cuda after error " + tag, dLoss->get(), loss, R);
      }
      for (Dev* d : {dL, dT, dG, dLoss, dD}) delete d;
    }
  }
  // K == 0: only ignored rows are legal
  {
    std::vector<int32_t> t = {-100, -100};
    std::vector<float> loss(2, 7.0f);
    ck::nll_forward_cpu(2, 0, nullptr, t.data(), -100, loss.data());
    check(loss[0] == 0.0f && loss[1] == 0.0f, "nll_forward_cpu K=0 ignored rows");
    Dev *dT = upload(t), *dLoss = new Dev(2);
    ck::cuda::nll_forward_cuda(2, 0, nullptr, dT->ptr<int32_t>(), -100, dLoss->f(), S());
    const std::vector<float> lc = dLoss->get();
    check(lc[0] == 0.0f && lc[1] == 0.0f, "nll_forward_cuda K=0 ignored rows");
    t[1] = 0;
    dT->put(t);
    expect_error("nll_forward_cpu K=0", "ERR_ARG", "target 0 out of range for 0 classes",
                 [&] { ck::nll_forward_cpu(2, 0, nullptr, t.data(), -100, loss.data()); });
    expect_error("nll_forward_cuda K=0", "ERR_ARG", "target 0 out of range for 0 classes",
                 [&] { ck::cuda::nll_forward_cuda(2, 0, nullptr, dT->ptr<int32_t>(), -100, dLoss->f(), S()); });
    delete dT;
    delete dLoss;
  }
}

// ---- cross entropy = nll(log_softmax(x)), composed as lib/nn/functional does -----------------------

// Forward: log_softmax then nll per row; backward: nll's gradient, then log_softmax's. Each device runs the
// whole chain on its own kernels and is compared with ck::ref::cross_entropy (loss and d logits).
void test_cross_entropy() {
  Rng rng(71);
  struct Shape { int64_t R, K; };
  const Shape shapes[] = {{1, 1}, {6, 10}, {33, 7}, {4, 1000}, {3, 2049}};
  for (const Shape& sh : shapes) {
    const int64_t R = sh.R, K = sh.K, n = R * K;
    const int32_t ignore = -100;
    const std::string tag = "cross_entropy " + shape_str({R, K});
    std::vector<float> x = rng.floats(n, -5, 5), g = rng.floats(R, -1, 1);
    std::vector<int32_t> t(R);
    for (int64_t r = 0; r < R; ++r) t[r] = r % 5 == 4 ? ignore : rng.integer(0, (int)K - 1);
    std::vector<double> lref, dref;
    ck::ref::cross_entropy(R, K, x, t, ignore, g, lref, dref);
    // CPU chain
    std::vector<float> logp(n), loss(R), dlogp(n), dx(n);
    ck::softmax_forward_cpu(R, K, x.data(), logp.data(), true);
    ck::nll_forward_cpu(R, K, logp.data(), t.data(), ignore, loss.data());
    ck::nll_backward_cpu(R, K, t.data(), ignore, g.data(), dlogp.data());
    ck::softmax_backward_cpu(R, K, logp.data(), dlogp.data(), dx.data(), true);
    check_ref("loss", tag + " loss cpu", loss, lref, R);
    check_ref("loss", tag + " dx cpu", dx, dref, n);
    // CUDA chain
    Dev *dX = upload(x), *dT = upload(t), *dG = upload(g), *dLogp = new Dev(n), *dLoss = new Dev(R), *dDl = new Dev(n),
        *dDx = new Dev(n);
    ck::cuda::softmax_forward_cuda(R, K, dX->f(), dLogp->f(), true, S());
    ck::cuda::nll_forward_cuda(R, K, dLogp->f(), dT->ptr<int32_t>(), ignore, dLoss->f(), S());
    ck::cuda::nll_backward_cuda(R, K, dT->ptr<int32_t>(), ignore, dG->f(), dDl->f(), S());
    ck::cuda::softmax_backward_cuda(R, K, dLogp->f(), dDl->f(), dDx->f(), true, S());
    check_ref("loss", tag + " loss cuda", dLoss->get(), lref, R);
    check_ref("loss", tag + " dx cuda", dDx->get(), dref, n);
    for (Dev* d : {dX, dT, dG, dLogp, dLoss, dDl, dDx}) delete d;
  }
}

// ---- dropout ------------------------------------------------------------------------------------

void test_dropout() {
  Rng rng(53);
  {
    uint32_t kat[4];
    ck::ref::philox(0, 0, kat);
    check(kat[0] == 0x6627e8d5u && kat[1] == 0xe169c58du && kat[2] == 0xbc57ac4cu && kat[3] == 0x9b00dbd8u,
          "reference Philox4x32-10 known-answer vector (counter 0, key 0)");
  }
  struct Case { int64_t n; float p; uint64_t seed, offset; };
  const Case cases[] = {{1, 0.5f, 1, 0},          {5, 0.1f, 42, 7},        {1000, 0.5f, 42, 0},
                        {4099, 0.5f, 7, 1000},    {4099, 0.9f, 7, 0},      {1003, 0.0f, 3, 5},
                        {1003, 1.0f, 3, 5},       {777, 0.25f, 0xDEADBEEFCAFEull, 0xFFFFFFFEull},
                        {0, 0.5f, 1, 0}};
  for (const Case& c : cases) {
    const int64_t n = c.n;
    const std::string tag = "n=" + std::to_string(n) + " p=" + std::to_string(c.p) + " offset=" + std::to_string(c.offset);
    std::vector<float> x = rng.floats(n, -3, 3);
    std::vector<float> y(n), mask(n);
    ck::dropout_forward_cpu(n, x.data(), c.p, c.seed, c.offset, y.data(), mask.data());
    // reference: the Bernoulli draw of random_cpu with prob 1 - p, scale 1 / (1 - p) in double
    const double q = 1.0 - (double)c.p;
    std::vector<double> mref, yref;
    const int64_t kept = ck::ref::dropout(x, c.p, c.seed, c.offset, mref, yref);
    check_ref("dropout", "dropout_forward_cpu mask " + tag, mask, mref, n);
    check_ref("dropout", "dropout_forward_cpu y " + tag, y, yref, n);
    if (c.p == 0.0f) check(kept == n, "dropout p=0 keeps all " + tag);
    if (c.p == 1.0f) check(kept == 0, "dropout p=1 keeps none " + tag);
    if (n >= 1000) {  // the keep rate within 5 sigma of 1 - p
      const double sd = std::sqrt(n * q * (1 - q)) + 1e-9;
      check(std::fabs(kept - n * q) <= 5 * sd + 1e-9, "dropout keep rate " + tag);
    }
    // the Bernoulli draw of random_cpu gives the same keep pattern
    std::vector<float> bern(n);
    ck::random_cpu(ck::RandomKind::Bernoulli, ck::DType::F32, bern.data(), n, c.seed, c.offset, 1.0 - c.p, 0);
    bool same = true;
    for (int64_t i = 0; i < n; ++i) same &= (bern[i] != 0.0f) == (mask[i] != 0.0f);
    check(same, "dropout keep == random_cpu Bernoulli(1 - p) " + tag);
    // y alone (mask null) is the same
    std::vector<float> y2(n);
    ck::dropout_forward_cpu(n, x.data(), c.p, c.seed, c.offset, y2.data(), nullptr);
    check_bits("dropout_forward_cpu no mask " + tag, y2, y);

    for (int shift : {0, 1}) {
      const std::string t2 = tag + (shift ? " misaligned" : "");
      Dev *dX = upload(x, shift), *dY = new Dev(n, shift), *dM = new Dev(n, shift), *dY2 = new Dev(n, shift);
      ck::cuda::dropout_forward_cuda(n, dX->f(), c.p, c.seed, c.offset, dY->f(), dM->f(), S());
      check_bits("dropout_forward_cuda mask " + t2, dM->get(), mask);
      check_bits("dropout_forward_cuda y " + t2, dY->get(), y);
      check_ref("dropout", "dropout_forward_cuda mask " + t2, dM->get(), mref, n);
      check_ref("dropout", "dropout_forward_cuda y " + t2, dY->get(), yref, n);
      ck::cuda::dropout_forward_cuda(n, dX->f(), c.p, c.seed, c.offset, dY2->f(), nullptr, S());
      check_bits("dropout_forward_cuda no mask " + t2, dY2->get(), y);
      for (Dev* d : {dX, dY, dM, dY2}) delete d;
    }
  }
  for (float p : {-0.1f, 1.5f, kNaN}) {
    float x = 1, y, m;
    expect_error("dropout_forward_cpu p=" + std::to_string(p), "ERR_ARG", "dropout probability",
                 [&] { ck::dropout_forward_cpu(1, &x, p, 1, 0, &y, &m); });
    expect_error("dropout_forward_cuda p=" + std::to_string(p), "ERR_ARG", "dropout probability",
                 [&] { ck::cuda::dropout_forward_cuda(1, nullptr, p, 1, 0, nullptr, nullptr, S()); });
  }
}

}  // namespace

int main() {
  struct Part {
    const char* name;
    void (*fn)();
  };
  const Part parts[] = {{"activation", test_activation}, {"softmax", test_softmax}, {"nll", test_nll},
                        {"cross entropy", test_cross_entropy}, {"dropout", test_dropout}};
  std::printf("act/loss self-test on %s\n", ck::cuda::runtime_info().c_str());
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
