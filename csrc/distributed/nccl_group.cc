// The NCCL process group (see nccl_group.h). Everything here runs on the JS thread: NCCL enqueues work on the
// stream and returns, so no worker thread is needed. The binary without CUDA builds this file too and refuses
// the group.
#include "nccl_group.h"

#include <cstring>
#include <thread>
#include "../core/error.h"
#include "nccl_loader.h"
#ifdef CK_HAVE_CUDA
#include "core/kernels_cuda.h"
#include "nccl_stream.h"
#endif

namespace ck {
namespace dist {
namespace {

#ifdef CK_HAVE_CUDA
ncclRedOp_t nccl_op(RedOp op) {
  switch (op) {
    case RedOp::Avg: return ncclAvg;
    case RedOp::Max: return ncclMax;
    case RedOp::Min: return ncclMin;
    case RedOp::Product: return ncclProd;
    default: return ncclSum;
  }
}
#endif

std::string nccl_error(ncclResult_t r) {
  const char* s = nccl_api().ncclGetErrorString(r);
  return "NCCL error " + std::to_string((int)r) + " (" + (s ? s : "unknown") + ")";
}

}  // namespace

NcclGroup::NcclGroup(const InitOptions& o) : rank_(o.rank), size_(o.world_size), timeout_(o.timeout) {
#ifndef CK_HAVE_CUDA
  fail("backend 'nccl' is not available: this convkit binary was built without CUDA (NCCL works on CUDA tensors); "
       "use backend 'gloo' for CPU tensors");
#endif
  const NcclLoad& nl = nccl_load();
  if (!nl.ok) fail("backend 'nccl' is not available: " + nl.error);
  rdv_ = std::make_unique<Rendezvous>(o);
  try {
    std::vector<char> id;
    if (rank_ == 0) {
      ncclResult_t r = nccl_api().ncclGetUniqueId(&id_);
      if (r != ncclSuccess) fail("rank 0 could not create the NCCL unique id: " + nccl_error(r));
      rdv_->store().set("nccl/id", std::vector<char>(id_.internal, id_.internal + NCCL_UNIQUE_ID_BYTES));
    } else {
      id = rdv_->store().get("nccl/id", timeout_);
      if (id.size() != NCCL_UNIQUE_ID_BYTES) fail("the NCCL unique id from rank 0 has " + std::to_string(id.size()) + " bytes");
      std::memcpy(id_.internal, id.data(), NCCL_UNIQUE_ID_BYTES);
    }
  } catch (...) {
    rdv_->leave_and_linger();
    throw;
  }
}

NcclGroup::~NcclGroup() {
#ifdef CK_HAVE_CUDA
  for (auto& w : works_) ncclcuda::destroy(w.second.event);
  if (barrier_buf_) {
    try {
      ::ck::cuda::free(barrier_buf_, ncclcuda::stream_for(device_));
    } catch (const std::exception&) {
    }
  }
#endif
  if (comm_) (void)nccl_api().ncclCommDestroy(comm_);
  comm_ = nullptr;
}

// The communicator, on the first collective's device: every rank reaches here at its first collective.
void NcclGroup::ensure_comm(int device) {
  if (comm_) {
    if (device != device_)
      throw Error("ERR_DEVICE", "backend 'nccl': this process group works on cuda:" + std::to_string(device_) +
                                    " (its first collective's device), got a tensor on cuda:" + std::to_string(device) +
                                    "; use one device per process");
    return;
  }
#ifdef CK_HAVE_CUDA
  ::ck::cuda::set_device(device);
  ncclComm_t c = nullptr;
  ncclResult_t r = nccl_api().ncclCommInitRank(&c, size_, id_, rank_);
  if (r != ncclSuccess) {
    broken_ = "rank " + std::to_string(rank_) + " could not join the NCCL communicator: " + nccl_error(r) + "; " +
              rdv_->lost_message();
    fail(broken_);
  }
  comm_ = c;
  device_ = device;
  barrier_buf_ = ::ck::cuda::malloc(sizeof(float), ncclcuda::stream_for(device_));
#else
  (void)device;
#endif
}

std::string NcclGroup::break_group(CollKind kind, const std::string& why) {
  if (!broken_.empty()) return broken_;
  if (comm_) (void)nccl_api().ncclCommAbort(comm_);  // frees kernels stuck on a dead peer; peers see it too
  comm_ = nullptr;
  broken_ = std::string(kind_name(kind)) + " failed on rank " + std::to_string(rank_) + " of " + std::to_string(size_) +
            " (backend nccl, timeout " + std::to_string(timeout_.count()) + " ms): " + why + "; " + rdv_->lost_message();
  rdv_->linger();
  return broken_;
}

void NcclGroup::check(ncclResult_t r, CollKind kind, const char* call) {
  if (r != ncclSuccess && r != ncclInProgress) fail(break_group(kind, std::string(call) + " returned " + nccl_error(r)));
}

int64_t NcclGroup::submit(CollKind kind, DType dtype, RedOp op, int root, int64_t count, const void* in, void* out,
                          int device) {
  if (!broken_.empty()) fail(broken_);
  if (device < 0)
    throw Error("ERR_DEVICE", std::string(kind_name(kind)) + ": backend 'nccl' takes CUDA tensors, got a CPU tensor; "
                                  "move it with .cuda() or use backend 'gloo' for CPU tensors");
#ifdef CK_HAVE_CUDA
  ensure_comm(device);
  const NcclApi& a = nccl_api();
  const ncclDataType_t dt = dtype == DType::F32 ? ncclFloat32 : ncclInt32;
  cudaStream_t s = static_cast<cudaStream_t>(ncclcuda::stream_for(device_));
  ncclcuda::before_collective(s);
  const size_t n = (size_t)count;
  switch (kind) {
    case CollKind::AllReduce: check(a.ncclAllReduce(in, out, n, dt, nccl_op(op), comm_, s), kind, "ncclAllReduce"); break;
    case CollKind::Broadcast: check(a.ncclBroadcast(in, out, n, dt, root, comm_, s), kind, "ncclBroadcast"); break;
    case CollKind::AllGather: check(a.ncclAllGather(in, out, n, dt, comm_, s), kind, "ncclAllGather"); break;
    case CollKind::ReduceScatter:
      check(a.ncclReduceScatter(in, out, n / (size_t)size_, dt, nccl_op(op), comm_, s), kind, "ncclReduceScatter");
      break;
    case CollKind::Barrier:
      check(a.ncclAllReduce(barrier_buf_, barrier_buf_, 1, ncclFloat32, ncclSum, comm_, s), kind, "ncclAllReduce");
      break;
  }
  Pending p;
  p.event = ncclcuda::record(s);
  p.kind = kind;
  p.start = std::chrono::steady_clock::now();
  const int64_t id = next_id_++;
  works_[id] = p;
  return id;
#else
  (void)dtype, (void)op, (void)root, (void)count, (void)in, (void)out;
  fail("backend 'nccl' needs a CUDA build");
#endif
}

std::string NcclGroup::status(const Pending& p) {
  if (!broken_.empty()) return broken_;
#ifdef CK_HAVE_CUDA
  ncclResult_t async = ncclSuccess;
  if (comm_) {
    ncclResult_t r = nccl_api().ncclCommGetAsyncError(comm_, &async);
    if (r != ncclSuccess) async = r;
  }
  if (async != ncclSuccess && async != ncclInProgress) return break_group(p.kind, nccl_error(async));
  if (ncclcuda::done(p.event)) return "";
  if (std::chrono::steady_clock::now() - p.start > timeout_)
    return break_group(p.kind, "timed out after " + std::to_string(timeout_.count()) + " ms");
  return "pending";
#else
  (void)p;
  return "backend 'nccl' needs a CUDA build";
#endif
}

bool NcclGroup::poll(int64_t id) {
  auto it = works_.find(id);
  return it == works_.end() || status(it->second) != "pending";
}

void NcclGroup::wait(int64_t id) {
  auto it = works_.find(id);
  if (it == works_.end()) throw Error("ERR_ARG", "unknown or already-waited work " + std::to_string(id), ErrorKind::Range);
  Pending p = it->second;
  works_.erase(it);
  std::string st;
  // Spin briefly (a collective usually ends within microseconds of the kernels before it), then back off.
  for (int spins = 0; (st = status(p)) == "pending"; ++spins)
    std::this_thread::sleep_for(std::chrono::microseconds(spins < 100 ? 10 : 1000));
#ifdef CK_HAVE_CUDA
  ncclcuda::destroy(p.event);
#endif
  if (!st.empty()) fail(st);
}

}  // namespace dist
}  // namespace ck
