// Reference dropout: Philox4x32-10 (Random123), written out independently of csrc/core/philox.h (counter
// (lo, hi, 0, 0), key (lo, hi)), and the keep decision of element i: the top 24 bits of the first word of
// philox(offset + i, seed) as a uniform in [0, 1), kept when below 1 - p; a kept element is scaled by 1 / (1 - p)
// (computed in double).
#pragma once
#include <cstdint>
#include <vector>

namespace ck {
namespace ref {

inline void philox(uint64_t counter, uint64_t seed, uint32_t out[4]) {
  uint32_t c[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), 0u, 0u};
  uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  for (int round = 0; round < 10; ++round) {
    if (round > 0) { k[0] += 0x9E3779B9u; k[1] += 0xBB67AE85u; }
    const uint64_t p0 = 0xD2511F53ull * c[0], p1 = 0xCD9E8D57ull * c[2];
    const uint32_t n[4] = {(uint32_t)(p1 >> 32) ^ c[1] ^ k[0], (uint32_t)p1, (uint32_t)(p0 >> 32) ^ c[3] ^ k[1],
                           (uint32_t)p0};
    for (int j = 0; j < 4; ++j) c[j] = n[j];
  }
  for (int j = 0; j < 4; ++j) out[j] = c[j];
}

// mask[i] = keep ? 1 / (1 - p) : 0, y[i] = x[i] * mask[i]; returns the number kept.
inline int64_t dropout(const std::vector<float>& x, double p, uint64_t seed, uint64_t offset, std::vector<double>& mask,
                       std::vector<double>& y) {
  const int64_t n = static_cast<int64_t>(x.size());
  const double q = 1.0 - p;
  mask.assign(n, 0.0);
  y.assign(n, 0.0);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t w4[4];
    philox(offset + static_cast<uint64_t>(i), seed, w4);
    const bool keep = static_cast<double>(w4[0] >> 8) / 16777216.0 < q;
    kept += keep;
    mask[i] = keep ? 1.0 / q : 0.0;
    y[i] = static_cast<double>(x[i]) * mask[i];
  }
  return kept;
}

}  // namespace ref
}  // namespace ck
