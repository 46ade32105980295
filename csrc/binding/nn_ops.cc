// N-API entry points for the nn kernels (csrc/core/nn_kernels.h). Every tensor argument travels as a
// (storage, element offset) pair of a contiguous tensor, or null for an optional one; the TypeScript
// layer (lib/nn/functional.ts) checks shapes and contiguity first, and the sizes are checked again here
// against each storage so a wrong call can only ever produce a JS error.
#include <napi.h>
#include <vector>
#include "../core/nn_kernels.h"
#include "args.h"
#include "errors.h"
#include "storage.h"
#ifdef CK_HAVE_CUDA
#include "../core/nn_kernels_cuda.h"
#endif

namespace ck {
namespace {

struct Arg {
  Storage* s = nullptr;
  int64_t off = 0;
};

class Args {
 public:
  Args(const Napi::CallbackInfo& info) : info_(info) {}
  // A (storage, offset) pair at i, i+1 that must hold `elems` elements; null storage allowed if optional.
  void* ptr(size_t i, int64_t elems, const char* name, bool optional = false) {
    if (optional && (info_[i].IsNull() || info_[i].IsUndefined())) return nullptr;
    Storage* s = Storage::From(info_[i], name);
    int64_t off = arg_int(info_, i + 1, name);
    if (off < 0 || (off + elems) * 4 > s->bytes())
      throw Error("ERR_SHAPE", std::string(name) + ": tensor smaller than the op needs", ErrorKind::Range);
    if (dev_ == -2) dev_ = s->device();
    else if (dev_ != s->device())
      throw Error("ERR_DEVICE", std::string(name) + " is on another device than the other operands");
    return (uint8_t*)s->data() + off * 4;
  }
  float* f(size_t i, int64_t elems, const char* name, bool optional = false) { return (float*)ptr(i, elems, name, optional); }
  int32_t* i32(size_t i, int64_t elems, const char* name) { return (int32_t*)ptr(i, elems, name); }
  int64_t num(size_t i, const char* name) { return arg_int(info_, i, name); }
  double real(size_t i, const char* name) { return arg_num(info_, i, name); }
  int device() const { return dev_; }

 private:
  const Napi::CallbackInfo& info_;
  int dev_ = -2;
};

#ifdef CK_HAVE_CUDA
#define NN_DISPATCH(dev, cpu_fn, cuda_fn, ...)                                              \
  do {                                                                                      \
    if ((dev) < 0) cpu_fn(__VA_ARGS__);                                                     \
    else { cuda::set_device(dev); cuda::cuda_fn(__VA_ARGS__, cuda::default_stream()); }     \
  } while (0)
#else
#define NN_DISPATCH(dev, cpu_fn, cuda_fn, ...)                                              \
  do {                                                                                      \
    if ((dev) < 0) cpu_fn(__VA_ARGS__);                                                     \
    else throw Error("ERR_DEVICE", "built without CUDA");                                   \
  } while (0)
#endif

std::vector<int64_t> int_array(const Napi::CallbackInfo& info, size_t i, size_t n, const char* name) {
  if (i >= info.Length() || !info[i].IsArray()) throw Error("ERR_ARG", std::string(name) + " must be an array", ErrorKind::Type);
  Napi::Array a = info[i].As<Napi::Array>();
  if (a.Length() != n) throw Error("ERR_ARG", std::string(name) + " has the wrong length", ErrorKind::Range);
  std::vector<int64_t> v(n);
  for (uint32_t k = 0; k < n; ++k) {
    Napi::Value x = a.Get(k);
    if (!x.IsNumber()) throw Error("ERR_ARG", std::string(name) + " holds a non-number", ErrorKind::Type);
    v[k] = (int64_t)x.As<Napi::Number>().DoubleValue();
  }
  return v;
}

// conv params: [N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups]
Conv2dParams read_conv(const Napi::CallbackInfo& info, size_t i) {
  auto v = int_array(info, i, 16, "conv params");
  Conv2dParams p{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]};
  for (int64_t x : v) if (x < 0) throw Error("ERR_SHAPE", "conv2d: negative size or parameter", ErrorKind::Range);
  if (p.groups < 1 || p.C % p.groups || p.O % p.groups || p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1)
    throw Error("ERR_SHAPE", "conv2d: invalid groups, stride or dilation", ErrorKind::Range);
  return p;
}

// pool params: [N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw, countIncludePad, divisorOverride]
Pool2dParams read_pool(const Napi::CallbackInfo& info, size_t i) {
  auto v = int_array(info, i, 16, "pool params");
  Pool2dParams p{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14] != 0, v[15]};
  for (int64_t x : v) if (x < 0) throw Error("ERR_SHAPE", "pool2d: negative size or parameter", ErrorKind::Range);
  if (p.kh < 1 || p.kw < 1 || p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1)
    throw Error("ERR_SHAPE", "pool2d: kernel, stride and dilation must be positive", ErrorKind::Range);
  return p;
}

