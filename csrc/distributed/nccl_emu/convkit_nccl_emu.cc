// convkit_nccl_emu.so: an emulated NCCL for the emulated CUDA build, so that CI (no GPU) runs the same
// NCCL code path of convkit.node (nccl_group.cc) that runs on a real NCCL. It exports exactly the subset of
// NCCL's C API that ../nccl_api.h declares, with NCCL's types and enum values, and convkit finds it through
// the same loader (../nccl_loader.cc: CONVKIT_NCCL_PATH, or beside convkit.node in the emulated build).
//
// Emulated device memory is host memory, so the collectives move host memory between the processes, over
// Gloo (the reduction and the transport are Gloo's, as in convkit_gloo.so). The emulated device runs work
// synchronously when it is issued, and so does this stand-in: a collective has finished when its call returns,
// and the stream argument is not used. The rendezvous is this library's own, as NCCL's is: ncclGetUniqueId
// creates a private directory and writes its path into the id's bytes; every rank's ncclCommInitRank meets
// the others through a Gloo file store there (the emulation is for ranks on one machine).
//
// Errors are reported the way NCCL reports a failure during a collective: the call still returns
// ncclSuccess, the communicator's asynchronous error becomes ncclRemoteError (a peer's connection failed) or
// ncclSystemError, and every later call on that communicator returns that error. Gloo's own timeout bounds a
// collective: CONVKIT_NCCL_EMU_TIMEOUT_MS (default 60000).
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../nccl_api.h"

#define CK_NCCL_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

const char kIdMagic[] = "convkit-nccl-emu-1";  // the first bytes of an id this library made
constexpr int kVersion = 21805;                // the NCCL whose API subset is emulated (2.18.5)

struct Comm {
  int rank = 0, size = 1;
  std::string dir;  // the rendezvous directory (rank 0 removes it)
  std::shared_ptr<gloo::transport::Device> device;
  std::shared_ptr<gloo::rendezvous::Context> ctx;
  uint32_t tag = 0;
  ncclResult_t async_error = ncclSuccess;
  std::chrono::milliseconds timeout{60000};
};

std::chrono::milliseconds env_timeout() {
  const char* v = std::getenv("CONVKIT_NCCL_EMU_TIMEOUT_MS");
  long ms = v && *v ? std::strtol(v, nullptr, 10) : 0;
  return std::chrono::milliseconds(ms > 0 ? ms : 60000);
}

size_t elem_size(ncclDataType_t t) { return t == ncclFloat32 || t == ncclInt32 ? 4 : 0; }

using ReduceFn = void (*)(void*, const void*, const void*, size_t);

template <class T>
void reduce_into(Comm& c, ncclRedOp_t op, T* buf, size_t count) {
  gloo::AllreduceOptions o(c.ctx);
  o.setOutput(buf, count);
  ReduceFn f = &gloo::sum<T>;  // ncclSum, and ncclAvg: the sum, divided below
  if (op == ncclProd) f = &gloo::product<T>;
  else if (op == ncclMax) f = &gloo::max<T>;
  else if (op == ncclMin) f = &gloo::min<T>;
  o.setReduceFunction(f);
  o.setTag(c.tag++);
  o.setTimeout(c.timeout);
  gloo::allreduce(o);
  if (op == ncclAvg)
    for (size_t i = 0; i < count; ++i) buf[i] = (T)(buf[i] / (T)c.size);
}

void reduce_bytes(Comm& c, ncclDataType_t dt, ncclRedOp_t op, void* buf, size_t count) {
  if (dt == ncclFloat32) reduce_into(c, op, static_cast<float*>(buf), count);
  else reduce_into(c, op, static_cast<int32_t*>(buf), count);
}

// Runs one collective; a failure becomes the communicator's asynchronous error, as NCCL reports it.
template <class F>
ncclResult_t run(ncclComm_t comm, ncclDataType_t dt, F&& f) {
  if (!comm) return ncclInvalidArgument;
  Comm& c = *reinterpret_cast<Comm*>(comm);
  if (c.async_error != ncclSuccess) return c.async_error;
  if (!elem_size(dt)) return ncclInvalidArgument;
  try {
    f(c);
  } catch (const gloo::IoException&) {
    c.async_error = ncclRemoteError;
  } catch (const std::exception&) {
    c.async_error = ncclSystemError;
  }
  if (c.async_error != ncclSuccess && c.ctx) {
    try {
      c.ctx->closeConnections();  // the peers still waiting on this rank fail now, as after ncclCommAbort
    } catch (...) {
    }
  }
  return ncclSuccess;
}

void remove_dir(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) unlink((dir + "/" + e->d_name).c_str());
    closedir(d);
  }
  rmdir(dir.c_str());
}

void free_comm(ncclComm_t comm) {
  Comm* c = reinterpret_cast<Comm*>(comm);
  try {
    if (c->ctx) c->ctx->closeConnections();
  } catch (...) {
  }
  if (c->rank == 0 && !c->dir.empty()) remove_dir(c->dir);
  delete c;
}

}  // namespace

CK_NCCL_EXPORT int ck_nccl_emu_magic(void) { return CK_NCCL_EMU_MAGIC; }

CK_NCCL_EXPORT ncclResult_t ncclGetVersion(int* version) {
  if (!version) return ncclInvalidArgument;
  *version = kVersion;
  return ncclSuccess;
}

CK_NCCL_EXPORT const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError: return "unhandled system error (emulated NCCL: a Gloo transfer failed or timed out)";
    case ncclInternalError: return "internal error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
  }
  return "unknown result code";
}

