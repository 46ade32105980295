// The Gloo process group (see process_group.h). Built with Gloo only when CMake found libgloo-dev
// (CK_HAVE_GLOO); otherwise creating a group is an ERR_DIST error that says how to get it.
#include "process_group.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include "../core/error.h"

#ifdef CK_HAVE_GLOO
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#endif

namespace ck {
namespace dist {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw Error("ERR_DIST", msg); }

std::string join_ints(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

const char* kind_name(CollKind k) {
  switch (k) {
    case CollKind::AllReduce: return "allReduce";
    case CollKind::Broadcast: return "broadcast";
    case CollKind::AllGather: return "allGather";
    case CollKind::ReduceScatter: return "reduceScatter";
    case CollKind::Barrier: return "barrier";
  }
  return "collective";
}

// The local address this host uses to reach MASTER_ADDR: what the peers can reach this rank on, also when
// the host name resolves to a loopback address (Debian's 127.0.1.1).
[[maybe_unused]] std::string local_address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) return "127.0.0.1";
  std::string out = "127.0.0.1";
  int fd = ::socket(res->ai_family, SOCK_DGRAM, 0);
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    char buf[INET6_ADDRSTRLEN] = {0};
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      if (ss.ss_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
      else
        ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
      if (buf[0]) out = buf;
    }
  }
  if (fd >= 0) ::close(fd);
  ::freeaddrinfo(res);
  return out;
}

#ifdef CK_HAVE_GLOO
// Gloo's rendezvous store interface over our TCP store, under a key prefix.
class GlooStore : public gloo::rendezvous::Store {
 public:
  GlooStore(TcpStore& s, std::string prefix) : s_(s), prefix_(std::move(prefix)) {}
  void set(const std::string& key, const std::vector<char>& data) override { s_.set(prefix_ + key, data); }
  std::vector<char> get(const std::string& key) override { return s_.get(prefix_ + key, s_.timeout()); }
  void wait(const std::vector<std::string>& keys) override { wait(keys, s_.timeout()); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    std::vector<std::string> full;
    for (const auto& k : keys) full.push_back(prefix_ + k);
    auto missing = s_.wait(full, timeout);
    if (!missing.empty()) fail("timed out after " + std::to_string(timeout.count()) + " ms waiting for the peers' addresses (" + missing[0] + ")");
  }

 private:
  TcpStore& s_;
  std::string prefix_;
};

using ReduceFn = void (*)(void*, const void*, const void*, size_t);
template <class T>
ReduceFn reduce_fn(RedOp op) {
  switch (op) {
    case RedOp::Max: return &gloo::max<T>;
    case RedOp::Min: return &gloo::min<T>;
    case RedOp::Product: return &gloo::product<T>;
    default: return &gloo::sum<T>;
  }
}

template <class T>
void run_typed(const std::shared_ptr<gloo::Context>& ctx, Work& w, uint32_t tag, std::chrono::milliseconds timeout) {
  T* buf = reinterpret_cast<T*>(w.buf.data());
  switch (w.kind) {
    case CollKind::AllReduce:
    case CollKind::ReduceScatter: {
      gloo::AllreduceOptions opts(ctx);
      opts.setOutput(buf, (size_t)w.count);
      opts.setReduceFunction(reduce_fn<T>(w.op));
      opts.setTag(tag);
      opts.setTimeout(timeout);
      if (w.count > 0) gloo::allreduce(opts);
      if (w.op == RedOp::Avg)
        for (int64_t i = 0; i < w.count; ++i) buf[i] = (T)(buf[i] / (T)ctx->size);
      if (w.kind == CollKind::ReduceScatter) {
        size_t chunk = w.out.size();
        std::memcpy(w.out.data(), w.buf.data() + chunk * ctx->rank, chunk);
      }
      break;
    }
    case CollKind::Broadcast: {
      gloo::BroadcastOptions opts(ctx);
      opts.setOutput(buf, (size_t)w.count);
      opts.setRoot(w.root);
      opts.setTag(tag);
      opts.setTimeout(timeout);
      if (w.count > 0) gloo::broadcast(opts);
      break;
    }
    case CollKind::AllGather: {
      gloo::AllgatherOptions opts(ctx);
      opts.setInput(buf, (size_t)w.count);
      opts.setOutput(reinterpret_cast<T*>(w.out.data()), (size_t)w.count * ctx->size);
      opts.setTag(tag);
      opts.setTimeout(timeout);
      if (w.count > 0) gloo::allgather(opts);
      break;
    }
    case CollKind::Barrier: {
      gloo::BarrierOptions opts(ctx);
      opts.setTag(tag);
      opts.setTimeout(timeout);
      gloo::barrier(opts);
      break;
    }
  }
}
#endif

}  // namespace

#ifdef CK_HAVE_GLOO
bool gloo_compiled() { return true; }
struct ProcessGroup::Impl {
  std::shared_ptr<gloo::transport::Device> device;
  std::shared_ptr<gloo::rendezvous::Context> ctx;
};
#else
bool gloo_compiled() { return false; }
struct ProcessGroup::Impl {};
#endif

