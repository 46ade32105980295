// Finds NCCL (libnccl.so.2) at run time with the same search as cuDNN (ck::dynlib in csrc/cudnn/loader.h), so
// the prebuilt convkit needs no NCCL to install or to run: backend 'nccl' simply says what it tried.
#pragma once
#include <string>
#include <vector>
#include "nccl_api.h"

namespace ck {
namespace dist {

struct NcclApi {
#define CK_NCCL_FIELD(name, ret, params) ret(*name) params = nullptr;
  CK_NCCL_FUNCTIONS(CK_NCCL_FIELD)
#undef CK_NCCL_FIELD
};

struct NcclLoad {
  bool ok = false;
  bool emulated = false;              // the library is convkit's emulated stand-in (convkit_nccl_emu.so)
  std::string path;                   // the library that loaded ("" when none did)
  int version = 0;                    // ncclGetVersion(): major*10000 + minor*100 + patch
  std::vector<std::string> attempts;  // "candidate: why it failed", in order
  std::string error;                  // one paragraph for the JS error when !ok
};

// Loads once per process (thread-safe). Candidates: CONVKIT_NCCL_PATH (the library, or a directory holding
// libnccl.so.2), the dynamic loader's search, the system directories, the pip wheel layouts
// (site-packages/nvidia/nccl/lib for nvidia-nccl-cu12 and -cu13, nvidia/cu13/lib) and PyTorch's bundled copy
// (site-packages/torch/lib); in the emulated CUDA build, last, convkit_nccl_emu.so beside convkit.node. A real
// NCCL is refused by the emulated build and the stand-in by a real one (their device memory differs).
const NcclLoad& nccl_load();
const NcclApi& nccl_api();  // nccl_load().ok must be true

}  // namespace dist
}  // namespace ck
