// The parameters of the convolution, pooling and batch-norm families and their one validation, shared by
// the CPU kernels (csrc/cpu/), the cuDNN path (csrc/cudnn/), the N-API readers (csrc/binding/params.h) and
// the CUDA launchers (cuda/, host side). lib/nn/ checks every argument first and names the layer; these
// checks are the native last line, so a wrong call is a coded JS error, never a crash or a wrong result.
// Host-only (std::string); the structs themselves travel to device code by value.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include "error.h"

namespace ck {

struct Conv2dParams {
  int64_t N, C, H, W;      // input
  int64_t O, KH, KW;       // weight (O, C / groups, KH, KW)
  int64_t OH, OW;          // output (N, O, OH, OW); OH = (H + 2ph - dh*(KH-1) - 1) / sh + 1
  int64_t sh, sw, ph, pw, dh, dw, groups;
};

struct Pool2dParams {
  int64_t N, C, H, W, OH, OW;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;  // dilation: max pool only (1 for avg)
  bool count_include_pad;                   // avg pool
  int64_t divisor_override;                 // avg pool; 0 = none
};

// Adaptive average pooling: window of output i spans [floor(i*H/OH), ceil((i+1)*H/OH)).
struct AdaptivePool2dParams {
  int64_t N, C, H, W, OH, OW;
};

// Batch norm over (N, C, L): L = H*W for 2d, 1 (or the length) for 1d.
struct BatchNormParams {
  int64_t N, C, L;
  float eps, momentum;  // momentum: training only
};

// ---- element counts of each operand ----
inline int64_t conv2d_input_numel(const Conv2dParams& p) { return p.N * p.C * p.H * p.W; }
inline int64_t conv2d_weight_numel(const Conv2dParams& p) { return p.O * (p.groups > 0 ? p.C / p.groups : 0) * p.KH * p.KW; }
inline int64_t conv2d_output_numel(const Conv2dParams& p) { return p.N * p.O * p.OH * p.OW; }
inline int64_t pool2d_input_numel(const Pool2dParams& p) { return p.N * p.C * p.H * p.W; }
inline int64_t pool2d_output_numel(const Pool2dParams& p) { return p.N * p.C * p.OH * p.OW; }
inline int64_t pool2d_input_numel(const AdaptivePool2dParams& p) { return p.N * p.C * p.H * p.W; }
inline int64_t pool2d_output_numel(const AdaptivePool2dParams& p) { return p.N * p.C * p.OH * p.OW; }

// ---- validation ----
inline std::string conv2d_dims(const Conv2dParams& p) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return "x (" + s(p.N) + ", " + s(p.C) + ", " + s(p.H) + ", " + s(p.W) + "), w (" + s(p.O) + ", " +
         s(p.groups > 0 ? p.C / p.groups : p.C) + ", " + s(p.KH) + ", " + s(p.KW) + "), y (" + s(p.N) + ", " +
         s(p.O) + ", " + s(p.OH) + ", " + s(p.OW) + "), stride (" + s(p.sh) + ", " + s(p.sw) + "), padding (" +
         s(p.ph) + ", " + s(p.pw) + "), dilation (" + s(p.dh) + ", " + s(p.dw) + "), groups " + s(p.groups);
}

