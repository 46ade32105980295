// N-API entry points of ck.distributed (lib/distributed/): one default process group per process, on
// Gloo (csrc/distributed/process_group.h; Gloo itself is in convkit_gloo.so, loaded at run time) or on NCCL
// (csrc/distributed/nccl_group.h; libnccl.so.2 found at run time). Tensors travel as { storage, offset }
// operands of contiguous data (args.h's readers). Gloo: submit copies the input into the work's own buffer
// and wait copies the result out, so nothing the worker thread touches belongs to JS. NCCL: the collective
// works in place on the tensors' device memory, in stream order (a tensor disposed meanwhile is freed in
// stream order too, after the collective). lib/distributed checks arguments first; these are the last line.
#include <napi.h>
#include <memory>
#include <string>
#include "../distributed/gloo_loader.h"
#include "../distributed/nccl_group.h"
#include "../distributed/nccl_loader.h"
#include "../distributed/process_group.h"
#include "args.h"
#include "entry_points.h"
#include "errors.h"
#include "storage.h"

namespace ck {
namespace {

// Never destroyed at process exit: a worker still blocked in a collective must not hold the exit up.
dist::ProcessGroup* g_group = nullptr;
dist::NcclGroup* g_nccl = nullptr;

void need_group() {
  if (!g_group && !g_nccl) throw Error("ERR_DIST", "no process group: call distributed.initProcessGroup() first");
}
dist::ProcessGroup& group() {
  need_group();
  return *g_group;
}

#ifdef CK_HAVE_CUDA
constexpr bool kCudaBuild = true;
#else
constexpr bool kCudaBuild = false;
#endif

std::string opt_str(const Napi::Object& o, const char* k) {
  Napi::Value v = o.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}
int64_t opt_int(const Napi::Object& o, const char* k) {
  Napi::Value v = o.Get(k);
  if (!v.IsNumber()) throw Error("ERR_ARG", std::string("distInit: ") + k + " must be a number", ErrorKind::Type);
  return (int64_t)v.As<Napi::Number>().DoubleValue();
}

// distSubmit on NCCL: { input, output } on one CUDA device; output is the input for allReduce/broadcast.
Napi::Value NcclSubmit(const Napi::CallbackInfo& info) {
  dist::NcclGroup& g = *g_nccl;
  Fields f(info, 0, "distSubmit params");
  const int64_t kind = f.i64("kind"), dtype = f.i64("dtype"), op = f.i64("op"), root = f.i64("root"), count = f.i64("count");
  if (kind < 0 || kind > 4) throw Error("ERR_ARG", "distSubmit: unknown collective " + std::to_string(kind), ErrorKind::Range);
  if (dtype != 0 && dtype != 1) throw Error("ERR_ARG", "distSubmit: unknown dtype code " + std::to_string(dtype), ErrorKind::Range);
  if (op < 0 || op > 4) throw Error("ERR_ARG", "distSubmit: unknown reduce op " + std::to_string(op), ErrorKind::Range);
  if (root < 0 || root >= g.size()) throw Error("ERR_ARG", "broadcast: src " + std::to_string(root) + " is not a rank", ErrorKind::Range);
  const auto k = (dist::CollKind)kind;
  if (k == dist::CollKind::ReduceScatter && count % g.size() != 0)
    throw Error("ERR_SHAPE", "reduceScatter: input size must be a multiple of the world size", ErrorKind::Range);
  void* in = nullptr;
  void* out = nullptr;
  // A barrier has no tensor: the communicator's device, or before the first collective the one JS names.
  int device = g.device() >= 0 ? g.device() : (int)f.i64("device");
  if (k != dist::CollKind::Barrier) {
    NamedOperands o(info, 1, "distSubmit");
    in = o.run("input", count);
    const int64_t out_count = k == dist::CollKind::AllGather ? count * g.size()
                              : k == dist::CollKind::ReduceScatter ? count / g.size() : count;
    out = k == dist::CollKind::AllGather || k == dist::CollKind::ReduceScatter ? o.run("output", out_count) : in;
    device = o.device();
  }
  const int64_t id = g.submit(k, (DType)dtype, (dist::RedOp)op, (int)root, count, in, out, device);
  return Napi::Number::New(info.Env(), (double)id);
}

}  // namespace

// distInfo(backend): what the process sees of that backend ('gloo' or 'nccl'); the other's fields stay empty,
// so asking about Gloo never loads NCCL (a real libnccl.so.2 is large) and the other way round.
Napi::Value DistInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  const std::string which = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (which != "gloo" && which != "nccl") throw Error("ERR_ARG", "distInfo: expected 'gloo' or 'nccl'", ErrorKind::Type);
  o.Set("gloo", false);
  o.Set("glooError", "");
  o.Set("nccl", false);
  o.Set("ncclError", "");
  o.Set("ncclPath", "");
  o.Set("ncclVersion", 0);
  o.Set("ncclEmulated", false);
  Napi::Array attempts = Napi::Array::New(info.Env());
  if (which == "gloo") {
    // Asking loads convkit_gloo.so (once): whether it loads is what availability means.
    const dist::GlooLoad& gl = dist::gloo_load();
    o.Set("gloo", gl.ok);
    o.Set("glooError", gl.error);
  } else {
    const dist::NcclLoad& nl = dist::nccl_load();  // the search runs once per process
    o.Set("nccl", nl.ok && kCudaBuild);
    o.Set("ncclError", !kCudaBuild ? std::string("this convkit binary was built without CUDA (NCCL works on CUDA "
                                                 "tensors); use backend 'gloo' for CPU tensors")
                                   : nl.error);
    o.Set("ncclPath", nl.path);
    o.Set("ncclVersion", nl.version);
    o.Set("ncclEmulated", nl.emulated);
    for (size_t i = 0; i < nl.attempts.size(); ++i) attempts.Set((uint32_t)i, nl.attempts[i]);
  }
  o.Set("ncclAttempts", attempts);
  o.Set("initialized", g_group != nullptr || g_nccl != nullptr);
  return o;
}

