// CPUID/XGETBV detection and the CONVKIT_CPU_ISA choice (see isa.h). Compiled with baseline flags: it only
// executes CPUID, and XGETBV after CPUID said the OS enabled it (OSXSAVE).
#include "cpu/isa.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define CK_ISA_X86 1
#else
#define CK_ISA_X86 0
#endif

namespace ck {
namespace {

#if CK_ISA_X86
uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}
#endif

// Comma-separated names in CONVKIT_CPU_ISA_MASK hide those features from the detector (a test hook).
bool masked(const char* mask, const char* name) {
  if (!mask) return false;
  const size_t n = std::strlen(name);
  for (const char* p = mask; *p;) {
    const char* e = std::strchr(p, ',');
    const size_t len = e ? size_t(e - p) : std::strlen(p);
    if (len == n && std::strncmp(p, name, n) == 0) return true;
    if (!e) break;
    p = e + 1;
  }
  return false;
}

CpuFeatures detect() {
  CpuFeatures f;
#if CK_ISA_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = read_xcr0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;          // + opmask, ZMM_Hi256, Hi16_ZMM
  unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
  if (!__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7)) return f;
  const bool avx2 = b7 & (1u << 5);
  const bool avx512 = (b7 & (1u << 16)) && (b7 & (1u << 17)) && (b7 & (1u << 30)) && (b7 & (1u << 31));  // F DQ BW VL
  unsigned a71 = 0, b71 = 0, c71 = 0, d71 = 0;
  const bool bf16 = a7 >= 1 && __get_cpuid_count(7, 1, &a71, &b71, &c71, &d71) && (a71 & (1u << 5));
  const char* mask = std::getenv("CONVKIT_CPU_ISA_MASK");
  f.avx2_fma = os_ymm && avx2 && fma && !masked(mask, "avx2");
  f.avx512 = f.avx2_fma && os_zmm && avx512 && !masked(mask, "avx512");
  f.avx512_bf16 = f.avx512 && bf16 && !masked(mask, "avx512bf16");
#endif
  return f;
}

struct Choice {
  CpuFeatures features;
  CpuIsa supported = CpuIsa::kBaseline;
  CpuIsa isa = CpuIsa::kBaseline;
  std::string note;
};

const Choice& choice() {
  static const Choice ch = [] {
    Choice c;
    c.features = detect();
    c.supported = c.features.avx512 ? CpuIsa::kAvx512 : c.features.avx2_fma ? CpuIsa::kAvx2 : CpuIsa::kBaseline;
    c.isa = c.supported;
    c.note = "detected";
    const char* req = std::getenv("CONVKIT_CPU_ISA");
    if (req && *req) {
      const std::string r(req);
      CpuIsa want;
      if (r == "baseline") {
        want = CpuIsa::kBaseline;
      } else if (r == "avx2") {
        want = CpuIsa::kAvx2;
      } else if (r == "avx512") {
        want = CpuIsa::kAvx512;
      } else {
        c.note = "CONVKIT_CPU_ISA=" + r + " is not one of baseline, avx2, avx512: ignored, using " +
                 cpu_isa_name(c.isa);
        return c;
      }
      if (static_cast<int>(want) > static_cast<int>(c.supported)) {
        c.note = "CONVKIT_CPU_ISA=" + r + " asks for more than this CPU supports: clamped to " +
                 cpu_isa_name(c.supported);
      } else {
        c.isa = want;
        c.note = "CONVKIT_CPU_ISA=" + r;
      }
    }
    return c;
  }();
  return ch;
}

}  // namespace

const CpuFeatures& cpu_features() { return choice().features; }
CpuIsa cpu_isa() { return choice().isa; }
CpuIsa cpu_isa_supported() { return choice().supported; }
const char* cpu_isa_note() { return choice().note.c_str(); }

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
    default: return "baseline";
  }
}

}  // namespace ck