// conv2dForward(params, x, xo, w, wo, b|null, bo, y, yo)
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  Conv2dParams p = read_conv(info, 0);
  Args a(info);
  const float* x = a.f(1, p.N * p.C * p.H * p.W, "input");
  const float* w = a.f(3, p.O * (p.C / p.groups) * p.KH * p.KW, "weight");
  const float* b = a.f(5, p.O, "bias", true);
  float* y = a.f(7, p.N * p.O * p.OH * p.OW, "output");
  NN_DISPATCH(a.device(), conv2d_forward_cpu, conv2d_forward_cuda, p, x, w, b, y);
  return info.Env().Undefined();
}

// conv2dBackwardData(params, dy, dyo, w, wo, dx, dxo)
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  Conv2dParams p = read_conv(info, 0);
  Args a(info);
  const float* dy = a.f(1, p.N * p.O * p.OH * p.OW, "grad output");
  const float* w = a.f(3, p.O * (p.C / p.groups) * p.KH * p.KW, "weight");
  float* dx = a.f(5, p.N * p.C * p.H * p.W, "grad input");
  NN_DISPATCH(a.device(), conv2d_backward_data_cpu, conv2d_backward_data_cuda, p, dy, w, dx);
  return info.Env().Undefined();
}

// conv2dBackwardWeight(params, x, xo, dy, dyo, dw, dwo, db|null, dbo)
Napi::Value Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  Conv2dParams p = read_conv(info, 0);
  Args a(info);
  const float* x = a.f(1, p.N * p.C * p.H * p.W, "input");
  const float* dy = a.f(3, p.N * p.O * p.OH * p.OW, "grad output");
  float* dw = a.f(5, p.O * (p.C / p.groups) * p.KH * p.KW, "grad weight");
  float* db = a.f(7, p.O, "grad bias", true);
  NN_DISPATCH(a.device(), conv2d_backward_weight_cpu, conv2d_backward_weight_cuda, p, x, dy, dw, db);
  return info.Env().Undefined();
}

// batchNormTrain(N, C, L, x, xo, gamma|null, go, beta|null, bo, eps, momentum, rm|null, rmo, rv|null, rvo, y, yo, mean, mo, invstd, io)
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t N = a.num(0, "N"), C = a.num(1, "C"), L = a.num(2, "L");
  const float* x = a.f(3, N * C * L, "input");
  const float* g = a.f(5, C, "weight", true);
  const float* b = a.f(7, C, "bias", true);
  float eps = (float)a.real(9, "eps"), mom = (float)a.real(10, "momentum");
  float* rm = a.f(11, C, "running_mean", true);
  float* rv = a.f(13, C, "running_var", true);
  float* y = a.f(15, N * C * L, "output");
  float* sm = a.f(17, C, "save_mean");
  float* si = a.f(19, C, "save_invstd");
  NN_DISPATCH(a.device(), batchnorm_forward_train_cpu, batchnorm_forward_train_cuda, N, C, L, x, g, b, eps, mom, rm, rv, y, sm, si);
  return info.Env().Undefined();
}

