// Standalone self-test of the generic kernels (cuda/elementwise.cu, cuda/reduce.cu, cuda/gemm.cu and their CPU
// twins csrc/cpu/{elementwise,reduce,gemm}.cc): every *_cuda entry point of csrc/core/kernels_cuda.h is run
// through ck::cuda::malloc/memcpy on small shapes (contiguous, offset, transposed, broadcast stride 0, permuted
// 4-D, 0-d, odd sizes), and the unary, binary, reduce and sgemm cases also on the CPU kernel; both are compared
// with the double-precision references of test/reference/{elementwise,reduce,gemm}.h. Exits 1 on any mismatch, 77 (skipped) without a usable
// device.
//
// Built and run by `node scripts/native-selftests.js` (g++ -DCK_CUDA_EMU, no GPU needed) from these sources:
// selftest-build: cuda/elementwise.cu cuda/reduce.cu cuda/gemm.cu cuda/runtime.cu cuda/stats.cu cuda/emu/*.cc
// selftest-build: csrc/cpu/elementwise.cc csrc/cpu/reduce.cc csrc/cpu/gemm.cc csrc/cpu/gemm_bf16.cc csrc/cpu/threadpool.cc csrc/cpu/random.cc
// Real build: nvcc -std=c++17 -O3 -arch=sm_90 -Icsrc -Icuda <same .cu files> -o ck_selftest
// Shapes are small because the emulation costs about a microsecond per thread switch.
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
#include "core/kernels.h"
#include "core/types.h"
#include "../reference/check.h"
#include "../reference/elementwise.h"
#include "../reference/gemm.h"
#include "../reference/reduce.h"

using ck::BinaryOp;
using ck::DType;
using ck::Layout;
using ck::ReduceOp;
using ck::UnaryOp;

namespace {

int g_checks = 0;
int g_failures = 0;

void fail(const std::string& what) {
  if (++g_failures <= 40) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

bool close_to(double got, double ref, double rtol, double atol) {
  if (std::isnan(ref)) return std::isnan(got);
  if (std::isinf(ref)) return got == ref;
  if (std::isnan(got) || std::isinf(got)) return false;
  return std::fabs(got - ref) <= atol + rtol * std::fabs(ref);
}

// Deterministic uniform numbers.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  double uniform(double lo, double hi) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * static_cast<double>(s >> 11) / 9007199254740992.0;
  }
  int32_t integer(int lo, int hi) { return static_cast<int32_t>(std::floor(uniform(lo, hi + 1 - 1e-9))); }
};

// A device buffer of 4-byte elements.
struct Dev {
  void* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) { p = ck::cuda::malloc((count ? count : 1) * 4, ck::cuda::default_stream()); }
  ~Dev() { ck::cuda::free(p, ck::cuda::default_stream()); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  template <typename T>
  void put(const std::vector<T>& v) {
    ck::cuda::memcpy_h2d(p, v.data(), v.size() * 4, ck::cuda::default_stream());
  }
  template <typename T>
  std::vector<T> get(size_t count) const {
    std::vector<T> v(count);
    ck::cuda::memcpy_d2h(v.data(), p, count * 4, ck::cuda::default_stream());
    return v;
  }
  template <typename T>
  T* at(int64_t off) const { return static_cast<T*>(p) + off; }
};

Layout make_layout(std::vector<int64_t> shape, std::vector<int64_t> strides, int64_t offset) {
  Layout l;
  std::memset(&l, 0, sizeof l);
  l.ndim = static_cast<int32_t>(shape.size());
  l.offset = offset;
  for (size_t d = 0; d < shape.size(); ++d) {
    l.shape[d] = shape[d];
    l.strides[d] = strides[d];
  }
  return l;
}

Layout contiguous(std::vector<int64_t> shape, int64_t offset = 0) {
  std::vector<int64_t> st(shape.size());
  int64_t s = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    st[d] = s;
    s *= shape[d];
  }
  return make_layout(shape, st, offset);
}

int64_t numel(const Layout& l) {
  int64_t n = 1;
  for (int d = 0; d < l.ndim; ++d) n *= l.shape[d];
  return n;
}

// Elements the view can touch: max offset + 1.
int64_t storage(const Layout& l) {
  int64_t hi = l.offset;
  for (int d = 0; d < l.ndim; ++d)
    if (l.shape[d] > 0) hi += (l.shape[d] - 1) * l.strides[d];
  return hi + 1;
}

// Offset of the row-major i-th element of the view.
int64_t offset_of(const Layout& l, int64_t i) {
  int64_t off = l.offset;
  for (int d = l.ndim - 1; d >= 0; --d) {
    off += (i % l.shape[d]) * l.strides[d];
    i /= l.shape[d];
  }
  return off;
}

struct NamedLayout {
  const char* name;
  Layout l;
};

// The views every elementwise op is run on.
std::vector<NamedLayout> unary_layouts() {
  return {
      {"contig(3,5,7)", contiguous({3, 5, 7})},
      {"contig(37)+offset1", contiguous({37}, 1)},
      {"contig(1203)", contiguous({1203})},
      {"transposed(7,5)", make_layout({7, 5}, {1, 7}, 0)},
      {"broadcast(4,3,6)", make_layout({4, 3, 6}, {0, 6, 1}, 2)},
      {"permuted(2,3,4,5)", make_layout({2, 3, 4, 5}, {60, 4, 1, 12}, 0)},
      {"sliced(3,4)", make_layout({3, 4}, {9, 2}, 1)},
      {"size1dims(1,6,1)", make_layout({1, 6, 1}, {99, 3, 7}, 1)},
      {"0-d", make_layout({}, {}, 3)},
  };
}

