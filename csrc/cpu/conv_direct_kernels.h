// The direct 3x3 convolution's per-ISA micro-kernel (see cpu/isa.h for the convention): its loop body lives in
// cpu/conv_direct_kernels.inc, compiled three times (conv_direct.cc for the baseline with 4-float vectors,
// conv_direct_avx2.cc with 8, conv_direct_avx512.cc with 16). conv_direct.cc drives it through the table
// direct_kernels(), picked once from cpu_isa(). Plain declarations only.
#pragma once
#include <cstdint>

namespace ck {

struct DirectKernels {
  int lanes;  // floats per vector
  int regs;   // vector registers: a tile of R pixels x JV channel vectors needs R*JV + JV + 1 <= regs
  // One tile of the convolution on the zero-padded grid of one image: for pixels r < R (xp[r] is pixel r's
  // top-left tap in channel 0) and output channels j < JV*lanes,
  //   out[r*JV*lanes + j] = sum_{c < C, t < 9} w[(c*9 + t)*JV*lanes + j] * xp[c*cs + off[t] + r]
  // 1 <= R <= 14, 1 <= JV <= 4, R*JV + JV + 1 <= regs (other values: nothing is computed).
  void (*tile)(int R, int JV, const float* xp, int64_t cs, int64_t C, const float* w, const int64_t* off, float* out);
  // The weight gradient's tile, for output channels j < J (J <= 3) and one input channel, over `nimg` images
  // (image i's rows at dy + i*dstep and xp + i*xstep) and pixels q in [0, nq) (nq a multiple of lanes; dy zero
  // on the grid's junk columns and past its last row):
  //   dw[j*ldw + t] += sum_{i, q} dy[i*dstep + j*ldd + q] * xp[i*xstep + q + off[t]],  t < 9
  void (*wtile)(int J, int64_t nimg, const float* dy, int64_t dstep, int64_t ldd, const float* xp, int64_t xstep,
                const int64_t* off, int64_t nq, float* dw, int64_t ldw);
};

const DirectKernels& direct_kernels();

namespace avx2 {
extern const DirectKernels kDirectKernels;
}
namespace avx512 {
extern const DirectKernels kDirectKernels;
}

}  // namespace ck
