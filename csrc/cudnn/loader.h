// Finds and dlopens cuDNN 9 on first use and resolves the functions of cudnn_api.h. Nothing here needs a
// GPU or a CUDA header: the loader runs in every build flavour so that cudnnInfo() can say what it tried.
// The search for a run-time library (ck::dynlib) is shared with NCCL's loader (csrc/distributed/nccl_loader.cc).
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>
#include "cudnn_api.h"

namespace ck {
namespace dynlib {

// Where to look for one NVIDIA run-time library, in this order: the environment variable (the library file,
// or a directory holding it), the dynamic loader's own search, the system directories, then each wheel
// subdirectory under every Python site-packages root (pip's nvidia-* wheels, PyTorch's torch/lib).
struct SearchSpec {
  const char* env;                        // "CONVKIT_CUDNN_PATH"
  const char* soname;                     // "libcudnn.so.9"
  std::vector<std::string> system_dirs;   // absolute directories
  std::vector<std::string> wheel_dirs;    // relative to site-packages: "nvidia/cudnn/lib"
};

struct Candidate {
  std::string label;  // how it is shown in the attempts
  std::string file;   // what dlopen gets: an absolute path, or the bare soname for the loader's search; "" when
                      // the wheel layout was not found at all (its label says where it was looked for)
  bool search;        // the bare soname: no existence check
};

// The candidates in search order (no duplicates). Reads the environment each call.
std::vector<Candidate> candidates(const SearchSpec& spec);
// The system directories both libraries are looked for in.
std::vector<std::string> system_lib_dirs();
// "" when c can be dlopen()ed as a file (or is the loader's search), else why not ("not found" ...).
std::string precheck(const Candidate& c);
bool is_dir(const std::string& p);
bool exists(const std::string& p);
std::string dir_of(const std::string& p);
std::string dl_error();  // dlerror(), or a placeholder
// The file a handle came from (for the bare-soname candidate), else fallback.
std::string loaded_path(void* handle, const std::string& fallback);
// Tries the candidates in order until attempt() returns "" (it loaded), recording "label: why" for each
// other one in *attempts. Returns "" when one loaded, else the error: "<what> could not be loaded. Tried: ..."
// and then `how` (how to get it).
std::string load_first(const std::vector<Candidate>& cs, const std::function<std::string(const Candidate&)>& attempt,
                       std::vector<std::string>* attempts, const std::string& what, const std::string& how);
// dlsym(handle, name); when missing, also appends the name to *missing (", "-separated).
void* sym(void* handle, const char* name, std::string* missing);
// The directory of the file this code was loaded from (convkit.node, wherever node-gyp-build found it).
std::string self_dir();

// A run-time library loaded once per process: what the load found and the functions it resolved.
template <class Load, class Api>
struct Loaded {
  Load load;
  Api api;
};
// LoadNow() run once, on first use (C++11 makes a function-local static's initialisation thread-safe); every
// later call returns the same result. The Gloo and NCCL loaders' one state.
template <auto LoadNow>
const auto& loaded_once() {
  static const auto s = LoadNow();
  return s;
}

}  // namespace dynlib

namespace cudnn {

struct Api {
#define CK_CUDNN_FIELD(name, ret, params) ret(*name) params = nullptr;
  CK_CUDNN_REQUIRED(CK_CUDNN_FIELD)
  CK_CUDNN_OPTIONAL(CK_CUDNN_FIELD)
#undef CK_CUDNN_FIELD
};

struct LoadResult {
  bool ok = false;
  std::string path;                   // the libcudnn.so.9 that loaded ("" when none did)
  size_t version = 0;                 // cudnnGetVersion(): major*10000 + minor*100 + patch
  std::vector<std::string> attempts;  // "candidate: why it failed" for every candidate tried, in order
  std::vector<std::string> notes;     // non-fatal: sub-libraries that did not preload, optional symbols missing
  std::string error;                  // one paragraph for the JS error when !ok
};

// Loads once per process (thread-safe); later calls return the same result.
const LoadResult& load();
// The resolved functions; throws ck::Error ERR_CUDNN (load().error) when cuDNN did not load.
const Api& api();
// cuDNN's own name of a status ("CUDNN_STATUS_BAD_PARAM" for 2000), "CUDNN_STATUS_<n>" when it has none.
std::string status_name(int status);

}  // namespace cudnn
}  // namespace ck