// ---- unary ----------------------------------------------------------------------------------------

const char* unary_name(UnaryOp op) {
  static const char* names[] = {"Copy",      "Neg",        "Exp",        "Log",        "Sqrt",      "Abs",
                                "Relu",      "Sigmoid",    "Tanh",       "Clamp",      "PowScalar", "AddScalar",
                                "MulScalar", "RsubScalar", "RdivScalar", "Sign",       "Square",    "Reciprocal",
                                "Rsqrt",     "Floor",      "Ceil",       "Round",      "Log1p",     "Expm1",
                                "Sin",       "Cos"};
  return names[static_cast<int>(op)];
}

using ck::ref::unary;

bool unary_int_defined(UnaryOp op) {
  switch (op) {
    case UnaryOp::Copy: case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Relu: case UnaryOp::Clamp:
    case UnaryOp::AddScalar: case UnaryOp::MulScalar: case UnaryOp::RsubScalar: case UnaryOp::Sign:
    case UnaryOp::Square: case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round:
      return true;
    default:
      return false;
  }
}

// Input range on which the op is finite and well conditioned.
void unary_domain(UnaryOp op, double* lo, double* hi) {
  *lo = -3.0;
  *hi = 3.0;
  if (op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt || op == UnaryOp::PowScalar) *lo = 0.1;
  if (op == UnaryOp::Log1p) *lo = -0.9;
  if (op == UnaryOp::RdivScalar || op == UnaryOp::Reciprocal) *lo = 0.2;  // away from 0
}

void run_unary_case(UnaryOp op, DType dt, const NamedLayout& nl, double a, double b, uint64_t seed) {
  const Layout& l = nl.l;
  const int64_t n = numel(l), st = storage(l);
  Rng rng(seed);
  double lo, hi;
  unary_domain(op, &lo, &hi);
  Dev x(st), y(n);
  std::vector<double> ref(n);
  std::vector<float> hxf;
  std::vector<int32_t> hxi;
  std::string what = std::string(unary_name(op)) + (dt == DType::F32 ? " f32 " : " i32 ") + nl.name;
  if (dt == DType::F32) {
    std::vector<float>& hx = hxf;
    hx.resize(st);
    for (auto& v : hx) v = static_cast<float>(rng.uniform(lo, hi));
    if (op == UnaryOp::Round || op == UnaryOp::Floor || op == UnaryOp::Ceil)  // exact halves
      for (size_t i = 0; i < hx.size(); i += 3) hx[i] = static_cast<float>(std::floor(hx[i] * 2.0) / 2.0);
    x.put(hx);
    for (int64_t i = 0; i < n; ++i) ref[i] = unary(op, hx[offset_of(l, i)], a, b);
  } else {
    std::vector<int32_t>& hx = hxi;
    hx.resize(st);
    for (auto& v : hx) v = rng.integer(-50, 50);
    x.put(hx);
    for (int64_t i = 0; i < n; ++i) {
      const double v = hx[offset_of(l, i)];
      double r = unary(op, v, a, b);
      if (op == UnaryOp::Clamp) r = unary(op, v, std::ceil(a), std::floor(b));
      ref[i] = r;
    }
  }
  ck::cuda::unary_cuda(op, dt, dt, x.p, l, y.p, a, b, ck::cuda::default_stream());
  // The CPU kernel on the same input, against the same reference.
  std::vector<float> cpu_f(n);
  std::vector<int32_t> cpu_i(n);
  if (dt == DType::F32) ck::unary_cpu(op, dt, dt, hxf.data(), l, cpu_f.data(), a, b);
  else ck::unary_cpu(op, dt, dt, hxi.data(), l, cpu_i.data(), a, b);
  for (const char* device : {"cuda", "cpu"}) {
    const bool on_cuda = device[1] == 'u';
    const std::string w = what + " " + device;
    ++g_checks;
    ck::ref::tally("elementwise", on_cuda ? ck::ref::On::Cuda : ck::ref::On::Cpu);
    if (dt == DType::F32) {
      const auto got = on_cuda ? y.get<float>(n) : cpu_f;
      for (int64_t i = 0; i < n; ++i)
        if (!close_to(got[i], ref[i], 2e-6, 1e-6)) {
          fail(w + " at " + std::to_string(i) + ": got " + std::to_string(got[i]) + " want " + std::to_string(ref[i]));
          break;
        }
    } else {
      const auto got = on_cuda ? y.get<int32_t>(n) : cpu_i;
      for (int64_t i = 0; i < n; ++i)
        if (got[i] != ref[i]) {
          fail(w + " at " + std::to_string(i) + ": got " + std::to_string(got[i]) + " want " + std::to_string(ref[i]));
          break;
        }
    }
  }
}

template <typename F>
void expect_throw(const char* what, const char* code, F&& f) {
  ++g_checks;
  try {
    f();
  } catch (const ck::Error& e) {
    if (e.code != code) fail(std::string(what) + ": threw " + e.code + " instead of " + code);
    return;
  }
  fail(std::string(what) + ": did not throw " + code);
}