// batchNormEval(N, C, L, x, xo, gamma|null, go, beta|null, bo, rm, rmo, rv, rvo, eps, y, yo)
Napi::Value BatchNormEval(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t N = a.num(0, "N"), C = a.num(1, "C"), L = a.num(2, "L");
  const float* x = a.f(3, N * C * L, "input");
  const float* g = a.f(5, C, "weight", true);
  const float* b = a.f(7, C, "bias", true);
  const float* rm = a.f(9, C, "running_mean");
  const float* rv = a.f(11, C, "running_var");
  float eps = (float)a.real(13, "eps");
  float* y = a.f(14, N * C * L, "output");
  NN_DISPATCH(a.device(), batchnorm_forward_eval_cpu, batchnorm_forward_eval_cuda, N, C, L, x, g, b, rm, rv, eps, y);
  return info.Env().Undefined();
}

// batchNormBackward(N, C, L, dy, dyo, x, xo, gamma|null, go, mean, mo, invstd, io, dx, dxo, dgamma|null, dgo, dbeta|null, dbo)
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t N = a.num(0, "N"), C = a.num(1, "C"), L = a.num(2, "L");
  const float* dy = a.f(3, N * C * L, "grad output");
  const float* x = a.f(5, N * C * L, "input");
  const float* g = a.f(7, C, "weight", true);
  const float* sm = a.f(9, C, "save_mean");
  const float* si = a.f(11, C, "save_invstd");
  float* dx = a.f(13, N * C * L, "grad input");
  float* dg = a.f(15, C, "grad weight", true);
  float* db = a.f(17, C, "grad bias", true);
  NN_DISPATCH(a.device(), batchnorm_backward_cpu, batchnorm_backward_cuda, N, C, L, dy, x, g, sm, si, dx, dg, db);
  return info.Env().Undefined();
}

// maxPoolForward(params, x, xo, y, yo, idx, io)
Napi::Value MaxPoolForward(const Napi::CallbackInfo& info) {
  Pool2dParams p = read_pool(info, 0);
  Args a(info);
  const float* x = a.f(1, p.N * p.C * p.H * p.W, "input");
  float* y = a.f(3, p.N * p.C * p.OH * p.OW, "output");
  int32_t* idx = a.i32(5, p.N * p.C * p.OH * p.OW, "indices");
  NN_DISPATCH(a.device(), maxpool2d_forward_cpu, maxpool2d_forward_cuda, p, x, y, idx);
  return info.Env().Undefined();
}
// maxPoolBackward(params, dy, dyo, idx, io, dx, dxo)
Napi::Value MaxPoolBackward(const Napi::CallbackInfo& info) {
  Pool2dParams p = read_pool(info, 0);
  Args a(info);
  const float* dy = a.f(1, p.N * p.C * p.OH * p.OW, "grad output");
  const int32_t* idx = a.i32(3, p.N * p.C * p.OH * p.OW, "indices");
  float* dx = a.f(5, p.N * p.C * p.H * p.W, "grad input");
  NN_DISPATCH(a.device(), maxpool2d_backward_cpu, maxpool2d_backward_cuda, p, dy, idx, dx);
  return info.Env().Undefined();
}
// avgPoolForward(params, x, xo, y, yo) / avgPoolBackward(params, dy, dyo, dx, dxo)
Napi::Value AvgPoolForward(const Napi::CallbackInfo& info) {
  Pool2dParams p = read_pool(info, 0);
  Args a(info);
  const float* x = a.f(1, p.N * p.C * p.H * p.W, "input");
  float* y = a.f(3, p.N * p.C * p.OH * p.OW, "output");
  NN_DISPATCH(a.device(), avgpool2d_forward_cpu, avgpool2d_forward_cuda, p, x, y);
  return info.Env().Undefined();
}
Napi::Value AvgPoolBackward(const Napi::CallbackInfo& info) {
  Pool2dParams p = read_pool(info, 0);
  Args a(info);
  const float* dy = a.f(1, p.N * p.C * p.OH * p.OW, "grad output");
  float* dx = a.f(3, p.N * p.C * p.H * p.W, "grad input");
  NN_DISPATCH(a.device(), avgpool2d_backward_cpu, avgpool2d_backward_cuda, p, dy, dx);
  return info.Env().Undefined();
}
// adaptiveAvgPoolForward(N, C, H, W, OH, OW, x, xo, y, yo) / Backward(N, C, H, W, OH, OW, dy, dyo, dx, dxo)
Napi::Value AdaptiveAvgPoolForward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t N = a.num(0, "N"), C = a.num(1, "C"), H = a.num(2, "H"), W = a.num(3, "W"), OH = a.num(4, "OH"), OW = a.num(5, "OW");
  if (OH < 1 || OW < 1) throw Error("ERR_SHAPE", "adaptive_avg_pool2d: output size must be positive", ErrorKind::Range);
  const float* x = a.f(6, N * C * H * W, "input");
  float* y = a.f(8, N * C * OH * OW, "output");
  NN_DISPATCH(a.device(), adaptive_avgpool2d_forward_cpu, adaptive_avgpool2d_forward_cuda, N, C, H, W, OH, OW, x, y);
  return info.Env().Undefined();
}
Napi::Value AdaptiveAvgPoolBackward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t N = a.num(0, "N"), C = a.num(1, "C"), H = a.num(2, "H"), W = a.num(3, "W"), OH = a.num(4, "OH"), OW = a.num(5, "OW");
  if (OH < 1 || OW < 1) throw Error("ERR_SHAPE", "adaptive_avg_pool2d: output size must be positive", ErrorKind::Range);
  const float* dy = a.f(6, N * C * OH * OW, "grad output");
  float* dx = a.f(8, N * C * H * W, "grad input");
  NN_DISPATCH(a.device(), adaptive_avgpool2d_backward_cpu, adaptive_avgpool2d_backward_cuda, N, C, H, W, OH, OW, dy, dx);
  return info.Env().Undefined();
}

