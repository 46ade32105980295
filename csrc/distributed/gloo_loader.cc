// convkit_gloo.so at run time (see gloo_loader.h). dlopen with RTLD_LOCAL: Gloo's symbols stay private to
// it. The library is never unloaded: a worker thread may still be blocked in it at process exit.
#include "gloo_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "../cudnn/loader.h"

namespace ck {
namespace dist {
namespace {

const char* kLibName = "convkit_gloo.so";

#define CK_GLOO_BUILD_HINT                                                                                  \
  "install Gloo's headers (Debian/Ubuntu: apt-get install libgloo-dev) and rebuild convkit from source (npm run " \
  "build:native), which then builds convkit_gloo.so next to convkit.node"
// The library is there but does not load: for the prebuilt, most likely Gloo's runtime library is missing.
const char* kHowToGet = "For a prebuilt convkit, install Gloo's runtime library (Debian/Ubuntu: apt-get install libgloo0); "
                        "to build convkit from source with Gloo, " CK_GLOO_BUILD_HINT;
// No library at all: this binary was built where Gloo was not installed.
const char* kHowToBuild = "To use it, " CK_GLOO_BUILD_HINT;


template <class F>
bool sym(void* h, const char* name, F* out, std::string* missing) {
  *out = reinterpret_cast<F>(dlsym(h, name));
  if (!*out && missing->empty()) *missing = name;
  return *out != nullptr;
}

using State = dynlib::Loaded<GlooLoad, GlooApi>;

State load_now() {
  State s;
  std::string label;
  if (const char* env = std::getenv("CONVKIT_GLOO_LIB"); env && *env) {
    s.load.path = env;
    label = std::string("CONVKIT_GLOO_LIB=") + env;
  } else {
    std::string dir = dynlib::self_dir();
    s.load.path = (dir.empty() ? std::string(".") : dir) + "/" + kLibName;
    label = s.load.path;
    if (!dynlib::exists(s.load.path)) {
      s.load.error = "backend 'gloo' is not available: this convkit binary was built without Gloo (no " +
                     std::string(kLibName) + " beside it in " + dir + "). " + kHowToBuild;
      return s;
    }
  }
  dlerror();
  void* h = dlopen(s.load.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    s.load.error = "backend 'gloo' is not available: " + label + " could not be loaded: " + (e ? e : "unknown dlopen error") +
                   ". " + kHowToGet;
    return s;
  }
  ck_gloo_abi_version_fn version = nullptr;
  std::string missing;
  sym(h, "ck_gloo_abi_version", &version, &missing);
  if (version && version() != CK_GLOO_ABI_VERSION) {
    s.load.error = "backend 'gloo' is not available: " + label + " speaks Gloo ABI version " + std::to_string(version()) +
                   ", this convkit.node version " + std::to_string(CK_GLOO_ABI_VERSION) +
                   ": it comes from another convkit build; reinstall convkit or rebuild it (npm run build:native)";
    dlclose(h);
    return s;
  }
  GlooApi& a = s.api;
  sym(h, "ck_gloo_connect", &a.connect, &missing);
  sym(h, "ck_gloo_allreduce", &a.allreduce, &missing);
  sym(h, "ck_gloo_broadcast", &a.broadcast, &missing);
  sym(h, "ck_gloo_allgather", &a.allgather, &missing);
  sym(h, "ck_gloo_barrier", &a.barrier, &missing);
  sym(h, "ck_gloo_close", &a.close, &missing);
  sym(h, "ck_gloo_destroy", &a.destroy, &missing);
  if (!missing.empty()) {
    s.load.error = "backend 'gloo' is not available: " + label + " lacks the function " + missing +
                   ": it is not a convkit_gloo library; reinstall convkit or rebuild it (npm run build:native)";
    s.api = GlooApi();
    dlclose(h);
    return s;
  }
  s.load.ok = true;
  return s;
}

}  // namespace

const GlooLoad& gloo_load() { return dynlib::loaded_once<load_now>().load; }
const GlooApi& gloo_api() { return dynlib::loaded_once<load_now>().api; }

}  // namespace dist
}  // namespace ck