void test_unary() {
  const auto layouts = unary_layouts();
  for (int o = 0; o < static_cast<int>(UnaryOp::Count); ++o) {
    const UnaryOp op = static_cast<UnaryOp>(o);
    double a = 0.0, b = 0.0;
    if (op == UnaryOp::Clamp) { a = -1.25; b = 0.75; }
    if (op == UnaryOp::PowScalar) a = 1.7;
    if (op == UnaryOp::AddScalar || op == UnaryOp::MulScalar || op == UnaryOp::RsubScalar) a = -3.0;
    if (op == UnaryOp::RdivScalar) a = 2.5;
    uint64_t seed = 100 + o;
    for (const auto& nl : layouts) {
      run_unary_case(op, DType::F32, nl, a, b, seed++);
      if (unary_int_defined(op)) run_unary_case(op, DType::I32, nl, a, b, seed++);
    }
    if (!unary_int_defined(op)) {
      Dev x(4), y(4);
      expect_throw((std::string(unary_name(op)) + " i32").c_str(), "ERR_DTYPE", [&] {
        ck::cuda::unary_cuda(op, DType::I32, DType::I32, x.p, contiguous({4}), y.p, 0, 0, ck::cuda::default_stream());
      });
    }
  }
  // Parameter variants.
  const NamedLayout c = layouts[0];
  run_unary_case(UnaryOp::Clamp, DType::F32, c, NAN, 0.5, 1);   // max only
  run_unary_case(UnaryOp::Clamp, DType::F32, c, -0.5, NAN, 2);  // min only
  run_unary_case(UnaryOp::Clamp, DType::F32, c, 1.0, -1.0, 3);  // min > max -> max
  run_unary_case(UnaryOp::Clamp, DType::I32, c, NAN, 7.5, 4);
  run_unary_case(UnaryOp::Clamp, DType::I32, c, -7.5, NAN, 5);
  run_unary_case(UnaryOp::Clamp, DType::I32, c, NAN, NAN, 6);
  run_unary_case(UnaryOp::PowScalar, DType::F32, c, 2.0, 0, 7);
  run_unary_case(UnaryOp::PowScalar, DType::F32, c, 0.5, 0, 8);
  run_unary_case(UnaryOp::PowScalar, DType::F32, c, -1.0, 0, 9);
  run_unary_case(UnaryOp::PowScalar, DType::F32, c, -2.5, 0, 10);
  run_unary_case(UnaryOp::MulScalar, DType::I32, c, 7.0, 0, 11);

  // Special values.
  {
    const std::vector<float> hx = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 2.5f, -2.5f, 3.5f, 0.5f, -0.5f, 1e30f, -1e30f};
    const int64_t n = static_cast<int64_t>(hx.size());
    Dev x(n), y(n);
    x.put(hx);
    for (UnaryOp op : {UnaryOp::Relu, UnaryOp::Sigmoid, UnaryOp::Clamp, UnaryOp::Round, UnaryOp::Abs, UnaryOp::Neg,
                       UnaryOp::Tanh, UnaryOp::Exp, UnaryOp::Square, UnaryOp::Floor, UnaryOp::Ceil, UnaryOp::Sign}) {
      const double a = -1.0, b = 2.0;
      ck::cuda::unary_cuda(op, DType::F32, DType::F32, x.p, contiguous({n}), y.p, a, b, ck::cuda::default_stream());
      std::vector<float> on_cpu(n);
      ck::unary_cpu(op, DType::F32, DType::F32, hx.data(), contiguous({n}), on_cpu.data(), a, b);
      for (const char* device : {"cuda", "cpu"}) {
        const bool on_cuda = device[1] == 'u';
        const auto got = on_cuda ? y.get<float>(n) : on_cpu;
        ++g_checks;
        ck::ref::tally("elementwise", on_cuda ? ck::ref::On::Cuda : ck::ref::On::Cpu);
        for (int64_t i = 0; i < n; ++i) {
          double r = unary(op, hx[i], a, b);
          if (op == UnaryOp::Sigmoid && std::isinf(hx[i])) r = hx[i] > 0 ? 1.0 : 0.0;
          if (op == UnaryOp::Sigmoid && std::fabs(hx[i]) > 1e29f) r = hx[i] > 0 ? 1.0 : 0.0;
          r = static_cast<float>(r);  // overflow to inf as float does
          // Zeros must carry the reference's sign too (relu(-0) = -0, abs(-0) = +0, floor(-0) = -0 ...).
          const bool sign_ok = !(r == 0.0 && got[i] == 0.0f) || std::signbit(r) == std::signbit(got[i]);
          if (!close_to(got[i], r, 2e-6, 1e-30) || !sign_ok) {
            fail(std::string("special ") + unary_name(op) + " " + device + " of " + std::to_string(hx[i]) + ": got " +
                 std::to_string(got[i]) + " want " + std::to_string(r));
            break;
          }
        }
      }
    }
    // Sigmoid far in the tails: no NaN from inf/inf, tiny but not wrong.
    const std::vector<float> tails = {-100.0f, -88.0f, 88.0f, 100.0f};
    Dev tx(4), ty(4);
    tx.put(tails);
    ck::cuda::unary_cuda(UnaryOp::Sigmoid, DType::F32, DType::F32, tx.p, contiguous({4}), ty.p, 0, 0,
                         ck::cuda::default_stream());
    const auto g = ty.get<float>(4);
    ++g_checks;
    for (int i = 0; i < 4; ++i)
      if (!close_to(g[i], 1.0 / (1.0 + std::exp(-static_cast<double>(tails[i]))), 1e-5, 1e-45))
        fail("sigmoid tail " + std::to_string(tails[i]) + ": got " + std::to_string(g[i]));
  }

  // Casts through Copy, strided.
  {
    const std::vector<float> hx = {2.7f, -2.7f, NAN, 1e10f, -1e10f, 0.5f, -0.5f, 7.0f, 16777217.0f};
    const int64_t n = static_cast<int64_t>(hx.size());
    const std::vector<int32_t> want = {2, -2, 0, INT32_MAX, INT32_MIN, 0, 0, 7, 16777216};
    Dev x(n), y(n);
    x.put(hx);
    ck::cuda::unary_cuda(UnaryOp::Copy, DType::F32, DType::I32, x.p, contiguous({n}), y.p, 0, 0,
                         ck::cuda::default_stream());
    const auto got = y.get<int32_t>(n);
    ++g_checks;
    for (int64_t i = 0; i < n; ++i)
      if (got[i] != want[i])
        fail("cast f32->i32 of " + std::to_string(hx[i]) + ": got " + std::to_string(got[i]) + " want " +
             std::to_string(want[i]));
    // int -> float through a transposed view.
    const std::vector<int32_t> hi = {1, -2, 3, -4, 5, 16777217, 7, 8, 9, 10, 11, 12};
    Dev xi(12), yf(12);
    xi.put(hi);
    const Layout t = make_layout({4, 3}, {1, 4}, 0);
    ck::cuda::unary_cuda(UnaryOp::Copy, DType::I32, DType::F32, xi.p, t, yf.p, 0, 0, ck::cuda::default_stream());
    const auto gf = yf.get<float>(12);
    ++g_checks;
    for (int64_t i = 0; i < 12; ++i)
      if (gf[i] != static_cast<float>(hi[offset_of(t, i)])) fail("cast i32->f32 at " + std::to_string(i));
    expect_throw("exp f32->i32", "ERR_DTYPE", [&] {
      ck::cuda::unary_cuda(UnaryOp::Exp, DType::F32, DType::I32, x.p, contiguous({n}), y.p, 0, 0,
                           ck::cuda::default_stream());
    });
  }
  // Empty tensor: nothing happens.
  {
    Dev x(1), y(1);
    ck::cuda::unary_cuda(UnaryOp::Exp, DType::F32, DType::F32, x.p, contiguous({0, 3}), y.p, 0, 0,
                         ck::cuda::default_stream());
  }
}

