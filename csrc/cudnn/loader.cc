// cuDNN 9 is found at run time, so one binary serves machines with any cuDNN 9.x or none. Candidates, in
// order: CONVKIT_CUDNN_PATH (the library file, or a directory holding libcudnn.so.9), the dynamic loader's
// own search (LD_LIBRARY_PATH, ldconfig), the usual install locations, and the Python nvidia-cudnn wheel
// layout (site-packages/nvidia/cudnn/lib). cuDNN 9 splits into sub-libraries (ops, cnn, adv, graph,
// engines_*) that the main library dlopens lazily on first use; when a candidate is a directory-based
// path, its sub-libraries are preloaded RTLD_GLOBAL from the same directory so that a cuDNN found off the
// loader path does not pick up a different 9.x's sub-libraries (CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED).
#include "loader.h"

#include <dlfcn.h>
#include <glob.h>
#include <link.h>
#include <sys/stat.h>

#include <cstdlib>
#include <mutex>
#include <set>

#include "../core/error.h"

namespace ck {
namespace cudnn {
namespace {

const char* kLib = "libcudnn.so.9";
// Dependency order: graph first, engines next, then the legacy API libraries built on them.
const char* kSubLibs[] = {"libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9",
                          "libcudnn_engines_runtime_compiled.so.9", "libcudnn_heuristic.so.9",
                          "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9"};

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}
std::string dir_of(const std::string& p) {
  size_t k = p.rfind('/');
  return k == std::string::npos ? std::string(".") : p.substr(0, k);
}
std::string dl_error() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

std::vector<std::string> glob_dirs(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), GLOB_ONLYDIR | GLOB_NOSORT, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
  globfree(&g);
  return out;
}

struct Candidate {
  std::string label;  // how it is shown in the attempts
  std::string file;   // what dlopen gets: an absolute path, or the bare soname for the loader's search
  bool search;        // the bare soname: no existence check, no sub-library preload
};

std::vector<Candidate> candidates() {
  std::vector<Candidate> c;
  std::set<std::string> seen;
  auto add_dir = [&](const std::string& d) {
    std::string f = d + "/" + kLib;
    if (seen.insert(f).second) c.push_back({f, f, false});
  };
  if (const char* env = std::getenv("CONVKIT_CUDNN_PATH")) {
    std::string p = env;
    if (!p.empty()) {
      std::string f = is_dir(p) ? p + "/" + kLib : p;
      seen.insert(f);
      c.push_back({"CONVKIT_CUDNN_PATH=" + p + (f != p ? " (" + f + ")" : ""), f, false});
    }
  }
  c.push_back({std::string(kLib) + " (the dynamic loader's search path: LD_LIBRARY_PATH, ldconfig)", kLib, true});
  for (const char* d : {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/local/cuda/lib64",
                        "/usr/local/cudnn/lib", "/usr/local/cudnn/lib64"})
    add_dir(d);
  std::vector<std::string> roots;
  for (const char* env : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char* v = std::getenv(env)) if (*v) roots.push_back(std::string(v) + "/lib/python3*/site-packages");
  if (const char* home = std::getenv("HOME")) if (*home) roots.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
  for (const char* r : {"/usr/lib/python3*/dist-packages", "/usr/local/lib/python3*/dist-packages",
                        "/usr/lib/python3*/site-packages", "/usr/local/lib/python3*/site-packages",
                        "/usr/lib64/python3*/site-packages", "/opt/conda/lib/python3*/site-packages"})
    roots.push_back(r);
  bool any_wheel_root = false;
  for (const std::string& r : roots)
    for (const std::string& d : glob_dirs(r + "/nvidia/cudnn/lib")) {
      add_dir(d);
      any_wheel_root = true;
    }
  if (!any_wheel_root)
    c.push_back({"site-packages/nvidia/cudnn/lib (the nvidia-cudnn wheel) under /usr/lib/python3*/dist-packages, "
                 "/usr/local/lib/python3*/dist-packages, */site-packages, $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local",
                 "", false});
  return c;
}

// The directory a loaded library came from, for the bare-soname candidate.
std::string loaded_path(void* h, const std::string& fallback) {
  struct link_map* lm = nullptr;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && *lm->l_name) return lm->l_name;
  return fallback;
}

struct State {
  LoadResult result;
  Api api;
  void* handle = nullptr;
  std::vector<void*> subs;
};

State& state() {
  static State s;
  return s;
}