// distInit({ backend, rank, worldSize, masterAddr, masterPort, timeoutMs, hostname?, iface? }): blocks until
// every rank has joined (bounded by timeoutMs).
Napi::Value DistInit(const Napi::CallbackInfo& info) {
  if (g_group || g_nccl) throw Error("ERR_DIST", "the default process group is already initialized; call destroyProcessGroup() first");
  if (info.Length() < 1 || !info[0].IsObject()) throw Error("ERR_ARG", "distInit: expected an options object", ErrorKind::Type);
  Napi::Object o = info[0].As<Napi::Object>();
  dist::InitOptions io;
  io.rank = (int)opt_int(o, "rank");
  io.world_size = (int)opt_int(o, "worldSize");
  io.master_addr = opt_str(o, "masterAddr");
  io.master_port = (int)opt_int(o, "masterPort");
  io.timeout = std::chrono::milliseconds(opt_int(o, "timeoutMs"));
  io.hostname = opt_str(o, "hostname");
  io.iface = opt_str(o, "iface");
  if (opt_str(o, "backend") == "nccl") g_nccl = new dist::NcclGroup(io);
  else g_group = new dist::ProcessGroup(io);
  return info.Env().Undefined();
}

Napi::Value DistDestroy(const Napi::CallbackInfo& info) {
  delete g_group;
  g_group = nullptr;
  delete g_nccl;
  g_nccl = nullptr;
  return info.Env().Undefined();
}

// distSubmit({ kind, dtype, op, root, count }, { input: { storage, offset } | null }) -> work id.
// count: elements of the input.
Napi::Value DistSubmit(const Napi::CallbackInfo& info) {
  need_group();
  if (g_nccl) return NcclSubmit(info);
  dist::ProcessGroup& g = group();
  auto w = std::make_shared<dist::Work>();
  Fields f(info, 0, "distSubmit params");
  const int64_t kind = f.i64("kind");
  if (kind < 0 || kind > 4) throw Error("ERR_ARG", "distSubmit: unknown collective " + std::to_string(kind), ErrorKind::Range);
  w->kind = (dist::CollKind)kind;
  const int64_t dtype = f.i64("dtype");
  if (dtype != 0 && dtype != 1) throw Error("ERR_ARG", "distSubmit: unknown dtype code " + std::to_string(dtype), ErrorKind::Range);
  w->dtype = (DType)dtype;
  const int64_t op = f.i64("op");
  if (op < 0 || op > 4) throw Error("ERR_ARG", "distSubmit: unknown reduce op " + std::to_string(op), ErrorKind::Range);
  w->op = (dist::RedOp)op;
  w->root = (int)f.i64("root");
  if (w->root < 0 || w->root >= g.size()) throw Error("ERR_ARG", "broadcast: src " + std::to_string(w->root) + " is not a rank", ErrorKind::Range);
  w->count = f.i64("count");
  if (w->kind != dist::CollKind::Barrier) {
    NamedOperands o(info, 1, "distSubmit");
    const void* in = o.run("input", w->count);
    w->buf.resize((size_t)w->count * 4);
    if (w->count > 0) device_copy(-1, w->buf.data(), o.device(), in, w->count * 4);
  }
  if (w->kind == dist::CollKind::AllGather) w->out.resize(w->buf.size() * g.size());
  if (w->kind == dist::CollKind::ReduceScatter) {
    if (w->count % g.size() != 0) throw Error("ERR_SHAPE", "reduceScatter: input size must be a multiple of the world size", ErrorKind::Range);
    w->out.resize(w->buf.size() / g.size());
  }
  return Napi::Number::New(info.Env(), (double)g.submit(std::move(w)));
}

// distWait(id, { output: { storage, offset } | null }): blocks until the work is done, then writes its result
// (NCCL: already in place; the output was given at submit).
Napi::Value DistWait(const Napi::CallbackInfo& info) {
  need_group();
  if (g_nccl) {
    g_nccl->wait(arg_int(info, 0, "work"));
    return info.Env().Undefined();
  }
  std::shared_ptr<dist::Work> w = group().wait(arg_int(info, 0, "work"));
  if (!w->error.empty()) throw Error("ERR_DIST", w->error);
  const std::vector<char>& res = w->out.empty() ? w->buf : w->out;
  if (w->kind != dist::CollKind::Barrier) {
    NamedOperands o(info, 1, "distWait");
    void* out = o.run("output", (int64_t)res.size() / 4, true);
    if (out && !res.empty()) device_copy(o.device(), out, -1, res.data(), (int64_t)res.size());
  }
  return info.Env().Undefined();
}

Napi::Value DistPoll(const Napi::CallbackInfo& info) {
  need_group();
  if (g_nccl) return Napi::Boolean::New(info.Env(), g_nccl->poll(arg_int(info, 0, "work")));
  return Napi::Boolean::New(info.Env(), group().poll(arg_int(info, 0, "work")));
}

}  // namespace ck
