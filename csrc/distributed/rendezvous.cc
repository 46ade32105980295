// The rendezvous of every process group (see rendezvous.h).
#include "rendezvous.h"

#include <thread>
#include <vector>
#include "../core/error.h"

namespace ck {
namespace dist {

void fail(const std::string& msg) { throw Error("ERR_DIST", msg); }

std::string join_ints(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

Rendezvous::Rendezvous(const InitOptions& o)
    : rank_(o.rank), size_(o.world_size), port_(o.master_port), timeout_(o.timeout) {
  if (size_ < 1) throw Error("ERR_ARG", "worldSize must be at least 1, got " + std::to_string(size_), ErrorKind::Range);
  if (rank_ < 0 || rank_ >= size_)
    throw Error("ERR_ARG", "rank " + std::to_string(rank_) + " is outside the world of size " + std::to_string(size_) +
                               " (ranks are 0.." + std::to_string(size_ - 1) + ")", ErrorKind::Range);
  if (rank_ == 0) {
    server_ = std::make_unique<TcpStoreServer>(port_);
    port_ = server_->port();
  }
  try {
    store_ = std::make_unique<TcpStore>(o.master_addr, port_, rank_, timeout_);
    const std::string me = std::to_string(rank_);
    if (store_->add("ck/joins/" + me, 1) > 1)
      fail("rank " + me + " joined the process group twice: two processes were started with RANK=" + me);
    std::string ws = std::to_string(size_);
    store_->set("ck/world/" + me, std::vector<char>(ws.begin(), ws.end()));
    std::vector<std::string> keys;
    for (int r = 0; r < size_; ++r) keys.push_back("ck/world/" + std::to_string(r));
    store_->wait(keys, timeout_);  // then read who came, and what world size each was given
    std::vector<int> absent, present;
    for (int r = 0; r < size_; ++r) {
      std::vector<char> v;
      if (!store_->try_get(keys[r], &v)) {
        absent.push_back(r);
        continue;
      }
      present.push_back(r);
      std::string theirs(v.begin(), v.end());
      if (theirs != ws)
        fail("world size mismatch: rank " + std::to_string(r) + " was started with WORLD_SIZE=" + theirs + ", rank " + me +
             " with WORLD_SIZE=" + ws + "; every rank must be given the same world size");
    }
    if (!absent.empty())
      fail("rank " + me + " timed out after " + std::to_string(timeout_.count()) + " ms waiting for rank" +
           (absent.size() > 1 ? "s " : " ") + join_ints(absent) + " to join (world size " + ws + "; joined: " +
           join_ints(present) + ")");
  } catch (...) {
    // Rank 0 serves the store: keep it up a moment, so the other ranks read why instead of "rank 0 is lost".
    leave_and_linger();
    throw;
  }
}

Rendezvous::~Rendezvous() {
  store_.reset();
  server_.reset();
}

void Rendezvous::leave_and_linger() {
  store_.reset();
  linger();
}

void Rendezvous::linger() {
  if (!server_) return;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(3000);
  while (server_->clients() > (store_ ? 1 : 0) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// Which ranks went away: the store marks a rank whose connection dropped without a goodbye. A killed
// process's sockets all close at once, so its mark may lag the collective's failure by a moment.
std::string Rendezvous::lost_message() {
  try {
    if (!store_) return "this rank has left the store";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
    for (;;) {
      std::vector<int> lost = store_->lost_ranks();
      if (!lost.empty())
        return std::string("lost rank") + (lost.size() > 1 ? "s " : " ") + join_ints(lost) +
               " (its process exited or was killed)";
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "no rank has disconnected from the store: a peer may be stuck, or failed in an earlier collective";
  } catch (const std::exception&) {
    return "lost rank 0 (the rendezvous store it served is unreachable: its process exited or was killed)";
  }
}

}  // namespace dist
}  // namespace ck