inline void check_conv2d(const Conv2dParams& p, const char* who) {
  const std::string where = std::string(who) + ": ";
  if (p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1 || p.ph < 0 || p.pw < 0 || p.groups < 1)
    throw Error("ERR_ARG", where + "stride and dilation must be >= 1, padding >= 0, groups >= 1: " + conv2d_dims(p),
                ErrorKind::Range);
  if (p.N < 0 || p.C < 1 || p.H < 1 || p.W < 1 || p.O < 1 || p.KH < 1 || p.KW < 1)
    throw Error("ERR_SHAPE", where + "extents must be positive (N >= 0): " + conv2d_dims(p), ErrorKind::Range);
  if (p.C % p.groups != 0 || p.O % p.groups != 0)
    throw Error("ERR_SHAPE", where + "in and out channels must be divisible by groups: " + conv2d_dims(p),
                ErrorKind::Range);
  const int64_t eh = p.H + 2 * p.ph - p.dh * (p.KH - 1) - 1;
  const int64_t ew = p.W + 2 * p.pw - p.dw * (p.KW - 1) - 1;
  if (eh < 0 || ew < 0)
    throw Error("ERR_SHAPE", where + "the dilated kernel is larger than the padded input: " + conv2d_dims(p),
                ErrorKind::Range);
  if (p.OH != eh / p.sh + 1 || p.OW != ew / p.sw + 1)
    throw Error("ERR_SHAPE", where + "output size must be (" + std::to_string(eh / p.sh + 1) + ", " +
                                 std::to_string(ew / p.sw + 1) + "): " + conv2d_dims(p),
                ErrorKind::Range);
}

inline void check_pool2d(const Pool2dParams& p, bool is_max, const char* who) {
  const bool ok = p.N >= 0 && p.C >= 0 && p.H >= 0 && p.W >= 0 && p.OH >= 0 && p.OW >= 0 && p.kh > 0 && p.kw > 0 &&
                  p.sh > 0 && p.sw > 0 && p.ph >= 0 && p.pw >= 0 && (!is_max || (p.dh > 0 && p.dw > 0)) &&
                  p.divisor_override >= 0;
  auto s = [](int64_t v) { return std::to_string(v); };
  if (!ok)
    throw Error("ERR_ARG",
                std::string(who) + ": invalid pooling parameters (N, C, H, W, OH, OW) = (" + s(p.N) + ", " + s(p.C) +
                    ", " + s(p.H) + ", " + s(p.W) + ", " + s(p.OH) + ", " + s(p.OW) + "), kernel (" + s(p.kh) + ", " +
                    s(p.kw) + "), stride (" + s(p.sh) + ", " + s(p.sw) + "), padding (" + s(p.ph) + ", " + s(p.pw) +
                    "), dilation (" + s(p.dh) + ", " + s(p.dw) + ")",
                ErrorKind::Range);
  if (is_max && p.H * p.W > std::numeric_limits<int32_t>::max())
    throw Error("ERR_ARG", std::string(who) + ": plane of " + s(p.H * p.W) + " elements overflows int32 indices",
                ErrorKind::Range);
}

inline void check_adaptive_pool2d(const AdaptivePool2dParams& p, const char* who) {
  if (p.N < 0 || p.C < 0 || p.H < 0 || p.W < 0 || p.OH < 1 || p.OW < 1) {
    auto s = [](int64_t v) { return std::to_string(v); };
    throw Error("ERR_ARG",
                std::string(who) + ": invalid sizes (N, C, H, W) = (" + s(p.N) + ", " + s(p.C) + ", " + s(p.H) + ", " +
                    s(p.W) + "), output (" + s(p.OH) + ", " + s(p.OW) + "); the output size must be positive",
                ErrorKind::Range);
  }
}

inline void check_batchnorm(int64_t N, int64_t C, int64_t L, const char* who) {
  if (N < 0 || C < 0 || L < 0)
    throw Error("ERR_ARG", std::string(who) + ": negative extent (N, C, L) = (" + std::to_string(N) + ", " +
                               std::to_string(C) + ", " + std::to_string(L) + ")",
                ErrorKind::Range);
}

// Training needs more than one value per channel (N * L > 1), as F.batch_norm.
inline void check_batchnorm_training(int64_t N, int64_t C, int64_t L, const char* who) {
  check_batchnorm(N, C, L, who);
  if (N * L == 1)
    throw Error("ERR_SHAPE",
                "Expected more than 1 value per channel when training, got input size (" + std::to_string(N) + ", " +
                    std::to_string(C) + ", " + std::to_string(L) + ")",
                ErrorKind::Range);
}

}  // namespace ck
