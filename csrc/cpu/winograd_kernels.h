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
  // The lanes' a x a patches, zero outside the image: d[(i*a + j)*kWinoLanes + l] = p[off[l] + i*w + j] where
  // bit l of rowmask[i] & colmask[j] is set, else 0 (the masked-off elements are not read).
  void (*gather2)(const float* p, const int32_t* off, const uint32_t* rowmask, const uint32_t* colmask, int64_t w,
                  float* d);
  void (*gather4)(const float* p, const int32_t* off, const uint32_t* rowmask, const uint32_t* colmask, int64_t w,
                  float* d);
  // The output tiles (out from output2/4) plus bias into y: y[off[l] + i*w + j] = out[(i*m + j)*kWinoLanes + l] +
  // bias where bit l of rowmask[i] & colmask[j] is set (other elements not written).
  void (*scatter2)(const float* out, float bias, const int32_t* off, const uint32_t* rowmask, const uint32_t* colmask,
                   int64_t w, float* y);
  void (*scatter4)(const float* out, float bias, const int32_t* off, const uint32_t* rowmask, const uint32_t* colmask,
                   int64_t w, float* y);
  // Backward-weight (winograd.cc). The output-gradient transform of one output channel, the output
  // transform's adjoint: the lanes' m x m tiles of dy at dyt[(i*m + j)*kWinoLanes + l] -> dM = A dY A^T at
  // dm[(i*a + j)*mstride + l]. tmp: a*m*kWinoLanes floats.
  void (*grad_output2)(const float* dyt, float* tmp, float* dm, int64_t mstride);
  void (*grad_output4)(const float* dyt, float* tmp, float* dm, int64_t mstride);
  // gather2/4's contract for m x m tiles (d[(i*m + j)*kWinoLanes + l]): the lanes' tiles of dy.
  void (*gather_tile2)(const float* p, const int32_t* off, const uint32_t* rowmask, const uint32_t* colmask,
                       int64_t w, float* d);
  void (*gather_tile4)(const float* p, const int32_t* off, const uint32_t* rowmask, const uint32_t* colmask,
                       int64_t w, float* d);
  // Weight transform U = G g G^T (in double, rounded once) of one block of mr output rows (the GEMM's packed A
  // layout): kernel (r, c) for r < mr, c < n has its taps at g + r*ostride + c*cstride + t (t = 3*row + col;
  // + 8 - t when flip, the 180-degree rotation backward-data needs); rows r >= `rows` are zero. Writes U[xi] of
  // kernel (r, c) at u[xi*ustride + c*mr + r], xi = i*a + j. stream: U will not fit the caches (AVX-512 writes it
  // with non-temporal stores; u and ustride 64-byte aligned).
  void (*weightsg2)(const float* g, int64_t ostride, int64_t cstride, int flip, int64_t rows, int64_t mr, int64_t n,
                    float* u, int64_t ustride, int stream);
  void (*weightsg4)(const float* g, int64_t ostride, int64_t cstride, int flip, int64_t rows, int64_t mr, int64_t n,
                    float* u, int64_t ustride, int stream);
};

const WinogradKernels& winograd_kernels();

namespace avx2 {
extern const WinogradKernels kWinogradKernels;
}
namespace avx512 {
extern const WinogradKernels kWinogradKernels;
}

}  // namespace ck