ProcessGroup::ProcessGroup(const InitOptions& o) : rank_(o.rank), size_(o.world_size), timeout_(o.timeout) {
#ifndef CK_HAVE_GLOO
  (void)o;
  fail("this convkit binary was built without Gloo, so backend 'gloo' is not available. Install Gloo's "
       "headers (Debian/Ubuntu: apt-get install libgloo-dev) and rebuild convkit from source "
       "(npm run build:native); the build links Gloo when it finds it");
#else
  if (size_ < 1) throw Error("ERR_ARG", "worldSize must be at least 1, got " + std::to_string(size_), ErrorKind::Range);
  if (rank_ < 0 || rank_ >= size_)
    throw Error("ERR_ARG", "rank " + std::to_string(rank_) + " is outside the world of size " + std::to_string(size_) +
                               " (ranks are 0.." + std::to_string(size_ - 1) + ")", ErrorKind::Range);
  try {
    rendezvous(o);
  } catch (...) {
    // Rank 0 serves the store: keep it up a moment, so the other ranks read why instead of "rank 0 is lost".
    store_.reset();
    linger();
    throw;
  }
  worker_ = std::thread([this] { loop(); });
#endif
}

ProcessGroup::~ProcessGroup() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
#ifdef CK_HAVE_GLOO
  if (impl_ && impl_->ctx) {
    try {
      impl_->ctx->closeConnections();
    } catch (...) {
    }
  }
#endif
  store_.reset();
  server_.reset();
}

#ifdef CK_HAVE_GLOO
void ProcessGroup::rendezvous(const InitOptions& o) {
  int port = o.master_port;
  if (rank_ == 0) {
    server_ = std::make_unique<TcpStoreServer>(port);
    port = server_->port();
  }
  store_ = std::make_unique<TcpStore>(o.master_addr, port, rank_, timeout_);
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
  impl_ = std::make_unique<Impl>();
  try {
    gloo::transport::tcp::attr attr;
    if (!o.iface.empty()) attr.iface = o.iface;
    else attr.hostname = o.hostname.empty() ? local_address_towards(o.master_addr, port) : o.hostname;
    impl_->device = gloo::transport::tcp::CreateDevice(attr);
    impl_->ctx = std::make_shared<gloo::rendezvous::Context>(rank_, size_);
    impl_->ctx->setTimeout(timeout_);
    GlooStore gs(*store_, "gloo/");
    impl_->ctx->connectFullMesh(gs, impl_->device);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("rank " + me + ": Gloo could not connect to its peers: " + e.what());
  }
}
#else
void ProcessGroup::rendezvous(const InitOptions&) {}
#endif

// Rank 0 only (the store's server): waits up to 3 s for the other ranks to leave the store (they do when
// they exit), so that survivors of a failure can still ask it which rank was lost.
void ProcessGroup::linger() {
  if (!server_) return;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(3000);
  while (server_->clients() > (store_ ? 1 : 0) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

int64_t ProcessGroup::submit(std::shared_ptr<Work> w) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t id = next_id_++;
  works_[id] = w;
  queue_.emplace_back(id, std::move(w));
  cv_.notify_all();
  return id;
}

std::shared_ptr<Work> ProcessGroup::wait(int64_t id) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = works_.find(id);
  if (it == works_.end()) throw Error("ERR_ARG", "unknown or already-waited work " + std::to_string(id), ErrorKind::Range);
  std::shared_ptr<Work> w = it->second;
  cv_.wait(lock, [&] { return w->done; });
  works_.erase(id);
  return w;
}

bool ProcessGroup::poll(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = works_.find(id);
  return it == works_.end() || it->second->done;
}

// Which ranks went away: the store marks a rank whose connection dropped without a goodbye. A killed
// process's sockets all close at once, so its mark may lag the collective's failure by a moment.
std::string ProcessGroup::lost_message() {
  try {
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

void ProcessGroup::loop() {
  uint32_t tag = 0;
  for (;;) {
    std::shared_ptr<Work> w;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left
      w = queue_.front().second;
      queue_.pop_front();
    }
    std::string err = broken_;
    if (err.empty()) {
      try {
        run(*w, tag++);
      } catch (const std::exception& e) {
        err = std::string(kind_name(w->kind)) + " failed on rank " + std::to_string(rank_) + " of " + std::to_string(size_) +
              " (timeout " + std::to_string(timeout_.count()) + " ms): " + e.what() + "; " + lost_message();
        broken_ = err;
#ifdef CK_HAVE_GLOO
        // Close at once, so peers still blocked on this rank fail now instead of at their timeout.
        try {
          impl_->ctx->closeConnections();
        } catch (...) {
        }
#endif
        linger();
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      w->error = err;
      w->done = true;
    }
    cv_.notify_all();
  }
}

void ProcessGroup::run(Work& w, uint32_t tag) {
#ifdef CK_HAVE_GLOO
  if (w.dtype == DType::F32) run_typed<float>(impl_->ctx, w, tag, timeout_);
  else run_typed<int32_t>(impl_->ctx, w, tag, timeout_);
#else
  (void)w;
  (void)tag;
#endif
}

}  // namespace dist
}  // namespace ck
