// Winograd's per-ISA pieces (see cpu/isa.h for the convention): the tile transforms of kWinoLanes tiles at a
// time, whose loop bodies live in cpu/winograd_kernels.inc and are compiled three times (winograd.cc for the
// baseline, winograd_avx2.cc, winograd_avx512.cc). winograd.cc calls them through the table
// winograd_kernels() picked once from cpu_isa(). Plain declarations only.
#pragma once
#include <cstdint>

namespace ck {

constexpr int kWinoLanes = 16;  // tiles transformed together: lane l of every array below is tile l

struct WinogradKernels {
  // Input transform of one channel for F(m x m, 3x3), a = m + 2: d holds the lanes' a x a patches at
  // d[(i*a + j)*kWinoLanes + l]; writes V = B^T d B at v[(i*a + j)*vstride + l]. tmp: a*a*kWinoLanes floats.
  void (*input2)(const float* d, float* tmp, float* v, int64_t vstride);
  void (*input4)(const float* d, float* tmp, float* v, int64_t vstride);
  // Output transform of one output channel: M at m[(i*a + j)*mstride + l] -> out[(i*m + j)*kWinoLanes + l]
  // = (A^T M A)[i][j]. tmp: a*a*kWinoLanes floats.
  void (*output2)(const float* m, int64_t mstride, float* tmp, float* out);
  void (*output4)(const float* m, int64_t mstride, float* tmp, float* out);
};

const WinogradKernels& winograd_kernels();

namespace avx2 {
extern const WinogradKernels kWinogradKernels;
}
namespace avx512 {
extern const WinogradKernels kWinogradKernels;
}

}  // namespace ck