// ---- binary ---------------------------------------------------------------------------------------

const char* binary_name(BinaryOp op) {
  static const char* names[] = {"Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum",
                                "Eq",  "Ne",  "Lt",  "Le",  "Gt",  "Ge"};
  return names[static_cast<int>(op)];
}

bool is_cmp(BinaryOp op) { return static_cast<int>(op) >= static_cast<int>(BinaryOp::Eq); }

struct BinCase {
  const char* name;
  Layout a, b;
};

std::vector<BinCase> binary_layouts() {
  return {
      {"contig(3,5,7)", contiguous({3, 5, 7}), contiguous({3, 5, 7})},
      {"contig(1203)", contiguous({1203}), contiguous({1203})},
      {"contig offsets", contiguous({37}, 1), contiguous({37}, 3)},
      {"bias(4,5,6)+(1,5,1)", contiguous({4, 5, 6}), make_layout({4, 5, 6}, {0, 1, 0}, 0)},
      {"scalar broadcast", contiguous({41}), make_layout({41}, {0}, 2)},
      {"row broadcast(6,9)", make_layout({6, 9}, {0, 1}, 0), contiguous({6, 9})},
      {"transposed(7,5)", make_layout({7, 5}, {1, 7}, 0), contiguous({7, 5})},
      {"permuted(2,3,4,5)", make_layout({2, 3, 4, 5}, {60, 4, 1, 12}, 0), make_layout({2, 3, 4, 5}, {0, 5, 0, 1}, 0)},
      {"0-d", make_layout({}, {}, 1), make_layout({}, {}, 0)},
  };
}

void run_binary_case(BinaryOp op, DType in, DType out, const BinCase& bc, uint64_t seed) {
  const int64_t n = numel(bc.a), sa = storage(bc.a), sb = storage(bc.b);
  Rng rng(seed);
  Dev da(sa), db(sb), dy(n);
  std::vector<double> ref(n);
  std::vector<uint32_t> cpu_out(n);  // the CPU kernel's result (4-byte elements of the out dtype)
  const std::string what = std::string(binary_name(op)) + (in == DType::F32 ? " f32" : " i32") +
                           (out == DType::F32 ? "->f32 " : "->i32 ") + bc.name;
  if (in == DType::F32) {
    std::vector<float> ha(sa), hb(sb);
    for (auto& v : ha) v = static_cast<float>(op == BinaryOp::Pow ? rng.uniform(0.5, 2.0) : rng.uniform(-3, 3));
    for (auto& v : hb) v = static_cast<float>(op == BinaryOp::Div ? rng.uniform(0.5, 2.0) * (rng.uniform(0, 1) < 0.5 ? -1 : 1)
                                                : op == BinaryOp::Pow ? rng.uniform(-2, 2) : rng.uniform(-3, 3));
    if (is_cmp(op) || op == BinaryOp::Maximum) {  // ties
      for (auto& v : ha) v = std::round(v);
      for (auto& v : hb) v = std::round(v);
    }
    da.put(ha);
    db.put(hb);
    ck::binary_cpu(op, in, out, ha.data(), bc.a, hb.data(), bc.b, cpu_out.data());
    for (int64_t i = 0; i < n; ++i) ref[i] = ck::ref::binary_f(op, ha[offset_of(bc.a, i)], hb[offset_of(bc.b, i)]);
  } else {
    std::vector<int32_t> ha(sa), hb(sb);
    for (auto& v : ha) v = rng.integer(-20, 20);
    for (auto& v : hb) v = op == BinaryOp::Pow ? rng.integer(-2, 5) : rng.integer(-20, 20);
    if (op == BinaryOp::Div) hb[0] = 0;  // x / 0 -> 0 (defined, never a trap)
    da.put(ha);
    db.put(hb);
    ck::binary_cpu(op, in, out, ha.data(), bc.a, hb.data(), bc.b, cpu_out.data());
    for (int64_t i = 0; i < n; ++i)
      ref[i] = static_cast<double>(ck::ref::binary_i(op, ha[offset_of(bc.a, i)], hb[offset_of(bc.b, i)]));
  }
  ck::cuda::binary_cuda(op, in, out, da.p, bc.a, db.p, bc.b, dy.p, ck::cuda::default_stream());
  const std::vector<uint32_t> cuda_out = dy.get<uint32_t>(n);
  for (const char* device : {"cuda", "cpu"}) {
    const bool on_cuda = device[1] == 'u';
    const std::vector<uint32_t>& bits = on_cuda ? cuda_out : cpu_out;
    ++g_checks;
    ck::ref::tally("elementwise", on_cuda ? ck::ref::On::Cuda : ck::ref::On::Cpu);
    std::vector<double> got(n);
    for (int64_t i = 0; i < n; ++i) {
      float f;
      int32_t k;
      std::memcpy(&f, &bits[i], 4);
      std::memcpy(&k, &bits[i], 4);
      got[i] = out == DType::F32 ? static_cast<double>(f) : static_cast<double>(k);
    }
    for (int64_t i = 0; i < n; ++i) {
      bool ok = (in == DType::I32 || is_cmp(op)) ? got[i] == ref[i] : close_to(got[i], ref[i], 2e-6, 1e-6);
      if (got[i] == 0.0 && ref[i] == 0.0 && std::signbit(got[i]) != std::signbit(ref[i])) ok = false;  // -0 vs +0
      if (!ok) {
        fail(what + " " + device + " at " + std::to_string(i) + ": got " + std::to_string(got[i]) + " want " +
             std::to_string(ref[i]));
        break;
      }
    }
  }
}

