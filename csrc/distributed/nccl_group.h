// One process group on NCCL (CUDA tensors). NCCL itself is found at run time (nccl_loader.h). The ranks
// meet through the TCP store (rendezvous.h), rank 0's ncclUniqueId travels through it, and the communicator
// is created on the first collective, on that tensor's device (one device per process, as PyTorch's DDP).
// A collective is issued on the library's stream for the device, in place on the tensors' own device memory,
// and an event recorded after it says when it has finished: stream order keeps every later kernel behind it,
// and wait() blocks the host only to report errors. While waiting, the communicator's asynchronous error is
// polled; an error or the timeout aborts the communicator (ncclCommAbort, which also frees a collective stuck
// on a dead peer) and breaks the group: that wait and every later call fail with ERR_DIST naming the lost ranks.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include "../core/types.h"
#include "nccl_api.h"
#include "process_group.h"
#include "rendezvous.h"

namespace ck {
namespace dist {

class NcclGroup {
 public:
  explicit NcclGroup(const InitOptions& o);  // blocks until every rank has joined and has the unique id
  ~NcclGroup();
  // count: elements of `in`; `out` is `in` for allReduce and broadcast (in place), count x size elements for
  // allGather, count / size for reduceScatter; unused for a barrier. device: the tensors' CUDA device.
  int64_t submit(CollKind kind, DType dtype, RedOp op, int root, int64_t count, const void* in, void* out, int device);
  void wait(int64_t id);  // throws ERR_DIST when the collective failed or timed out
  bool poll(int64_t id);  // finished (or failed: wait() then throws)
  int rank() const { return rank_; }
  int size() const { return size_; }
  int device() const { return device_; }  // the communicator's device; -1 before the first collective

 private:
  struct Pending {
    void* event = nullptr;
    CollKind kind = CollKind::Barrier;
    std::chrono::steady_clock::time_point start;
  };
  void ensure_comm(int device);
  // "" when the work has finished, "pending" when not yet, else the failure (the group is then broken).
  std::string status(const Pending& p);
  std::string break_group(CollKind kind, const std::string& why);
  void check(ncclResult_t r, CollKind kind, const char* call);
  int rank_, size_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Rendezvous> rdv_;
  ncclUniqueId id_{};
  ncclComm_t comm_ = nullptr;
  int device_ = -1;
  void* barrier_buf_ = nullptr;  // one float on device_, all-reduced by barrier()
  std::map<int64_t, Pending> works_;
  int64_t next_id_ = 1;
  std::string broken_;  // the first failure, repeated by every later call
};

}  // namespace dist
}  // namespace ck
