// The kernel interface: every op has a CPU reference (csrc/cpu/) and a CUDA twin (cuda/*.cu) with the
// same arguments; the CUDA twin takes a trailing stream. Pointers are raw device-or-host pointers to the
// base of a buffer; Layout offsets are applied inside the kernels.
#pragma once
#include <cstddef>
#include <cstdint>
#include "types.h"

namespace ck {

// ---- CPU ------------------------------------------------------------------------------------------
// out (contiguous, shape of xl) = op(x viewed through xl). x dtype = in, out dtype = out (casts allowed
// only with UnaryOp::Copy).
void unary_cpu(UnaryOp op, DType in, DType out, const void* x, const Layout& xl, void* y, double a, double b);
// out (contiguous, shape = al.shape = bl.shape, broadcast already expressed as stride 0)
void binary_cpu(BinaryOp op, DType in, DType out, const void* a, const Layout& al, const void* b,
                const Layout& bl, void* y);
// x: (outer, inner) contiguous -> y: (outer,)
void reduce_cpu(ReduceOp op, DType dt, const void* x, void* y, int64_t outer, int64_t inner, int64_t correction);
// dst view <- src view (same shape, 4-byte elements copied as bits)
void copy_cpu(const void* src, const Layout& sl, void* dst, const Layout& dl);
void fill_cpu(DType dt, void* p, int64_t n, double value);
// C[b] = alpha * A[b] @ B[b] + beta * C[b];  A[b] (M, K) at A + b*sAb, element (i,k) at i*rsA + k*csA;
// B (K, N) likewise; C (M, N) at C + b*sCb with row stride ldc, unit column stride.
void sgemm_cpu(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t sAb, int64_t rsA, int64_t csA,
               const float* B, int64_t sBb, int64_t rsB, int64_t csB,
               float beta, float* C, int64_t sCb, int64_t ldc);
// Threads the CPU kernels may use (default: hardware concurrency).
void set_num_threads(int n);
int get_num_threads();

}  // namespace ck

namespace ck {
// Counter-based random numbers (Philox4x32-10): element i of a draw depends only on (seed, offset + i),
// so a draw is reproducible after manualSeed and independent of thread count.
enum class RandomKind : int32_t { Uniform = 0, Normal = 1, Int = 2, Bernoulli = 3 };
// Uniform: [a, b); Normal: mean a, std b; Int: integers in [a, b) (dtype I32 or F32); Bernoulli: 1 with prob a.
void random_cpu(RandomKind kind, DType dt, void* p, int64_t n, uint64_t seed, uint64_t offset, double a, double b);
}  // namespace ck