void test_binary() {
  const auto cases = binary_layouts();
  uint64_t seed = 1000;
  for (int o = 0; o < static_cast<int>(BinaryOp::Count); ++o) {
    const BinaryOp op = static_cast<BinaryOp>(o);
    for (const auto& bc : cases) {
      run_binary_case(op, DType::F32, DType::F32, bc, seed++);
      run_binary_case(op, DType::I32, DType::I32, bc, seed++);
      if (is_cmp(op)) {
        run_binary_case(op, DType::F32, DType::I32, bc, seed++);
        run_binary_case(op, DType::I32, DType::F32, bc, seed++);
      }
    }
  }
  // NaN propagation and comparisons with NaN.
  {
    const std::vector<float> ha = {NAN, 1.0f, NAN, 2.0f, -0.0f};
    const std::vector<float> hb = {1.0f, NAN, NAN, 3.0f, 0.0f};
    Dev a(5), b(5), y(5);
    a.put(ha);
    b.put(hb);
    for (BinaryOp op : {BinaryOp::Maximum, BinaryOp::Minimum, BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Ge}) {
      ck::cuda::binary_cuda(op, DType::F32, DType::F32, a.p, contiguous({5}), b.p, contiguous({5}), y.p,
                            ck::cuda::default_stream());
      std::vector<float> on_cpu(5);
      ck::binary_cpu(op, DType::F32, DType::F32, ha.data(), contiguous({5}), hb.data(), contiguous({5}), on_cpu.data());
      for (const char* device : {"cuda", "cpu"}) {
        const bool on_cuda = device[1] == 'u';
        const auto got = on_cuda ? y.get<float>(5) : on_cpu;
        ++g_checks;
        ck::ref::tally("elementwise", on_cuda ? ck::ref::On::Cuda : ck::ref::On::Cpu);
        for (int i = 0; i < 5; ++i) {
          const double r = ck::ref::binary_f(op, ha[i], hb[i]);
          // exact, and the sign of a zero too: maximum(-0, +0) = -0, minimum(-0, +0) = -0 (the first operand)
          if (!close_to(got[i], r, 0, 0) || (r == 0.0 && std::signbit(r) != std::signbit(got[i])))
            fail(std::string("NaN/signed zero ") + binary_name(op) + " " + device + " at " + std::to_string(i) +
                 ": got " + std::to_string(got[i]));
        }
      }
    }
  }
  // Integer edge cases: wrap-around and INT_MIN / -1.
  {
    const std::vector<int32_t> ha = {INT32_MAX, INT32_MIN, INT32_MIN, -7, 7, -7};
    const std::vector<int32_t> hb = {1, -1, -1, 2, -2, -2};
    Dev a(6), b(6), y(6);
    a.put(ha);
    b.put(hb);
    ck::cuda::binary_cuda(BinaryOp::Add, DType::I32, DType::I32, a.p, contiguous({6}), b.p, contiguous({6}), y.p,
                          ck::cuda::default_stream());
    auto got = y.get<int32_t>(6);
    ++g_checks;
    if (got[0] != INT32_MIN || got[1] != INT32_MAX) fail("i32 add does not wrap");
    ck::cuda::binary_cuda(BinaryOp::Div, DType::I32, DType::I32, a.p, contiguous({6}), b.p, contiguous({6}), y.p,
                          ck::cuda::default_stream());
    got = y.get<int32_t>(6);
    ++g_checks;
    if (got[2] != INT32_MIN || got[3] != -4 || got[4] != -4 || got[5] != 3) fail("i32 floor div");
    expect_throw("add f32->i32", "ERR_DTYPE", [&] {
      ck::cuda::binary_cuda(BinaryOp::Add, DType::F32, DType::I32, a.p, contiguous({6}), b.p, contiguous({6}), y.p,
                            ck::cuda::default_stream());
    });
    expect_throw("shape mismatch", "ERR_SHAPE", [&] {
      ck::cuda::binary_cuda(BinaryOp::Add, DType::F32, DType::F32, a.p, contiguous({6}), b.p, contiguous({3}), y.p,
                            ck::cuda::default_stream());
    });
  }
}

// ---- fill -----------------------------------------------------------------------------------------

