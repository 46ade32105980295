// NCCL at run time (see nccl_loader.h). RTLD_LOCAL, never unloaded: a comm may still be in use at exit.
#include "nccl_loader.h"

#include <dlfcn.h>

#include <mutex>

#include "../cudnn/loader.h"

namespace ck {
namespace dist {
namespace {

const char* kLib = "libnccl.so.2";
const char* kEmuLib = "convkit_nccl_emu.so";

#ifdef CK_CUDA_EMU
constexpr bool kWantEmu = true;
#else
constexpr bool kWantEmu = false;
#endif

std::vector<dynlib::Candidate> all_candidates() {
  std::vector<std::string> dirs = dynlib::system_lib_dirs();
  dirs.push_back("/usr/local/nccl/lib");
  dynlib::SearchSpec spec{"CONVKIT_NCCL_PATH", kLib, dirs, {"nvidia/nccl/lib", "nvidia/cu13/lib", "torch/lib"}};
  std::vector<dynlib::Candidate> c = dynlib::candidates(spec);
  if (kWantEmu) {
    std::string f = dynlib::self_dir() + "/" + kEmuLib;
    c.push_back({f + " (the emulated stand-in of this emulated CUDA build)", f, false});
  }
  return c;
}

using State = dynlib::Loaded<NcclLoad, NcclApi>;

std::string try_candidate(const dynlib::Candidate& c, State& s) {
  if (std::string why = dynlib::precheck(c); !why.empty()) return why;
  dlerror();
  void* h = dlopen(c.file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) return dynlib::dl_error();
  auto magic = reinterpret_cast<ck_nccl_emu_magic_fn>(dlsym(h, "ck_nccl_emu_magic"));
  const bool emu = magic && magic() == CK_NCCL_EMU_MAGIC;
  if (emu != kWantEmu) {
    dlclose(h);
    return emu ? "is convkit's emulated NCCL stand-in (host memory only); this convkit build runs on a real GPU"
               : "is a real NCCL; this is the emulated CUDA build (device memory is host memory), which needs "
                 "convkit_nccl_emu.so";
  }
  NcclApi api;
  std::string missing;
#define CK_NCCL_RESOLVE(name, ret, params) api.name = reinterpret_cast<ret(*) params>(dynlib::sym(h, #name, &missing));
  CK_NCCL_FUNCTIONS(CK_NCCL_RESOLVE)
#undef CK_NCCL_RESOLVE
  if (!missing.empty()) {
    dlclose(h);
    return "loaded, but these functions are missing: " + missing;
  }
  int v = 0;
  // 2.8 and older report major*1000 + minor*100 + patch: below 21000 either way.
  if (api.ncclGetVersion(&v) != ncclSuccess || v < 21000 || v >= 30000) {
    dlclose(h);
    return "loaded, but it reports version " + std::to_string(v) + "; convkit needs NCCL 2.10 or later 2.x (ncclAvg)";
  }
  s.api = api;
  s.load.ok = true;
  s.load.emulated = emu;
  s.load.version = v;
  s.load.path = c.search ? dynlib::loaded_path(h, c.file) : c.file;
  return "";
}

State load_now() {
  State st;
  st.load.error = dynlib::load_first(
      all_candidates(), [&](const dynlib::Candidate& c) { return try_candidate(c, st); }, &st.load.attempts,
      "NCCL (libnccl.so.2)",
      "Install NCCL 2 (`pip install nvidia-nccl-cu12`, PyTorch's CUDA wheels bring it, or a system package), or "
      "set CONVKIT_NCCL_PATH to libnccl.so.2 or the directory that holds it.");
  return st;
}

}  // namespace

const NcclLoad& nccl_load() { return dynlib::loaded_once<load_now>().load; }
const NcclApi& nccl_api() { return dynlib::loaded_once<load_now>().api; }

}  // namespace dist
}  // namespace ck