// biasReluForward(N, C, L, x, xo, b, bo, y, yo) / biasReluBackward(N, C, L, dy, dyo, y, yo, dx, dxo, db|null, dbo)
Napi::Value BiasReluForward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t N = a.num(0, "N"), C = a.num(1, "C"), L = a.num(2, "L");
  const float* x = a.f(3, N * C * L, "input");
  const float* b = a.f(5, C, "bias");
  float* y = a.f(7, N * C * L, "output");
  NN_DISPATCH(a.device(), bias_relu_forward_cpu, bias_relu_forward_cuda, N, C, L, x, b, y);
  return info.Env().Undefined();
}
Napi::Value BiasReluBackward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t N = a.num(0, "N"), C = a.num(1, "C"), L = a.num(2, "L");
  const float* dy = a.f(3, N * C * L, "grad output");
  const float* y = a.f(5, N * C * L, "output");
  float* dx = a.f(7, N * C * L, "grad input");
  float* db = a.f(9, C, "grad bias", true);
  NN_DISPATCH(a.device(), bias_relu_backward_cpu, bias_relu_backward_cuda, N, C, L, dy, y, dx, db);
  return info.Env().Undefined();
}
// addReluForward(n, a, ao, b, bo, y, yo) / reluBackward(n, dy, dyo, y, yo, dx, dxo)
Napi::Value AddReluForward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t n = a.num(0, "n");
  const float* x = a.f(1, n, "a");
  const float* y2 = a.f(3, n, "b");
  float* y = a.f(5, n, "output");
  NN_DISPATCH(a.device(), add_relu_forward_cpu, add_relu_forward_cuda, n, x, y2, y);
  return info.Env().Undefined();
}
Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t n = a.num(0, "n");
  const float* dy = a.f(1, n, "grad output");
  const float* y = a.f(3, n, "output");
  float* dx = a.f(5, n, "grad input");
  NN_DISPATCH(a.device(), relu_backward_cpu, relu_backward_cuda, n, dy, y, dx);
  return info.Env().Undefined();
}

