// Finds and dlopens cuDNN 9 on first use and resolves the functions of cudnn_api.h. Nothing here needs a
// GPU or a CUDA header: the loader runs in every build flavour so that cudnnInfo() can say what it tried.
#pragma once
#include <cstddef>
#include <string>
#include <vector>
#include "cudnn_api.h"

namespace ck {
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
// "CUDNN_STATUS_BAD_PARAM" for 2000 ...; "CUDNN_STATUS_<n>" for values this header does not know.
std::string status_name(int status);

}  // namespace cudnn
}  // namespace ck