void test_fill() {
  for (int64_t n : {1, 3, 7, 1001}) {
    for (int64_t off : {0, 1}) {
      Dev d(n + off + 1);
      std::vector<float> sentinel(n + off + 1, -9.0f);
      d.put(sentinel);
      ck::cuda::fill_cuda(DType::F32, d.at<float>(off), n, 0.25, ck::cuda::default_stream());
      const auto got = d.get<float>(n + off + 1);
      ++g_checks;
      for (int64_t i = 0; i < n + off + 1; ++i) {
        const float want = (i >= off && i < off + n) ? 0.25f : -9.0f;
        if (got[i] != want) {
          fail("fill f32 n=" + std::to_string(n) + " off=" + std::to_string(off) + " at " + std::to_string(i));
          break;
        }
      }
      ck::cuda::fill_cuda(DType::I32, d.at<int32_t>(off), n, -7.0, ck::cuda::default_stream());
      const auto gi = d.get<int32_t>(n + off + 1);
      ++g_checks;
      for (int64_t i = off; i < off + n; ++i)
        if (gi[i] != -7) {
          fail("fill i32 n=" + std::to_string(n) + " at " + std::to_string(i));
          break;
        }
    }
  }
}

// ---- reduce ---------------------------------------------------------------------------------------

const char* reduce_name(ReduceOp op) {
  static const char* names[] = {"Sum", "Mean", "Max", "Min", "ArgMax", "ArgMin", "Var", "Prod"};
  return names[static_cast<int>(op)];
}

void run_reduce_case(ReduceOp op, DType dt, int64_t outer, int64_t inner, int64_t correction, int flavor,
                     uint64_t seed) {
  Rng rng(seed);
  const int64_t total = outer * inner;
  std::vector<std::vector<double>> rows(outer, std::vector<double>(inner));
  std::vector<float> hf(total);
  std::vector<int32_t> hi(total);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double v;
      if (dt == DType::I32) v = op == ReduceOp::Prod ? rng.integer(-3, 3) : rng.integer(-40, 40);
      else if (op == ReduceOp::Prod) v = static_cast<float>(rng.uniform(0.95, 1.05));
      else if (flavor == 1) v = static_cast<float>(1000.0 + rng.uniform(-1, 1));  // large mean: var accuracy
      else if (flavor == 2) v = std::round(rng.uniform(-4, 4));                   // ties for arg*
      else v = static_cast<float>(rng.uniform(-2, 2));
      rows[o][i] = v;
      hf[o * inner + i] = static_cast<float>(v);
      hi[o * inner + i] = static_cast<int32_t>(v);
    }
  if (flavor == 3 && inner > 2) {  // NaN in some rows
    for (int64_t o = 0; o < outer; o += 2) {
      const int64_t at = (o * 7 + inner / 2) % inner;
      rows[o][at] = NAN;
      hf[o * inner + at] = NAN;
      if (inner > 5) {
        rows[o][at / 2] = NAN;
        hf[o * inner + at / 2] = NAN;
      }
    }
  }
  Dev x(total), y(outer);
  if (dt == DType::F32) x.put(hf);
  else x.put(hi);
  ck::cuda::reduce_cuda(op, dt, x.p, y.p, outer, inner, correction, ck::cuda::default_stream());
  const bool arg = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  const bool int_out = arg || dt == DType::I32;
  std::vector<float> cpu_f(outer);
  std::vector<int32_t> cpu_i(outer);
  const void* host_x = dt == DType::F32 ? static_cast<const void*>(hf.data()) : static_cast<const void*>(hi.data());
  ck::reduce_cpu(op, dt, host_x, int_out ? static_cast<void*>(cpu_i.data()) : static_cast<void*>(cpu_f.data()), outer,
                 inner, correction);
  for (const char* device : {"cuda", "cpu"}) {
  const bool on_cuda = device[1] == 'u';
  ++g_checks;
  ck::ref::tally("reduce", on_cuda ? ck::ref::On::Cuda : ck::ref::On::Cpu);
  const auto gf = on_cuda ? y.get<float>(outer) : cpu_f;
  const auto gi = on_cuda ? y.get<int32_t>(outer) : cpu_i;
  for (int64_t o = 0; o < outer; ++o) {
    const double ref = ck::ref::reduce_row(op, rows[o], correction, dt == DType::I32);
    const double got = int_out ? static_cast<double>(gi[o]) : static_cast<double>(gf[o]);
    double rtol = 2e-6, atol = 1e-6 * std::sqrt(static_cast<double>(inner) + 1);
    if (op == ReduceOp::Var) { rtol = 1e-5; atol = 0; }
    const bool ok = int_out ? got == ref : close_to(got, ref, rtol, atol);
    if (!ok) {
      fail(std::string(reduce_name(op)) + " " + device + (dt == DType::F32 ? " f32" : " i32") + " (" + std::to_string(outer) + "," +
           std::to_string(inner) + ") corr=" + std::to_string(correction) + " flavor=" + std::to_string(flavor) +
           " row " + std::to_string(o) + ": got " + std::to_string(got) + " want " + std::to_string(ref));
      break;
    }
  }
  }
}

