// convkit_gloo.so: the Gloo half of ck.distributed, behind the C ABI of ../gloo_abi.h. It is the only
// convkit file that includes Gloo's headers and the only binary that links libgloo, so convkit.node loads
// without libgloo0 and finds this library at run time (../gloo_loader.cc). Everything else of the process
// group (the TCP store, the worker thread, the error messages naming lost ranks) stays in convkit.node.
// No exception leaves a function here: each becomes the err message of a nonzero return.
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../gloo_abi.h"

#define CK_GLOO_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// A store failure (timeout, lost store) passes through Gloo as this and is reported verbatim.
struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void put(char* err, size_t errlen, const std::string& msg) {
  if (err && errlen) std::snprintf(err, errlen, "%s", msg.c_str());
}

class Store : public gloo::rendezvous::Store {
 public:
  explicit Store(const ck_gloo_store& s) : s_(s) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    char err[1024] = {0};
    if (s_.set(s_.self, key.c_str(), data.data(), data.size(), err, sizeof err) != 0) throw StoreError(err);
  }
  std::vector<char> get(const std::string& key) override {
    char err[1024] = {0};
    void* data = nullptr;
    size_t len = 0;
    if (s_.get(s_.self, key.c_str(), &data, &len, err, sizeof err) != 0) throw StoreError(err);
    std::vector<char> out(static_cast<char*>(data), static_cast<char*>(data) + len);
    s_.release(s_.self, data);
    return out;
  }
  void wait(const std::vector<std::string>& keys) override { wait_ms(keys, -1); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    wait_ms(keys, timeout.count());
  }

 private:
  void wait_ms(const std::vector<std::string>& keys, int64_t ms) {
    std::vector<const char*> k;
    for (const auto& s : keys) k.push_back(s.c_str());
    char err[1024] = {0};
    if (s_.wait(s_.self, k.data(), k.size(), ms, err, sizeof err) != 0) throw StoreError(err);
  }
  ck_gloo_store s_;
};

struct Context {
  std::shared_ptr<gloo::transport::Device> device;
  std::shared_ptr<gloo::rendezvous::Context> ctx;
};

Context& as(void* c) { return *static_cast<Context*>(c); }

using ReduceFn = void (*)(void*, const void*, const void*, size_t);
template <class T>
ReduceFn reduce_fn(int op) {
  switch (op) {
    case CK_GLOO_MAX: return &gloo::max<T>;
    case CK_GLOO_MIN: return &gloo::min<T>;
    case CK_GLOO_PRODUCT: return &gloo::product<T>;
    default: return &gloo::sum<T>;
  }
}

template <class T>
void allreduce(Context& c, int op, void* buf, size_t count, uint32_t tag, int64_t ms) {
  gloo::AllreduceOptions opts(c.ctx);
  opts.setOutput(static_cast<T*>(buf), count);
  opts.setReduceFunction(reduce_fn<T>(op));
  opts.setTag(tag);
  opts.setTimeout(std::chrono::milliseconds(ms));
  gloo::allreduce(opts);
}

template <class T>
void broadcast(Context& c, int root, void* buf, size_t count, uint32_t tag, int64_t ms) {
  gloo::BroadcastOptions opts(c.ctx);
  opts.setOutput(static_cast<T*>(buf), count);
  opts.setRoot(root);
  opts.setTag(tag);
  opts.setTimeout(std::chrono::milliseconds(ms));
  gloo::broadcast(opts);
}

template <class T>
void allgather(Context& c, const void* in, void* out, size_t count, uint32_t tag, int64_t ms) {
  gloo::AllgatherOptions opts(c.ctx);
  opts.setInput(const_cast<T*>(static_cast<const T*>(in)), count);
  opts.setOutput(static_cast<T*>(out), count * (size_t)c.ctx->size);
  opts.setTag(tag);
  opts.setTimeout(std::chrono::milliseconds(ms));
  gloo::allgather(opts);
}

// Runs f, turning any exception into (nonzero, err).
template <class F>
int guard(char* err, size_t errlen, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    put(err, errlen, e.what());
  } catch (...) {
    put(err, errlen, "unknown error in Gloo");
  }
  return 1;
}

int bad_dtype(char* err, size_t errlen, int dtype) {
  put(err, errlen, "convkit_gloo: unknown element type " + std::to_string(dtype));
  return 1;
}

// A typed collective: run(T{}) with T = float or int32_t for dtype, after the checks they all share (a known
// dtype, else 1 with the reason in err; nothing to do for count 0), its exceptions caught into err (guard).
template <class Run>
int typed_collective(int dtype, size_t count, char* err, size_t errlen, Run run) {
  if (dtype != CK_GLOO_F32 && dtype != CK_GLOO_I32) return bad_dtype(err, errlen, dtype);
  return guard(err, errlen, [&] {
    if (count == 0) return;
    if (dtype == CK_GLOO_F32) run(float{});
    else run(int32_t{});
  });
}

}  // namespace

