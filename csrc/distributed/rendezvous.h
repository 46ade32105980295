// How ranks meet, for every backend: rank 0 serves the TCP store, every rank joins it, and the join checks
// that each rank came once with the same world size, naming the ranks that never came. Afterwards the store
// carries the backend's own exchange (Gloo's addresses, NCCL's ncclUniqueId) and, after a failure, says which
// rank was lost.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include "tcp_store.h"

namespace ck {
namespace dist {

struct InitOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::chrono::milliseconds timeout{300000};
  std::string hostname;  // the address peers reach this rank on (default: derived from MASTER_ADDR)
  std::string iface;     // or a network interface (GLOO_SOCKET_IFNAME)
};

class Rendezvous {
 public:
  // Checks rank and world size (ERR_ARG), then blocks until every rank has joined, or throws ERR_DIST.
  explicit Rendezvous(const InitOptions& o);
  ~Rendezvous();
  TcpStore& store() { return *store_; }
  int port() const { return port_; }  // the store's port (the one picked, for port 0)
  // Rank 0 only (the store's server): waits up to 3 s for the other ranks to leave the store (they do when
  // they exit), so that survivors of a failure can still ask it which rank was lost.
  void linger();
  // Leaves the store, then lingers: for a rank whose setup failed after the join.
  void leave_and_linger();
  // "lost rank 1 (its process exited or was killed)", or why no rank can be named.
  std::string lost_message();

 private:
  int rank_, size_, port_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<TcpStoreServer> server_;
  std::unique_ptr<TcpStore> store_;
};

[[noreturn]] void fail(const std::string& msg);  // throws ck::Error ERR_DIST
std::string join_ints(const std::vector<int>& v);

}  // namespace dist
}  // namespace ck