// softmaxForward(R, K, x, xo, y, yo, log) / softmaxBackward(R, K, y, yo, dy, dyo, dx, dxo, log)
Napi::Value SoftmaxForward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t R = a.num(0, "rows"), K = a.num(1, "cols");
  const float* x = a.f(2, R * K, "input");
  float* y = a.f(4, R * K, "output");
  bool log = info[6].ToBoolean();
  NN_DISPATCH(a.device(), softmax_forward_cpu, softmax_forward_cuda, R, K, x, y, log);
  return info.Env().Undefined();
}
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t R = a.num(0, "rows"), K = a.num(1, "cols");
  const float* y = a.f(2, R * K, "output");
  const float* dy = a.f(4, R * K, "grad output");
  float* dx = a.f(6, R * K, "grad input");
  bool log = info[8].ToBoolean();
  NN_DISPATCH(a.device(), softmax_backward_cpu, softmax_backward_cuda, R, K, y, dy, dx, log);
  return info.Env().Undefined();
}
// nllForward(R, K, logp, lo, t, to, ignore, loss, loso) / nllBackward(R, K, t, to, ignore, g, go, dlogp, dlo)
Napi::Value NllForward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t R = a.num(0, "rows"), K = a.num(1, "classes");
  const float* lp = a.f(2, R * K, "input");
  const int32_t* t = a.i32(4, R, "target");
  int32_t ig = (int32_t)a.num(6, "ignoreIndex");
  float* loss = a.f(7, R, "loss");
  NN_DISPATCH(a.device(), nll_forward_cpu, nll_forward_cuda, R, K, lp, t, ig, loss);
  return info.Env().Undefined();
}
Napi::Value NllBackward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t R = a.num(0, "rows"), K = a.num(1, "classes");
  const int32_t* t = a.i32(2, R, "target");
  int32_t ig = (int32_t)a.num(4, "ignoreIndex");
  const float* g = a.f(5, R, "grad loss");
  float* d = a.f(7, R * K, "grad input");
  NN_DISPATCH(a.device(), nll_backward_cpu, nll_backward_cuda, R, K, t, ig, g, d);
  return info.Env().Undefined();
}
// dropoutForward(n, x, xo, p, seedHi, seedLo, offset, y, yo, mask, mo)
Napi::Value DropoutForward(const Napi::CallbackInfo& info) {
  Args a(info);
  int64_t n = a.num(0, "n");
  const float* x = a.f(1, n, "input");
  float p = (float)a.real(3, "p");
  if (!(p >= 0 && p <= 1)) throw Error("ERR_ARG", "dropout probability must be in [0, 1]", ErrorKind::Range);
  uint64_t seed = ((uint64_t)(uint32_t)a.num(4, "seedHi") << 32) | (uint32_t)a.num(5, "seedLo");
  uint64_t off = (uint64_t)a.num(6, "offset");
  float* y = a.f(7, n, "output");
  float* m = a.f(9, n, "mask");
  NN_DISPATCH(a.device(), dropout_forward_cpu, dropout_forward_cuda, n, x, p, seed, off, y, m);
  return info.Env().Undefined();
}

}  // namespace

void init_nn_ops(Napi::Env env, Napi::Object exports) {
  (void)env;
  CK_EXPORT(exports, "conv2dForward", Conv2dForward);
  CK_EXPORT(exports, "conv2dBackwardData", Conv2dBackwardData);
  CK_EXPORT(exports, "conv2dBackwardWeight", Conv2dBackwardWeight);
  CK_EXPORT(exports, "batchNormTrain", BatchNormTrain);
  CK_EXPORT(exports, "batchNormEval", BatchNormEval);
  CK_EXPORT(exports, "batchNormBackward", BatchNormBackward);
  CK_EXPORT(exports, "maxPoolForward", MaxPoolForward);
  CK_EXPORT(exports, "maxPoolBackward", MaxPoolBackward);
  CK_EXPORT(exports, "avgPoolForward", AvgPoolForward);
  CK_EXPORT(exports, "avgPoolBackward", AvgPoolBackward);
  CK_EXPORT(exports, "adaptiveAvgPoolForward", AdaptiveAvgPoolForward);
  CK_EXPORT(exports, "adaptiveAvgPoolBackward", AdaptiveAvgPoolBackward);
  CK_EXPORT(exports, "biasReluForward", BiasReluForward);
  CK_EXPORT(exports, "biasReluBackward", BiasReluBackward);
  CK_EXPORT(exports, "addReluForward", AddReluForward);
  CK_EXPORT(exports, "reluBackward", ReluBackward);
  CK_EXPORT(exports, "softmaxForward", SoftmaxForward);
  CK_EXPORT(exports, "softmaxBackward", SoftmaxBackward);
  CK_EXPORT(exports, "nllForward", NllForward);
  CK_EXPORT(exports, "nllBackward", NllBackward);
  CK_EXPORT(exports, "dropoutForward", DropoutForward);
}

}  // namespace ck
