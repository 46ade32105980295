// Shared by the CUDA kernels that turn a linear index into (n, c, h, w) coordinates every element.
#pragma once
#include <cstdint>

#include "runtime.cuh"

namespace ck {
namespace cuda {

// Division by a run-time constant. For 32-bit indices (n < 2^31) it is a multiply-high, an add and a shift,
// as PyTorch's IntDivider: n / d == (mulhi(n, magic) + n) >> shift; 64-bit indices divide plainly.
template <typename I>
struct Divider;
template <>
struct Divider<uint32_t> {
  uint32_t d, magic, shift;
  Divider() = default;
  __host__ __device__ explicit Divider(int64_t divisor) : d(static_cast<uint32_t>(divisor)) {
    shift = 0;
    while (shift < 32 && (uint64_t(1) << shift) < d) ++shift;
    magic = static_cast<uint32_t>(((uint64_t(1) << 32) * ((uint64_t(1) << shift) - d)) / d + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const {
    const uint32_t t = static_cast<uint32_t>((static_cast<uint64_t>(n) * magic) >> 32);
    return (t + n) >> shift;
  }
};
template <>
struct Divider<uint64_t> {
  uint64_t d;
  explicit Divider(int64_t divisor) : d(static_cast<uint64_t>(divisor)) {}
  __device__ __forceinline__ uint64_t div(uint64_t n) const { return n / d; }
};

}  // namespace cuda
}  // namespace ck
