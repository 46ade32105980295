// Standalone self-test of the optimizer updates (core/optim_kernels.h): each CPU function (csrc/cpu/optim.cc) and
// each CUDA twin (cuda/optim.cu, one multi-tensor launch per group) against the per-op references of
// test/reference/optim.h, transcribed from PyTorch 1.13's single-tensor Python (every op computed in double and
// rounded to float, which is exact IEEE float arithmetic for + - * / sqrt; std::fmaf where PyTorch's kernels
// fuse), bit for bit: SGD (momentum, dampening, nesterov, weight decay, maximize), Adam, AdamW, RMSprop.
// A group mixes sizes around the float4 width, the 16384-element CUDA chunk and the 32768-element CPU chunk
// (so the thread pool splits it), an empty tensor and a misaligned base; steps differ per tensor (Adam's bias
// corrections). Exits non-zero on failure.
//
// Built and run by `node scripts/native-selftests.js` (g++ -DCK_CUDA_EMU, no GPU needed) from these sources:
// selftest-build: cuda/optim.cu cuda/runtime.cu cuda/stats.cu cuda/elementwise.cu csrc/cpu/optim.cc csrc/cpu/threadpool.cc
// selftest-build: cuda/emu/*.cc
// Real build: the same sources with nvcc -std=c++17 -O3 -arch=sm_90 -Icsrc -Icuda (.cc files via -x cu or
// compiled by the host compiler).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernels_cuda.h"
#include "core/optim_kernels.h"
#include "core/optim_kernels_cuda.h"
#include "../reference/check.h"
#include "../reference/optim.h"

