// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"), shared by the CPU kernels
// and the CUDA kernels so a seeded draw gives the same numbers on every device. Element i of a draw is
// philox(offset + i, seed); the first word gives uniforms (24 bits), the first two give normals.
#pragma once
#include <cstdint>

// In the emulated build device functions are plain host functions, so only nvcc needs the qualifiers.
#if defined(__CUDACC__)
#define CK_HD __host__ __device__
#else
#define CK_HD
#endif

namespace ck {

struct Philox4 { uint32_t v[4]; };

CK_HD inline Philox4 philox(uint64_t counter, uint64_t seed) {
  uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1; c3 = (uint32_t)p0; c0 = n0; c2 = n2;
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
  Philox4 out = {{c0, c1, c2, c3}};
  return out;
}

// 24 random bits -> [0, 1), exactly representable in float
CK_HD inline float philox_unit(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

}  // namespace ck
