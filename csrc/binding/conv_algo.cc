// The CPU convolution algorithm switch (ck.setConvAlgo / ck.getConvAlgo): csrc/cpu/winograd.h's ConvAlgo.
#include <napi.h>

#include <string>

#include "../cpu/winograd.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"

namespace ck {

Napi::Value SetConvAlgo(const Napi::CallbackInfo& info) {
  const std::string name = arg_str(info, 0, "algo");
  ConvAlgo a;
  if (!parse_conv_algo(name.c_str(), &a))
    throw Error("ERR_ARG", "conv algo must be 'auto', 'direct', 'winograd', 'winograd2' or 'winograd4', got '" + name + "'");
  set_conv_algo(a);
  return info.Env().Undefined();
}

Napi::Value GetConvAlgo(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), conv_algo_name(get_conv_algo())); }

}  // namespace ck
