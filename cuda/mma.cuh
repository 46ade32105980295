// Tensor-core and asynchronous-copy primitives for the real build, as inline PTX (sm_80 and newer). The
// host emulation defines the same functions with the same semantics in cuda/emu/device_functions.h, so
// kernel code calls these names in both builds:
//   cvt_rna_tf32(x)                  cvt.rna.tf32.f32: fp32 -> tf32 bit pattern, nearest, ties away from 0
//   mma_m16n8k8_tf32(d, a, b, c)     mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 (warp-collective)
//   cp_async4(dst, src, valid)       cp.async.ca.shared.global, 4 bytes; !valid zero-fills without reading
//   cp_async_commit()                cp.async.commit_group
//   cp_async_wait<N>()               cp.async.wait_group N
// Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k8", .tf32), g = lane / 4, t = lane % 4:
//   A (16x8): a0 (g, t) a1 (g+8, t) a2 (g, t+4) a3 (g+8, t+4);  B (8x8): b0 (t, g) b1 (t+4, g);
//   C, D (16x8): c0 (g, 2t) c1 (g, 2t+1) c2 (g+8, 2t) c3 (g+8, 2t+1).
// Compiled for an architecture below sm_80 (the sm_75 SASS of a multi-architecture build) the bodies
// are a synchronous copy and a trap: the dispatcher never picks the kernels that use them there.
#pragma once

#include "runtime.cuh"

#if CK_CUDA_REAL
namespace ck {
namespace cuda {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define CK_HAVE_SM80 1
#else
#define CK_HAVE_SM80 0
#endif

__device__ __forceinline__ uint32_t cvt_rna_tf32(float x) {
#if CK_HAVE_SM80
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#else
  return __float_as_uint(x);
#endif
}

__device__ __forceinline__ void mma_m16n8k8_tf32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
#if CK_HAVE_SM80
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
#else
  (void)a;
  (void)b;
  for (int i = 0; i < 4; ++i) d[i] = c[i];
  __trap();
#endif
}

__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool valid) {
#if CK_HAVE_SM80
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 4 : 0));
#else
  *static_cast<float*>(dst) = valid ? *static_cast<const float*>(src) : 0.0f;
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if CK_HAVE_SM80
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if CK_HAVE_SM80
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

}  // namespace cuda
}  // namespace ck
#endif  // CK_CUDA_REAL