void test_reduce() {
  // (outer, inner): warp-per-row path (inner <= 1024), block path, block path split into chunks.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {1, 1}, {3, 1}, {5, 7}, {4, 33}, {17, 100}, {2, 1024}, {3, 1030}, {2, 2048}, {1, 9001}, {2, 20000}};
  uint64_t seed = 5000;
  for (int o = 0; o < static_cast<int>(ReduceOp::Count); ++o) {
    const ReduceOp op = static_cast<ReduceOp>(o);
    for (const auto& sh : shapes) {
      const int nflavors = (op == ReduceOp::Var) ? 2 : (op == ReduceOp::Prod || op == ReduceOp::Sum || op == ReduceOp::Mean) ? 1 : 4;
      for (int flavor = 0; flavor < nflavors; ++flavor) {
        if (op == ReduceOp::Var) {
          run_reduce_case(op, DType::F32, sh.first, sh.second, 1, flavor, seed++);
          run_reduce_case(op, DType::F32, sh.first, sh.second, 0, flavor, seed++);
        } else {
          run_reduce_case(op, DType::F32, sh.first, sh.second, 0, flavor, seed++);
        }
      }
      if (op != ReduceOp::Mean && op != ReduceOp::Var)
        run_reduce_case(op, DType::I32, sh.first, sh.second, 0, 0, seed++);
    }
  }
  // Empty rows and the undefined cases.
  {
    Dev x(4), y(2);
    const auto s = ck::cuda::default_stream();
    ck::cuda::reduce_cuda(ReduceOp::Sum, DType::F32, x.p, y.p, 2, 0, 0, s);
    auto g = y.get<float>(2);
    ++g_checks;
    if (g[0] != 0.0f || g[1] != 0.0f) fail("sum of empty rows");
    ck::cuda::reduce_cuda(ReduceOp::Prod, DType::F32, x.p, y.p, 2, 0, 0, s);
    g = y.get<float>(2);
    ++g_checks;
    if (g[0] != 1.0f) fail("prod of empty rows");
    ck::cuda::reduce_cuda(ReduceOp::Mean, DType::F32, x.p, y.p, 2, 0, 0, s);
    g = y.get<float>(2);
    ++g_checks;
    if (!std::isnan(g[0])) fail("mean of empty rows");
    ck::cuda::reduce_cuda(ReduceOp::Var, DType::F32, x.p, y.p, 2, 1, 1, s);  // one element, correction 1
    g = y.get<float>(2);
    ++g_checks;
    if (!std::isnan(g[0])) fail("var of one element with correction 1");
    expect_throw("max of empty rows", "ERR_SHAPE", [&] { ck::cuda::reduce_cuda(ReduceOp::Max, DType::F32, x.p, y.p, 2, 0, 0, s); });
    expect_throw("mean i32", "ERR_DTYPE", [&] { ck::cuda::reduce_cuda(ReduceOp::Mean, DType::I32, x.p, y.p, 1, 1, 0, s); });
    ck::cuda::reduce_cuda(ReduceOp::Sum, DType::F32, x.p, y.p, 0, 5, 0, s);  // no rows: nothing
  }
  // I32 sum wraps like int32 arithmetic.
  {
    const std::vector<int32_t> h = {INT32_MAX, 1, 5};
    Dev x(3), y(1);
    x.put(h);
    ck::cuda::reduce_cuda(ReduceOp::Sum, DType::I32, x.p, y.p, 1, 3, 0, ck::cuda::default_stream());
    ++g_checks;
    if (y.get<int32_t>(1)[0] != INT32_MIN + 5) fail("i32 sum wrap");
  }
}

// ---- sgemm ----------------------------------------------------------------------------------------

// An operand of `rows x cols` per batch, stored according to `kind`: 'n' row-major, 't' column-major
// (transposed), 'g' general (row stride and column stride both non-unit), 'b' row-major shared by every
// batch (batch stride 0). Returns strides and the storage size.
struct Operand {
  int64_t sb, rs, cs, size;
};

Operand make_operand(char kind, int64_t batch, int64_t rows, int64_t cols) {
  switch (kind) {
    case 't': return {rows * cols, 1, rows, batch * rows * cols};
    case 'g': return {rows * cols * 6, cols * 3, 2, batch * rows * cols * 6};
    case 'b': return {0, cols, 1, rows * cols};
    default: return {rows * cols, cols, 1, batch * rows * cols};
  }
}