CK_NCCL_EXPORT ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  if (!id) return ncclInvalidArgument;
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/convkit-nccl-emu-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) return ncclSystemError;
  std::string dir = buf.data();
  if (sizeof kIdMagic + dir.size() + 1 > NCCL_UNIQUE_ID_BYTES) {
    rmdir(dir.c_str());
    return ncclSystemError;
  }
  std::memset(id->internal, 0, NCCL_UNIQUE_ID_BYTES);
  std::memcpy(id->internal, kIdMagic, sizeof kIdMagic);
  std::memcpy(id->internal + sizeof kIdMagic, dir.c_str(), dir.size() + 1);
  return ncclSuccess;
}

CK_NCCL_EXPORT ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank) {
  if (!comm || nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
  if (std::memcmp(commId.internal, kIdMagic, sizeof kIdMagic) != 0) return ncclInvalidUsage;
  commId.internal[NCCL_UNIQUE_ID_BYTES - 1] = '\0';
  auto c = std::make_unique<Comm>();
  c->rank = rank;
  c->size = nranks;
  c->dir = commId.internal + sizeof kIdMagic;
  c->timeout = env_timeout();
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = "127.0.0.1";
    c->device = gloo::transport::tcp::CreateDevice(attr);
    c->ctx = std::make_shared<gloo::rendezvous::Context>(rank, nranks);
    c->ctx->setTimeout(c->timeout);
    gloo::rendezvous::FileStore store(c->dir);
    c->ctx->connectFullMesh(store, c->device);
  } catch (const std::exception&) {
    return ncclSystemError;
  }
  *comm = reinterpret_cast<ncclComm_t>(c.release());
  return ncclSuccess;
}

CK_NCCL_EXPORT ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (!comm) return ncclInvalidArgument;
  free_comm(comm);
  return ncclSuccess;
}

CK_NCCL_EXPORT ncclResult_t ncclCommAbort(ncclComm_t comm) {
  if (!comm) return ncclInvalidArgument;
  free_comm(comm);
  return ncclSuccess;
}

CK_NCCL_EXPORT ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* asyncError) {
  if (!comm || !asyncError) return ncclInvalidArgument;
  *asyncError = reinterpret_cast<Comm*>(comm)->async_error;
  return ncclSuccess;
}

CK_NCCL_EXPORT ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                                          ncclRedOp_t op, ncclComm_t comm, cudaStream_t) {
  return run(comm, datatype, [&](Comm& c) {
    if (sendbuff != recvbuff) std::memcpy(recvbuff, sendbuff, count * elem_size(datatype));
    if (count) reduce_bytes(c, datatype, op, recvbuff, count);
  });
}

CK_NCCL_EXPORT ncclResult_t ncclBroadcast(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                                          int root, ncclComm_t comm, cudaStream_t) {
  return run(comm, datatype, [&](Comm& c) {
    if (c.rank == root && sendbuff != recvbuff) std::memcpy(recvbuff, sendbuff, count * elem_size(datatype));
    if (!count) return;
    gloo::BroadcastOptions o(c.ctx);
    if (datatype == ncclFloat32) o.setOutput(static_cast<float*>(recvbuff), count);
    else o.setOutput(static_cast<int32_t*>(recvbuff), count);
    o.setRoot(root);
    o.setTag(c.tag++);
    o.setTimeout(c.timeout);
    gloo::broadcast(o);
  });
}

CK_NCCL_EXPORT ncclResult_t ncclAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                                          ncclDataType_t datatype, ncclComm_t comm, cudaStream_t) {
  return run(comm, datatype, [&](Comm& c) {
    if (!sendcount) return;
    const size_t bytes = sendcount * elem_size(datatype);
    std::vector<char> in(static_cast<const char*>(sendbuff), static_cast<const char*>(sendbuff) + bytes);  // may alias recvbuff
    gloo::AllgatherOptions o(c.ctx);
    if (datatype == ncclFloat32) {
      o.setInput(reinterpret_cast<float*>(in.data()), sendcount);
      o.setOutput(static_cast<float*>(recvbuff), sendcount * (size_t)c.size);
    } else {
      o.setInput(reinterpret_cast<int32_t*>(in.data()), sendcount);
      o.setOutput(static_cast<int32_t*>(recvbuff), sendcount * (size_t)c.size);
    }
    o.setTag(c.tag++);
    o.setTimeout(c.timeout);
    gloo::allgather(o);
  });
}

CK_NCCL_EXPORT ncclResult_t ncclReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                              ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm, cudaStream_t) {
  return run(comm, datatype, [&](Comm& c) {
    if (!recvcount) return;
    const size_t es = elem_size(datatype), total = recvcount * (size_t)c.size;
    std::vector<char> all(static_cast<const char*>(sendbuff), static_cast<const char*>(sendbuff) + total * es);
    reduce_bytes(c, datatype, op, all.data(), total);
    std::memcpy(recvbuff, all.data() + (size_t)c.rank * recvcount * es, recvcount * es);
  });
}

// Every call above completes before it returns, so a group has nothing to fuse.
CK_NCCL_EXPORT ncclResult_t ncclGroupStart(void) { return ncclSuccess; }
CK_NCCL_EXPORT ncclResult_t ncclGroupEnd(void) { return ncclSuccess; }

// The definitions above must have NCCL's types exactly: convkit.node calls them through pointers of these.
#include <type_traits>
#define CK_NCCL_SAME(name, ret, params) \
  static_assert(std::is_same<decltype(&name), ret(*) params>::value, #name ": not NCCL's signature");
CK_NCCL_FUNCTIONS(CK_NCCL_SAME)
#undef CK_NCCL_SAME
