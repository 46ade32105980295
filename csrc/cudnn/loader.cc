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
namespace dynlib {
namespace {

std::vector<std::string> glob_dirs(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), GLOB_ONLYDIR, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
  globfree(&g);
  return out;
}

// Python's site-packages roots, as patterns: virtual environments and conda first, then the user's, then the system's.
std::vector<std::string> site_roots() {
  std::vector<std::string> roots;
  for (const char* env : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char* v = std::getenv(env)) if (*v) roots.push_back(std::string(v) + "/lib/python3*/site-packages");
  if (const char* home = std::getenv("HOME")) if (*home) roots.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
  for (const char* r : {"/usr/lib/python3*/dist-packages", "/usr/local/lib/python3*/dist-packages",
                        "/usr/lib/python3*/site-packages", "/usr/local/lib/python3*/site-packages",
                        "/usr/lib64/python3*/site-packages", "/opt/conda/lib/python3*/site-packages"})
    roots.push_back(r);
  return roots;
}

}  // namespace

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

std::vector<std::string> system_lib_dirs() {
  return {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/local/cuda/lib64"};
}

std::vector<Candidate> candidates(const SearchSpec& spec) {
  std::vector<Candidate> c;
  std::set<std::string> seen;
  const std::string lib = spec.soname;
  auto add_dir = [&](const std::string& d) {
    std::string f = d + "/" + lib;
    if (seen.insert(f).second) c.push_back({f, f, false});
  };
  if (const char* env = std::getenv(spec.env)) {
    std::string p = env;
    if (!p.empty()) {
      std::string f = is_dir(p) ? p + "/" + lib : p;
      seen.insert(f);
      c.push_back({std::string(spec.env) + "=" + p + (f != p ? " (" + f + ")" : ""), f, false});
    }
  }
  c.push_back({lib + " (the dynamic loader's search path: LD_LIBRARY_PATH, ldconfig)", lib, true});
  for (const std::string& d : spec.system_dirs) add_dir(d);
  // The active environment first ($VIRTUAL_ENV, $CONDA_PREFIX), then the user's and the system's; in each,
  // the wheel directories in the order given.
  std::vector<bool> found(spec.wheel_dirs.size(), false);
  for (const std::string& r : site_roots())
    for (size_t i = 0; i < spec.wheel_dirs.size(); ++i)
      for (const std::string& d : glob_dirs(r + "/" + spec.wheel_dirs[i])) {
        add_dir(d);
        found[i] = true;
      }
  for (size_t i = 0; i < spec.wheel_dirs.size(); ++i)
    if (!found[i])
      c.push_back({"site-packages/" + spec.wheel_dirs[i] + " under /usr/lib/python3*/dist-packages, "
                   "/usr/local/lib/python3*/dist-packages, */site-packages, $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local",
                   "", false});
  return c;
}

std::string precheck(const Candidate& c) {
  if (c.file.empty()) return "no such directory";
  if (c.search) return "";
  if (!exists(c.file)) return "not found";
  if (is_dir(c.file)) return "is a directory";
  return "";
}

std::string loaded_path(void* h, const std::string& fallback) {
  struct link_map* lm = nullptr;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && *lm->l_name) return lm->l_name;
  return fallback;
}

std::string load_first(const std::vector<Candidate>& cs, const std::function<std::string(const Candidate&)>& attempt,
                       std::vector<std::string>* attempts, const std::string& what, const std::string& how) {
  for (const Candidate& c : cs) {
    std::string why = attempt(c);
    if (why.empty()) return "";
    attempts->push_back(c.label + ": " + why);
  }
  std::string e = what + " could not be loaded. Tried:";
  for (const std::string& a : *attempts) e += "\n  - " + a;
  return e + "\n" + how;
}

void* sym(void* h, const char* name, std::string* missing) {
  void* p = dlsym(h, name);
  if (!p) *missing += std::string(missing->empty() ? "" : ", ") + name;
  return p;
}

std::string self_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&self_dir), &info) == 0 || !info.dli_fname || !*info.dli_fname) return "";
  return dir_of(info.dli_fname);
}

}  // namespace dynlib

namespace cudnn {
namespace {

using namespace ::ck::dynlib;

const char* kLib = "libcudnn.so.9";
// Dependency order: graph first, engines next, then the legacy API libraries built on them.
const char* kSubLibs[] = {"libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9",
                          "libcudnn_engines_runtime_compiled.so.9", "libcudnn_heuristic.so.9",
                          "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9"};

SearchSpec spec() {
  std::vector<std::string> dirs = system_lib_dirs();
  for (const char* d : {"/usr/local/cudnn/lib", "/usr/local/cudnn/lib64"}) dirs.push_back(d);
  return {"CONVKIT_CUDNN_PATH", kLib, dirs, {"nvidia/cudnn/lib"}};
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
  if (std::string why = precheck(c); !why.empty()) return why;
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
#define CK_CUDNN_RESOLVE(name, ret, params) api.name = reinterpret_cast<ret(*) params>(sym(h, #name, &missing));
  CK_CUDNN_REQUIRED(CK_CUDNN_RESOLVE)
  if (!missing.empty()) {
    dlclose(h);
    undo();
    return "loaded, but these functions are missing: " + missing;
  }
  std::string optional_missing;
#define CK_CUDNN_RESOLVE_OPT(name, ret, params) api.name = reinterpret_cast<ret(*) params>(sym(h, #name, &optional_missing));
  CK_CUDNN_OPTIONAL(CK_CUDNN_RESOLVE_OPT)
#undef CK_CUDNN_RESOLVE_OPT
#undef CK_CUDNN_RESOLVE
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
  s.result.error = load_first(
      candidates(spec()), [&](const Candidate& c) { return try_candidate(c, s); }, &s.result.attempts,
      "cuDNN 9 (libcudnn.so.9)",
      "Install cuDNN 9 (a system package, or `pip install nvidia-cudnn-cu12`), or set CONVKIT_CUDNN_PATH to "
      "libcudnn.so.9 or the directory that holds it.");
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

// cuDNN names its own statuses (cudnnGetErrorString gives "CUDNN_STATUS_BAD_PARAM"); a status only ever
// comes from a loaded library, so no second list of the names lives here.
std::string status_name(int st) {
  if (load().ok) if (const char* n = state().api.cudnnGetErrorString((cudnnStatus_t)st)) if (*n) return n;
  return "CUDNN_STATUS_" + std::to_string(st);
}

}  // namespace cudnn
}  // namespace ck
