// One process group on Gloo (CPU tensors), reached through convkit_gloo.so (gloo_loader.h), never linked: rendezvous through the TCP store, then every collective runs
// on the group's own worker thread, in submission order (all ranks submit in the same order, so the
// tags agree), on a staging buffer the work owns. The caller copies in at submit and out at wait, so a
// tensor disposed while its work is in flight can never be written to. A failed collective (timeout or
// lost peer) breaks the group: its connections close at once, so the failure reaches every other rank
// too, and every later call fails with the same ERR_DIST message naming the lost ranks.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include "../core/types.h"
#include "rendezvous.h"

namespace ck {
namespace dist {


enum class CollKind { AllReduce = 0, Broadcast = 1, AllGather = 2, ReduceScatter = 3, Barrier = 4 };
enum class RedOp { Sum = 0, Avg = 1, Max = 2, Min = 3, Product = 4 };
const char* kind_name(CollKind k);  // "allReduce" ...

struct Work {
  CollKind kind = CollKind::Barrier;
  DType dtype = DType::F32;
  RedOp op = RedOp::Sum;
  int root = 0;
  int64_t count = 0;      // elements of the input (per rank)
  std::vector<char> buf;  // input; the output too for allReduce and broadcast
  std::vector<char> out;  // allGather (count x size) and reduceScatter (count / size)
  bool done = false;
  std::string error;      // empty: success
};

class ProcessGroup {
 public:
  explicit ProcessGroup(const InitOptions& o);  // blocks until every rank has joined, or throws ERR_DIST
  ~ProcessGroup();
  int64_t submit(std::shared_ptr<Work> w);
  std::shared_ptr<Work> wait(int64_t id);  // blocks until done (a collective always ends: the timeout bounds it)
  bool poll(int64_t id);
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  void loop();
  void run(Work& w, uint32_t tag);
  void connect(const InitOptions& o);
  void* ctx_ = nullptr;  // convkit_gloo.so's context (gloo_abi.h)
  int rank_, size_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Rendezvous> rdv_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int64_t, std::shared_ptr<Work>>> queue_;
  std::map<int64_t, std::shared_ptr<Work>> works_;
  int64_t next_id_ = 1;
  bool stop_ = false;
  std::string broken_;  // the first failure, repeated by every later call
  std::thread worker_;
};

}  // namespace dist
}  // namespace ck
