// Finds convkit_gloo.so (the Gloo half of ck.distributed, see gloo_abi.h) at run time, the way
// csrc/cudnn/loader.cc finds cuDNN: convkit.node itself never needs libgloo to load.
#pragma once
#include <string>
#include "gloo_abi.h"

namespace ck {
namespace dist {

struct GlooApi {
  ck_gloo_connect_fn connect = nullptr;
  ck_gloo_allreduce_fn allreduce = nullptr;
  ck_gloo_broadcast_fn broadcast = nullptr;
  ck_gloo_allgather_fn allgather = nullptr;
  ck_gloo_barrier_fn barrier = nullptr;
  ck_gloo_close_fn close = nullptr;
  ck_gloo_destroy_fn destroy = nullptr;
};

struct GlooLoad {
  bool ok = false;
  std::string path;   // the library loaded, or the one tried
  std::string error;  // why backend 'gloo' is not available, and how to get it (empty when ok)
};

// Loads once (thread-safe) and remembers the outcome. Candidates: CONVKIT_GLOO_LIB when set (the library
// file; no fallback, so a wrong value is reported, not hidden), else convkit_gloo.so in the directory of
// the loaded convkit.node (dladdr), where the build and the prebuilt package put it.
const GlooLoad& gloo_load();
const GlooApi& gloo_api();  // gloo_load().ok must be true

}  // namespace dist
}  // namespace ck
