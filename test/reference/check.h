// Bookkeeping shared by the self-tests that compare kernels with the references of this folder: a count of
// the output arrays compared with a reference, per op family and per device, printed at the end as
//   reference checks: <family> <cpu|cuda> <count>
// lines, which scripts/native-selftests.js adds up over all self-tests.
#pragma once
#include <cstdio>
#include <map>
#include <string>

namespace ck {
namespace ref {

enum class On { Cpu, Cuda };

inline std::map<std::string, long>& tally_map() {
  static std::map<std::string, long> m;
  return m;
}

// One output array of `on` compared with its reference.
inline void tally(const std::string& family, On on, long n = 1) {
  tally_map()[family + (on == On::Cuda ? " cuda" : " cpu")] += n;
}

// The device a check label names: the self-tests label CUDA results "... cuda ..." / "..._cuda ...".
inline On device_of(const std::string& label) { return label.find("cuda") != std::string::npos ? On::Cuda : On::Cpu; }

inline void print_tally() {
  for (const auto& kv : tally_map()) std::printf("reference checks: %s %ld\n", kv.first.c_str(), kv.second);
}

}  // namespace ref
}  // namespace ck