// Tries one candidate; on success fills s and returns "", else the reason.
std::string try_candidate(const Candidate& c, State& s) {
  if (c.file.empty()) return "no such directory";
  if (!c.search && !exists(c.file)) return "not found";
  if (!c.search && is_dir(c.file)) return "is a directory";
  std::vector<void*> subs;
  std::vector<std::string> sub_notes;
  if (!c.search) {
    const std::string dir = dir_of(c.file);
    for (const char* sub : kSubLibs) {
      std::string f = dir + "/" + sub;
      if (!exists(f)) continue;
      dlerror();
      if (void* h = dlopen(f.c_str(), RTLD_NOW | RTLD_GLOBAL)) subs.push_back(h);
      else sub_notes.push_back(std::string(sub) + " did not preload: " + dl_error());
    }
  }
  auto undo = [&]() {
    for (auto it = subs.rbegin(); it != subs.rend(); ++it) dlclose(*it);
  };
  dlerror();
  void* h = dlopen(c.file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::string why = dl_error();
    undo();
    return why;
  }
  Api api;
  std::string missing;
#define CK_CUDNN_RESOLVE(name, ret, params)                                 \
  api.name = reinterpret_cast<ret(*) params>(dlsym(h, #name));             \
  if (!api.name) missing += std::string(missing.empty() ? "" : ", ") + #name;
  CK_CUDNN_REQUIRED(CK_CUDNN_RESOLVE)
#undef CK_CUDNN_RESOLVE
  if (!missing.empty()) {
    dlclose(h);
    undo();
    return "loaded, but these functions are missing: " + missing;
  }
  std::string optional_missing;
#define CK_CUDNN_RESOLVE_OPT(name, ret, params)                             \
  api.name = reinterpret_cast<ret(*) params>(dlsym(h, #name));             \
  if (!api.name) optional_missing += std::string(optional_missing.empty() ? "" : ", ") + #name;
  CK_CUDNN_OPTIONAL(CK_CUDNN_RESOLVE_OPT)
#undef CK_CUDNN_RESOLVE_OPT
  size_t v = api.cudnnGetVersion();
  if (v < 90000 || v >= 100000) {
    dlclose(h);
    undo();
    return "loaded, but it reports version " + std::to_string(v) + "; convkit needs cuDNN 9.x";
  }
  s.handle = h;
  s.subs = subs;
  s.api = api;
  s.result.ok = true;
  s.result.version = v;
  s.result.path = c.search ? loaded_path(h, c.file) : c.file;
  s.result.notes = sub_notes;
  if (!optional_missing.empty()) s.result.notes.push_back("optional functions missing: " + optional_missing);
  return "";
}

void do_load() {
  State& s = state();
  std::vector<Candidate> cs = candidates();
  for (const Candidate& c : cs) {
    std::string why = try_candidate(c, s);
    if (why.empty()) return;
    s.result.attempts.push_back(c.label + ": " + why);
  }
  std::string e = "cuDNN 9 (libcudnn.so.9) could not be loaded. Tried:";
  for (const std::string& a : s.result.attempts) e += "\n  - " + a;
  e += "\nInstall cuDNN 9 (a system package, or `pip install nvidia-cudnn-cu12`), or set CONVKIT_CUDNN_PATH to "
       "libcudnn.so.9 or the directory that holds it.";
  s.result.error = e;
}

}  // namespace

const LoadResult& load() {
  static std::once_flag once;
  std::call_once(once, do_load);
  return state().result;
}

const Api& api() {
  const LoadResult& r = load();
  if (!r.ok) throw Error("ERR_CUDNN", r.error);
  return state().api;
}

std::string status_name(int st) {
  switch (st) {
#define CK_S(n) case n: return #n;
    CK_S(CUDNN_STATUS_SUCCESS) CK_S(CUDNN_STATUS_NOT_INITIALIZED) CK_S(CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH)
    CK_S(CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH) CK_S(CUDNN_STATUS_DEPRECATED) CK_S(CUDNN_STATUS_LICENSE_ERROR)
    CK_S(CUDNN_STATUS_RUNTIME_IN_PROGRESS) CK_S(CUDNN_STATUS_RUNTIME_FP_OVERFLOW)
    CK_S(CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED) CK_S(CUDNN_STATUS_BAD_PARAM) CK_S(CUDNN_STATUS_BAD_PARAM_NULL_POINTER)
    CK_S(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER) CK_S(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED)
    CK_S(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND) CK_S(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT)
    CK_S(CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH) CK_S(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH)
    CK_S(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES) CK_S(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE)
    CK_S(CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH) CK_S(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE)
    CK_S(CUDNN_STATUS_NOT_SUPPORTED) CK_S(CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN) CK_S(CUDNN_STATUS_NOT_SUPPORTED_SHAPE)
    CK_S(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE) CK_S(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT)
    CK_S(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER) CK_S(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART)
    CK_S(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH) CK_S(CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING)
    CK_S(CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE) CK_S(CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT)
    CK_S(CUDNN_STATUS_NOT_SUPPORTED_PADDING) CK_S(CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM)
    CK_S(CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API) CK_S(CUDNN_STATUS_INTERNAL_ERROR)
    CK_S(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED) CK_S(CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE)
    CK_S(CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED) CK_S(CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
    CK_S(CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM) CK_S(CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED)
    CK_S(CUDNN_STATUS_EXECUTION_FAILED) CK_S(CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER)
    CK_S(CUDNN_STATUS_EXECUTION_FAILED_CUBLAS) CK_S(CUDNN_STATUS_EXECUTION_FAILED_CUDART)
    CK_S(CUDNN_STATUS_EXECUTION_FAILED_CURAND)
#undef CK_S
    default: return "CUDNN_STATUS_" + std::to_string(st);
  }
}

}  // namespace cudnn
}  // namespace ck