void run_gemm_case(int64_t batch, int64_t M, int64_t N, int64_t K, char ka, char kb, float alpha, float beta,
                   int64_t ldc_pad, uint64_t seed) {
  Rng rng(seed);
  const Operand A = make_operand(ka, batch, M, K), B = make_operand(kb, batch, K, N);
  const int64_t ldc = N + ldc_pad, sCb = M * ldc + 4;  // keeps 16-byte alignment when ldc allows it
  const int64_t csize = batch * sCb;
  std::vector<float> ha(A.size), hb(B.size), hc(csize);
  for (auto& v : ha) v = static_cast<float>(rng.uniform(-1, 1));
  for (auto& v : hb) v = static_cast<float>(rng.uniform(-1, 1));
  for (auto& v : hc) v = beta == 0.0f ? NAN : static_cast<float>(rng.uniform(-1, 1));  // beta 0 must not read C
  Dev da(A.size), db(B.size), dc(csize);
  da.put(ha);
  db.put(hb);
  dc.put(hc);
  ck::cuda::sgemm_cuda(batch, M, N, K, alpha, da.at<float>(0), A.sb, A.rs, A.cs, db.at<float>(0), B.sb, B.rs, B.cs,
                       beta, dc.at<float>(0), sCb, ldc, ck::cuda::default_stream());
  // The CPU kernel on host copies of the same operands.
  std::vector<float> cpu_c = hc;
  ck::sgemm_cpu(batch, M, N, K, alpha, ha.data(), A.sb, A.rs, A.cs, hb.data(), B.sb, B.rs, B.cs, beta, cpu_c.data(), sCb,
                ldc);
  std::vector<double> mag;
  const std::vector<double> want = ck::ref::gemm(batch, M, N, K, alpha, {ha.data(), A.sb, A.rs, A.cs},
                                                 {hb.data(), B.sb, B.rs, B.cs}, beta, hc.data(), sCb, ldc, &mag);
  const std::vector<float> cuda_c = dc.get<float>(csize);
  for (const char* device : {"cuda", "cpu"}) {
  const bool on_cuda = device[1] == 'u';
  const std::vector<float>& got = on_cuda ? cuda_c : cpu_c;
  ++g_checks;
  ck::ref::tally("gemm", on_cuda ? ck::ref::On::Cuda : ck::ref::On::Cpu);
  char name[160];
  std::snprintf(name, sizeof name, "sgemm %s b=%lld M=%lld N=%lld K=%lld %c%c alpha=%g beta=%g ldc+%lld", device,
                static_cast<long long>(batch), static_cast<long long>(M), static_cast<long long>(N),
                static_cast<long long>(K), ka, kb, alpha, beta, static_cast<long long>(ldc_pad));
  bool ok = true;
  for (int64_t b = 0; b < batch && ok; ++b)
    for (int64_t i = 0; i < M && ok; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const int64_t o = (b * M + i) * N + j, ci = b * sCb + i * ldc + j;
        const double tol = 2e-6 * mag[o] + 1e-6;
        if (!(std::fabs(got[ci] - want[o]) <= tol)) {
          fail(std::string(name) + " at (" + std::to_string(b) + "," + std::to_string(i) + "," + std::to_string(j) +
               "): got " + std::to_string(got[ci]) + " want " + std::to_string(want[o]));
          ok = false;
          break;
        }
      }
  // Padding between rows / batches is untouched.
  for (int64_t b = 0; b < batch && ok; ++b)
    for (int64_t i = 0; i < M && ok; ++i)
      for (int64_t j = N; j < ldc; ++j) {
        const int64_t ci = b * sCb + i * ldc + j;
        if (!(std::isnan(hc[ci]) ? std::isnan(got[ci]) : got[ci] == hc[ci])) {
          fail(std::string(name) + ": wrote outside (M, N)");
          ok = false;
          break;
        }
      }
  }
}

void test_gemm() {
  uint64_t seed = 9000;
  const char* kinds[] = {"nn", "nt", "tn", "tt", "gn", "ng", "gg"};
  struct Shape { int64_t b, M, N, K; };
  const std::vector<Shape> shapes = {{1, 1, 1, 1},  {1, 1, 70, 33}, {1, 70, 1, 33}, {1, 37, 41, 1},
                                     {1, 64, 64, 64}, {2, 65, 67, 70}, {3, 17, 9, 130}, {1, 70, 70, 70},
                                     {2, 8, 12, 16}, {1, 5, 3, 0}};
  for (const auto& s : shapes)
    for (const char* k : kinds) run_gemm_case(s.b, s.M, s.N, s.K, k[0], k[1], 1.0f, 0.0f, 0, seed++);
  // alpha / beta / ldc / broadcast batch.
  run_gemm_case(2, 33, 35, 19, 'n', 'n', 2.0f, 0.5f, 3, seed++);
  run_gemm_case(2, 33, 36, 20, 'n', 'n', -1.0f, 1.0f, 4, seed++);
  run_gemm_case(3, 21, 22, 23, 'b', 'n', 1.5f, 0.0f, 0, seed++);
  run_gemm_case(3, 21, 24, 24, 'n', 'b', 1.0f, 2.0f, 1, seed++);
  run_gemm_case(1, 5, 3, 0, 'n', 'n', 1.0f, 0.5f, 0, seed++);  // K == 0: C = beta * C
  // Vectorized C stores with a partial last quad (ldc even / multiple of 4, N not).
  run_gemm_case(2, 33, 35, 19, 'n', 't', 1.0f, 0.5f, 1, seed++);
  run_gemm_case(1, 31, 33, 9, 't', 'n', 1.0f, 0.0f, 3, seed++);
  // Enough tiles to take the 128x128 path: vectorized and scalar loads, edges in M and N.
  run_gemm_case(132, 70, 9, 24, 'n', 'n', 1.0f, 0.0f, 0, seed++);
  run_gemm_case(132, 7, 9, 24, 'n', 'n', 1.0f, 0.5f, 3, seed++);
  run_gemm_case(132, 7, 10, 12, 'n', 'n', 1.0f, 0.0f, 2, seed++);
  run_gemm_case(132, 9, 70, 21, 't', 't', 1.0f, 0.25f, 1, seed++);
  run_gemm_case(132, 12, 12, 17, 'n', 't', 1.0f, 0.0f, 0, seed++);
  run_gemm_case(132, 12, 16, 8, 't', 'n', 1.0f, 0.0f, 4, seed++);
  run_gemm_case(132, 3, 5, 7, 'g', 'g', 1.0f, 0.0f, 0, seed++);
}

}  // namespace

int main() {
  struct Part {
    const char* name;
    void (*fn)();
  };
  const Part parts[] = {{"unary", test_unary}, {"binary", test_binary}, {"fill", test_fill},
                        {"reduce", test_reduce}, {"sgemm", test_gemm}};
  std::printf("cuda kernels self-test on %s\n", ck::cuda::runtime_info().c_str());
  if (!ck::cuda::is_available()) {  // a real build on a machine without a usable GPU
    std::printf("no usable CUDA device: skipped\n");
    return 77;  // the conventional "skipped" exit status
  }
  for (const auto& p : parts) {
    const int before = g_failures;
    try {
      p.fn();
      ck::cuda::synchronize();
    } catch (const std::exception& e) {
      fail(std::string(p.name) + ": exception " + e.what());
    }
    std::printf("%-8s %s\n", p.name, g_failures == before ? "ok" : "FAILED");
  }
  ck::ref::print_tally();
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
