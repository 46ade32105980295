// N-API entry points that steer the host emulation of the CUDA kernels (cuda/emu/emu.h), for tests:
//   emuSetSchedule(spec) -> previous spec   spec: 'forward' | 'reverse' | 'random' | 'random:<seed>' | 'warps'
//   emuSetChecks(on)     -> previous setting (poisoned CK_SHARED arrays, race and uninitialised-read checks)
//   emuSetDevices(n)     -> previous count: the number of emulated devices (1..16; 0 goes back to
//                           CONVKIT_EMU_DEVICES, read at every call, default 1)
// Both apply to launches that start afterwards, process-wide. On a build whose kernels are not emulated
// (cpu, real CUDA) they throw ERR_DEVICE.
#include <napi.h>
#include <string>
#include "args.h"
#include "entry_points.h"
#include "errors.h"
#if defined(CK_CUDA_EMU)
#include "emu/emu.h"
#include "../core/runtime_cuda.h"
#endif

namespace ck {

#if !defined(CK_CUDA_EMU)
[[noreturn]] void not_emulated(const char* fn) {
  throw Error("ERR_DEVICE", std::string(fn) + ": this convkit binary does not emulate CUDA (only the emu flavour does)",
              ErrorKind::Generic);
}
#endif

Napi::Value EmuSetSchedule(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString())
    throw Error("ERR_ARG", "emuSetSchedule: spec must be a string", ErrorKind::Type);
#if defined(CK_CUDA_EMU)
  const emu::Schedule next = emu::parse_schedule(info[0].As<Napi::String>().Utf8Value());
  return Napi::String::New(info.Env(), emu::schedule_name(emu::set_schedule(next)));
#else
  not_emulated("emuSetSchedule");
#endif
}

Napi::Value EmuSetChecks(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsBoolean())
    throw Error("ERR_ARG", "emuSetChecks: on must be a boolean", ErrorKind::Type);
#if defined(CK_CUDA_EMU)
  return Napi::Boolean::New(info.Env(), emu::set_checks(info[0].As<Napi::Boolean>().Value()));
#else
  not_emulated("emuSetChecks");
#endif
}

Napi::Value EmuSetDevices(const Napi::CallbackInfo& info) {
  const int64_t n = arg_int(info, 0, "count");
  if (n < 0 || n > 16) throw Error("ERR_ARG", "emuSetDevices: count must be in 0..16", ErrorKind::Range);
#if defined(CK_CUDA_EMU)
  return Napi::Number::New(info.Env(), cuda::emu_set_device_count(static_cast<int>(n)));
#else
  not_emulated("emuSetDevices");
#endif
}

}  // namespace ck