namespace {

int g_checks = 0;
int g_failures = 0;

void fail(const std::string& what) {
  if (++g_failures <= 40) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

void check_bits(const std::string& what, const std::vector<float>& got, const std::vector<float>& ref) {
  ++g_checks;
  if (got.size() != ref.size() || (got.size() && std::memcmp(got.data(), ref.data(), got.size() * 4) != 0)) {
    size_t i = 0;
    while (i < got.size() && i < ref.size() && std::memcmp(&got[i], &ref[i], 4) == 0) ++i;
    fail(what + ": not bit-identical at " + std::to_string(i) +
         (i < got.size() && i < ref.size() ? " (" + std::to_string(got[i]) + " vs " + std::to_string(ref[i]) + ")" : ""));
  }
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  double uniform(double lo, double hi) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * static_cast<double>(s >> 11) / 9007199254740992.0;
  }
  std::vector<float> floats(size_t n, double lo, double hi) {
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(uniform(lo, hi));
    return v;
  }
};

ck::cuda::Stream S() { return ck::cuda::default_stream(); }

// The references (test/reference/optim.h) as run_case calls them: one element, all five buffers.
void ref_sgd(float& p, float g, float& buf, bool fresh, const ck::SgdParams& h) { ck::ref::sgd(p, g, buf, fresh, h); }
void ref_adam(float& p, float g, float& m, float& v, float& vmax, double step, const ck::AdamParams& h) {
  ck::ref::adam(p, g, m, v, vmax, step, h);
}
void ref_rmsprop(float& p, float g, float& sq, float& buf, float& ga, const ck::RmspropParams& h) {
  ck::ref::rmsprop(p, g, sq, buf, ga, h);
}

// ---- a parameter group on the host and on the device ---------------------------------------------

const int64_t kSizes[] = {1, 7, 8, 9, 0, 1000, 16384, 16385, 40003, 70001};
constexpr int kShifted = 2;  // index into kSizes whose device buffers start 4 bytes past an aligned address

struct Group {
  // host: [tensor][buffer] with buffers param, grad, s0, s1, s2
  std::vector<std::vector<std::vector<float>>> h;
  std::vector<double> steps;
  std::vector<int> fresh;
  std::vector<void*> dev;  // one allocation per tensor and buffer, +1 element for the shift
};

Group make_group(uint64_t seed) {
  Rng rng(seed);
  Group g;
  for (int64_t n : kSizes) {
    std::vector<std::vector<float>> bufs;
    bufs.push_back(rng.floats(n, -1, 1));
    bufs.push_back(rng.floats(n, -1, 1));
    bufs.push_back(rng.floats(n, 0, 0.5));  // states start non-negative (square averages)
    bufs.push_back(rng.floats(n, 0, 0.5));
    bufs.push_back(rng.floats(n, 0, 0.5));
    if (n > 3) bufs[1][1] = 0.0f;
    g.h.push_back(bufs);
  }
  return g;
}

std::vector<ck::OptimTensor> host_table(Group& g, const std::vector<double>& coef0, const std::vector<double>& coef1) {
  std::vector<ck::OptimTensor> t(g.h.size());
  for (size_t k = 0; k < g.h.size(); ++k) {
    auto& b = g.h[k];
    t[k] = ck::OptimTensor{b[0].data(), b[1].data(), {b[2].data(), b[3].data(), b[4].data()},
                           static_cast<int64_t>(b[0].size()), {static_cast<float>(coef0[k]), static_cast<float>(coef1[k])},
                           k < g.fresh.size() ? g.fresh[k] : 0, 0};
  }
  return t;
}

struct DevGroup {
  std::vector<std::vector<void*>> mem;
  std::vector<ck::OptimTensor> table;
  explicit DevGroup(const Group& g, const std::vector<ck::OptimTensor>& host) : table(host) {
    for (size_t k = 0; k < g.h.size(); ++k) {
      std::vector<void*> m;
      float* ptrs[5];
      for (int b = 0; b < 5; ++b) {
        const size_t n = g.h[k][b].size();
        void* p = ck::cuda::malloc((n + 1) * 4, S());
        m.push_back(p);
        ptrs[b] = static_cast<float*>(p) + (k == kShifted ? 1 : 0);
        ck::cuda::memcpy_h2d(ptrs[b], g.h[k][b].data(), n * 4, S());
      }
      mem.push_back(m);
      table[k].param = ptrs[0];
      table[k].grad = ptrs[1];
      for (int s = 0; s < 3; ++s) table[k].state[s] = ptrs[2 + s];
    }
  }
  ~DevGroup() {
    for (auto& m : mem)
      for (void* p : m) ck::cuda::free(p, S());
  }
  std::vector<float> get(size_t k, int b) const {
    const size_t n = static_cast<size_t>(table[k].n);
    std::vector<float> v(n);
    const float* src = b == 0 ? table[k].param : table[k].state[b - 2];
    ck::cuda::memcpy_d2h(v.data(), src, n * 4, S());
    return v;
  }
};

// Runs `steps` updates of one optimizer config: reference, CPU and CUDA, and compares them after each step.
template <class Ref, class Cpu, class Cuda, class Coef>
void run_case(const std::string& tag, int nstate, Ref ref, Cpu cpu, Cuda cuda, Coef coef, bool sgd_fresh) {
  Group ref_g = make_group(7), cpu_g = make_group(7);
  std::vector<double> steps(ref_g.h.size(), 0.0);
  std::vector<ck::OptimTensor> dummy = host_table(cpu_g, std::vector<double>(cpu_g.h.size()), std::vector<double>(cpu_g.h.size()));
  DevGroup dev(cpu_g, dummy);
  Rng rng(99);
  for (int step = 0; step < 3; ++step) {
    // new gradients; tensor 3 skips step 1 (its step count falls behind)
    std::vector<size_t> active;
    for (size_t k = 0; k < ref_g.h.size(); ++k) {
      auto g = rng.floats(ref_g.h[k][1].size(), -1, 1);
      ref_g.h[k][1] = g;
      cpu_g.h[k][1] = g;
      ck::cuda::memcpy_h2d(const_cast<float*>(dev.table[k].grad), g.data(), g.size() * 4, S());
      if (!(k == 3 && step == 1)) active.push_back(k);
    }
    std::vector<double> c0(ref_g.h.size()), c1(ref_g.h.size());
    std::vector<int> fresh(ref_g.h.size());
    for (size_t k : active) {
      steps[k] += 1;
      coef(steps[k], c0[k], c1[k]);
      fresh[k] = sgd_fresh && steps[k] == 1 ? 1 : 0;
    }
    for (size_t k : active) {
      auto& b = ref_g.h[k];
      for (size_t i = 0; i < b[0].size(); ++i) ref(b[0][i], b[1][i], b[2][i], b[3][i], b[4][i], steps[k], fresh[k] != 0);
    }
    cpu_g.fresh = fresh;
    std::vector<ck::OptimTensor> all = host_table(cpu_g, c0, c1), cpu_t, dev_t;
    for (size_t k : active) {
      cpu_t.push_back(all[k]);
      ck::OptimTensor d = dev.table[k];
      d.coef[0] = all[k].coef[0];
      d.coef[1] = all[k].coef[1];
      d.flag = all[k].flag;
      dev_t.push_back(d);
    }
    cpu(cpu_t.data(), static_cast<int64_t>(cpu_t.size()));
    cuda(dev_t.data(), static_cast<int64_t>(dev_t.size()));
    for (size_t k = 0; k < ref_g.h.size(); ++k) {
      const std::string at = tag + " step " + std::to_string(step) + " tensor " + std::to_string(k) + " (n=" +
                             std::to_string(ref_g.h[k][0].size()) + ")";
      check_bits(at + " cpu param", cpu_g.h[k][0], ref_g.h[k][0]);
      check_bits(at + " cuda param", dev.get(k, 0), ref_g.h[k][0]);
      for (int s = 0; s < nstate; ++s) {
        check_bits(at + " cpu state " + std::to_string(s), cpu_g.h[k][2 + s], ref_g.h[k][2 + s]);
        check_bits(at + " cuda state " + std::to_string(s), dev.get(k, 2 + s), ref_g.h[k][2 + s]);
      }
      ck::ref::tally("optim", ck::ref::On::Cpu, 1 + nstate);
      ck::ref::tally("optim", ck::ref::On::Cuda, 1 + nstate);
    }
  }
}

void test_sgd() {
  const ck::SgdParams cases[] = {
      {0.1, 0, 0, 0, false, false},
      {0.05, 0.9, 0.1, 1e-2, false, false},
      {0.05, 0.9, 0, 1e-3, true, true},
  };
  for (const auto& h : cases) {
    const std::string tag = "sgd m=" + std::to_string(h.momentum) + " nesterov=" + std::to_string(h.nesterov);
    run_case(
        tag, h.momentum != 0 ? 1 : 0,
        [&](float& p, float g, float& s0, float&, float&, double, bool fresh) { ref_sgd(p, g, s0, fresh, h); },
        [&](const ck::OptimTensor* t, int64_t n) { ck::sgd_step_cpu(t, n, h); },
        [&](const ck::OptimTensor* t, int64_t n) { ck::cuda::sgd_step_cuda(t, n, h, S()); },
        [](double, double& a, double& b) { a = b = 0; }, true);
  }
}

void test_adam() {
  const ck::AdamParams cases[] = {
      {1e-3, 0.9, 0.999, 1e-8, 0, false, false, false},
      {1e-2, 0.9, 0.999, 1e-8, 0.1, true, false, false},
      {5e-3, 0.8, 0.99, 1e-6, 1e-2, true, true, false},
      {1e-2, 0.9, 0.999, 1e-8, 0.01, false, false, true},
      {1e-2, 0.5, 0.9, 1e-8, 0.1, true, true, true},
  };
  for (const auto& h : cases) {
    const std::string tag = std::string(h.adamw ? "adamw" : "adam") + " wd=" + std::to_string(h.weight_decay) +
                            " amsgrad=" + std::to_string(h.amsgrad);
    run_case(
        tag, h.amsgrad ? 3 : 2,
        [&](float& p, float g, float& m, float& v, float& vmax, double step, bool) { ref_adam(p, g, m, v, vmax, step, h); },
        [&](const ck::OptimTensor* t, int64_t n) { ck::adam_step_cpu(t, n, h); },
        [&](const ck::OptimTensor* t, int64_t n) { ck::cuda::adam_step_cuda(t, n, h, S()); },
        [&](double step, double& a, double& b) {  // as csrc/binding/optim_ops.cc
          a = -(h.lr / (1.0 - std::pow(h.beta1, step)));
          b = std::sqrt(1.0 - std::pow(h.beta2, step));
        },
        false);
  }
}

void test_rmsprop() {
  const ck::RmspropParams cases[] = {
      {1e-2, 0.99, 1e-8, 0, 0, false, false},
      {1e-3, 0.99, 1e-8, 0.1, 0.9, false, false},
      {1e-3, 0.9, 1e-4, 0.1, 0.5, true, true},
  };
  for (const auto& h : cases) {
    const std::string tag = "rmsprop m=" + std::to_string(h.momentum) + " centered=" + std::to_string(h.centered);
    run_case(
        tag, 3,
        [&](float& p, float g, float& sq, float& buf, float& ga, double, bool) { ref_rmsprop(p, g, sq, buf, ga, h); },
        [&](const ck::OptimTensor* t, int64_t n) { ck::rmsprop_step_cpu(t, n, h); },
        [&](const ck::OptimTensor* t, int64_t n) { ck::cuda::rmsprop_step_cuda(t, n, h, S()); },
        [](double, double& a, double& b) { a = b = 0; }, false);
  }
}

void test_errors() {
  ck::OptimTensor bad{};
  bad.n = -1;
  const ck::AdamParams h{1e-3, 0.9, 0.999, 1e-8, 0, false, false, false};
  for (int dev = 0; dev < 2; ++dev) {
    ++g_checks;
    try {
      if (dev) ck::cuda::adam_step_cuda(&bad, 1, h, S());
      else ck::adam_step_cpu(&bad, 1, h);
      fail(std::string(dev ? "cuda" : "cpu") + ": negative n accepted");
    } catch (const ck::Error& e) {
      if (e.code != "ERR_ARG") fail("negative n: code " + e.code);
    }
  }
  // an empty group, and a group of empty tensors, launch nothing
  ck::OptimTensor empty{};
  ck::cuda::adam_step_cuda(nullptr, 0, h, S());
  ck::cuda::adam_step_cuda(&empty, 1, h, S());
  ck::adam_step_cpu(&empty, 1, h);
}

}  // namespace

int main() {
  struct Part {
    const char* name;
    void (*fn)();
  };
  const Part parts[] = {{"sgd", test_sgd}, {"adam", test_adam}, {"rmsprop", test_rmsprop}, {"errors", test_errors}};
  std::printf("optim self-test on %s\n", ck::cuda::runtime_info().c_str());
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