CK_GLOO_EXPORT int ck_gloo_abi_version(void) { return CK_GLOO_ABI_VERSION; }

CK_GLOO_EXPORT void* ck_gloo_connect(int rank, int size, const char* hostname, const char* iface, int64_t timeout_ms,
                                     const ck_gloo_store* store, char* err, size_t errlen) {
  auto c = std::make_unique<Context>();
  try {
    gloo::transport::tcp::attr attr;
    if (iface && *iface) attr.iface = iface;
    else attr.hostname = hostname ? hostname : "";
    c->device = gloo::transport::tcp::CreateDevice(attr);
    c->ctx = std::make_shared<gloo::rendezvous::Context>(rank, size);
    c->ctx->setTimeout(std::chrono::milliseconds(timeout_ms));
    Store gs(*store);
    c->ctx->connectFullMesh(gs, c->device);
    return c.release();
  } catch (const StoreError& e) {
    put(err, errlen, e.what());
  } catch (const std::exception& e) {
    put(err, errlen, "rank " + std::to_string(rank) + ": Gloo could not connect to its peers: " + e.what());
  } catch (...) {
    put(err, errlen, "rank " + std::to_string(rank) + ": Gloo could not connect to its peers");
  }
  return nullptr;
}

CK_GLOO_EXPORT int ck_gloo_allreduce(void* ctx, int dtype, int op, void* buf, size_t count, uint32_t tag,
                                     int64_t timeout_ms, char* err, size_t errlen) {
  return typed_collective(dtype, count, err, errlen, [&](auto t) {
    using T = decltype(t);
    allreduce<T>(as(ctx), op, buf, count, tag, timeout_ms);
  });
}

CK_GLOO_EXPORT int ck_gloo_broadcast(void* ctx, int dtype, int root, void* buf, size_t count, uint32_t tag,
                                     int64_t timeout_ms, char* err, size_t errlen) {
  return typed_collective(dtype, count, err, errlen, [&](auto t) {
    using T = decltype(t);
    broadcast<T>(as(ctx), root, buf, count, tag, timeout_ms);
  });
}

CK_GLOO_EXPORT int ck_gloo_allgather(void* ctx, int dtype, const void* in, void* out, size_t count, uint32_t tag,
                                     int64_t timeout_ms, char* err, size_t errlen) {
  return typed_collective(dtype, count, err, errlen, [&](auto t) {
    using T = decltype(t);
    allgather<T>(as(ctx), in, out, count, tag, timeout_ms);
  });
}

CK_GLOO_EXPORT int ck_gloo_barrier(void* ctx, uint32_t tag, int64_t timeout_ms, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    gloo::BarrierOptions opts(as(ctx).ctx);
    opts.setTag(tag);
    opts.setTimeout(std::chrono::milliseconds(timeout_ms));
    gloo::barrier(opts);
  });
}

CK_GLOO_EXPORT void ck_gloo_close(void* ctx) {
  try {
    if (ctx && as(ctx).ctx) as(ctx).ctx->closeConnections();
  } catch (...) {
  }
}

CK_GLOO_EXPORT void ck_gloo_destroy(void* ctx) {
  try {
    delete static_cast<Context*>(ctx);
  } catch (...) {
  }
}

// The definitions above must match the ABI's function types exactly: convkit.node calls them through these.
#include <type_traits>
static_assert(std::is_same<decltype(&ck_gloo_abi_version), ck_gloo_abi_version_fn>::value, "ABI mismatch");
static_assert(std::is_same<decltype(&ck_gloo_connect), ck_gloo_connect_fn>::value, "ABI mismatch");
static_assert(std::is_same<decltype(&ck_gloo_allreduce), ck_gloo_allreduce_fn>::value, "ABI mismatch");
static_assert(std::is_same<decltype(&ck_gloo_broadcast), ck_gloo_broadcast_fn>::value, "ABI mismatch");
static_assert(std::is_same<decltype(&ck_gloo_allgather), ck_gloo_allgather_fn>::value, "ABI mismatch");
static_assert(std::is_same<decltype(&ck_gloo_barrier), ck_gloo_barrier_fn>::value, "ABI mismatch");
static_assert(std::is_same<decltype(&ck_gloo_close), ck_gloo_close_fn>::value, "ABI mismatch");
static_assert(std::is_same<decltype(&ck_gloo_destroy), ck_gloo_destroy_fn>::value, "ABI mismatch");
