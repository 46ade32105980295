// Runtime ISA dispatch for the CPU kernels. The binary's baseline is plain x86-64 (SSE2): every file is
// compiled without -mavx*, except the per-ISA kernel files, which CMakeLists.txt / binding.gyp compile with
// that ISA's flags. The path is chosen once, at load (the first cpu_isa() call, made by the addon's init),
// from CPUID and XGETBV (the OS must save the ymm / zmm state), and can be forced lower with the environment
// variable CONVKIT_CPU_ISA=baseline|avx2|avx512. A request above what the CPU (and OS) support is CLAMPED to
// the best supported path, with one warning on stderr and in cpu_isa_note(); an unknown name is ignored with
// a warning too. CONVKIT_CPU_ISA_MASK=avx2,avx512,... (a test hook) hides CPUID features from the detector,
// as if the CPU lacked them, so a test can check that a CPU without AVX2 gets the baseline path.
//
// THE CONVENTION for kernels with ISA-specific code (family <f>, ISA <isa> in {avx2, avx512}):
//  1. The ISA code lives in its own file, csrc/cpu/<f>_<isa>.cc; the build compiles *_avx2.cc with
//     -mavx2 -mfma and *_avx512.cc with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma (and
//     *_avx512bf16.cc adds -mavx512bf16). Nothing else in the binary is compiled with AVX flags.
//  2. Such a file includes only <immintrin.h>, <cstdint>, <cstddef> and headers that declare plain
//     functions/structs (like this one): NO STL, no std::function/lambdas handed to parallel_for, no
//     exceptions/Error, no inline functions or templates from shared headers. Reason: an inline function or
//     template instantiated there is emitted as a COMDAT (weak) symbol compiled with AVX, and the linker may
//     keep that copy for the baseline callers too, which then SIGILL on a CPU without AVX. Everything in the
//     file is inside `namespace ck { namespace <isa> { namespace { ... } } }` (internal linkage) except the
//     entry points the family's table needs, declared in namespace ck::<isa>.
//  3. The family's ordinary file (csrc/cpu/<f>.cc, baseline flags) keeps the driver: threads, blocking,
//     allocation, errors. It owns a table of function pointers (one struct per family), filled once from
//     cpu_isa() with the <isa> entry points or with its own scalar baseline ones, e.g.
//        const GemmKernels& k = gemm_kernels();   // a function-local static chosen from cpu_isa()
//     and calls through it per tile/row (the indirect call is amortised over a tile).
//  4. test/unit/isa.test.ts checks the linked binary with objdump: every function that uses a VEX/EVEX
//     instruction must be in namespace ck::avx2 / ck::avx512 (or the allowed list there), so a violation of
//     2. fails CI rather than a user's machine.
#pragma once
#include <cstdint>

namespace ck {

enum class CpuIsa : int { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

// What the CPU and the OS support (after CONVKIT_CPU_ISA_MASK), from CPUID/XGETBV.
struct CpuFeatures {
  bool avx2_fma = false;     // AVX2 + FMA3, OS saves ymm
  bool avx512 = false;       // AVX-512 F+BW+DQ+VL, OS saves zmm/opmask
  bool avx512_bf16 = false;  // AVX512_BF16 (vdpbf16ps) on top of avx512
};

const CpuFeatures& cpu_features();
// The path in use: chosen once (thread-safe), then constant for the life of the process.
CpuIsa cpu_isa();
// The best path the CPU supports (ignoring CONVKIT_CPU_ISA).
CpuIsa cpu_isa_supported();
const char* cpu_isa_name(CpuIsa isa);  // "baseline" | "avx2" | "avx512"
// Why this path: "detected", "CONVKIT_CPU_ISA=avx2", or the clamp/ignore warning text.
const char* cpu_isa_note();

}  // namespace ck

// For a family whose AVX2 table also serves the AVX-512 path (memory-bound loops): that table on the avx2 and
// avx512 paths, `base` on the baseline path and in builds without the dispatch (where `avx2_table` is never
// named). Use it to initialise a function-local static in the family's baseline file.
// CK_ISA_TABLE: for a family with a table per path (compute-bound kernels), the table of the path in use.
#if defined(CK_ISA_DISPATCH)
#define CK_AVX2_OR_BASE(base, avx2_table) (::ck::cpu_isa() == ::ck::CpuIsa::kBaseline ? (base) : (avx2_table))
#define CK_ISA_TABLE(base, avx2_table, avx512_table) \
  (::ck::cpu_isa() == ::ck::CpuIsa::kAvx512 ? (avx512_table) : CK_AVX2_OR_BASE(base, avx2_table))
#else
#define CK_AVX2_OR_BASE(base, avx2_table) (base)
#define CK_ISA_TABLE(base, avx2_table, avx512_table) (base)
#endif
